"""The baseline the benchmarks compare against: a bare Falcon app over raw database drivers and msgspec.

Served by the same gunicorn settings as sonicpy, so a ratio says what sonicpy's own
work (routing rules, auth, database layer, cache, serialisation) costs on top of the stack:

* ``GET /hello``: constant JSON, the stack's ceiling;
* ``GET /list``: the newest 20 published items of ``$BENCH_DB`` (sonicpy's SQLite file, read
  only), one SELECT encoded by msgspec;
* ``POST /items``: a 3-row transaction (item, version, history) into ``$BENCH_WRITE_DB``;
* ``GET /pg/list`` and ``POST /pg/items``: the same over PostgreSQL with raw psycopg2, one
  connection per thread: the list from ``$BENCH_PG_URL`` (sonicpy's seeded PostgreSQL
  database), the insert into ``$BENCH_PG_WRITE_URL`` (``create_pg_schema``), so sonicpy on
  PostgreSQL is compared with the same server reached the same way.
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


def pg_connection(url):
    """This thread's psycopg2 connection to ``url`` (autocommit: each transaction says BEGIN)."""
    conn = getattr(_local, url, None)
    if conn is None:
        import psycopg2

        conn = psycopg2.connect(url)
        conn.autocommit = True
        setattr(_local, url, conn)
    return conn


class Hello:
    def on_get(self, req, resp):
        resp.media = {"data": [], "meta": {"count": 0}}


def list_body(rows):
    """The list's JSON: each row's columns, ``data`` decoded (stored as JSON text on both databases)."""
    items = [
        {"id": r[0], "title": r[1], "slug": r[2], "data": msgspec.json.decode(r[3]), "status": r[4],
         "created_at": r[5], "updated_at": r[6]}
        for r in rows
    ]
    return msgspec.json.encode({"data": items, "meta": {"count": len(items)}})


class List:
    def on_get(self, req, resp):
        resp.data = list_body(connection(os.environ["BENCH_DB"]).execute(LIST_SQL).fetchall())
        resp.content_type = falcon.MEDIA_JSON


class PgList:
    def on_get(self, req, resp):
        with pg_connection(os.environ["BENCH_PG_URL"]).cursor() as cursor:
            cursor.execute(LIST_SQL)
            rows = cursor.fetchall()
        resp.data = list_body(rows)
        resp.content_type = falcon.MEDIA_JSON


def inserts(mark):
    """The three INSERTs of the write (item, version, history) with the driver's parameter ``mark``."""
    return tuple(f"INSERT INTO {table} VALUES ({mark}, {mark}, {mark})" for table in ("items", "versions", "history"))


SQLITE_INSERTS, PG_INSERTS = inserts("?"), inserts("%s")


def write_item(execute, begin, statements, body):
    """The 3-row transaction of a create, run by a driver's ``execute`` with its ``begin`` and
    ``statements`` (``inserts``); the new item's id."""
    item_id, data = uuid.uuid4().hex, msgspec.json.encode(body).decode()
    item, version, history = statements
    execute(begin)
    try:
        execute(item, (item_id, body.get("title"), data))
        execute(version, (uuid.uuid4().hex, item_id, data))
        execute(history, (uuid.uuid4().hex, item_id, "created"))
        execute("COMMIT")
    except BaseException:
        execute("ROLLBACK")
        raise
    return item_id


def created(resp, item_id):
    resp.status = falcon.HTTP_201
    resp.media = {"data": {"id": item_id}}


class Items:
    def on_post(self, req, resp):
        body = msgspec.json.decode(req.bounded_stream.read())
        conn = connection(os.environ["BENCH_WRITE_DB"])
        created(resp, write_item(conn.execute, "BEGIN IMMEDIATE", SQLITE_INSERTS, body))


class PgItems:
    def on_post(self, req, resp):
        body = msgspec.json.decode(req.bounded_stream.read())
        with pg_connection(os.environ["BENCH_PG_WRITE_URL"]).cursor() as cursor:
            created(resp, write_item(cursor.execute, "BEGIN", PG_INSERTS, body))


def create_schema(path):
    """Create the write table set in ``path`` (run once, before the workers start)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(SCHEMA)
    conn.close()


def create_pg_schema(url):
    """Create the write table set in the PostgreSQL database ``url`` (run once, before the workers start)."""
    import psycopg2

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cursor:
        cursor.execute(SCHEMA)
    conn.close()


app = falcon.App()
app.add_route("/hello", Hello())
app.add_route("/list", List())
app.add_route("/items", Items())
app.add_route("/pg/list", PgList())
app.add_route("/pg/items", PgItems())
