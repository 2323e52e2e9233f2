"""Which files content names, read from ``content_media``: public files follow it, on SQLite and PostgreSQL.

A file is public when live published content names it in ``data`` (or has it as featured
image). The names are kept by triggers on content (``app.db.content_media``), so these
tests write content every way a site does (the API, ``d1 execute --file``, ``d1 import``)
and check what anonymous ``/files/<key>`` and a viewer's ``GET /api/media`` answer.
"""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from app.db import content_media
from app.db.database import is_postgres
from app.db.models import Content, Media, bind_models, new_id, now_ms
from app.services.backup import encode_backup, export_backup
from app.services.backup_import import import_backup
from app.services.media import storage
from app.services.sql_dump import sql_literal
from tests.fixtures import media as samples
from tests.fixtures.app import client_for, run_stack_cli
from tests.fixtures.media import upload
from tests.fixtures.races import WAITING_FOR, until

# Each test runs on SQLite and on PostgreSQL (tests/fixtures/backends.py).
pytestmark = pytest.mark.backends


@pytest.fixture
def site(env, client, make_user, pages_collection):
    """An editor who uploads and publishes, an admin, a viewer, and helpers over them."""
    editor = make_user("editor")[1]
    admin = make_user("admin")[1]
    viewer = make_user("viewer")[1]

    def put(name):
        return upload(client, editor, f"{name}.png", samples.png((400, 300))).json["file"]

    def publish(data, status="published"):
        body = {"collectionId": pages_collection.name, "title": f"Page {new_id()}", "data": data, "status": status}
        return client.post_json("/api/content", body, headers=editor, status=201).json["data"]["id"]

    return SimpleNamespace(env=env, editor=editor, admin=admin, viewer=viewer, put=put, publish=publish,
                           collection=pages_collection)


def public(client, record):
    """Whether anonymous callers get the file (200) rather than the 404 of a private one."""
    status = client.get(f"/files/{record['r2_key']}", expect_errors=True).status_int
    assert status in (200, 404), status
    return status == 200


def listed(client, site):
    """The ids of the files a viewer (who uploaded none) lists: the public ones."""
    return {item["id"] for item in client.get("/api/media?limit=100", headers=site.viewer).json["data"]}


def names(content_id):
    """The files ``content_media`` says content ``content_id`` names."""
    db = Content._meta.database
    rows = db.execute_sql(f"SELECT media_id FROM content_media WHERE content_id = {db.param}", (content_id,))
    return {media_id for (media_id,) in rows.fetchall()}


# Each shape names a, or a and b (by the same means or another), never "other".
SHAPES = {
    "a media field holding the id": (lambda a, b: {"hero": a["id"]}, {"a"}),
    "a list of ids": (lambda a, b: {"gallery": [a["id"], b["id"]]}, {"a", "b"}),
    "an embedded /files/<key> URL in rich text": (lambda a, b: {
        "body": f'<p>Look:</p><p><img src="/files/{a["r2_key"]}" alt="a"><img src=\'/files/{b["r2_key"]}\'></p>'},
        {"a", "b"}),
    "an absolute URL, nested": (lambda a, b: {
        "blocks": [{"type": "image", "props": {"src": f"https://cdn.example.com/files/{a['r2_key']}?w=300"}},
                   {"text": f"See https://cdn.example.com/files/{b['r2_key']}."}]}, {"a", "b"}),
    "a thumbnail URL": (lambda a, b: {"cover": {"thumb": a["thumbnailUrl"]}}, {"a"}),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_content_naming_a_file_makes_it_public(client, site, shape):
    files = {name: site.put(name) for name in ("a", "b", "other")}
    assert not public(client, files["a"]) and listed(client, site) == set()
    build, named = SHAPES[shape]

    site.publish(build(files["a"], files["b"]))

    assert {name for name, record in files.items() if public(client, record)} == named
    assert listed(client, site) == {files[name]["id"] for name in named}
    client.get(files["a"]["thumbnailUrl"], status=200)  # the thumbnail goes with its file


def test_a_longer_word_or_a_bare_key_in_text_names_no_file(client, site):
    a, b = site.put("a"), site.put("b")
    site.publish({"code": f"x{a['id']}y", "body": f"stored under {b['r2_key']} in the bucket",
                  "link": f"/elsewhere/{b['r2_key']}"})
    assert not public(client, a) and not public(client, b)
    assert listed(client, site) == set()


@pytest.mark.parametrize("withdraw", ["unpublish", "trash", "deactivate the collection"])
def test_withdrawn_content_no_longer_makes_its_files_public(client, site, withdraw):
    a = site.put("a")
    content_id = site.publish({"body": f'<img src="/files/{a["r2_key"]}">'})
    assert public(client, a) and listed(client, site) == {a["id"]}

    if withdraw == "unpublish":
        client.post_json(f"/api/content/{content_id}/workflow", {"action": "unpublish"}, headers=site.editor)
    elif withdraw == "trash":
        client.delete(f"/api/content/{content_id}", headers=site.editor, status=200)
    else:
        client.patch_json(f"/admin/api/collections/{site.collection.id}", {"is_active": False}, headers=site.admin)

    assert not public(client, a) and listed(client, site) == set()
    assert names(content_id) == {a["id"]}  # still named: publishing again needs no recomputation


def test_an_update_that_drops_the_reference_makes_the_file_private(client, site):
    a, b = site.put("a"), site.put("b")
    content_id = site.publish({"hero": a["id"]})
    assert public(client, a)

    client.put_json(f"/api/content/{content_id}", {"data": {"hero": b["id"]}}, headers=site.editor, status=200)

    assert not public(client, a) and public(client, b)
    assert listed(client, site) == {b["id"]} and names(content_id) == {b["id"]}


def test_purged_content_names_nothing(client, site):
    a = site.put("a")
    content_id = site.publish({"gallery": [a["id"]]})
    assert public(client, a)

    client.delete(f"/api/content/{content_id}/purge", headers=site.admin, status=200)

    assert not public(client, a) and listed(client, site) == set()
    assert names(content_id) == set()


def test_a_purged_file_leaves_no_reference_behind(client, site):
    # Only an item in the trash may name a file being purged (live content refuses the purge);
    # the item keeps naming the rest, and the live one naming b keeps it public.
    a, b = site.put("a"), site.put("b")
    content_id = site.publish({"gallery": [a["id"], b["id"]]})
    site.publish({"gallery": [b["id"]]})
    client.delete(f"/api/content/{content_id}", headers=site.editor, status=200)

    client.delete(f"/api/media/{a['id']}/purge", headers=site.admin, status=200)

    client.get(f"/files/{a['r2_key']}", status=404)
    assert public(client, b) and listed(client, site) == {b["id"]}
    assert names(content_id) == {b["id"]}


# ---------------------------------------------------------------- bulk paths


def insert_sql(table, row):
    columns = ", ".join(row)
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join(sql_literal(value) for value in row.values())});"


def stored_row(media_id):
    """The media row as the database holds it (JSON as text), for an INSERT of its own."""
    row = Media.select().where(Media.id == media_id).dicts().get()
    return {**row, "tags": json.dumps(row["tags"]) if row["tags"] is not None else None}


def delete_row(env, media_id):
    """Remove a file's row by hand (its objects stay), as a lost row would be."""
    mark = env.DB.db.param
    env.DB.db.execute_sql(f"DELETE FROM media WHERE id = {mark}", (media_id,))


def test_d1_execute_file_with_plain_inserts(client, site, tmp_path):
    a, b = site.put("a"), site.put("b")
    author = Media.get_by_id(a["id"]).uploaded_by_id
    now = now_ms()
    content = {"id": new_id(), "collection_id": site.collection.id, "slug": "by-hand", "title": "By hand",
               "data": json.dumps({"body": f'<img src="https://example.com/files/{a["r2_key"]}">'}),
               "status": "published", "author_id": author, "created_at": now, "updated_at": now}
    # b's row goes, then published content names it, then the file comes back: the content
    # was written while no such file existed.
    b_row = stored_row(b["id"])
    delete_row(site.env, b["id"])
    site.publish({"hero": b["id"]})
    sql = tmp_path / "load.sql"
    sql.write_text(insert_sql("content", content) + "\n" + insert_sql("media", b_row))

    run_stack_cli(tmp_path, "d1", "execute", "DB", "--file", sql)

    fresh = client_for(site.env)  # the CLI's cache refresh reaches a new worker at once
    assert public(fresh, a) and public(fresh, b)
    assert listed(fresh, site) == {a["id"], b["id"]}
    assert names(content["id"]) == {a["id"]}


def test_d1_import_brings_files_that_content_already_names(client, site, tmp_path):
    a = site.put("a")
    backup = tmp_path / "backup.json"
    backup.write_bytes(encode_backup(export_backup(site.env.DB.db)))
    delete_row(site.env, a["id"])
    site.publish({"body": f"<a href='/files/{a['r2_key']}'>download</a>"})
    client.get(f"/files/{a['r2_key']}", status=404)

    run_stack_cli(tmp_path, "d1", "import", "DB", backup)

    fresh = client_for(site.env)
    assert public(fresh, a) and listed(fresh, site) == {a["id"]}


def test_migrations_apply_fills_the_table_when_it_installs_its_triggers(client, site, tmp_path):
    # As on a database upgraded to migration 0032: content written before the triggers existed.
    a = site.put("a")
    db = site.env.DB.db
    for name in content_media.PG_TRIGGERS if is_postgres(db) else content_media.SQLITE_TRIGGERS:
        db.execute_sql(f"DROP TRIGGER {name}" + (" ON content" if is_postgres(db) else ""))
    try:
        content_id = site.publish({"hero": a["id"]})
        assert names(content_id) == set()

        run_stack_cli(tmp_path, "d1", "migrations", "apply", "DB")

        assert names(content_id) == {a["id"]}
        assert public(client_for(site.env), a)
    finally:
        with db.atomic():
            content_media.install(db)  # PostgreSQL's test database outlives the test: never leave it without


# ---------------------------------------------------------------- the rule, row by row


@pytest.fixture
def library(env, make_user, pages_collection):
    """Files whose rows are written directly: keys of several shapes, some with a thumbnail."""
    author = make_user("author")[0]
    bind_models(env.DB.db)

    def add(media_id, key, thumbnail=True):
        return Media.create(id=media_id, filename=key, original_name=key, mime_type="image/png", size=1,
                            r2_key=key, public_url=f"/files/{key}", uploaded_by=author.id,
                            thumbnail_url="/t" if thumbnail else None).id

    files = {
        "hex": add("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "uploads/0f1e2d3c4b5a69788796a5b4c3d2e1f0.png"),
        "imported": add("img-42", "media/2024/img-42.photo.jpg"),
        "flat": add("flat", "flat.gif"),
        "no thumbnail": add("bare", "uploads/bare.png", thumbnail=False),
        "odd key": add("odd", "odd key (1).png"),
        "longest id": add(LONGEST_ID, f"x/{LONGEST_ID}.png"),
        "id too long": add(LONGEST_ID + "9", f"x/{LONGEST_ID}9.png"),
    }

    def named(data):
        now = now_ms()
        row = Content.create(id=new_id(), collection=pages_collection.id, slug=new_id(), title="t", data=data,
                             author=author.id, created_at=now, updated_at=now)
        ids = names(row.id)
        return {name for name, media_id in files.items() if media_id in ids}

    return named


LONGEST_ID = "i" * content_media.MAX_THUMBNAIL_ID


@pytest.mark.parametrize(("data", "expected"), [
    ({"a": "img-42", "b": ["flat"]}, {"imported", "flat"}),
    ({"deep": [[{"x": {"y": "uploads/0f1e2d3c4b5a69788796a5b4c3d2e1f0.png"}}]]}, {"hex"}),  # a key, whole
    ({"t": "odd key (1).png"}, {"odd key"}),  # any key, whole
    ({"t": "see /files/odd key (1).png"}, set()),  # a key cut by a space is not named through a URL
    ({"html": '<img src="/files/media/2024/img-42.photo.jpg"/>'}, {"imported"}),
    ({"html": "<img src=&quot;/files/flat.gif&quot;>"}, {"flat"}),
    ({"md": "(/files/flat.gif), /files/uploads/bare.png; and http://h/files/media/2024/img-42.photo.jpg#x"},
     {"flat", "no thumbnail", "imported"}),
    ({"t": "/files/media/2024/img-42.thumb.webp /files/flat.thumb.webp"}, {"imported", "flat"}),
    ({"t": "/files/uploads/bare.thumb.webp"}, set()),  # that file has no thumbnail
    ({"t": "/files/other/img-42.thumb.webp /files/media/img-42.thumb.webp"}, set()),  # not where its thumbnail is
    ({"t": "/files/flat.gifs /files/fla /files/uploads"}, set()),  # a longer or shorter key
    # A thumbnail names a file whose id is at most MAX_THUMBNAIL_ID long; the files' keys, whole, both.
    ({"t": f"/files/x/{LONGEST_ID}.thumb.webp /files/x/{LONGEST_ID}9.thumb.webp"}, {"longest id"}),
    ({"t": f"/files/x/{LONGEST_ID}.png /files/x/{LONGEST_ID}9.png"}, {"longest id", "id too long"}),
    ({"k": "img-42x", "v": 42, "n": None, "b": True, "img-42": "key, not value"}, set()),
], ids=lambda value: json.dumps(value) if isinstance(value, dict) else None)
def test_what_names_a_file(library, data, expected):
    assert library(data) == expected


def test_thumbnails_are_keyed_as_the_media_service_keys_them():
    assert content_media.THUMBNAIL_SUFFIX == storage.THUMBNAIL_SUFFIX
    assert storage.thumbnail_key("media/2024/img-42.photo.jpg") == "media/2024/img-42.thumb.webp"


def test_data_that_is_not_json_names_nothing(env, library):
    assert library({"a": "flat"}) == {"flat"}
    env.DB.db.execute_sql(f"UPDATE content SET data = {env.DB.db.param}", ("not json: flat",))
    assert env.DB.db.execute_sql("SELECT count(*) FROM content_media").fetchone()[0] == 0


class HeldAfter:
    """Holds a statement starting with ``prefix`` (its first, from a thread that called
    ``mine()``), once it has run, until another session waits for a lock this one holds
    (PostgreSQL): ``until_someone_waits()`` then lets it go on."""

    def __init__(self, db, monkeypatch, prefix):
        self.ran, self._resume, self._threads, self._pid = threading.Event(), threading.Event(), set(), None
        self._original = original = db.execute_sql

        def execute_sql(sql, *args, **kwargs):
            cursor = original(sql, *args, **kwargs)
            if threading.get_ident() in self._threads and sql.startswith(prefix) and not self.ran.is_set():
                self._pid = original("SELECT pg_backend_pid()").fetchone()[0]
                self.ran.set()
                self._resume.wait(30)
            return cursor

        monkeypatch.setattr(db, "execute_sql", execute_sql)

    def mine(self):
        self._threads.add(threading.get_ident())

    def until_someone_waits(self, seconds=20):
        """Wait until a session waits for this one (``seconds`` at most: the test's assertions tell), then resume."""
        until(lambda: self._original(WAITING_FOR, (self._pid,)).fetchone()[0] > 0, seconds)
        self._resume.set()


def test_a_content_write_during_a_rebuild_keeps_what_it_wrote(client, site, env, monkeypatch):
    # The rebuild deletes every row, then inserts what content names; an edit committing in
    # between must not leave the file its old data named (PostgreSQL: READ COMMITTED).
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's rebuild holds the database's write lock: no content write runs meanwhile")
    a, b = site.put("a"), site.put("b")
    content_id = site.publish({"hero": a["id"]})
    db = env.DB.db
    held = HeldAfter(db, monkeypatch, "DELETE FROM content_media")

    def rebuild():
        held.mine()
        try:
            content_media.rebuild(db)
        finally:
            db.close()

    with ThreadPoolExecutor(2) as pool:
        rebuilt = pool.submit(rebuild)
        assert held.ran.wait(30)
        edit = pool.submit(lambda: client.put_json(f"/api/content/{content_id}", {"data": {"hero": b["id"]}},
                                                   headers=site.editor, expect_errors=True))
        held.until_someone_waits()
        rebuilt.result(30)
        edited = edit.result(30)

    assert edited.status_int == 200, edited.text
    assert names(content_id) == {b["id"]}
    assert not public(client, a) and public(client, b)


def test_a_create_waiting_for_a_backup_import_s_slug_gets_the_next_one(client, site, env, monkeypatch):
    # The import inserts an item whose slug a live create then generates too: the create
    # waits for the import. The import, which brought a file, recomputes content_media
    # (content in SHARE mode): taken after its rows, that lock would wait for the create
    # while the create waits for the import, a deadlock PostgreSQL ends by failing one.
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's import holds the database's write lock: no create runs meanwhile")
    a = site.put("a")
    site.publish({"hero": a["id"]})
    snapshot = export_backup(env.DB.db)
    [imported] = snapshot["data"]["content"]
    imported.update(id=new_id(), slug="imported-page", title="Imported page")  # another item, naming a too
    delete_row(env, a["id"])  # the file comes back with the import
    db = env.DB.db
    held = HeldAfter(db, monkeypatch, 'INSERT INTO "content"')

    def run_import():
        held.mine()
        try:
            return import_backup(db, encode_backup(snapshot))
        finally:
            db.close()

    body = {"collectionId": site.collection.name, "title": imported["title"], "data": {}}
    with ThreadPoolExecutor(2) as pool:
        report = pool.submit(run_import)
        assert held.ran.wait(30)
        create = pool.submit(lambda: client.post_json("/api/content", body, headers=site.editor, expect_errors=True))
        held.until_someone_waits()
        created = create.result(30)
        assert report.result(30).inserted["content"] == 1

    assert created.status_int == 201, created.text
    assert created.json["data"]["slug"] == f"{imported['slug']}-2"
    assert public(client_for(env), a)


NOTHING = "sonicpy_test_nothing"  # a trigger function that does nothing


@pytest.fixture
def earlier_rule(env):
    """Put back this version's triggers and functions after a test replaced them: PostgreSQL's
    test database outlives the test."""
    yield
    db = env.DB.db
    with db.atomic():
        if is_postgres(db):
            db.execute_sql(f"DROP FUNCTION IF EXISTS {NOTHING}() CASCADE")  # and the triggers calling it
        content_media.install(db)


def test_migrations_apply_replaces_a_trigger_of_an_earlier_rule(client, site, tmp_path, earlier_rule):
    # The database keeps a trigger made by an earlier version (here, one that names nothing):
    # it is replaced, and the table filled by the rule of this one.
    db = site.env.DB.db
    a = site.put("a")
    if is_postgres(db):
        name = f"{content_media.TRIGGER_PREFIX}write"
        db.execute_sql(f"CREATE FUNCTION {NOTHING}() RETURNS trigger LANGUAGE plpgsql"
                       " AS $body$BEGIN RETURN NULL; END$body$")
        db.execute_sql(f"DROP TRIGGER {name} ON content")
        db.execute_sql(f"CREATE TRIGGER {name} AFTER INSERT OR DELETE ON content FOR EACH ROW"
                       f" EXECUTE FUNCTION {NOTHING}()")
    else:
        name = next(iter(content_media.SQLITE_TRIGGERS))
        db.execute_sql(f'DROP TRIGGER "{name}"')
        db.execute_sql(f'CREATE TRIGGER "{name}" AFTER INSERT ON content BEGIN SELECT 1; END')
    content_id = site.publish({"hero": a["id"]})
    assert names(content_id) == set()

    run_stack_cli(tmp_path, "d1", "migrations", "apply", "DB")

    assert names(content_id) == {a["id"]}
    if is_postgres(db):
        assert db.execute_sql("SELECT tgfoid::regproc::text FROM pg_trigger WHERE tgrelid = 'content'::regclass"
                              " AND tgname = %s", (name,)).fetchone()[0] == content_media.PG_TRIGGER_FUNCTION
    else:
        assert db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0] == (
            f'CREATE TRIGGER "{name}" {content_media.SQLITE_TRIGGERS[name]}')
    assert names(site.publish({"hero": a["id"]})) == {a["id"]}


@pytest.mark.parametrize("db_backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_migrations_apply_refills_the_table_when_it_replaces_an_earlier_function(client, site, tmp_path,
                                                                                   earlier_rule):
    # Every apply runs CREATE OR REPLACE FUNCTION: what the earlier body named is recomputed too.
    db = site.env.DB.db
    a = site.put("a")
    db.execute_sql(f"CREATE OR REPLACE FUNCTION {content_media.PG_TRIGGER_FUNCTION}() RETURNS trigger"
                   " LANGUAGE plpgsql AS $body$BEGIN RETURN NULL; END$body$")
    content_id = site.publish({"hero": a["id"]})
    assert names(content_id) == set()

    run_stack_cli(tmp_path, "d1", "migrations", "apply", "DB")

    assert names(content_id) == {a["id"]}
    assert names(site.publish({"hero": a["id"]})) == {a["id"]}


def test_an_apply_that_finds_the_triggers_current_leaves_the_table_alone(client, site, tmp_path):
    # Replacing is paid once: rows removed by hand stay removed (nothing was recomputed).
    db = site.env.DB.db
    content_id = site.publish({"hero": site.put("a")["id"]})
    db.execute_sql("DELETE FROM content_media")

    run_stack_cli(tmp_path, "d1", "migrations", "apply", "DB")

    assert names(content_id) == set()
