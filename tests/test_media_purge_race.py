"""A purge the bucket fails puts the row back as it is when the purge deletes it, never as
the request read it earlier: a change another request committed in between survives. And a
write that read the file before a purge deleted it is refused (409), not reported done: the
row the failed purge puts back does not have it.

The bucket is a real S3 server behind ``S3FaultProxy``, which refuses the DELETE chosen.
The concurrent change is a real request (a move to another folder and a metadata edit) made
on another thread, so on another database connection, right after the purge request has
read the media row and before it goes on: the moment its read turns stale. A PATCH that
moves a file and edits it is one write, all or nothing: a purge let in right after the
PATCH's first write commits finds the whole edit there, or none of it.

A content write naming the file anew races a purge of it: the write after its validation
and before its transaction, or between the purge's check and its delete, or the purge
while the write holds the file. One of them loses each time (the write's 422, the purge's
409), never both going through.
"""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest

from app.db.database import is_postgres
from app.db.models import Content, Media, bind_models
from app.services.media import library_queries
from tests.fixtures import media as samples
from tests.fixtures.content import create_collection
from tests.fixtures.media import after_a_media_write_commits, after_the_media_read, bucket_keys, upload
from tests.fixtures.races import on_own_connection, run_after, start_after, until
from tests.fixtures.s3_proxy import HeldPurge

pytestmark = pytest.mark.backends

CHANGE = {"folder": "archive/2026", "alt": "Changed meanwhile", "caption": "Still here"}


@pytest.fixture
def env(proxied_env):
    return proxied_env


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


@pytest.fixture
def stored(client, admin, env):
    """A PNG with its thumbnail: ``(record, file key, thumbnail key)``."""
    record = upload(client, admin, "a.png", samples.png((400, 300))).json["file"]
    thumb = f"uploads/{record['id']}.thumb.webp"
    assert bucket_keys(env) == sorted([record["r2_key"], thumb])
    return record, record["r2_key"], thumb


@pytest.mark.parametrize("failing", ["file", "thumbnail"])
def test_a_change_committed_while_a_failing_purge_runs_is_kept(client, env, admin, stored, proxy, monkeypatch,
                                                                 failing):
    record, key, thumb = stored
    url = f"/api/media/{record['id']}"
    proxy.fail("DELETE", "/" + (key if failing == "file" else thumb))
    changed = []
    done = after_the_media_read(env, monkeypatch, lambda: changed.append(
        client.patch_json(url, CHANGE, headers=admin, status=200).json["file"]))
    client.delete(f"{url}/purge", headers=admin, status=503)
    assert done and changed  # the change was made, and committed, while the purge ran

    got = client.get(url, headers=admin).json["file"]
    assert (got["folder"], got["alt"], got["caption"]) == (CHANGE["folder"], CHANGE["alt"], CHANGE["caption"])
    assert got["updatedAt"] == changed[0]["updatedAt"]
    # Nothing else was lost or invented: what the failed purge drops is the deleted thumbnail only.
    expected = {**changed[0], "thumbnailUrl": None if failing == "file" else record["thumbnailUrl"]}
    assert got == expected
    assert bucket_keys(env) == ([key] if failing == "file" else sorted([key, thumb]))
    client.get(record["publicUrl"], headers=admin, status=200)

    # The purge can be finished once the bucket answers.
    proxy.faults.clear()
    client.delete(f"{url}/purge", headers=admin, status=200)
    assert bucket_keys(env) == [] and Media.get_or_none(Media.id == record["id"]) is None


def trashed(client, admin, record):
    return client.delete(f"/api/media/{record['id']}", headers=admin).json["file"]


WRITES = {
    "move": (lambda client, url, admin: client.patch_json(url, {"folder": "elsewhere"}, headers=admin, status=409)),
    "edit": (lambda client, url, admin: client.patch_json(url, {"alt": "Lost?"}, headers=admin, status=409)),
    "soft delete": (lambda client, url, admin: client.delete(url, headers=admin, status=409)),
    "restore": (lambda client, url, admin: client.post(f"{url}/restore", headers=admin, status=409)),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_that_read_the_file_before_a_failing_purge_deleted_it_is_refused(client, env, admin, proxy,
                                                                                  monkeypatch, write):
    record = upload(client, admin, "paper.pdf", samples.pdf()).json["file"]
    if write == "restore":
        record = trashed(client, admin, record)
    url = f"/api/media/{record['id']}"
    with HeldPurge(client, proxy, record, admin) as purge:
        done = after_the_media_read(env, monkeypatch, purge.start)
        refused = WRITES[write](client, url, admin)
    assert done and purge.answer.status_int == 503
    assert refused.json == {"error": "the file was moved or deleted meanwhile"}
    # The failed purge put the file back as it was: the refused write left nothing behind.
    assert client.get(url, headers=admin).json["file"] == record
    assert bucket_keys(env) == [record["r2_key"]]


def test_a_move_and_an_edit_in_one_patch_apply_together_or_not_at_all(client, env, admin, proxy, monkeypatch):
    record = upload(client, admin, "paper.pdf", samples.pdf()).json["file"]
    url = f"/api/media/{record['id']}"
    # The purge deletes the row right after the PATCH committed its first write to it: were
    # the move and the edit two transactions, the edit would find no row (409) while the
    # move stuck, and the failed purge would put the row back moved.
    with HeldPurge(client, proxy, record, admin) as purge:
        done = after_a_media_write_commits(env, monkeypatch, purge.start)
        answer = client.patch_json(url, CHANGE, headers=admin, expect_errors=True)
    assert done and purge.answer.status_int == 503
    assert answer.status_int == 200
    changed = answer.json["file"]
    assert (changed["folder"], changed["alt"], changed["caption"]) == (CHANGE["folder"], CHANGE["alt"],
                                                                       CHANGE["caption"])
    # The failed purge put the row back as it deleted it: with the whole edit, as answered.
    assert client.get(url, headers=admin).json["file"] == changed
    assert bucket_keys(env) == [record["r2_key"]]


def test_a_move_and_an_edit_that_read_the_file_before_a_purge_deleted_it_change_nothing(client, env, admin, proxy,
                                                                                         monkeypatch):
    record = upload(client, admin, "paper.pdf", samples.pdf()).json["file"]
    url = f"/api/media/{record['id']}"
    with HeldPurge(client, proxy, record, admin) as purge:
        done = after_the_media_read(env, monkeypatch, purge.start)
        refused = client.patch_json(url, CHANGE, headers=admin, status=409)
    assert done and purge.answer.status_int == 503
    assert refused.json == {"error": "the file was moved or deleted meanwhile"}
    assert client.get(url, headers=admin).json["file"] == record


def test_content_naming_a_file_while_a_failing_purge_runs_keeps_it_public(client, env, admin, proxy,
                                                                           pages_collection):
    # The content's trigger runs while the file's row is away (deleted, its DELETE held):
    # it finds no such file. The failed purge puts the row back and looks at that content again.
    record = upload(client, admin, "paper.pdf", samples.pdf()).json["file"]
    with HeldPurge(client, proxy, record, admin) as purge:
        purge.start()
        client.post_json("/api/content", {"collectionId": pages_collection.name, "title": "Read this",
                                          "data": {"body": f'<a href="/files/{record["r2_key"]}">paper</a>'},
                                          "status": "published"}, headers=admin, status=201)
    assert purge.answer.status_int == 503
    client.get(record["publicUrl"], status=200)  # anonymous


# ------------------------------------------------ a content write naming a file its purge deletes
#
# A purge refuses a file live content names (409); a content write refuses a new reference
# to a file that is gone (422). Racing, one of them must lose: never a purge that went
# through and content naming the file it deleted.

HERO = {"type": "object", "properties": {"hero": {"type": "media"}}}


@pytest.fixture
def gallery(env):
    """A collection with a media field, ``hero``."""
    bind_models(env.DB.db)
    return create_collection("gallery", HERO)


def create_naming(file_id, how):
    """The create body of an item in ``gallery`` naming ``file_id`` ``how``."""
    named = {"data": {"hero": file_id}} if how == "media field" else {"featuredImageId": file_id}
    return {"collectionId": "gallery", "title": "Names the file", **named}


NAMING_WRITES = {
    # name: (method, path of the write given the existing item, body given the file and how)
    "create": ("POST", lambda item: "/api/content", lambda file_id, how: create_naming(file_id, how)),
    "update": ("PUT", lambda item: f"/api/content/{item['id']}",
               lambda file_id, how: {key: value for key, value in create_naming(file_id, how).items()
                                     if key != "collectionId"}),
}
HOWS = ["media field", "featured image"]
REFUSED_AT = {"media field": "data.hero", "featured image": "featuredImageId"}


def send(client, method, path, body, headers):
    return client.request(path, method=method, body=json.dumps(body).encode(), content_type="application/json",
                          headers=headers, expect_errors=True)


def names_left(file_id):
    """The content items naming ``file_id`` as a ``hero`` or as featured image."""
    return [item.id for item in Content.select() if item.featured_image_id == file_id
            or (isinstance(item.data, dict) and item.data.get("hero") == file_id)]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("write", list(NAMING_WRITES))
def test_a_content_write_that_looked_the_file_up_before_its_purge_is_refused(client, env, admin, gallery,
                                                                            monkeypatch, write, how):
    # The write validates (the file is there), then the purge runs whole and finds no content
    # using the file, then the write's transaction begins: it must look the file up again.
    record = upload(client, admin, "a.png", samples.png((40, 30))).json["file"]
    item = client.post_json("/api/content", {"collectionId": "gallery", "title": "Plain"}, headers=admin).json["data"]
    method, path, body = NAMING_WRITES[write]
    purged = []
    done = after_the_media_read(env, monkeypatch, lambda: purged.append(
        client.delete(f"/api/media/{record['id']}/purge", headers=admin, expect_errors=True)))

    answer = send(client, method, path(item), body(record["id"], how), admin)

    assert done and purged[0].status_int == 200, purged[0].text
    assert answer.status_int == 422, answer.text
    assert [problem["field"] for problem in answer.json["details"]] == [REFUSED_AT[how]]
    assert Media.get_or_none(Media.id == record["id"]) is None and names_left(record["id"]) == []


def postgres_only(env):
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's write lock keeps every content write out of a purge's transaction")


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("write", list(NAMING_WRITES))
def test_a_content_write_committing_between_a_purges_check_and_its_delete_is_refused(client, env, admin, gallery,
                                                                                    monkeypatch, write, how):
    # The purge has locked the file's row and found no content using it; a write naming the
    # file runs now, to its end if nothing stops it. It must wait, then find the file gone.
    postgres_only(env)
    record = upload(client, admin, "a.png", samples.png((40, 30))).json["file"]
    item = client.post_json("/api/content", {"collectionId": "gallery", "title": "Plain"}, headers=admin).json["data"]
    method, path, body = NAMING_WRITES[write]
    written = start_after(env, monkeypatch, lambda sql: sql.startswith("SELECT") and "content_media" in sql,
                          lambda: send(client, method, path(item), body(record["id"], how), admin))

    purged = client.delete(f"/api/media/{record['id']}/purge", headers=admin, expect_errors=True)

    answer = written[0].result(30)
    assert purged.status_int == 200, purged.text
    assert answer.status_int == 422, answer.text
    assert [problem["field"] for problem in answer.json["details"]] == [REFUSED_AT[how]]
    assert Media.get_or_none(Media.id == record["id"]) is None and names_left(record["id"]) == []


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("write", list(NAMING_WRITES))
def test_a_purge_waits_for_a_content_write_holding_the_file_and_sees_it(client, env, admin, gallery, monkeypatch,
                                                                        write, how):
    # The write has looked the file up again under its lock; a purge now waits for it to
    # commit, then finds the content using the file.
    postgres_only(env)
    record = upload(client, admin, "a.png", samples.png((40, 30))).json["file"]
    item = client.post_json("/api/content", {"collectionId": "gallery", "title": "Plain"}, headers=admin).json["data"]
    method, path, body = NAMING_WRITES[write]
    purged = start_after(env, monkeypatch, lambda sql: 'FROM "media"' in sql and "FOR KEY SHARE" in sql,
                         lambda: client.delete(f"/api/media/{record['id']}/purge", headers=admin, expect_errors=True))

    answer = send(client, method, path(item), body(record["id"], how), admin)

    assert answer.status_int in (200, 201), answer.text
    assert purged, "the write took no lock on the file"
    refused = purged[0].result(30)
    assert refused.status_int == 409, refused.text
    written = answer.json["data"]["id"]
    assert refused.json["details"]["contentIds"] == [written]
    assert names_left(record["id"]) == [written]
    client.get(record["publicUrl"], headers=admin, status=200)


def test_a_write_naming_no_new_file_sends_no_statement_for_files(client, env, admin, gallery, monkeypatch):
    # An update keeping the item's file reads media once, to validate it; a create naming
    # none never: neither holds a file.
    record = upload(client, admin, "a.png", samples.png((40, 30))).json["file"]
    item = client.post_json("/api/content", create_naming(record["id"], "media field"), headers=admin).json["data"]
    media_reads = []
    original = env.DB.db.execute_sql

    def execute_sql(sql, *args, **kwargs):
        if 'FROM "media"' in sql:
            media_reads.append(sql)
        return original(sql, *args, **kwargs)

    monkeypatch.setattr(env.DB.db, "execute_sql", execute_sql)
    client.put_json(f"/api/content/{item['id']}", {"title": "Renamed", "data": {"hero": record["id"]}},
                    headers=admin, status=200)
    client.post_json("/api/content", {"collectionId": "gallery", "title": "No file"}, headers=admin, status=201)
    assert len(media_reads) == 1 and "FOR KEY SHARE" not in media_reads[0], media_reads


def test_a_version_restore_bringing_back_a_featured_image_its_purge_deletes_is_refused(client, env, admin, gallery,
                                                                                       monkeypatch):
    # Version 1 had the file as featured image, the item has none now: the purge finds no
    # content using it, and the restore, which looks the image up in its transaction (it is
    # no longer the item's), runs then.
    postgres_only(env)
    record = upload(client, admin, "a.png", samples.png((40, 30))).json["file"]
    item = client.post_json("/api/content", create_naming(record["id"], "featured image"), headers=admin).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"featuredImageId": None}, headers=admin, status=200)
    restored = start_after(env, monkeypatch, lambda sql: sql.startswith("SELECT") and "content_media" in sql,
                           lambda: client.post(f"/api/content/{item['id']}/versions/1/restore", headers=admin,
                                               expect_errors=True))

    purged = client.delete(f"/api/media/{record['id']}/purge", headers=admin, expect_errors=True)

    answer = restored[0].result(30)
    assert purged.status_int == 200, purged.text
    assert answer.status_int == 422, answer.text
    assert [problem["field"] for problem in answer.json["details"]] == ["featuredImageId"]
    assert Content.get_by_id(item["id"]).version_number == 2 and names_left(record["id"]) == []


# ------------------------------------------------ writes locking several files take them in one order

PAIR = {"type": "object", "properties": {"a": {"type": "media"}, "b": {"type": "media"}}}


def test_a_content_write_and_a_bulk_move_of_the_same_files_never_deadlock(client, env, admin):
    # The content write locks the files it names in the order of their ids; the library's
    # bulk move must too. A third session holds the lower id's row (as a purge of it in
    # flight does) so that both wait there first; released, each takes the rows in turn.
    postgres_only(env)
    bind_models(env.DB.db)
    create_collection("pair", PAIR)
    low, high = sorted(upload(client, admin, f"{name}.png", samples.png((20, 20))).json["file"]["id"]
                       for name in "xy")
    # The lower id in a later folder, so that a lookup in the folder index's order meets it last.
    client.patch_json(f"/api/media/{low}", {"folder": "zzz"}, headers=admin, status=200)
    db = env.DB.db
    unordered = db.execute_sql('SELECT "id" FROM "media" WHERE "id" IN (%s, %s) AND "deleted_at" IS NULL',
                               (low, high)).fetchall()
    assert [row[0] for row in unordered] == [high, low], "the plan reads the lower id first: no race to set up"
    holder = psycopg2.connect(dbname=db.database, **db.connect_params)
    try:
        holder.cursor().execute('SELECT "id" FROM "media" WHERE "id" = %s FOR UPDATE', (low,))
        with ThreadPoolExecutor(2) as pool:
            written = pool.submit(on_own_connection(db, lambda: client.post_json(
                "/api/content", {"collectionId": "pair", "title": "Both", "data": {"a": low, "b": high}},
                headers=admin, expect_errors=True)))
            until(lambda: waiting_on(holder) >= 1)
            moved = pool.submit(on_own_connection(db, lambda: library_queries.move_all([low, high], "elsewhere")))
            until(lambda: waiting_on(holder) >= 2 or moved.done())
            holder.commit()
            answer, rows = written.result(30), moved.result(30)
    finally:
        holder.close()
    assert answer.status_int == 201, answer.text
    assert sorted(row.id for row in rows) == [low, high]


def waiting_on(connection):
    """How many sessions wait for a lock (PostgreSQL), asked on ``connection``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


# ------------------------------------------------ a duplicate whose source drops the file meanwhile

def trash_then_purge(client, admin, item, record):
    """Move ``item`` to the trash, then purge the file ``record``: the two answers."""
    trashed = client.delete(f"/api/content/{item['id']}", headers=admin, expect_errors=True)
    return trashed, client.delete(f"/api/media/{record['id']}/purge", headers=admin, expect_errors=True)


def test_a_duplicate_whose_source_is_trashed_and_its_file_purged_meanwhile_is_not_made(client, env, admin,
                                                                                      gallery, monkeypatch):
    # Between the duplicate's read of the source and its transaction, the source goes to the
    # trash and its file is purged (nothing live names it then): the copy must not name it.
    record = upload(client, admin, "a.png", samples.png((40, 30))).json["file"]
    item = client.post_json("/api/content", create_naming(record["id"], "media field"), headers=admin).json["data"]
    others = run_after(env, monkeypatch, lambda sql: '"slug" IN (' in sql,  # the copy's slug lookup
                       lambda: trash_then_purge(client, admin, item, record))

    answer = client.post(f"/api/content/{item['id']}/duplicate", headers=admin, expect_errors=True)

    assert others, "the trash and the purge did not run meanwhile"
    trashed, purged = others[0]
    assert (trashed.status_int, purged.status_int) == (200, 200), purged.text
    assert answer.status_int == 404, answer.text  # copied as the source is now: in the trash
    assert names_left(record["id"]) == [item["id"]]  # the trashed source alone


def test_a_source_held_by_its_duplicate_keeps_its_file_from_a_purge(client, env, admin, gallery, monkeypatch):
    # PostgreSQL: the copy holds its source; a move of the source to the trash waits for the
    # copy to commit, and the purge then finds the copy naming the file.
    postgres_only(env)
    record = upload(client, admin, "a.png", samples.png((40, 30))).json["file"]
    item = client.post_json("/api/content", create_naming(record["id"], "media field"), headers=admin).json["data"]
    holds = lambda sql: sql.startswith('SELECT "t1"."id" FROM "content"') and sql.endswith("FOR SHARE")  # noqa: E731
    others = start_after(env, monkeypatch, holds, lambda: trash_then_purge(client, admin, item, record))

    answer = client.post(f"/api/content/{item['id']}/duplicate", headers=admin, expect_errors=True)

    assert others, "the copy did not hold its source"
    trashed, purged = others[0].result(30)
    assert answer.status_int == 201, answer.text
    assert trashed.status_int == 200 and purged.status_int == 409, purged.text
    assert purged.json["details"]["contentIds"] == [answer.json["data"]["id"]]


def test_a_duplicate_whose_source_changes_at_every_try_says_so(client, env, admin, gallery, monkeypatch):
    # Each try reads the source, and an edit commits before the copy's transaction: after
    # its tries the answer is the source's change, not a slug race that did not happen.
    item = client.post_json("/api/content", {"collectionId": "gallery", "title": "Moving"}, headers=admin).json["data"]
    db, original, owner, edits = env.DB.db, env.DB.db.execute_sql, threading.get_ident(), []

    def execute_sql(sql, params=None, *args, **kwargs):
        cursor = original(sql, params, *args, **kwargs)
        if threading.get_ident() == owner and '"slug" IN (' in sql:  # a try's copy slug lookup
            with ThreadPoolExecutor(1) as pool:
                edits.append(pool.submit(on_own_connection(db, lambda: client.put_json(
                    f"/api/content/{item['id']}", {"title": f"Moving {len(edits)}"}, headers=admin))).result(30))
        return cursor

    monkeypatch.setattr(db, "execute_sql", execute_sql)
    answer = client.post(f"/api/content/{item['id']}/duplicate", headers=admin, expect_errors=True)

    assert answer.status_int == 409, answer.text
    assert answer.json["error"] == "The item changed while it was being copied; read it again"
    assert len(edits) >= 2 and all(edit.status_int == 200 for edit in edits)
    assert Content.select().count() == 1
