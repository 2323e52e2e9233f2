"""The baseline the benchmarks compare against: a bare Falcon app over raw sqlite3 and msgspec.

Served by the same gunicorn settings as sonicpy, so a ratio says what sonicpy's own
work (routing rules, auth, database layer, cache, serialisation) costs on top of the stack:

* ``GET /hello``: constant JSON, the stack's ceiling;
* ``GET /list``: the newest 20 published items of ``$BENCH_DB`` (sonicpy's SQLite file, read
  only), one SELECT encoded by msgspec;
* ``POST /items``: a 3-row transaction (item, version, history) into ``$BENCH_WRITE_DB``.
"""

import os
import sqlite3
import threading
import uuid

import falcon
import msgspec

LIST_SQL = (
    "SELECT id, title, slug, data, status, created_at, updated_at FROM content "
    "WHERE status = 'published' AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 20"
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, title TEXT, data TEXT);"
    "CREATE TABLE IF NOT EXISTS versions (id TEXT PRIMARY KEY, item_id TEXT, data TEXT);"
    "CREATE TABLE IF NOT EXISTS history (id TEXT PRIMARY KEY, item_id TEXT, action TEXT);"
)
_local = threading.local()


def connection(path):
    conn = getattr(_local, path, None)
    if conn is None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("PRAGMA synchronous=normal")
        conn.execute("PRAGMA busy_timeout=5000")
        setattr(_local, path, conn)
    return conn


class Hello:
    def on_get(self, req, resp):
        resp.media = {"data": [], "meta": {"count": 0}}


class List:
    def on_get(self, req, resp):
        rows = connection(os.environ["BENCH_DB"]).execute(LIST_SQL).fetchall()
        items = [
            {"id": r[0], "title": r[1], "slug": r[2], "data": msgspec.json.decode(r[3]), "status": r[4],
             "created_at": r[5], "updated_at": r[6]}
            for r in rows
        ]
        resp.data = msgspec.json.encode({"data": items, "meta": {"count": len(items)}})
        resp.content_type = falcon.MEDIA_JSON


class Items:
    def on_post(self, req, resp):
        body = msgspec.json.decode(req.bounded_stream.read())
        conn = connection(os.environ["BENCH_WRITE_DB"])
        item_id, data = uuid.uuid4().hex, msgspec.json.encode(body).decode()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO items VALUES (?, ?, ?)", (item_id, body.get("title"), data))
            conn.execute("INSERT INTO versions VALUES (?, ?, ?)", (uuid.uuid4().hex, item_id, data))
            conn.execute("INSERT INTO history VALUES (?, ?, ?)", (uuid.uuid4().hex, item_id, "created"))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        resp.status = falcon.HTTP_201
        resp.media = {"data": {"id": item_id}}


def create_schema(path):
    """Create the write table set in ``path`` (run once, before the workers start)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(SCHEMA)
    conn.close()


app = falcon.App()
app.add_route("/hello", Hello())
app.add_route("/list", List())
app.add_route("/items", Items())
