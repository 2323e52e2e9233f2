"""The admin's trash buttons (delete, restore, delete permanently) when they cannot be carried
out: the library page says why, instead of an error page, and nothing is lost. And a file's
page saves a move with its other edits in one write, which a purge cannot split.

The bucket is a real S3 server behind ``S3FaultProxy``, which refuses the DELETE chosen.
"""

import pytest

from app.db.models import Content, Media
from app.services.media import storage
from tests.fixtures.admin import csrf_token
from tests.fixtures.content import insert_items
from tests.fixtures.media import after_a_media_write_commits, after_the_media_read, bucket_keys, png, upload
from tests.fixtures.s3_proxy import HeldPurge

pytestmark = pytest.mark.backends


@pytest.fixture
def env(proxied_env):
    return proxied_env


@pytest.fixture
def trashed(client, make_user, env):
    """An uploaded PNG (with its thumbnail), then moved to the trash: its record."""
    _, admin = make_user("admin")
    record = upload(client, admin, "a.png", png((400, 300))).json["file"]
    client.delete(f"/api/media/{record['id']}", headers=admin)
    return record


def problem_shown(browser, response, location):
    assert response.location.endswith(location)
    [alert] = response.follow().html.select(".message.error")
    return alert.text


def test_a_purge_the_store_refuses_says_so_and_keeps_the_file(browser, signed_in_as, env, proxy, trashed):
    signed_in_as("admin")
    proxy.fail("DELETE", "/" + trashed["r2_key"])
    response = browser.post(f"/admin/media/{trashed['id']}/purge", {"csrf_token": csrf_token(browser)}, status=303)
    assert "file store did not answer" in problem_shown(browser, response, "/admin/media?trash=1&problem=store")
    assert Media.get_by_id(trashed["id"]).deleted_at is not None  # still in the trash, to try again
    assert trashed["r2_key"] in bucket_keys(env)
    proxy.faults.clear()
    response = browser.post(f"/admin/media/{trashed['id']}/purge", {"csrf_token": csrf_token(browser)}, status=303)
    assert response.location.endswith("/admin/media?trash=1&done=purged") and bucket_keys(env) == []


def test_a_purge_of_a_featured_image_says_why_it_was_refused(browser, signed_in_as, blog_collection, trashed):
    author = signed_in_as("admin")
    [item] = insert_items(blog_collection, author, 1)
    Content.update(featured_image=trashed["id"]).where(Content.id == item).execute()
    response = browser.post(f"/admin/media/{trashed['id']}/purge", {"csrf_token": csrf_token(browser)}, status=303)
    assert "featured image" in problem_shown(browser, response, "/admin/media?trash=1&problem=in-use")
    assert Media.get_by_id(trashed["id"]).deleted_at is not None


@pytest.mark.parametrize("action, location", [
    ("delete", "/admin/media?problem=purged"), ("restore", "/admin/media?trash=1&problem=purged"),
])
def test_a_file_purged_meanwhile_is_said_to_be_gone(browser, signed_in_as, env, monkeypatch, trashed,
                                                    action, location):
    signed_in_as("admin")
    if action == "delete":
        Media.update(deleted_at=None).where(Media.id == trashed["id"]).execute()
    token = csrf_token(browser)
    done = after_the_media_read(env, monkeypatch, lambda: storage.purge(env.MEDIA_BUCKET,
                                                                        Media.get_by_id(trashed["id"])))
    response = browser.post(f"/admin/media/{trashed['id']}/{action}", {"csrf_token": token}, status=303)
    assert done and "deleted permanently meanwhile" in problem_shown(browser, response, location)
    assert Media.get_or_none(Media.id == trashed["id"]) is None


def test_a_move_and_an_edit_are_saved_together_or_not_at_all(browser, signed_in_as, client, make_user, env, proxy,
                                                             monkeypatch):
    """The purge deletes the row right after the save's first write to it committed: were the
    move and the edit two writes, the edit would find no row while the move stuck, and the
    failed purge would put the row back moved but not edited."""
    signed_in_as("admin")
    _, admin = make_user("admin")
    record = upload(client, admin, "paper.png", png()).json["file"]
    form = browser.get(f"/admin/media/{record['id']}").forms["media-edit"]
    form["folder"], form["alt"] = "archive", "Moved and described"
    with HeldPurge(client, proxy, record, admin) as purge:
        done = after_a_media_write_commits(env, monkeypatch, purge.start)
        saved = form.submit(status=303)
    assert done and purge.answer.status_int == 503 and saved.location.endswith("?done=saved")
    row = Media.get_by_id(record["id"])  # put back by the failed purge as the save left it
    assert (row.folder, row.alt) == ("archive", "Moved and described")
