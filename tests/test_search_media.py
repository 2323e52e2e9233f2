"""``index_media``: ``POST /api/search`` finds media files by their metadata, request-level on
SQLite and PostgreSQL.

The files found are those the media library shows the caller (the public: files live
published content uses), never the trash, at most ``limit`` of them, in ``data.media``
beside the content results, whose pages they leave as they were.
"""

import pytest

from app.db.models import Media, User, database
from app.services.ai_search import media as media_search
from tests.fixtures import media as samples
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.media import upload
from tests.fixtures.users import bearer, token_for
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

FILES = {  # name: (alt, caption, tags, used by)
    "sunset-beach.png": ("Orange sky", None, None, "published"),
    "harbour.png": ("Boats at the pier", "A calm Sunset", None, "featured"),
    "cliffs.png": (None, None, "coast,summer", "published"),
    "draft-sunset.png": (None, "Sunset for the next issue", None, "draft"),
    "trashed-sunset.png": ("Old sunset", None, None, "published"),
}


@pytest.fixture
def library(client, make_user, workflow_collection):
    """An author's files (public, used by a draft only, in the trash), a published post about
    sunsets, and ``index_media`` on; ``{name: file}`` with the people who search."""
    author, author_headers = make_user("author")
    files = {}
    for name, (alt, caption, tags, used_by) in FILES.items():
        fields = {key: value for key, value in (("alt", alt), ("caption", caption), ("tags", tags)) if value}
        files[name] = file = upload(client, author_headers, name, samples.png((40, 30)), **fields).json["file"]
        if used_by == "featured":
            insert_content(author, workflow_collection, "published", featured_image=file["id"])
        else:
            insert_content(author, workflow_collection, used_by, data={"gallery": [file["id"]]})
    client.delete(f"/api/media/{files['trashed-sunset.png']['id']}", headers=author_headers, status=200)
    insert_items(create_collection("blog"), author, 1, slug_prefix="post", title="Sunset walks",
                 data=lambda _: {"body": "Where to watch the sunset."})
    admin = make_user("admin")[1]
    set_index_media(client, admin, True)
    return {"files": files, "author": author, "editor": make_user("editor")[1], "admin": admin}


def set_index_media(client, admin, on):
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"index_media": on}}, headers=admin, status=200)


def search(client, query, headers=None, status=200, **body):
    return client.post_json("/api/search", {"query": query, **body}, headers=headers or {}, status=status).json


def names(answer):
    return {found["original_name"] for found in answer["data"]["media"]}


def test_files_are_found_by_name_alt_caption_and_tags(client, library):
    answer = search(client, "sunset")
    assert names(answer) == {"sunset-beach.png", "harbour.png"}  # by name; by caption, in any case
    assert answer["data"]["media_total"] == 2
    assert [result["slug"] for result in answer["data"]["results"]] == ["post-0"]  # content as before
    assert names(search(client, "ORANGE")) == {"sunset-beach.png"}  # alt
    assert names(search(client, "pier boats")) == {"harbour.png"}  # every word, anywhere
    assert names(search(client, "pier cliffs")) == set()
    assert names(search(client, "summer")) == {"cliffs.png"}  # tags
    found = search(client, "orange")["data"]["media"][0]
    file = library["files"]["sunset-beach.png"]
    assert found == {
        "id": file["id"], "filename": file["filename"], "original_name": "sunset-beach.png",
        "mime_type": "image/png", "alt": "Orange sky", "caption": None, "tags": [], "url": file["publicUrl"],
        "thumbnail_url": file["thumbnailUrl"], "width": 40, "height": 30, "uploaded_at": file["uploadedAt"],
    }


def test_nothing_is_searched_when_index_media_is_off(client, library):
    assert names(search(client, "sunset")) == {"sunset-beach.png", "harbour.png"}
    set_index_media(client, library["admin"], False)
    answer = search(client, "sunset")["data"]
    assert "media" not in answer and "media_total" not in answer
    assert [result["slug"] for result in answer["results"]] == ["post-0"]


def test_a_draft_only_file_is_hidden_from_the_public_and_shown_to_the_team(client, library, make_user):
    assert "draft-sunset.png" not in names(search(client, "sunset"))
    assert "draft-sunset.png" not in names(search(client, "sunset", headers=make_user("viewer")[1]))
    assert "next issue" not in str(search(client, "issue"))  # not even its caption
    editor = search(client, "sunset", headers=library["editor"])
    assert names(editor) == {"sunset-beach.png", "harbour.png", "draft-sunset.png"}
    assert editor["data"]["media_total"] == 3


def test_trashed_files_are_never_found(client, library):
    for headers in ({}, library["editor"], library["admin"]):
        assert "trashed-sunset.png" not in names(search(client, "sunset", headers=headers))
        assert search(client, "old", headers=headers)["data"]["media"] == []


def test_the_request_limit_bounds_the_files(client, library):
    answer = search(client, "sunset", headers=library["editor"], limit=2)["data"]
    assert len(answer["media"]) == 2 and answer["media_total"] == 3
    # newest first, the same files on every page of the content results
    assert answer["media"] == search(client, "sunset", headers=library["editor"], limit=2, offset=1)["data"]["media"]
    uploaded = [found["uploaded_at"] for found in answer["media"]]
    assert uploaded == sorted(uploaded, reverse=True)


def test_only_the_newest_files_are_looked_at(client, library, monkeypatch):
    # The oldest public file matching the query falls out of the files a search reads.
    harbour = library["files"]["harbour.png"]["id"]
    Media.update(uploaded_at=1).where(Media.id == harbour).execute()
    monkeypatch.setattr(media_search, "SCAN", 3)  # the four live files but the oldest
    answer = search(client, "sunset", headers=library["editor"])["data"]
    assert names({"data": answer}) == {"sunset-beach.png", "draft-sunset.png"}
    assert answer["media_total"] == 2


def test_bad_input_is_refused_as_before(client, library):
    assert set(client.post_json("/api/search", {"query": "sunset", "limit": 0}, status=422).json) == {"error", "details"}
    refused = search(client, "sunset", status=401, filters={"status": ["draft"]})
    assert "media" not in refused and "sunset" not in str(refused)
    assert search(client, ")")["data"]["media"] == []  # no word: no file


def test_a_viewer_finds_their_own_uploads(client, library):
    # An author made a viewer keeps seeing their own files, as in the library (media.read).
    author = library["author"]
    client.patch_json(f"/admin/api/users/{author.id}", {"role": "viewer"}, headers=library["admin"], status=200)
    viewer = bearer(token_for(User.get_by_id(author.id)))
    assert client.get("/api/media", {"search": "sunset"}, headers=viewer).json["meta"]["total"] == 3
    # The public's answer is cached first (cache_duration): the viewer, who reads content as
    # the public does, but their own files too, is answered for themself, and the other way round.
    public = {"sunset-beach.png", "harbour.png"}
    assert names(search(client, "sunset")) == public
    assert names(search(client, "sunset", headers=viewer)) == public | {"draft-sunset.png"}
    assert names(search(client, "sunset")) == public


def test_tags_are_matched_by_each_ones_value(client, library):
    """A word is looked for in each tag's value, not in the JSON the tags are stored as: its
    escapes (a tab is ``\\t`` there) and its separators are no tag's text."""
    author_headers = bearer(token_for(library["author"]))
    tabbed = upload(client, author_headers, "tabbed.png", samples.png((4, 3)), tags='["sun\\tset", "sea"]').json["file"]
    odd = upload(client, author_headers, "odd.png", samples.png((4, 3))).json["file"]
    mark = database.obj.param  # raw SQL: the model would store the text as a JSON string
    database.obj.execute_sql(f"UPDATE media SET tags = {mark} WHERE id = {mark}", ("not json [tset", odd["id"]))
    admin = library["admin"]
    assert names(search(client, "tset", admin)) == set()  # "sun\tset" in the JSON; "sun<tab>set" is the tag
    assert names(search(client, "sea sun", admin)) == {"tabbed.png"}  # every word, in one tag or another
    assert names(search(client, "coast summer", admin)) == {"cliffs.png"}
    assert tabbed["tags"] == ["sun\tset", "sea"]
