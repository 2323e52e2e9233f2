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
"""


import pytest

from app.db.models import Media
from tests.fixtures import media as samples
from tests.fixtures.media import after_a_media_write_commits, after_the_media_read, bucket_keys, upload
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
