"""The media library API: list, get, update and move, soft delete, restore, purge, bulk
operations, permissions, and a bucket outage, on both bucket backends."""

from urllib.parse import quote

import pytest

from app.db.models import Collection, Content, Media, bind_models, database
from tests.fixtures import media as samples
from tests.fixtures.app import client_for, env_with_copy, settings_for_tests
from tests.fixtures.content import create_collection
from tests.fixtures.media import bucket_keys, publish_media, upload
from tests.fixtures.s3 import create_bucket
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends


@pytest.fixture
def env(media_env):
    return media_env


@pytest.fixture
def people(make_user):
    """Headers (and users) of two authors, an editor, an admin and a viewer."""
    return {role: make_user(role.rstrip("2")) for role in ("author", "author2", "editor", "admin", "viewer")}


def put(client, who, name="a.png", data=None, **fields):
    """Upload as ``who`` (a (user, headers) pair) and return the record."""
    return upload(client, who[1], name, data if data is not None else samples.png(), **fields).json["file"]


def ids(body):
    return [item["id"] for item in body["data"]]


# -- list and get ------------------------------------------------------------------------------


def test_list_newest_first_with_pagination(client, people):
    records = [put(client, people["author"], f"f{i}.txt", f"file {i}".encode()) for i in range(5)]
    body = client.get("/api/media", headers=people["editor"][1]).json
    assert set(body) == {"data", "meta"}
    assert ids(body) == [r["id"] for r in reversed(records)]
    assert body["meta"] == {"page": 1, "limit": 20, "total": 5, "pages": 1, "hasNext": False, "hasPrev": False}
    body = client.get("/api/media?page=2&limit=2", headers=people["editor"][1]).json
    assert ids(body) == [records[2]["id"], records[1]["id"]]
    assert body["meta"] == {"page": 2, "limit": 2, "total": 5, "pages": 3, "hasNext": True, "hasPrev": True}
    body = client.get("/api/media?sort=size&limit=1", headers=people["editor"][1]).json
    assert body["data"][0]["size"] == min(r["size"] for r in records)


def test_list_takes_an_offset_as_the_content_lists_do(client, people):
    """``offset`` or ``page``, not both; a negative one is a 400 naming it, as ``limit=-1`` is
    (it was left out, as a parameter the list did not know, whatever its value)."""
    records = [put(client, people["author"], f"f{i}.txt", f"file {i}".encode()) for i in range(5)]
    headers = people["editor"][1]
    body = client.get("/api/media?offset=1&limit=2", headers=headers).json
    assert ids(body) == [records[3]["id"], records[2]["id"]]
    assert body["meta"] == {"page": 1, "limit": 2, "total": 5, "pages": 3, "hasNext": True, "hasPrev": True}
    body = client.get("/api/media?offset=4&limit=2", headers=headers).json
    assert ids(body) == [records[0]["id"]] and (body["meta"]["hasNext"], body["meta"]["page"]) == (False, 3)
    for query, message in (("offset=-5", "must be at least 0"), ("offset=x", None),
                           ("page=2&offset=1", "use only one of offset and page")):
        refused = client.get(f"/api/media?{query}", headers=headers, status=400).json
        [detail] = refused["details"]
        assert detail["parameter"] == "offset" and (message is None or message in detail["message"]), refused


def test_list_filters(client, people):
    who = people["author"]
    png = put(client, who, "Holiday.png", folder="trips", alt="Beach at noon")
    pdf = put(client, who, "report.pdf", samples.pdf(), caption="Quarterly 100% numbers")
    txt = put(client, who, "notes_1.txt", b"notes", folder="trips")
    wav = put(client, who, "sound.wav", samples.wav())
    accented = put(client, who, "ÜBER Éclair.txt", b"x", alt="Straße")
    headers = people["author2"][1]  # the editorial team sees the whole library

    def listed(query):
        return set(ids(client.get(f"/api/media?{query}", headers=headers).json))

    assert listed("folder=trips") == {png["id"], txt["id"]}
    assert listed("type=image") == {png["id"]}
    assert listed("type=document") == {pdf["id"], txt["id"], accented["id"]}
    assert listed("type=audio") == {wav["id"]}
    assert listed("type=video") == set()
    assert listed("type=application/pdf") == {pdf["id"]}
    assert listed("search=holiday") == {png["id"]}  # case-insensitive, in the original name
    assert listed("search=beach") == {png["id"]}  # in alt
    assert listed("search=100%25") == {pdf["id"]}  # in caption; % is literal
    assert listed("search=1%25") == set()
    assert listed("search=s_1") == {txt["id"]}  # _ is literal too
    assert listed("search=e_") == set()  # as a wildcard, "e_" would match "report"
    assert listed("folder=trips&type=image&search=holiday") == {png["id"]}
    # Every letter's case folds, on SQLite as on PostgreSQL (sent UTF-8 escaped, as a browser does).
    for query in ("über", "ÜBER", "éclair", "ÉCLAIR", "straße", "STRAẞE"):
        assert listed(f"search={quote(query)}") == {accented["id"]}, query


def test_search_matches_each_tags_value(client, people):
    """``search`` finds a text in one of a file's tags, as in its name, alt or caption: in a
    tag's value, never in the JSON the tags are stored as (its quotes, brackets, commas)."""
    who = people["author"]
    cliffs = put(client, who, "cliffs.png", tags='["coast", "Summer"]')
    pair = put(client, who, "pair.png", tags='["a b", "say \\"cheese\\"", "sun\\tset"]')
    plain = put(client, who, "plain.png", alt="no tags here")
    # Written by hand (raw SQL: the model would store each text as a JSON string): not JSON,
    # not an array, and an array whose lone surrogate escape SQLite's JSON would decode into
    # text that is not UTF-8 (JavaScript's JSON.stringify writes one so).
    for name, tags in (("odd.png", "not json [summer"), ("hand.png", '{"season": "summer"}'),
                       ("lone.png", '["summer \\ud800"]'), ("nul.png", '["summer\\u0000"]')):
        row = put(client, who, name)
        mark = database.obj.param  # the driver's placeholder
        database.obj.execute_sql(f"UPDATE media SET tags = {mark} WHERE id = {mark}", (tags, row["id"]))
    headers = people["author2"][1]

    def listed(query):
        return set(ids(client.get("/api/media", params={"search": query}, headers=headers).json))

    assert listed("summer") == {cliffs["id"]}  # in any case; hand-written tags hold nothing found
    assert listed("coast") == {cliffs["id"]}
    assert listed("a b") == {pair["id"]}  # one tag, its space included
    assert listed('"cheese"') == listed('"') == {pair["id"]}  # a quote in a tag's value, not every tagged file
    for syntax in ("[", "]", ",", 'coast", "summer', "\\", "tset"):
        assert listed(syntax) == set(), syntax  # the JSON's quotes, brackets, commas and escapes
    assert listed("plain") == {plain["id"]}
    # A viewer finds tags among the files they may see: the published ones.
    public = put(client, who, "public.png", tags="summer sea")
    publish_media(public["id"])
    seen = client.get("/api/media", params={"search": "summer"}, headers=people["viewer"][1]).json
    assert ids(seen) == [public["id"]]


@pytest.mark.parametrize("query", ["type=spreadsheet", "sort=random", "limit=0", "limit=101", "page=0", "page=x"])
def test_list_rejects_bad_parameters(client, people, query):
    body = client.get(f"/api/media?{query}", headers=people["viewer"][1], status=400).json
    assert set(body) <= {"error", "details"} and body["error"]


def test_list_and_get_need_a_user(client, people):
    record = put(client, people["author"])
    assert client.get("/api/media", status=401).json == {"error": "Authentication required"}
    client.get(f"/api/media/{record['id']}", status=401)
    body = client.get(f"/api/media/{record['id']}", headers=people["editor"][1]).json
    assert body == {"success": True, "file": record}
    assert client.get("/api/media/nope", headers=people["viewer"][1], status=404).json == {"error": "File not found"}


# -- update and move -------------------------------------------------------------------------


def test_patch_metadata(client, people):
    record = put(client, people["author"])
    body = client.patch_json(f"/api/media/{record['id']}", {"alt": "New alt", "caption": "Cap", "tags": ["a", "b"]},
                             headers=people["author"][1]).json
    assert body["success"] is True and body["message"] == "File updated successfully"
    assert (body["file"]["alt"], body["file"]["caption"], body["file"]["tags"]) == ("New alt", "Cap", ["a", "b"])
    assert body["file"]["updatedAt"] >= record["updatedAt"]
    body = client.patch_json(f"/api/media/{record['id']}", {"alt": None, "tags": "x, y"}, headers=people["author"][1]).json
    assert (body["file"]["alt"], body["file"]["caption"], body["file"]["tags"]) == (None, "Cap", ["x", "y"])
    assert Media.get_by_id(record["id"]).tags == ["x", "y"]


def test_patch_reads_a_tags_string_as_an_upload_reads_its_tags_and_the_document_says_so(client, people):
    """A string is not refused: it is read as the upload's ``tags`` part is (comma-separated,
    or a JSON array), one parser for both, as the OpenAPI document now says for both."""
    who = people["author"]
    for text, tags in (("notalist", ["notalist"]), (" bikes, red ,,bikes", ["bikes", "red"]),
                       ('["a, b", "c"]', ["a, b", "c"]), ("", [])):
        uploaded = put(client, who, tags=text)
        assert uploaded["tags"] == tags, text
        patched = client.patch_json(f"/api/media/{uploaded['id']}", {"tags": text}, headers=who[1]).json["file"]
        assert patched["tags"] == tags, text
    refused = client.patch_json(f"/api/media/{uploaded['id']}", {"tags": "[1]"}, headers=who[1], status=422).json
    assert refused["details"] == [{"field": "tags", "message": "not a JSON array of strings"}]
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    for form in ("UploadFields", "UploadManyFields"):
        assert "separated by commas" in schemas[form]["properties"]["tags"]["description"]
    patch = schemas["MediaPatch"]["properties"]["tags"]
    assert "a list of tags, or a string of tags separated by commas" in patch["description"]
    assert {choice.get("type") for choice in patch["anyOf"]} == {"array", "string", "null"}


@pytest.mark.parametrize("payload, field", [
    ({"role": "admin"}, "role"), ({"alt": 5}, "alt"), ({"alt": "x" * 1001}, "alt"),
    ({"tags": ["x" * 65]}, "tags"), ({"folder": "../up"}, "folder"), ({"caption": "a\x00b"}, "caption"),
])
def test_patch_validation(client, env, people, payload, field):
    record = put(client, people["author"])
    body = client.patch_json(f"/api/media/{record['id']}", payload, headers=people["author"][1], status=422).json
    assert body["error"] in ("Validation failed", "Invalid folder name")
    assert body["details"][0]["field"] == field
    assert client.get(f"/api/media/{record['id']}", headers=people["author"][1]).json["file"] == record


MOVES = ("patch", "bulk-move")
KEPT = ("r2_key", "publicUrl", "thumbnailUrl")


def move_to(client, headers, media_id, folder, how):
    """Move one file into ``folder`` by ``PATCH`` or by bulk-move; the file as read afterwards."""
    if how == "patch":
        client.patch_json(f"/api/media/{media_id}", {"folder": folder}, headers=headers)
    else:
        body = client.post_json("/api/media/bulk-move", {"fileIds": [media_id], "folder": folder}, headers=headers).json
        assert body["summary"] == {"total": 1, "successful": 1, "failed": 0}
    return client.get(f"/api/media/{media_id}", headers=headers).json["file"]


@pytest.mark.parametrize("how", MOVES)
def test_a_move_changes_the_folder_and_keeps_the_key_url_and_objects(client, env, people, how):
    author = people["author"][1]
    data = samples.png((400, 400))
    record = put(client, people["author"], data=data)
    keys = bucket_keys(env)
    assert keys == sorted([record["r2_key"], f"uploads/{record['id']}.thumb.webp"])
    moved = move_to(client, author, record["id"], "gallery/2024", how)
    assert moved["folder"] == "gallery/2024" and moved["updatedAt"] >= record["updatedAt"]
    assert {k: moved[k] for k in KEPT} == {k: record[k] for k in KEPT}
    assert bucket_keys(env) == keys  # nothing copied, nothing deleted
    assert client.get(f"/files/{record['r2_key']}", headers=author).body == data
    assert client.get(record["publicUrl"], headers=author).body == data
    client.get(record["thumbnailUrl"], headers=author, status=200)
    assert ids(client.get("/api/media?folder=gallery/2024", headers=author).json) == [record["id"]]
    assert ids(client.get("/api/media?folder=uploads", headers=author).json) == []


def test_patch_moves_and_updates_metadata_in_one_request(client, env, people):
    record = put(client, people["author"], data=samples.png((400, 400)))
    body = client.patch_json(f"/api/media/{record['id']}", {"folder": "gallery/2024", "alt": "moved"},
                             headers=people["author"][1]).json
    assert (body["file"]["folder"], body["file"]["alt"], body["file"]["r2_key"]) == ("gallery/2024", "moved",
                                                                                   record["r2_key"])


@pytest.mark.parametrize("blank", ["", "   "])
def test_patch_refuses_a_blank_folder_and_changes_nothing(client, env, people, blank):
    author = people["author"][1]
    record = put(client, people["author"], folder="blog")
    keys = bucket_keys(env)
    body = client.patch_json(f"/api/media/{record['id']}", {"folder": blank, "alt": "changed"}, headers=author,
                             status=422).json
    assert body == {"error": "Validation failed", "details": [{"field": "folder", "message": "No folder name provided"}]}
    assert client.post_json("/api/media/create-folder", {"folderName": blank}, headers=author,
                            status=422).json["details"][0]["message"] == body["details"][0]["message"]
    assert client.get(f"/api/media/{record['id']}", headers=author).json["file"] == record
    assert record["folder"] == "blog" and bucket_keys(env) == keys


@pytest.mark.parametrize("blank", ["", "   "])
def test_bulk_move_refuses_a_blank_folder_and_changes_nothing(client, env, people, blank):
    author = people["author"][1]
    record = put(client, people["author"], data=samples.png((400, 400)), folder="blog")
    keys = bucket_keys(env)
    body = client.post_json("/api/media/bulk-move", {"fileIds": [record["id"]], "folder": blank}, headers=author,
                            status=422).json
    assert body == {"error": "Validation failed", "details": [{"field": "folder", "message": "No folder name provided"}]}
    assert client.get(f"/api/media/{record['id']}", headers=author).json["file"] == record
    assert record["folder"] == "blog" and bucket_keys(env) == keys


def test_bulk_move_takes_the_target_folder_under_sonicjs_documented_name(client, env, people):
    # SonicJS's website posts {"fileIds": [...], "targetFolder": "..."}; its code reads `folder`.
    author = people["author"][1]
    first = put(client, people["author"], "a.txt", b"a")
    second = put(client, people["author"], "b.txt", b"b")
    body = client.post_json("/api/media/bulk-move", {"fileIds": [first["id"]], "targetFolder": "archive"},
                            headers=author).json
    assert body["success"] is True and body["moved"][0]["folder"] == "archive"
    same = {"fileIds": [second["id"]], "folder": "archive", "targetFolder": "archive"}
    assert client.post_json("/api/media/bulk-move", same, headers=author).json["moved"][0]["folder"] == "archive"
    assert Media.get_by_id(first["id"]).folder == Media.get_by_id(second["id"]).folder == "archive"


@pytest.mark.parametrize("body, field, message", [
    ({"folder": "one", "targetFolder": "two"}, "targetFolder", "give folder or targetFolder, not two different folders"),
    ({}, "folder", "No folder name provided"),
    ({"targetFolder": " "}, "targetFolder", "No folder name provided"),
    ({"folder": "", "targetFolder": ""}, "targetFolder", "No folder name provided"),
])
def test_bulk_move_refuses_two_different_folders_or_none(client, people, body, field, message):
    record = put(client, people["author"], "a.txt", b"a")
    refused = client.post_json("/api/media/bulk-move", {"fileIds": [record["id"]], **body},
                               headers=people["author"][1], status=422).json
    assert refused == {"error": "Validation failed", "details": [{"field": field, "message": message}]}
    assert Media.get_by_id(record["id"]).folder == "uploads"


def test_who_may_update(client, people):
    mine = put(client, people["author"])
    theirs = put(client, people["author2"])
    author = people["author"][1]
    assert client.patch_json(f"/api/media/{theirs['id']}", {"alt": "x"}, headers=author, status=403).json == {
        "error": "You may only edit your own files"}
    client.patch_json(f"/api/media/{mine['id']}", {"alt": "x"}, headers=author, status=200)
    client.patch_json(f"/api/media/{theirs['id']}", {"alt": "by editor"}, headers=people["editor"][1], status=200)
    client.patch_json(f"/api/media/{mine['id']}", {"alt": "x"}, headers=people["viewer"][1], status=403)
    client.patch_json(f"/api/media/{mine['id']}", {"alt": "x"}, status=401)
    client.patch_json("/api/media/missing", {"alt": "x"}, headers=author, status=404)


# -- soft delete, restore, purge ---------------------------------------------------------------


def test_soft_delete_restore_purge(client, env, people):
    record = put(client, people["author"], data=samples.png((400, 400)))
    keys = bucket_keys(env)
    author, admin = people["author"][1], people["admin"][1]
    body = client.delete(f"/api/media/{record['id']}", headers=author).json
    assert body["success"] is True and body["message"] == "File deleted successfully"
    assert body["file"]["deletedAt"] is not None
    assert record["id"] not in ids(client.get("/api/media", headers=author).json)
    assert bucket_keys(env) == keys  # the object is kept
    client.get(f"/api/media/{record['id']}", headers=people["viewer"][1], status=404)
    assert client.get(f"/api/media/{record['id']}", headers=author).json["file"]["deletedAt"] is not None
    assert ids(client.get("/api/media?deleted=true", headers=author).json) == [record["id"]]
    client.delete(f"/api/media/{record['id']}", headers=author, status=404)  # already deleted

    body = client.post(f"/api/media/{record['id']}/restore", headers=author).json
    assert body["message"] == "File restored successfully" and body["file"]["deletedAt"] is None
    assert ids(client.get("/api/media", headers=author).json) == [record["id"]]
    client.get(record["publicUrl"], headers=author, status=200)

    client.delete(f"/api/media/{record['id']}/purge", headers=people["editor"][1], status=403)
    client.delete(f"/api/media/{record['id']}/purge", headers=author, status=403)
    body = client.delete(f"/api/media/{record['id']}/purge", headers=admin).json
    assert body == {"success": True, "message": "File permanently deleted", "id": record["id"]}
    assert bucket_keys(env) == []  # file and thumbnail gone
    assert Media.get_or_none(Media.id == record["id"]) is None
    client.get(record["publicUrl"], headers=admin, status=404)
    client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=404)


def test_hard_delete_parameter(client, env, people):
    record = put(client, people["author"])
    client.delete(f"/api/media/{record['id']}?hard=true", headers=people["editor"][1], status=403)
    client.delete(f"/api/media/{record['id']}?hard=true", headers=people["admin"][1], status=200)
    assert Media.select().count() == 0 and bucket_keys(env) == []


def test_purge_of_media_used_by_content_is_refused(client, env, people):
    record = put(client, people["author"], "paper.pdf", samples.pdf())
    collection = Collection.create(name="posts", display_name="Posts", schema={"type": "object"})
    post = Content.create(collection=collection, slug="p", title="P", data={}, author=people["author"][0].id,
                          featured_image=record["id"])
    body = client.delete(f"/api/media/{record['id']}/purge", headers=people["admin"][1], status=409).json
    assert body == {"error": "Media is used by content", "details": {"contentIds": [post.id]}}
    assert Media.get_or_none(Media.id == record["id"]) is not None
    assert bucket_keys(env) == [record["r2_key"]]


def test_purge_of_media_named_by_content_not_in_the_trash_is_refused(client, env, people):
    """A media field's id or a ``/files/<key>`` URL in the text of an item, a draft too, keeps
    the file from its purge, as a featured image does; in the trash, the item lets it go."""
    editor = people["editor"][1]
    named, embedded = put(client, people["author"]), put(client, people["author"], "b.png")
    create_collection("posts", {"type": "object", "properties": {"cover": {"type": "media"},
                                                                 "body": {"type": "richtext"}}})
    published = client.post_json("/api/content", {
        "collectionId": "posts", "title": "P", "status": "published",
        "data": {"cover": named["id"], "body": f'<p><img src="/files/{embedded["r2_key"]}"></p>'}},
        headers=editor, status=201).json["data"]
    draft = client.post_json("/api/content", {"collectionId": "posts", "title": "D", "data": {"cover": named["id"]}},
                             headers=editor, status=201).json["data"]
    admin = people["admin"][1]
    body = client.delete(f"/api/media/{named['id']}/purge", headers=admin, status=409).json
    assert body["error"] == "Media is used by content"
    assert sorted(body["details"]["contentIds"]) == sorted([published["id"], draft["id"]])
    body = client.delete(f"/api/media/{embedded['id']}/purge", headers=admin, status=409).json
    assert body["details"] == {"contentIds": [published["id"]]}
    assert len(bucket_keys(env)) == 4 and Media.select().count() == 2  # each file and its thumbnail
    client.delete(f"/api/content/{published['id']}", headers=editor, status=200)
    client.delete(f"/api/media/{embedded['id']}/purge", headers=admin, status=200)
    assert client.delete(f"/api/media/{named['id']}/purge", headers=admin, status=409).json["details"] == {
        "contentIds": [draft["id"]]}
    client.delete(f"/api/content/{draft['id']}", headers=editor, status=200)
    client.delete(f"/api/media/{named['id']}/purge", headers=admin, status=200)
    assert bucket_keys(env) == [] and Media.select().count() == 0


def test_who_may_delete(client, people):
    mine = put(client, people["author"])
    theirs = put(client, people["author2"])
    author = people["author"][1]
    assert client.delete(f"/api/media/{theirs['id']}", headers=author, status=403).json == {
        "error": "You may only delete your own files"}
    client.delete(f"/api/media/{mine['id']}", headers=people["viewer"][1], status=403)
    client.delete(f"/api/media/{mine['id']}", status=401)
    client.delete(f"/api/media/{mine['id']}", headers=author, status=200)
    client.delete(f"/api/media/{theirs['id']}", headers=people["editor"][1], status=200)
    # Restoring follows the same rule; someone else's trash is missing to an author, as reading it says.
    assert client.post(f"/api/media/{theirs['id']}/restore", headers=author, status=404).json == {
        "error": "File not found"}
    client.get(f"/api/media/{theirs['id']}", headers=author, status=404)
    client.post(f"/api/media/{theirs['id']}/restore", headers=people["viewer"][1], status=403)
    client.post(f"/api/media/{mine['id']}/restore", headers=author, status=200)
    client.post("/api/media/missing/restore", headers=author, status=404)


def test_trash_lists_only_what_one_may_restore(client, people):
    mine = put(client, people["author"])
    theirs = put(client, people["author2"])
    for record, who in ((mine, "author"), (theirs, "author2")):
        client.delete(f"/api/media/{record['id']}", headers=people[who][1])
    assert ids(client.get("/api/media?deleted=true", headers=people["author"][1]).json) == [mine["id"]]
    assert set(ids(client.get("/api/media?deleted=true", headers=people["editor"][1]).json)) == {mine["id"], theirs["id"]}


# -- bulk operations ------------------------------------------------------------------------


def test_bulk_delete_mixed_results(client, env, people):
    own, own_deleted = put(client, people["author"], "own.png"), put(client, people["author"], "gone.png")
    other = put(client, people["author2"], "other.png")
    hidden = put(client, people["author2"], "hidden.png")
    client.delete(f"/api/media/{hidden['id']}", headers=people["author2"][1])  # their trash: missing to others
    client.delete(f"/api/media/{own_deleted['id']}", headers=people["author"][1])
    body = client.post_json("/api/media/bulk-delete",
                            {"fileIds": [own["id"], other["id"], "missing", own_deleted["id"], own["id"], hidden["id"]]},
                            headers=people["author"][1]).json
    assert body["success"] is False
    assert body["deleted"] == [
        {"fileId": own["id"], "filename": "own.png", "success": True},
        {"fileId": own_deleted["id"], "filename": "gone.png", "success": True, "alreadyDeleted": True},
    ]
    assert body["errors"] == [
        {"fileId": other["id"], "error": "Permission denied"},
        {"fileId": "missing", "error": "File not found"},
        {"fileId": hidden["id"], "error": "File not found"},
    ]
    assert body["summary"] == {"total": 5, "successful": 2, "failed": 3}
    assert Media.get_by_id(own["id"]).deleted_at is not None
    assert Media.get_by_id(other["id"]).deleted_at is None
    assert len(bucket_keys(env)) == 8  # soft delete keeps every object (4 files, 4 thumbnails)
    body = client.post_json("/api/media/bulk-delete", {"fileIds": [other["id"]]}, headers=people["editor"][1]).json
    assert body["success"] is True and body["summary"]["successful"] == 1


def test_bulk_delete_fires_after_media_delete_for_each_file_it_deletes(env, people):
    from tests.plugins import sample_plugin

    client = client_for(env, plugins=("tests.plugins.sample_plugin",))
    client.post("/admin/api/plugins/sample/activate", headers=people["admin"][1], status=200)
    first, second, gone = (put(client, people["author"], f"{name}.png") for name in ("first", "second", "gone"))
    client.delete(f"/api/media/{gone['id']}", headers=people["author"][1])
    sample_plugin.CALLS.clear()
    client.post_json("/api/media/bulk-delete", {"fileIds": [first["id"], gone["id"], second["id"], "missing"]},
                     headers=people["author"][1], status=200)
    # The file already in the trash was deleted earlier: its hook ran then, not again.
    assert sorted(sample_plugin.CALLS) == sorted([("after_media_delete", first["id"], False),
                                                  ("after_media_delete", second["id"], False)])


def test_a_delete_that_lost_the_race_fires_no_second_after_media_delete(env, people):
    from app.services.media import MediaLibrary
    from tests.plugins import sample_plugin

    client = client_for(env, plugins=("tests.plugins.sample_plugin",))
    client.post("/admin/api/plugins/sample/activate", headers=people["admin"][1], status=200)
    record = put(client, people["author"], "raced.png")
    seen_live = Media.get_by_id(record["id"])  # as a second request loaded it, before the first deleted
    sample_plugin.CALLS.clear()
    client.delete(f"/api/media/{record['id']}", headers=people["author"][1], status=200)
    library = MediaLibrary(settings_for_tests())
    assert library.soft_delete(seen_live) is False
    calls = list(sample_plugin.CALLS)
    assert calls == [("after_media_delete", record["id"], False)]


@pytest.mark.parametrize("payload", [{"fileIds": []}, {"fileIds": [f"id{i}" for i in range(51)]}, {"ids": ["x"]}, {"fileIds": "x"}])
def test_bulk_delete_validation(client, people, payload):
    body = client.post_json("/api/media/bulk-delete", payload, headers=people["editor"][1], status=422).json
    assert body["error"] == "Validation failed"


def test_bulk_permissions(client, people):
    client.post_json("/api/media/bulk-delete", {"fileIds": ["x"]}, headers=people["viewer"][1], status=403)
    client.post_json("/api/media/bulk-delete", {"fileIds": ["x"]}, status=401)
    client.post_json("/api/media/bulk-move", {"fileIds": ["x"], "folder": "y"}, headers=people["viewer"][1], status=403)
    client.post_json("/api/media/bulk-move", {"fileIds": ["x"], "folder": "y"}, status=401)


def test_bulk_move_mixed_results(client, env, people):
    own = put(client, people["author"], "own.png", samples.png((400, 300)))
    already = put(client, people["author"], "there.txt", b"x", folder="archive")
    deleted = put(client, people["author"], "gone.txt", b"y")
    other = put(client, people["author2"], "other.txt", b"z")
    client.delete(f"/api/media/{deleted['id']}", headers=people["author"][1])
    body = client.post_json("/api/media/bulk-move", {
        "fileIds": [own["id"], other["id"], "missing", deleted["id"], already["id"]], "folder": "archive",
    }, headers=people["author"][1]).json
    assert body["success"] is False
    assert [(m["fileId"], m.get("unchanged", False)) for m in body["moved"]] == [(own["id"], False), (already["id"], True)]
    assert body["moved"][0] == {"fileId": own["id"], "filename": "own.png", "success": True, "folder": "archive",
                                "r2_key": own["r2_key"], "publicUrl": own["publicUrl"]}
    assert body["errors"] == [
        {"fileId": other["id"], "error": "Permission denied"},
        {"fileId": "missing", "error": "File not found"},
        {"fileId": deleted["id"], "error": "File not found"},
    ]
    assert body["summary"] == {"total": 5, "successful": 2, "failed": 3}
    keys = bucket_keys(env)
    assert own["r2_key"] in keys and f"uploads/{own['id']}.thumb.webp" in keys and len(keys) == 5
    assert Media.get_by_id(own["id"]).folder == "archive"
    assert other["r2_key"] in keys and Media.get_by_id(other["id"]).folder == "uploads"
    assert client.get(own["publicUrl"], headers=people["author"][1]).body == samples.png((400, 300))
    client.post_json("/api/media/bulk-move", {"fileIds": [own["id"]], "folder": "Bad Name"}, headers=people["author"][1], status=422)


# -- a bucket outage ----------------------------------------------------------------------


def test_bucket_outage_is_503_and_leaves_no_orphan(tmp_path, migrated_template, s3_server_factory):
    # A moto server of this test's own, stopped halfway: S3 down, the database up.
    server = s3_server_factory()
    env = env_with_copy(tmp_path / "outage", migrated_template, s3=server.endpoint_url,
                        bucket_name=create_bucket(server.endpoint_url))
    try:
        client = client_for(env)
        bind_models(env.DB.db)
        admin = bearer(token_for(create_user("admin")))
        record = upload(client, admin, "a.png", samples.png((400, 400))).json["file"]
        server.stop()

        body = upload(client, admin, "b.png", samples.png(), status=503).json
        assert body["error"] == "Service temporarily unavailable" and "request_id" in body["details"]
        assert [row.id for row in Media.select()] == [record["id"]]  # no row without its object
        # The database still answers.
        assert ids(client.get("/api/media", headers=admin).json) == [record["id"]]
        client.get(record["publicUrl"], headers=admin, status=503)
        # Purge fails without changing the row.
        client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=503)
        row = Media.get_by_id(record["id"])
        assert (row.r2_key, row.folder, row.deleted_at) == (record["r2_key"], "uploads", None)
        # A move needs only the database: it changes the folder, never the key.
        client.patch_json(f"/api/media/{record['id']}", {"folder": "elsewhere"}, headers=admin, status=200)
        client.post_json("/api/media/bulk-move", {"fileIds": [record["id"]], "folder": "other"}, headers=admin)
        row = Media.get_by_id(record["id"])
        assert (row.r2_key, row.folder, row.deleted_at) == (record["r2_key"], "other", None)
        body = upload_multiple_during_outage(client, admin)
        assert body["error"] == "Service temporarily unavailable"
        # Soft delete needs only the database.
        client.delete(f"/api/media/{record['id']}", headers=admin, status=200)
    finally:
        env.DB.db.close()


def upload_multiple_during_outage(client, headers):
    return client.post("/api/media/upload-multiple", upload_files=[("files", "x.txt", b"x")],
                       headers=headers, status=503).json
