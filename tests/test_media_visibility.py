"""Who sees which media file, on SQLite and PostgreSQL.

Files that live published content uses (featured image, a media field's id, an embedded
``/files/<key>`` URL) are public; files used only by drafts are seen by the editorial
team (``media.upload``) and their uploader, never by viewers or anonymous readers.
"""

import pytest

from app.db.models import Media
from tests.fixtures import media as samples
from tests.fixtures.media import bucket_keys, upload
from tests.fixtures.workflow import insert_content

# Each test runs on SQLite and on PostgreSQL (tests/fixtures/backends.py).
pytestmark = pytest.mark.backends

# Public files are shared by caches a short while only (MEDIA_PUBLIC_MAX_AGE_SECONDS): they
# can be withdrawn at any time.
PUBLIC = "public, max-age=300, must-revalidate"


@pytest.fixture
def library(client, make_user, workflow_collection):
    """Files of an author: used by published content in three ways, by a draft, by a deleted
    published item, and by nothing; plus the people who look at them."""
    author, author_headers = make_user("author")

    def put(name):
        return upload(client, author_headers, name, samples.png((400, 300))).json["file"]

    files = {name: put(f"{name}.png") for name in ("featured", "field", "embedded", "draft", "trashed", "unused")}
    insert_content(author, workflow_collection, "published", featured_image=files["featured"]["id"])
    insert_content(author, workflow_collection, "published", data={"gallery": [files["field"]["id"]]})
    insert_content(author, workflow_collection, "published",
                   data={"body": f'<p><img src="{files["embedded"]["publicUrl"]}"></p>'})
    draft = insert_content(author, workflow_collection, "draft", data={"hero": files["draft"]["id"]})
    trashed = insert_content(author, workflow_collection, "published", data={"hero": files["trashed"]["id"]},
                             deleted_at=1_700_000_000_000)
    return {
        "files": files,
        "content": {"draft": draft, "trashed": trashed},
        "author": author_headers,
        "other_author": make_user("author")[1],
        "editor": make_user("editor")[1],
        "viewer": make_user("viewer"),
    }


PUBLISHED = {"featured", "field", "embedded"}


def listed(client, headers):
    return {item["originalName"].removesuffix(".png") for item in client.get("/api/media?limit=100", headers=headers).json["data"]}


def test_viewers_list_only_published_files_and_their_own_uploads(client, library):
    viewer, viewer_headers = library["viewer"]

    assert listed(client, viewer_headers) == PUBLISHED
    # An upload from when the viewer was an author is still theirs to see.
    Media.create(filename="mine.png", original_name="mine.png", mime_type="image/png", size=1, r2_key="uploads/mine.png",
                 public_url="/files/uploads/mine.png", uploaded_by=viewer.id)
    assert listed(client, viewer_headers) == PUBLISHED | {"mine"}


def test_the_editorial_team_lists_the_whole_library(client, library):
    everything = set(library["files"])
    for who in ("author", "other_author", "editor"):
        assert listed(client, library[who]) == everything


def test_a_viewer_cannot_get_a_drafts_file_by_id(client, library):
    _, viewer_headers = library["viewer"]
    files = library["files"]

    client.get(f"/api/media/{files['featured']['id']}", headers=viewer_headers, status=200)
    for name in ("draft", "trashed", "unused"):
        assert client.get(f"/api/media/{files[name]['id']}", headers=viewer_headers,
                          status=404).json == {"error": "File not found"}
    client.get(f"/api/media/{files['draft']['id']}", headers=library["other_author"], status=200)


def test_files_of_published_content_are_served_to_anyone(client, library):
    for name in PUBLISHED:
        record = library["files"][name]
        response = client.get(record["publicUrl"], status=200)
        assert response.headers["Cache-Control"] == PUBLIC
        client.get(record["thumbnailUrl"], status=200)
        client.head(record["publicUrl"], status=200)


def test_files_used_only_by_drafts_are_404_to_anonymous_readers_and_viewers(client, library):
    _, viewer_headers = library["viewer"]
    for name in ("draft", "trashed", "unused"):
        record = library["files"][name]
        for headers in ({}, viewer_headers):
            response = client.get(record["publicUrl"], headers=headers, status=404)
            assert response.json == {"error": "Not Found"}
            assert response.headers["Cache-Control"] == "no-store"
            client.get(record["thumbnailUrl"], headers=headers, status=404)
            client.head(record["publicUrl"], headers=headers, status=404)


def test_the_team_gets_drafts_files_privately(client, library):
    record = library["files"]["draft"]
    for who in ("author", "editor"):
        response = client.get(record["publicUrl"], headers=library[who], status=200)
        assert response.headers["Cache-Control"] == "private, no-cache"
        assert response.body == samples.png((400, 300))


def test_an_api_token_reads_its_owners_unpublished_files_only_with_media_read(client, library):
    record = library["files"]["draft"]

    def token(permissions):
        created = client.post_json("/api/tokens", {"name": "t", "permissions": permissions},
                                   headers=library["author"], status=201).json["data"]
        return {"Authorization": f"Bearer {created['token']}"}

    for permissions in (["content.read"], ["content.read", "content.create"]):
        client.get(record["publicUrl"], headers=token(permissions), status=404)
        client.head(record["publicUrl"], headers=token(permissions), status=404)
    assert client.get(record["publicUrl"], headers=token(["media.read"])).body == samples.png((400, 300))


def test_publishing_and_unpublishing_content_changes_who_gets_its_files(client, library):
    record = library["files"]["draft"]
    draft = library["content"]["draft"]
    client.get(record["publicUrl"], status=404)

    client.post_json(f"/api/content/{draft.id}/workflow", {"action": "publish"}, headers=library["editor"])
    public = client.get(record["publicUrl"], status=200)
    assert public.headers["Cache-Control"] == PUBLIC

    client.post_json(f"/api/content/{draft.id}/workflow", {"action": "unpublish"}, headers=library["editor"])
    # A cache revalidating its copy (after at most max-age) learns the file is gone.
    for headers in ({}, {"If-None-Match": public.headers["ETag"]}):
        assert client.get(record["publicUrl"], headers=headers, status=404).headers["Cache-Control"] == "no-store"


def test_restoring_deleted_published_content_makes_its_files_public_again(client, library):
    record = library["files"]["trashed"]
    client.get(record["publicUrl"], status=404)

    client.post(f"/api/content/{library['content']['trashed'].id}/restore", headers=library["editor"])

    client.get(record["publicUrl"], status=200)


def test_deactivating_a_collection_withdraws_its_files_with_its_content(client, library, workflow_collection, make_user):
    _, admin = make_user("admin")
    _, viewer_headers = library["viewer"]
    toggle = f"/admin/api/collections/{workflow_collection.id}"
    client.patch_json(toggle, {"is_active": False}, headers=admin, status=200)
    for name in PUBLISHED:
        record = library["files"][name]
        for headers in ({}, viewer_headers):
            client.get(record["publicUrl"], headers=headers, status=404)
            client.get(record["thumbnailUrl"], headers=headers, status=404)
    assert listed(client, viewer_headers) == set()
    assert client.get(library["files"]["featured"]["publicUrl"], headers=library["editor"], status=200)
    client.patch_json(toggle, {"is_active": True}, headers=admin, status=200)
    assert listed(client, viewer_headers) == PUBLISHED
    assert client.get(library["files"]["embedded"]["publicUrl"], status=200).headers["Cache-Control"] == PUBLIC


@pytest.mark.parametrize("how", ["patch", "bulk-move"])
def test_a_moved_file_that_published_content_embeds_by_its_key_stays_public(client, env, library, how):
    record = library["files"]["embedded"]  # published content names it only by its /files/<key> URL
    _, viewer_headers = library["viewer"]
    client.get(record["publicUrl"], status=200)  # the answer is cached now: the move must not leave it stale
    keys = bucket_keys(env)
    if how == "patch":
        client.patch_json(f"/api/media/{record['id']}", {"folder": "archive"}, headers=library["author"])
    else:
        client.post_json("/api/media/bulk-move", {"fileIds": [record["id"]], "folder": "archive"},
                         headers=library["author"])
    assert Media.get_by_id(record["id"]).folder == "archive"
    response = client.get(f"/files/{record['r2_key']}", status=200)  # anonymous
    assert response.headers["Cache-Control"] == PUBLIC and response.body == samples.png((400, 300))
    client.get(record["thumbnailUrl"], status=200)
    assert "embedded" in listed(client, viewer_headers)
    assert bucket_keys(env) == keys
