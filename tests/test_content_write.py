"""POST/PUT/DELETE /api/content: permissions, slugs, optimistic concurrency, soft delete,
purge, and the one-transaction rule (content + version + history, or nothing)."""


import pytest

from app.db.models import Content, ContentVersion, Media, WorkflowHistory, bind_models, new_id, now_ms
from app.services.cache import ThreeTierCache
from app.services.content import history, workflow, writes
from app.services.content.defaults import with_defaults
from app.services.content.slugs import MAX_SLUG_LENGTH
from app.services.identity import Principal, RolePermissions
from tests.fixtures.app import client_for, make_env
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.content import BLOG_SCHEMA, content_row, create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import workflow_logs
from tests.plugins import defaults_probe, update_probe

pytestmark = pytest.mark.backends

PROBE = "tests.plugins.defaults_probe"  # a plugin recording what before_content_create sees
UPDATE_PROBE = "tests.plugins.update_probe"  # a plugin changing an update's fields, recording updates


def create(client, headers, expect=201, **body):
    body.setdefault("collectionId", "blog")
    body.setdefault("title", "Hello World")
    return client.post_json("/api/content", body, headers=headers, status=expect)


def versions_of(content_id):
    return [row.version for row in ContentVersion.select().where(ContentVersion.content == content_id).order_by(ContentVersion.version)]


def history_of(content_id):
    rows = WorkflowHistory.select().where(WorkflowHistory.content == content_id).order_by(WorkflowHistory.created_at)
    return [(row.from_state_id, row.to_state_id, row.metadata.get("action"), row.workflow_id) for row in rows]


def add_media(user, deleted=False):
    return Media.create(
        id=new_id(), filename="a.png", original_name="a.png", mime_type="image/png", size=100, width=2, height=3,
        r2_key=f"uploads/{new_id()}.png", public_url="/files/uploads/a.png", alt="An image", uploaded_by=user.id,
        uploaded_at=now_ms(), deleted_at=now_ms() if deleted else None,
    )


# ---------------------------------------------------------------- create


def test_create_returns_201_with_item_version_and_history(client, blog_collection, as_editor):
    user, headers = as_editor
    response = create(client, headers, title="Hello, World!", data={"views": 3})
    item = response.json["data"]
    assert response.headers["Location"].endswith(f"/api/content/{item['id']}")
    assert response.headers["ETag"].startswith('W/"1-')
    assert item["slug"] == "hello-world"
    assert item["status"] == "draft"
    assert item["version_number"] == 1
    assert item["collectionId"] == blog_collection.id
    assert item["collection"] == {"id": blog_collection.id, "name": "blog", "display_name": "Blog Posts"}
    assert item["author"]["id"] == user.id
    # The schema declares data.title: it is filled from the item's title.
    assert item["data"] == {"views": 3, "title": "Hello, World!"}
    assert versions_of(item["id"]) == [1]
    assert history_of(item["id"]) == [(None, "draft", "created", "default-workflow")]


def test_create_accepts_collection_id_and_takes_title_from_data(client, pages_collection, as_editor):
    _, headers = as_editor
    response = client.post_json(
        "/api/content", {"collectionId": pages_collection.id, "data": {"title": "From Data", "x": [1]}},
        headers=headers, status=201,
    )
    assert response.json["data"]["title"] == "From Data"
    assert response.json["data"]["slug"] == "from-data"


@pytest.mark.parametrize("raw, slug", [
    ("  Hello, World!! -- Again  ", "hello-world-again"),
    ("Café Crème", "cafe-creme"),
    ("MIXED case_under", "mixed-caseunder"),
    # Letters without an ASCII decomposition, which NFKD alone would drop.
    ("Straße-É", "strasse-e"),
    ("GROẞ Æsir Œuvre Ørsted Łódź Đakovo Þór Ðoð", "gross-aesir-oeuvre-orsted-lodz-dakovo-thor-dod"),
    ("Ħal Saflieni ıstanbul Ŋaŋ Ŧ", "hal-saflieni-istanbul-ngang-t"),
])
def test_slugs_are_normalised(client, blog_collection, pages_collection, as_editor, raw, slug):
    _, headers = as_editor
    assert create(client, headers, slug=raw).json["data"]["slug"] == slug
    generated = create(client, headers, collectionId="pages", title=raw).json["data"]["slug"]
    assert generated == slug  # from the title, the same way


def test_a_title_without_latin_letters_still_gets_a_slug(client, pages_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers, collectionId="pages", title="日本語").json["data"]
    assert item["slug"].startswith("item-")


def test_a_slug_with_nothing_usable_is_422(client, blog_collection, as_editor):
    _, headers = as_editor
    response = create(client, headers, expect=422, slug="!!!")
    assert response.json == {"error": "Validation failed", "details": [{"field": "slug", "message": "must contain letters or digits"}]}


def test_duplicate_slug_given_by_the_client_is_409(client, blog_collection, pages_collection, as_editor):
    _, headers = as_editor
    create(client, headers, title="Same")
    response = create(client, headers, title="Other", slug="Same", expect=409)
    assert response.json["error"] == "A content item with this slug already exists in this collection"
    assert response.json["details"] == [
        {"field": "slug", "message": "another item of this collection has this slug", "slug": "same"}]
    # Another collection may use it.
    create(client, headers, collectionId="pages", title="Same", slug="same")
    assert Content.select().where(Content.slug == "same").count() == 2
    # A slug in data is the client's choice too.
    create(client, headers, collectionId="pages", title="Third", data={"slug": "same"}, expect=409)


def test_a_generated_slug_that_is_taken_gets_a_number(client, blog_collection, as_editor):
    _, headers = as_editor
    slugs = [create(client, headers, title="Same").json["data"]["slug"] for _ in range(4)]
    assert slugs == ["same", "same-2", "same-3", "same-4"]
    # A deleted item keeps its slug: the next generated one skips it too.
    client.delete(f"/api/content/{Content.get(Content.slug == 'same-4').id}", headers=headers)
    assert create(client, headers, title="Same").json["data"]["slug"] == "same-5"
    # The schema's own slug field follows the item's.
    item = create(client, headers, title="Same", data={"title": "Same"}).json["data"]
    assert item["slug"] == "same-6"


def test_a_long_generated_slug_stays_within_the_limit_when_numbered(client, pages_collection, as_editor):
    _, headers = as_editor
    title = "abcdefghij " * 30
    first = create(client, headers, collectionId="pages", title=title).json["data"]["slug"]
    second = create(client, headers, collectionId="pages", title=title).json["data"]["slug"]
    assert len(first) == MAX_SLUG_LENGTH
    assert second.endswith("-2") and len(second) <= MAX_SLUG_LENGTH and second != first


def test_anonymous_and_viewers_cannot_create(client, blog_collection, as_viewer):
    _, headers = as_viewer
    anonymous = client.post_json("/api/content", {"collectionId": "blog", "title": "x"}, status=401)
    assert anonymous.json == {"error": "Authentication required"}
    assert client.post_json("/api/content", {"collectionId": "blog", "title": "x"}, headers=headers, status=403).json == {
        "error": "Insufficient permissions"
    }
    assert Content.select().count() == 0


def test_only_publishers_create_published_content(client, blog_collection, as_author, as_editor):
    _, author_headers = as_author
    refused = create(client, author_headers, expect=403, title="Mine", status="published")
    assert refused.json["error"] == "This transition requires the content.publish permission"
    assert Content.select().count() == 0
    _, editor_headers = as_editor
    item = create(client, editor_headers, title="Live", status="published").json["data"]
    assert item["status"] == "published"
    assert item["published_at"] is not None
    assert item["workflow_state_id"] == "published"
    assert item["version_number"] == 1
    # Created as a draft, then the workflow's publish move, logged: one transaction.
    assert history_of(item["id"]) == [
        (None, "draft", "created", "default-workflow"), ("draft", "published", "publish", "default-workflow"),
    ]
    assert [log.data["action"] for log in workflow_logs(item["id"])] == ["publish"]
    assert ContentVersion.get(ContentVersion.content == item["id"]).data["status"] == "published"


def test_create_accepts_only_statuses_the_workflow_reaches_from_draft(client, blog_collection, as_admin):
    _, headers = as_admin
    refused = create(client, headers, expect=409, title="Old news", status="archived")
    assert refused.json["error"] == "Cannot archive content in state draft"
    assert Content.select().count() == 0
    assert create(client, headers, title="Plain", status="draft").json["data"]["status"] == "draft"


@pytest.mark.parametrize("body, field", [
    ({"collectionId": "nope", "title": "x"}, "collectionId"),
    ({"collectionId": "blog", "title": "   "}, "title"),
    ({"collectionId": "blog", "title": "x", "status": "deleted"}, "status"),
    ({"collectionId": "blog", "title": "x", "author_id": "someone"}, "author_id"),
    ({"collectionId": "blog", "title": "x", "data": []}, "data"),
    ({"collectionId": "blog", "title": 5}, "title"),
])
def test_invalid_bodies_are_422_naming_the_field(client, blog_collection, as_editor, body, field):
    _, headers = as_editor
    response = client.post_json("/api/content", body, headers=headers, status=422)
    assert response.json["error"] == "Validation failed"
    assert field in [detail["field"] for detail in response.json["details"]]


def test_nul_characters_are_refused(client, blog_collection, as_editor):
    _, headers = as_editor
    response = create(client, headers, expect=422, data={"body": "a\x00b"})
    assert response.json["details"][0]["field"] == "data.body"


def test_inactive_collections_take_no_new_content(client, as_editor):
    create_collection("old", is_active=False)
    _, headers = as_editor
    response = create(client, headers, collectionId="old", expect=422)
    assert response.json["details"] == [{"field": "collectionId", "message": "the collection is inactive"}]


def test_an_authors_items_in_a_deactivated_collection_are_withdrawn_from_writes_too(
        client, blog_collection, as_author, as_editor):
    _, author = as_author
    _, editor = as_editor
    item = create(client, author, title="Mine").json["data"]
    blog_collection.is_active = False
    blog_collection.save()
    for response in (client.get(f"/api/content/{item['id']}", headers=author, status=404),
                     client.put_json(f"/api/content/{item['id']}", {"title": "Changed"}, headers=author, status=404),
                     client.delete(f"/api/content/{item['id']}", headers=author, status=404)):
        assert response.json == {"error": "Content not found"}
    assert content_row(item["id"]).title == "Mine" and content_row(item["id"]).deleted_at is None
    edited = client.put_json(f"/api/content/{item['id']}", {"title": "By the editor"}, headers=editor)
    assert edited.json["data"]["title"] == "By the editor"  # editors and admins still work on it


def test_check_slug_says_whether_a_slug_is_free_as_sonicjs_does(client, blog_collection, as_author, make_user):
    _, headers = as_author
    item = create(client, headers, title="Taken", slug="taken").json["data"]

    def check(**params):
        return client.get("/api/content/check-slug", params, headers=headers).json

    assert check(collectionId=blog_collection.id, slug="free") == {"available": True}
    assert check(collectionId="blog", slug="Taken") == {  # by name too; read as a create stores it
        "available": False, "message": "This URL slug is already in use in this collection"}
    assert check(collectionId="blog", slug="taken", excludeId=item["id"]) == {"available": True}
    refused = client.get("/api/content/check-slug", {"slug": "x"}, headers=headers, status=400)
    assert refused.json["details"] == [{"parameter": "collectionId", "message": "is required"}]
    client.get("/api/content/check-slug", {"collectionId": "nope", "slug": "x"}, headers=headers, status=404)
    client.get("/api/content/check-slug", {"collectionId": "blog", "slug": "taken"}, status=401)
    client.get("/api/content/check-slug", {"collectionId": "blog", "slug": "taken"},
               headers=make_user("viewer")[1], status=403)


def test_featured_image_is_joined_and_must_be_live(client, blog_collection, as_editor):
    user, headers = as_editor
    image = add_media(user)
    item = create(client, headers, featuredImageId=image.id).json["data"]
    assert item["featuredImage"] == {
        "id": image.id, "url": "/files/uploads/a.png", "thumbnail_url": None, "alt": "An image",
        "width": 2, "height": 3, "mime_type": "image/png",
    }
    gone = add_media(user, deleted=True)
    response = create(client, headers, title="Other", featuredImageId=gone.id, expect=422)
    assert response.json["details"] == [{"field": "featuredImageId", "message": f"no media {gone.id!r}"}]


# ---------------------------------------------------------------- update


def test_update_bumps_the_version_and_records_it(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    response = client.put_json(f"/api/content/{item['id']}", {"title": "New title", "version_number": 1}, headers=headers)
    updated = response.json["data"]
    assert updated["title"] == "New title"
    assert updated["version_number"] == 2
    assert response.headers["ETag"].startswith('W/"2-')
    assert updated["slug"] == "hello-world"  # slugs change only when asked
    assert versions_of(item["id"]) == [1, 2]
    assert history_of(item["id"])[-1] == ("draft", "draft", "updated", "default-workflow")


def test_data_replaces_wholesale_and_is_validated(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers, data={"views": 1, "category": "news"}).json["data"]
    updated = client.put_json(f"/api/content/{item['id']}", {"data": {"title": "T", "views": 2}}, headers=headers).json["data"]
    assert updated["data"] == {"title": "T", "views": 2}
    response = client.put_json(f"/api/content/{item['id']}", {"data": {"views": "many"}}, headers=headers, status=422)
    assert response.json["details"] == [{"field": "data.views", "message": "must be a number"}]


def test_a_new_title_carries_into_the_data_title_that_mirrored_the_old_one(client, blog_collection, as_editor):
    """A create fills ``data.title`` with the item's title; an update changing the title keeps
    the two in step, the stored data's (a PUT of the title alone) or the copy a client sends
    back unchanged, and the schema's rules for the field judge the new title."""
    _, headers = as_editor
    item = create(client, headers, data={"views": 1}).json["data"]
    assert item["data"] == {"title": "Hello World", "views": 1}
    url = f"/api/content/{item['id']}"
    renamed = client.put_json(url, {"title": "Renamed"}, headers=headers).json["data"]
    assert (renamed["title"], renamed["data"]) == ("Renamed", {"title": "Renamed", "views": 1})
    assert content_row(item["id"]).data == {"title": "Renamed", "views": 1}
    assert ContentVersion.get(content=item["id"], version=2).data["data"]["title"] == "Renamed"
    sent_back = {**read_back(client, headers, item["id"]), "title": "Again"}
    assert client.put_json(url, sent_back, headers=headers).json["data"]["data"] == {"title": "Again", "views": 1}
    # BLOG_SCHEMA's title field takes 200 characters, the item's title 500.
    too_long = client.put_json(url, {"title": "x" * 201}, headers=headers, status=422)
    assert too_long.json["details"] == [{"field": "data.title", "message": "must be at most 200 characters long"}]
    assert content_row(item["id"]).title == "Again"


def test_a_data_title_set_apart_from_the_title_is_the_clients_and_stays(client, blog_collection, pages_collection,
                                                                       as_editor):
    _, headers = as_editor
    item = create(client, headers, data={"title": "Its own"}).json["data"]
    assert (item["title"], item["data"]["title"]) == ("Hello World", "Its own")
    url = f"/api/content/{item['id']}"
    assert client.put_json(url, {"title": "Renamed"}, headers=headers).json["data"]["data"] == {"title": "Its own"}
    both = client.put_json(url, {"title": "Both", "data": {"title": "Apart"}}, headers=headers).json["data"]
    assert (both["title"], both["data"]) == ("Both", {"title": "Apart"})
    # A free-form collection declares no title field: its data is the client's alone.
    page = create(client, headers, collectionId="pages", data={"body": "text"}).json["data"]
    renamed = client.put_json(f"/api/content/{page['id']}", {"title": "Renamed"}, headers=headers).json["data"]
    assert (renamed["title"], renamed["data"]) == ("Renamed", {"body": "text"})


def test_a_new_slug_carries_into_the_data_slug_that_mirrored_the_old_one(client, env, as_editor):
    """SonicJS's schemas repeat the slug in ``data``: a create fills it, and an update changing
    the slug keeps the copy in step, as the title's is; a ``data.slug`` set apart stays."""
    create_collection("docs", schema={"type": "object", "properties": {
        "title": {"type": "string"}, "slug": {"type": "string", "maxLength": 20}}})
    _, headers = as_editor
    item = create(client, headers, collectionId="docs", slug="first").json["data"]
    assert item["data"] == {"title": "Hello World", "slug": "first"}
    url = f"/api/content/{item['id']}"
    moved = client.put_json(url, {"slug": "second"}, headers=headers).json["data"]
    assert (moved["slug"], moved["data"]) == ("second", {"title": "Hello World", "slug": "second"})
    sent_back = {**read_back(client, headers, item["id"]), "slug": "third", "title": "Both"}
    both = client.put_json(url, sent_back, headers=headers).json["data"]
    assert (both["slug"], both["data"]) == ("third", {"title": "Both", "slug": "third"})
    # The schema's field judges the copy: 20 characters at most.
    too_long = client.put_json(url, {"slug": "x" * 21}, headers=headers, status=422)
    assert too_long.json["details"] == [{"field": "data.slug", "message": "must be at most 20 characters long"}]
    apart = client.put_json(url, {"slug": "fourth", "data": {"title": "Both", "slug": "its-own"}}, headers=headers)
    assert (apart.json["data"]["slug"], apart.json["data"]["data"]["slug"]) == ("fourth", "its-own")
    assert content_row(item["id"]).data == {"title": "Both", "slug": "its-own"}


def test_a_title_sent_back_as_it_is_leaves_the_data_alone(client, blog_collection, as_editor):
    """Only a new title carries into ``data.title``: one sent back unchanged over an older row
    whose copy is empty (and could not take the title: 300 characters, the field 200) saves."""
    _, headers = as_editor
    item = create(client, headers).json["data"]
    Content.update(title="t" * 300, data={"views": 1}).where(Content.id == item["id"]).execute()
    saved = client.put_json(f"/api/content/{item['id']}", {"title": "t" * 300}, headers=headers, status=200)
    assert saved.json["data"]["data"] == {"views": 1} and content_row(item["id"]).data == {"views": 1}


def test_stale_version_number_is_409_and_changes_nothing(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "First", "version_number": 1}, headers=headers)
    response = client.put_json(f"/api/content/{item['id']}", {"title": "Second", "version_number": 1}, headers=headers, status=409)
    assert response.json["error"].startswith("Version conflict")
    assert response.json["details"] == {"current_version": 2, "your_version": 1}
    assert content_row(item["id"]).title == "First"
    assert versions_of(item["id"]) == [1, 2]


def test_if_match_guards_updates_too(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "A"}, headers={**headers, "If-Match": '"1"'})
    client.put_json(f"/api/content/{item['id']}", {"title": "B"}, headers={**headers, "If-Match": '"1"'}, status=409)
    bad = client.put_json(f"/api/content/{item['id']}", {"title": "B"}, headers={**headers, "If-Match": "yesterday"}, status=400)
    assert bad.json == {"error": "Invalid If-Match header", "details": [
        {"field": "If-Match", "message": 'expected the ETag of a read, or "<version_number>"'}]}
    # The header and the body naming two versions: the body's field is named.
    both = client.put_json(f"/api/content/{item['id']}", {"title": "B", "version_number": 1},
                           headers={**headers, "If-Match": '"2"'}, status=400)
    assert both.json == {"error": "If-Match and version_number disagree", "details": [
        {"field": "version_number", "message": "is 1 where If-Match names version 2: send only one of the two"}]}
    assert content_row(item["id"]).title == "A"


def test_duplicate_slug_on_update_is_409(client, blog_collection, as_editor):
    _, headers = as_editor
    create(client, headers, title="Taken")
    item = create(client, headers, title="Free").json["data"]
    response = client.put_json(f"/api/content/{item['id']}", {"slug": "Taken"}, headers=headers, status=409)
    assert response.json["details"] == [
        {"field": "slug", "message": "another item of this collection has this slug", "slug": "taken"}]
    assert content_row(item["id"]).slug == "free"


def test_an_update_sending_back_the_same_data_slug_keeps_the_item_s_slug(client, as_editor):
    # The slug made from data.slug by an earlier version's rule (ß dropped, not spelled out)
    # stays when a client sends the whole item back; a changed data.slug renames it.
    create_collection("guides", {"type": "object", "properties": {"slug": {"type": "string"}, "body": {"type": "string"}}})
    _, headers = as_editor
    item = create(client, headers, collectionId="guides", title="Guide", data={"slug": "Straße Guide", "body": "a"})
    item_id = item.json["data"]["id"]
    Content.update(slug="strae-guide").where(Content.id == item_id).execute()
    kept = client.put_json(f"/api/content/{item_id}", {"data": {"slug": "Straße Guide", "body": "b"}}, headers=headers)
    assert kept.json["data"]["slug"] == "strae-guide" and content_row(item_id).slug == "strae-guide"
    renamed = client.put_json(f"/api/content/{item_id}", {"data": {"slug": "Other Guide", "body": "b"}}, headers=headers)
    assert renamed.json["data"]["slug"] == "other-guide"


def test_a_deleted_item_keeps_its_slug(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers, title="Kept").json["data"]
    client.delete(f"/api/content/{item['id']}", headers=headers)
    response = create(client, headers, title="Kept", slug="kept", expect=409)
    assert response.json["details"] == [
        {"field": "slug", "message": "a deleted item holds this slug: restore or purge it first", "slug": "kept"}]


def test_authors_update_only_their_own_content(client, blog_collection, as_author, make_user):
    author, headers = as_author
    own = create(client, headers, title="Mine").json["data"]
    client.put_json(f"/api/content/{own['id']}", {"title": "Still mine"}, headers=headers)
    _, other_headers = make_user("author")
    hidden = client.put_json(f"/api/content/{own['id']}", {"title": "Stolen"}, headers=other_headers, status=404)
    assert hidden.json == {"error": "Content not found"}  # a draft they cannot read is missing to them
    status_change = client.put_json(f"/api/content/{own['id']}", {"status": "published"}, headers=headers, status=403)
    assert status_change.json["error"] == "This transition requires the content.publish permission"
    assert content_row(own["id"]).title == "Still mine"


def set_state(content_id, state):
    Content.update(workflow_state=state, status=history.status_of_state(state)).where(Content.id == content_id).execute()


def test_editors_publish_anyones_draft_through_put_as_a_logged_move(client, blog_collection, as_author, as_editor):
    _, author_headers = as_author
    item = create(client, author_headers).json["data"]
    editor, headers = as_editor
    response = client.put_json(f"/api/content/{item['id']}", {"status": "published", "version_number": 1}, headers=headers)
    updated = response.json["data"]
    assert (updated["status"], updated["workflow_state_id"]) == ("published", "published")
    assert updated["published_at"] is not None
    # The move alone is the new version; its history and log rows are the workflow's.
    assert updated["version_number"] == 2 and response.headers["ETag"].startswith('W/"2-')
    assert versions_of(item["id"]) == [1, 2]
    assert history_of(item["id"])[-1][:3] == ("draft", "published", "publish")
    [log] = workflow_logs(item["id"])
    assert (log.user_id, log.data["action"], log.source) == (editor.id, "publish", "api")


def test_put_with_fields_and_a_status_is_one_version_and_two_history_rows(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    updated = client.put_json(f"/api/content/{item['id']}", {"title": "Live now", "status": "published"},
                              headers=headers).json["data"]
    assert (updated["title"], updated["status"], updated["version_number"]) == ("Live now", "published", 2)
    assert versions_of(item["id"]) == [1, 2]
    assert ContentVersion.get(ContentVersion.content == item["id"], ContentVersion.version == 2).data["status"] == "published"
    assert [entry[:3] for entry in history_of(item["id"])[1:]] == [
        ("draft", "published", "publish"), ("published", "published", "updated"),
    ]


@pytest.mark.parametrize("state, status", [
    ("pending-review", "published"),  # publishing needs the review's approval first
    ("archived", "published"),  # archived content goes back to draft before anything else
    ("rejected", "published"),
])
def test_put_cannot_skip_the_workflow(client, blog_collection, as_admin, state, status):
    _, headers = as_admin
    item = create(client, headers, title="Guarded").json["data"]
    set_state(item["id"], state)
    response = client.put_json(f"/api/content/{item['id']}", {"status": status, "title": "Sneaky"}, headers=headers,
                               status=409)
    assert response.json["error"].startswith("Cannot publish content in state")
    assert response.json["details"]["from_state"] == state
    row = content_row(item["id"])
    assert (row.workflow_state_id, row.title, row.version_number, row.published_at) == (state, "Guarded", 1, None)
    assert versions_of(item["id"]) == [1] and workflow_logs(item["id"]) == []


def test_put_status_moves_the_workflow_allows(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers, status="published").json["data"]
    url = f"/api/content/{item['id']}"
    assert client.put_json(url, {"status": "archived"}, headers=headers).json["data"]["status"] == "archived"
    assert client.put_json(url, {"status": "draft"}, headers=headers).json["data"]["workflow_state_id"] == "draft"
    # A status equal to the current one is no move: a GET body can be PUT back as it is.
    set_state(item["id"], "pending-review")
    same = client.put_json(url, {"status": "draft", "title": "Edited"}, headers=headers).json["data"]
    assert (same["workflow_state_id"], same["title"]) == ("pending-review", "Edited")
    assert [log.data["action"] for log in workflow_logs(item["id"])] == ["publish", "archive", "restore-draft"]


def test_a_workflow_move_makes_an_older_version_number_stale(client, blog_collection, as_author, as_editor):
    _, author_headers = as_author
    item = create(client, author_headers).json["data"]
    _, editor_headers = as_editor
    client.post_json(f"/api/content/{item['id']}/workflow", {"action": "publish"}, headers=editor_headers)
    # The author still holds version 1: saving it would silently edit live content.
    stale = client.put_json(f"/api/content/{item['id']}", {"title": "Draft edit", "version_number": 1},
                            headers=author_headers, status=409)
    assert stale.json["details"] == {"current_version": 2, "your_version": 1}
    client.put_json(f"/api/content/{item['id']}", {"title": "Draft edit"}, headers={**author_headers, "If-Match": '"1"'},
                    status=409)
    assert content_row(item["id"]).title == "Hello World"
    fresh = client.get(f"/api/content/{item['id']}", headers=author_headers)
    assert fresh.headers["ETag"].startswith('W/"2-')
    client.put_json(f"/api/content/{item['id']}", {"title": "Draft edit", "version_number": 2}, headers=author_headers)


def test_viewers_cannot_update_and_missing_items_are_404(client, blog_collection, as_viewer, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    _, viewer_headers = as_viewer
    client.put_json(f"/api/content/{item['id']}", {"title": "x"}, headers=viewer_headers, status=403)
    missing = client.put_json("/api/content/nope", {"title": "x"}, headers=headers, status=404)
    assert missing.json == {"error": "Content not found"}


# ---------------------------------------------------------------- update: the item sent back as read


def read_back(client, headers, content_id):
    """The item as ``GET /api/content/{id}`` answers it: what a client edits and PUTs back whole."""
    return client.get(f"/api/content/{content_id}", headers=headers).json["data"]


def test_an_item_put_back_whole_as_read_is_saved_and_its_read_only_keys_ignored(client, blog_collection, as_editor):
    _, headers = as_editor
    created = create(client, headers, data={"title": "Hello World", "views": 1, "category": "news"}).json["data"]
    item = read_back(client, headers, created["id"])
    assert {"id", "collectionId", "collection", "author", "created_at", "version_number"} <= item.keys()
    item["title"] = "Edited"
    item["data"]["views"] = 7
    item["meta_title"] = "An SEO title"  # the read's snake_case name of metaTitle
    # Read-only keys, whatever they hold, change nothing.
    item.update(created_at="yesterday", updated_at=None, published_at=[1], author={"id": "someone"},
                featuredImage="no", workflow_state_id=3, deleted_at="never")
    item["collection"]["display_name"] = "Renamed"
    response = client.put_json(f"/api/content/{item['id']}", item, headers=headers)
    saved = response.json["data"]
    assert (saved["title"], saved["data"]["views"], saved["meta_title"]) == ("Edited", 7, "An SEO title")
    assert saved["version_number"] == 2
    assert saved["created_at"] == created["created_at"] and saved["author"] == created["author"]
    assert saved["collection"]["display_name"] == "Blog Posts" and saved["featuredImage"] is None
    assert saved["deleted_at"] is None
    assert read_back(client, headers, item["id"]) == saved


def test_an_item_sent_back_may_name_its_collection_by_name(client, blog_collection, as_editor):
    _, headers = as_editor
    item = read_back(client, headers, create(client, headers).json["data"]["id"])
    item["collectionId"] = "blog"
    client.put_json(f"/api/content/{item['id']}", {**item, "title": "By name"}, headers=headers)
    assert content_row(item["id"]).title == "By name"


def test_an_item_sent_back_under_another_id_is_422_naming_id(client, blog_collection, as_editor):
    _, headers = as_editor
    item = read_back(client, headers, create(client, headers).json["data"]["id"])
    other = create(client, headers, title="Other").json["data"]
    response = client.put_json(f"/api/content/{item['id']}", {**item, "id": other["id"], "title": "Moved"},
                               headers=headers, status=422)
    assert response.json["details"] == [{"field": "id", "message": "is not the path's id: an item is changed at its own path"}]
    assert content_row(item["id"]).title == "Hello World" and content_row(other["id"]).title == "Other"


@pytest.mark.parametrize("key, value, named", [
    ("collectionId", "pages", ["collectionId"]),
    ("collection_id", "pages", ["collectionId"]),  # either casing, as every body field
    ("collection", {"id": "<pages>", "name": "pages", "display_name": "Pages"}, ["collection.id", "collection.name"]),
    ("collection", {"name": "pages"}, ["collection.name"]),
])
def test_an_item_sent_back_naming_another_collection_is_422(client, blog_collection, pages_collection, as_editor,
                                                            key, value, named):
    _, headers = as_editor
    item = read_back(client, headers, create(client, headers).json["data"]["id"])
    if isinstance(value, dict) and "id" in value:
        value = {**value, "id": pages_collection.id}
    body = {name: sent for name, sent in item.items() if name != "collectionId"} | {key: value, "title": "Moved"}
    response = client.put_json(f"/api/content/{item['id']}", body, headers=headers, status=422)
    assert [detail["field"] for detail in response.json["details"]] == named
    assert "another" in response.json["details"][0]["message"]
    assert content_row(item["id"]).title == "Hello World" and content_row(item["id"]).collection_id == blog_collection.id


def test_an_item_sent_back_with_an_unknown_key_is_still_422(client, blog_collection, as_editor):
    _, headers = as_editor
    item = read_back(client, headers, create(client, headers).json["data"]["id"])
    response = client.put_json(f"/api/content/{item['id']}", {**item, "titel": "Typo"}, headers=headers, status=422)
    assert response.json["details"][0]["field"] == "titel"
    assert "unknown field" in response.json["details"][0]["message"].lower()
    # The read's meta_title is metaTitle: the two at once name one field twice.
    both = client.put_json(f"/api/content/{item['id']}", {**item, "metaTitle": "Two"}, headers=headers, status=422)
    assert both.json["details"] == [{"field": "meta_title", "message": "give metaTitle in one casing only"}]


def test_an_item_sent_back_after_another_save_is_409(client, blog_collection, as_editor):
    _, headers = as_editor
    item = read_back(client, headers, create(client, headers).json["data"]["id"])
    client.put_json(f"/api/content/{item['id']}", {**item, "title": "First"}, headers=headers)
    response = client.put_json(f"/api/content/{item['id']}", {**item, "title": "Second"}, headers=headers, status=409)
    assert response.json["details"] == {"current_version": 2, "your_version": 1}
    assert content_row(item["id"]).title == "First"


# ---------------------------------------------------------------- delete, restore, purge


def test_soft_delete_hides_and_restore_brings_back(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers, status="published").json["data"]
    deleted = client.delete(f"/api/content/{item['id']}", headers=headers).json
    assert deleted["success"] is True and deleted["data"]["deleted_at"] is not None
    assert content_row(item["id"]).deleted_at is not None  # the row stays
    client.get(f"/api/content/{item['id']}", status=404)
    assert client.get("/api/content").json["meta"]["total"] == 0
    assert client.delete(f"/api/content/{item['id']}", headers=headers, status=404).json == {"error": "Content not found"}
    restored = client.post(f"/api/content/{item['id']}/restore", headers=headers).json["data"]
    assert restored["deleted_at"] is None
    assert client.get(f"/api/content/{item['id']}").json["data"]["id"] == item["id"]
    assert client.post(f"/api/content/{item['id']}/restore", headers=headers, status=409).json == {"error": "Content is not deleted"}
    assert [entry[2] for entry in history_of(item["id"])] == ["created", "publish", "deleted", "restored"]


def test_authors_delete_and_restore_only_their_own_content(client, blog_collection, as_author, make_user):
    _, headers = as_author
    _, other_headers = make_user("author")
    own = create(client, headers, title="Mine").json["data"]
    theirs = create(client, other_headers, title="Theirs").json["data"]
    hidden = client.delete(f"/api/content/{theirs['id']}", headers=headers, status=404)
    assert hidden.json == {"error": "Content not found"}  # a draft they cannot read
    _, editor = make_user("editor")
    client.put_json(f"/api/content/{theirs['id']}", {"status": "published"}, headers=editor)
    refused = client.delete(f"/api/content/{theirs['id']}", headers=headers, status=403)
    assert refused.json == {"error": "You may only change your own content"}  # published: they may read it
    refused = client.put_json(f"/api/content/{theirs['id']}", {"title": "Stolen"}, headers=headers, status=403)
    assert refused.json == {"error": "You may only change your own content"}
    assert content_row(theirs["id"]).deleted_at is None
    assert client.delete(f"/api/content/{own['id']}", headers=headers).json["success"] is True
    assert content_row(own["id"]).deleted_at is not None
    client.post(f"/api/content/{own['id']}/restore", headers=other_headers, status=404)
    assert client.post(f"/api/content/{own['id']}/restore", headers=headers).json["data"]["deleted_at"] is None
    # Purging stays with admins.
    client.delete(f"/api/content/{own['id']}?hard=true", headers=headers, status=403)
    client.delete(f"/api/content/{own['id']}/purge", headers=headers, status=403)
    assert content_row(own["id"]) is not None


def test_viewers_cannot_delete(client, blog_collection, as_viewer, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    _, viewer_headers = as_viewer
    client.delete(f"/api/content/{item['id']}", headers=viewer_headers, status=403)
    assert content_row(item["id"]).deleted_at is None


def test_delete_with_a_stale_if_match_is_409(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "v2"}, headers=headers)
    client.delete(f"/api/content/{item['id']}", headers={**headers, "If-Match": '"1"'}, status=409)
    assert content_row(item["id"]).deleted_at is None


def test_purge_is_for_admins_and_removes_everything(client, blog_collection, as_editor, as_admin):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "v2"}, headers=headers)
    refused = client.delete(f"/api/content/{item['id']}?hard=true", headers=headers, status=403)
    assert "content.purge" in refused.json["error"]
    client.delete(f"/api/content/{item['id']}/purge", headers=headers, status=403)
    _, admin_headers = as_admin
    purged = client.delete(f"/api/content/{item['id']}?hard=true", headers=admin_headers).json
    assert purged == {"success": True, "data": {"id": item["id"], "purged": True}}
    assert content_row(item["id"]) is None
    assert versions_of(item["id"]) == [] and history_of(item["id"]) == []
    client.delete(f"/api/content/{item['id']}/purge", headers=admin_headers, status=404)


def test_purge_route_works_on_soft_deleted_items(client, blog_collection, as_admin):
    _, headers = as_admin
    item = create(client, headers).json["data"]
    client.delete(f"/api/content/{item['id']}", headers=headers)
    client.delete(f"/api/content/{item['id']}/purge", headers=headers)
    assert content_row(item["id"]) is None


# ---------------------------------------------------------------- one transaction


def test_a_failing_history_insert_rolls_back_the_content_and_its_version(env, stack, client, blog_collection,
                                                                         as_editor):
    _, headers = as_editor
    stack.refuse_inserts(env, "workflow_history", "boom")
    response = create(client, headers, title="Doomed", expect="*")
    assert response.status_int >= 400
    assert set(response.json) <= {"error", "details"} and "boom" not in response.text
    assert Content.select().count() == 0
    assert ContentVersion.select().count() == 0


@pytest.mark.parametrize("slug", [None, "chosen"], ids=["generated-slug", "chosen-slug"])
def test_a_refused_create_with_a_free_slug_is_not_a_slug_conflict(env, stack, client, blog_collection, as_editor,
                                                                  slug):
    # As a featured image purged while the item is written would: a foreign key the
    # database checks refuses a row of the create, whatever the slug.
    _, headers = as_editor
    stack.refuse_inserts(env, "content_versions", "gone", sqlstate="foreign_key_violation")
    body = {"title": "Doomed"} if slug is None else {"title": "Doomed", "slug": slug}
    response = create(client, headers, expect=409, **body)
    assert response.json["error"] == "The request conflicts with existing data"
    assert "slug" not in response.text
    assert Content.select().count() == 0
    assert ContentVersion.select().count() == 0 and WorkflowHistory.select().count() == 0


def test_a_failing_history_insert_rolls_back_an_update(env, stack, client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    stack.refuse_inserts(env, "workflow_history", "boom")
    response = client.put_json(f"/api/content/{item['id']}", {"title": "Lost"}, headers=headers, expect_errors=True)
    assert response.status_int >= 400
    row = content_row(item["id"])
    assert (row.title, row.version_number) == ("Hello World", 1)
    assert versions_of(item["id"]) == [1]


def test_bulk_fixture_rows_are_updatable(client, blog_collection, as_editor):
    # Rows written without the API (imports, d1 execute) have no version yet: an update still works.
    user, headers = as_editor
    (item_id,) = insert_items(blog_collection, user, 1)
    updated = client.put_json(f"/api/content/{item_id}", {"title": "Edited"}, headers=headers).json["data"]
    assert updated["version_number"] == 2
    assert versions_of(item_id) == [2]


# ---------------------------------------------------------------- data validation, rule by rule


@pytest.mark.parametrize("data, field, message", [
    ({"body": 5}, "data.body", "must be a string"),
    ({"excerpt": "x" * 51}, "data.excerpt", "must be at most 50 characters long"),
    ({"views": "3"}, "data.views", "must be a number"),
    ({"views": True}, "data.views", "must be a number"),
    ({"views": -1}, "data.views", "must be at least 0"),
    ({"views": 1000001}, "data.views", "must be at most 1000000"),
    ({"featured": "yes"}, "data.featured", "must be true or false"),
    ({"category": "sports"}, "data.category", "must be one of: news, tech, life"),
    ({"tags": "a"}, "data.tags", "must be a list of options"),
    ({"tags": ["a", "z"]}, "data.tags[1]", "must be one of: a, b, c"),
    ({"tags": ["a", "a"]}, "data.tags", "must not repeat an option"),
    ({"code": "abc-1"}, "data.code", "must match the pattern ^[A-Z]{3}-[0-9]+$"),
    ({"contact": "not-an-email"}, "data.contact", "must be an email address"),
    ({"contact": "a@example.com\n"}, "data.contact", "must be an email address"),
    ({"website": "javascript:alert(1)"}, "data.website", "must be an http(s) URL"),
    ({"day": "31/12/2025"}, "data.day", "must be an ISO 8601 date (YYYY-MM-DD)"),
    ({"starts": "tomorrow"}, "data.starts", "must be an ISO 8601 date-time"),
    ({"related": "missing-id"}, "data.related", "references content 'missing-id', which does not exist"),
    ({"cover": "missing-media"}, "data.cover", "references media 'missing-media', which does not exist"),
    ({"meta": "text"}, "data.meta", "must be an object"),
    ({"meta": {"source": "x"}}, "data.meta.source", "must be at least 2 characters long"),
    ({"meta": {"other": 1}}, "data.meta.other", "unknown field (not in the collection schema)"),
    ({"list": [1, 2, 3, 4]}, "data.list", "must have at most 3 items"),
    ({"list": [1, "two"]}, "data.list[1]", "must be a number"),
    ({"handle": "Not A Slug"}, "data.handle", "must be a slug (lowercase letters, digits and single dashes)"),
    ({"handle": "a-slug\n"}, "data.handle", "must be a slug (lowercase letters, digits and single dashes)"),
    ({"surprise": 1}, "data.surprise", "unknown field (not in the collection schema)"),
])
def test_each_schema_rule_is_enforced(client, blog_collection, as_editor, data, field, message):
    _, headers = as_editor
    body = {"collectionId": "blog", "title": "Rules", "data": {"title": "Rules", **data}}
    response = client.post_json("/api/content", body, headers=headers, status=422)
    assert response.json == {"error": "Validation failed", "details": [{"field": field, "message": message}]}
    assert Content.select().count() == 0


TEXT_TYPES = ("string", "text", "textarea", "richtext", "markdown", "quill", "mdxeditor", "tinymce", "easymde")


@pytest.mark.parametrize("kind", TEXT_TYPES)
def test_every_text_type_takes_a_string_within_its_rules(client, as_editor, kind):
    create_collection("notes", {"type": "object", "properties": {
        "title": {"type": "string"},
        "body": {"type": kind, "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
    }})
    _, headers = as_editor
    refusals = [(5, "must be a string"), (["ab"], "must be a string"), ("a", "must be at least 2 characters long"),
                ("abcdef", "must be at most 5 characters long"), ("AB", "must match the pattern ^[a-z]+$")]
    for value, message in refusals:
        response = create(client, headers, collectionId="notes", data={"body": value}, expect=422)
        assert response.json["details"] == [{"field": "data.body", "message": message}], value
    created = create(client, headers, collectionId="notes", data={"body": "abc"})
    assert created.json["data"]["data"]["body"] == "abc"


def test_required_fields_must_be_present_and_non_empty(client, as_editor):
    create_collection("events", {
        "type": "object",
        "properties": {"venue": {"type": "string", "required": True}, "seats": {"type": "number"},
                       "tags": {"type": "multiselect", "enum": ["x"]}},
        "required": ["seats", "tags"],
    })
    _, headers = as_editor
    for data in ({}, {"venue": "", "seats": None, "tags": []}):
        response = create(client, headers, collectionId="events", data=data, expect=422)
        assert response.json["details"] == [
            {"field": "data.venue", "message": "is required"},
            {"field": "data.seats", "message": "is required"},
            {"field": "data.tags", "message": "is required"},
        ]
    create(client, headers, collectionId="events", data={"venue": "Hall", "seats": 0, "tags": ["x"]})


def test_a_required_field_whose_enum_lists_the_empty_text_takes_it(client, as_editor):
    """``""`` is no value, but where a field's enum lists ``""`` it is that option, which a
    required field may be given (in blocks too); null stays no value, and a list field's
    ``""`` is still no list."""
    create_collection("blanks", {"type": "object", "properties": {
        "kind": {"type": "select", "enum": ["a", ""], "required": True},
        "mode": {"type": "radio", "enum": ["", 1]},
        "word": {"type": "string", "enum": ["", "x"]},
        "plain": {"type": "select", "enum": ["a", "b"]},
        "marks": {"type": "multiselect", "enum": ["", "a"]},
        "parts": {"type": "array", "blocks": {"part": {"properties": {
            "kind": {"type": "select", "enum": ["", "a"]}}, "required": ["kind"]}}},
    }, "required": ["mode", "word", "plain", "marks"]})
    _, headers = as_editor
    data = {"kind": "", "mode": "", "word": "", "plain": "a", "marks": [""], "parts": [{"blockType": "part", "kind": ""}]}
    created = create(client, headers, collectionId="blanks", data=data)
    assert created.json["data"]["data"] == data
    item_id = created.json["data"]["id"]
    refused = client.put_json(f"/api/content/{item_id}", {"data": {
        "kind": None, "mode": None, "word": "", "plain": "", "marks": "", "parts": [{"blockType": "part", "kind": None}]},
    }, headers=headers, status=422)
    assert refused.json["details"] == [
        {"field": "data.kind", "message": "is required"},
        {"field": "data.mode", "message": "is required"},
        {"field": "data.plain", "message": "is required"},
        {"field": "data.marks", "message": "is required"},
        {"field": "data.parts[0].kind", "message": "is required"},
    ]


def test_the_empty_option_of_a_typed_field_skips_its_type_checks(client, as_editor):
    """A date, email or number field whose enum offers ``""`` as its "none" takes it, as it
    did when ``""`` was no value: its type and format are the other options'."""
    create_collection("events", {"type": "object", "properties": {
        "day": {"type": "date", "enum": ["", "2024-01-01"]},
        "contact": {"type": "email", "enum": ["", "desk@example.com"], "required": True},
        "seats": {"type": "number", "enum": ["", 10]},
        "code": {"type": "string", "minLength": 3, "enum": ["", "abc"]},
    }})
    _, headers = as_editor
    data = {"day": "", "contact": "", "seats": "", "code": ""}
    created = create(client, headers, collectionId="events", data=data)
    assert created.json["data"]["data"] == data
    refused = create(client, headers, collectionId="events", data={"day": "2024-02-30", "contact": "x"}, expect=422)
    assert [detail["field"] for detail in refused.json["details"]] == ["data.day", "data.contact"]


def test_a_boolean_is_an_option_only_where_the_enum_lists_a_boolean(client, as_editor):
    """``true`` is not ``1`` (nor ``false`` ``0``), though Python compares them equal."""
    create_collection("flags", {"type": "object", "properties": {
        "answer": {"type": "select", "enum": [True, False, "maybe"]},
        "level": {"type": "radio", "enum": [0, 1]},
        "marks": {"type": "multiselect", "enum": [1, 2]},
    }})
    _, headers = as_editor
    created = create(client, headers, collectionId="flags", data={"answer": False, "level": 1, "marks": [2]})
    assert created.json["data"]["data"] == {"answer": False, "level": 1, "marks": [2]}
    response = create(client, headers, collectionId="flags", data={"answer": 1, "level": True, "marks": [True]},
                      expect=422)
    assert response.json["details"] == [
        {"field": "data.answer", "message": "must be one of: true, false, maybe"},
        {"field": "data.level", "message": "must be one of the listed options"},
        {"field": "data.marks[0]", "message": "must be one of: 1, 2"},
    ]


def test_enum_options_and_repeats_are_told_apart_as_json_values(client, as_editor):
    """A boolean is no number inside a list or an object either: ``[true]`` is not the option
    ``[1]`` (a schema written to the database may list such options), and ``[1]``, ``[true]``
    are two items; ``2`` and ``2.0`` are one JSON value, so a multiselect listing both repeats
    an option, as does an object listed twice with its keys in another order."""
    create_collection("pairs", {"type": "object", "properties": {
        "pick": {"type": "multiselect", "enum": [[1], {"k": 0}]},
        "free": {"type": "multiselect"},
    }})
    _, headers = as_editor
    data = {"pick": [[1.0], {"k": 0}], "free": [[1], [True], {"k": 0}, {"k": False}, 2]}
    created = create(client, headers, collectionId="pairs", data=data)
    assert created.json["data"]["data"] == data
    refused = create(client, headers, collectionId="pairs", expect=422, data={
        "pick": [[True], {"k": False}], "free": [2, 2.0]})
    assert refused.json["details"] == [
        {"field": "data.pick[0]", "message": 'must be one of: [1], {"k": 0}'},
        {"field": "data.pick[1]", "message": 'must be one of: [1], {"k": 0}'},
        {"field": "data.free", "message": "must not repeat an option"},
    ]
    refused = create(client, headers, collectionId="pairs", expect=422, data={
        "free": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]})
    assert refused.json["details"] == [{"field": "data.free", "message": "must not repeat an option"}]


def test_a_null_an_enum_lists_is_named_as_json_names_it(client, as_editor):
    """A select's null is no value (nothing to check); a multiselect's list may hold it; a
    message listing the options names it ``null``, as JSON writes it."""
    create_collection("nulls", {"type": "object", "properties": {
        "shade": {"type": "select", "enum": ["light", None]},
        "marks": {"type": "multiselect", "enum": ["x", None]},
    }})
    _, headers = as_editor
    created = create(client, headers, collectionId="nulls", data={"shade": None, "marks": [None, "x"]})
    assert created.json["data"]["data"] == {"shade": None, "marks": [None, "x"]}
    response = create(client, headers, collectionId="nulls", data={"shade": "null", "marks": ["y"]}, expect=422)
    assert response.json["details"] == [
        {"field": "data.shade", "message": "must be one of: light, null"},
        {"field": "data.marks[0]", "message": "must be one of: x, null"},
    ]


def test_every_failing_field_is_listed_at_once(client, blog_collection, as_editor):
    _, headers = as_editor
    data = {"views": -5, "category": "x", "contact": "y", "surprise": True}
    response = client.post_json("/api/content", {"collectionId": "blog", "title": "T", "data": data}, headers=headers, status=422)
    assert sorted(d["field"] for d in response.json["details"]) == [
        "data.category", "data.contact", "data.surprise", "data.views",
    ]


def test_valid_data_of_every_type_is_stored(client, blog_collection, as_editor):
    user, headers = as_editor
    image = add_media(user)
    target = create(client, headers, title="Target").json["data"]
    data = {
        "title": "All", "body": "<p>x</p>", "excerpt": "short", "views": 10, "rating": 4.5, "featured": True,
        "category": "tech", "tags": ["a", "c"], "code": "ABC-12", "contact": "a@example.com",
        "website": "https://example.com/x", "day": "2025-12-31", "starts": "2025-12-31T10:00:00Z",
        "related": target["id"], "cover": image.id, "meta": {"source": "wire"}, "list": [1, 2.5],
        "extra": {"anything": [1, {"goes": None}]}, "handle": "all-good",
    }
    item = create(client, headers, title="All", data=data).json["data"]
    assert item["data"] == data


def test_references_respect_the_target_collection(client, blog_collection, pages_collection, as_editor):
    _, headers = as_editor
    page = create(client, headers, collectionId="pages", title="A page").json["data"]
    response = create(client, headers, title="Ref", data={"related": page["id"]}, expect=422)
    assert response.json["details"] == [{"field": "data.related", "message": "must reference content of: blog"}]


def test_references_to_deleted_content_are_refused(client, blog_collection, as_editor):
    _, headers = as_editor
    target = create(client, headers, title="Target").json["data"]
    client.delete(f"/api/content/{target['id']}", headers=headers)
    response = create(client, headers, title="Ref", data={"related": target["id"]}, expect=422)
    assert response.json["details"][0]["field"] == "data.related"


def test_references_an_item_holds_to_what_was_deleted_since_are_kept_when_it_is_saved(client, blog_collection,
                                                                                       as_editor):
    """A file or an item the stored item names, moved to the trash since, refuses no write
    that keeps the name as stored: a save as read, its data sent back, a duplicate, a
    version restore. A new name of something gone is refused as ever."""
    user, headers = as_editor
    cover = add_media(user)
    target = create(client, headers, title="Target").json["data"]
    item = create(client, headers, title="Holder", data={"cover": cover.id, "related": target["id"]}).json["data"]
    client.delete(f"/api/media/{cover.id}", headers=headers, status=200)
    client.delete(f"/api/content/{target['id']}", headers=headers, status=200)
    read = read_back(client, headers, item["id"])
    read["title"] = "Holder, renamed"
    saved = client.put_json(f"/api/content/{item['id']}", read, headers=headers).json["data"]
    assert (saved["title"], saved["version_number"]) == ("Holder, renamed", 2)
    assert (saved["data"]["cover"], saved["data"]["related"]) == (cover.id, target["id"])
    data = {**saved["data"], "views": 3}
    assert client.put_json(f"/api/content/{item['id']}", {"data": data}, headers=headers).json["data"]["version_number"] == 3
    copy = client.post(f"/api/content/{item['id']}/duplicate", headers=headers, status=201).json["data"]
    assert (copy["data"]["cover"], copy["data"]["related"]) == (cover.id, target["id"])
    restored = client.post(f"/api/content/{item['id']}/versions/1/restore", headers=headers).json["data"]
    assert (restored["title"], restored["data"]["cover"]) == ("Holder", cover.id)
    gone = add_media(user, deleted=True)
    refused = client.put_json(f"/api/content/{item['id']}", {"data": {**data, "cover": gone.id}}, headers=headers,
                              status=422)
    assert refused.json["details"] == [{"field": "data.cover", "message": f"references media {gone.id!r}, which does not exist"}]
    other = create(client, headers, title="Other").json["data"]
    client.delete(f"/api/content/{other['id']}", headers=headers, status=200)
    refused = client.put_json(f"/api/content/{item['id']}", {"data": {**data, "related": other["id"]}}, headers=headers,
                              status=422)
    assert refused.json["details"][0]["field"] == "data.related"
    assert content_row(item["id"]).data["cover"] == cover.id


def test_a_featured_image_moved_to_the_trash_since_is_kept_by_a_save_as_read(client, blog_collection, as_editor):
    user, headers = as_editor
    image = add_media(user)
    item = create(client, headers, featuredImageId=image.id).json["data"]
    client.delete(f"/api/media/{image.id}", headers=headers, status=200)
    read = read_back(client, headers, item["id"])
    saved = client.put_json(f"/api/content/{item['id']}", {**read, "title": "Edited", "featuredImageId": image.id},
                            headers=headers).json["data"]
    assert (saved["title"], content_row(item["id"]).featured_image_id) == ("Edited", image.id)
    gone = add_media(user, deleted=True)
    client.put_json(f"/api/content/{item['id']}", {"featuredImageId": gone.id}, headers=headers, status=422)


def test_an_update_that_changes_nothing_writes_nothing(client, blog_collection, as_editor):
    """No version, no history entry: an empty body, the item sent back as read, a value as stored."""
    _, headers = as_editor
    item = create(client, headers, data={"views": 1}).json["data"]
    etag = client.get(f"/api/content/{item['id']}", headers=headers).headers["ETag"]
    history = history_of(item["id"])
    for body in ({}, read_back(client, headers, item["id"]), {"title": "Hello World", "status": "draft"},
                 {"data": {"title": "Hello World", "views": 1}}):
        response = client.put_json(f"/api/content/{item['id']}", body, headers=headers)
        assert response.json["data"]["version_number"] == 1
        assert response.headers["ETag"] == etag
    assert versions_of(item["id"]) == [1] and history_of(item["id"]) == history
    # A JSON value Python's == would take for the stored one is a change: 1.0 is no 1.
    changed = client.put_json(f"/api/content/{item['id']}", {"data": {"title": "Hello World", "views": 1.0}},
                              headers=headers).json["data"]
    assert changed["version_number"] == 2


def test_an_item_sent_back_as_read_with_a_new_status_is_the_move_alone(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    history = history_of(item["id"])
    moved = client.put_json(f"/api/content/{item['id']}", {**read_back(client, headers, item["id"]),
                                                           "status": "published"}, headers=headers).json["data"]
    assert (moved["status"], moved["version_number"]) == ("published", 2)
    assert versions_of(item["id"]) == [1, 2]
    assert [entry[2] for entry in history_of(item["id"])[len(history):]] == ["publish"]


def test_an_update_that_changes_nothing_still_checks_the_version(client, blog_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "Second"}, headers=headers)
    client.put_json(f"/api/content/{item['id']}", {}, headers={**headers, "If-Match": '"1"'}, status=409)
    client.put_json(f"/api/content/{item['id']}", {"version_number": 1}, headers=headers, status=409)
    current = client.put_json(f"/api/content/{item['id']}", {}, headers={**headers, "If-Match": '"2"'}).json["data"]
    assert current["version_number"] == 2 and versions_of(item["id"]) == [1, 2]


def test_free_form_collections_accept_any_object(client, pages_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers, collectionId="pages", data={"anything": {"at": ["all"]}}).json["data"]
    assert item["data"] == {"anything": {"at": ["all"]}}


# ---------------------------------------------------------------- declared defaults

EVENTS_WITH_DEFAULTS = {
    "type": "object",
    "properties": {
        "venue": {"type": "string", "required": True, "default": "Main hall"},
        "seats": {"type": "number", "default": 10},
        "open": {"type": "boolean", "default": False},
        "kind": {"type": "select", "enum": ["talk", "workshop"], "default": "talk"},
        "tags": {"type": "multiselect", "enum": ["x", "y"], "default": ["x"]},
        "extra": {"type": "json", "default": {"rooms": [1, 2]}},
        "note": {"type": "string"},
    },
}


@pytest.fixture
def events(env):
    bind_models(env.DB.db)
    return create_collection("events", EVENTS_WITH_DEFAULTS)


def test_a_create_stores_the_declared_default_of_each_field_left_out(client, events, as_editor):
    _, headers = as_editor
    # "venue" is required: its default satisfies it.
    item = create(client, headers, collectionId="events", data={"note": "bring tea"}).json["data"]
    assert item["data"] == {"venue": "Main hall", "seats": 10, "open": False, "kind": "talk", "tags": ["x"],
                            "extra": {"rooms": [1, 2]}, "note": "bring tea"}
    assert content_row(item["id"]).data == item["data"]
    # No data at all is data left out entirely.
    bare = create(client, headers, collectionId="events", title="Bare").json["data"]
    assert bare["data"]["venue"] == "Main hall"


def test_a_value_sent_wins_over_the_default_and_null_stays_null(client, events, as_editor):
    _, headers = as_editor
    data = {"venue": "Annex", "seats": 0, "open": True, "tags": [], "extra": None}
    item = create(client, headers, collectionId="events", data=data).json["data"]
    # 0, false, [] and null are values the client chose, not fields left out; "kind" was left out.
    assert item["data"] == {**data, "kind": "talk"}
    # A required field sent as null is missing, as validation always says: its default does not step in.
    response = create(client, headers, collectionId="events", data={"venue": None}, expect=422)
    assert response.json == {"error": "Validation failed", "details": [{"field": "data.venue", "message": "is required"}]}


def test_an_items_edit_leaves_the_default_the_next_item_gets(client, events, as_editor):
    _, headers = as_editor
    first = create(client, headers, collectionId="events", title="First").json["data"]
    client.put_json(f"/api/content/{first['id']}", {"data": {**first["data"], "extra": {"rooms": [9]}}},
                    headers=headers)
    second = create(client, headers, collectionId="events", title="Second").json["data"]
    assert second["data"]["extra"] == {"rooms": [1, 2]}
    assert content_row(first["id"]).data["extra"] == {"rooms": [9]}


def test_each_default_is_a_deep_copy_of_the_schemas():
    schema = {"type": "object", "properties": {"extra": {"type": "json", "default": {"rooms": [1, 2]}}}}
    filled = with_defaults(schema, {})
    filled["extra"]["rooms"].append(3)
    assert schema["properties"]["extra"]["default"] == {"rooms": [1, 2]}
    assert with_defaults(schema, {}) == {"extra": {"rooms": [1, 2]}}


def test_an_update_does_not_fill_defaults_back_in(client, events, as_editor):
    _, headers = as_editor
    item = create(client, headers, collectionId="events", data={"seats": 3}).json["data"]
    assert item["data"]["open"] is False
    # PUT's data replaces data: the fields it leaves out stay out, required "venue" included (422).
    response = client.put_json(f"/api/content/{item['id']}", {"data": {"seats": 4}}, headers=headers, status=422)
    assert response.json["details"] == [{"field": "data.venue", "message": "is required"}]
    updated = client.put_json(f"/api/content/{item['id']}", {"data": {"venue": "Annex"}}, headers=headers).json["data"]
    assert updated["data"] == {"venue": "Annex"}
    # An update without data leaves the stored data alone.
    renamed = client.put_json(f"/api/content/{item['id']}", {"title": "Renamed"}, headers=headers).json["data"]
    assert renamed["data"] == {"venue": "Annex"}


def test_a_title_fields_default_is_the_title_when_none_is_given_and_a_slugs_is_not_used(client, as_editor):
    create_collection("notes", {"type": "object", "properties": {
        "title": {"type": "string", "default": "Untitled"}, "slug": {"type": "slug", "default": "fixed"}}})
    _, headers = as_editor
    for slug in ("untitled", "untitled-2"):  # a fixed slug could serve one item only
        untitled = client.post_json("/api/content", {"collectionId": "notes"}, headers=headers, status=201).json["data"]
        assert (untitled["title"], untitled["slug"]) == ("Untitled", slug)
        assert untitled["data"] == {"title": "Untitled", "slug": slug}
    titled = create(client, headers, collectionId="notes", title="Minutes").json["data"]
    assert (titled["title"], titled["data"]) == ("Minutes", {"title": "Minutes", "slug": "minutes"})


@pytest.fixture
def probed(env, events, as_admin):
    """A client of an app running the ``defaults-probe`` plugin, activated, and an admin's headers."""
    _, headers = as_admin
    client = client_for(env, plugins=(PROBE,))
    client.post("/admin/api/plugins/defaults-probe/activate", headers=headers, status=200)
    defaults_probe.SEEN.clear()
    return client, headers


def test_a_before_content_create_hook_sees_the_defaults_the_item_is_stored_with(probed):
    client, headers = probed
    item = create(client, headers, collectionId="events", data={"note": "bring tea"}).json["data"]
    [seen] = defaults_probe.SEEN
    assert seen["data"]["venue"] == "Main hall"
    assert seen["data"] == item["data"] == content_row(item["id"]).data


def test_what_a_before_content_create_hook_changes_is_validated_and_no_default_fills_in_again(probed):
    client, headers = probed
    more = create(client, headers, collectionId="events", title="More", data={"note": "more seats"}).json["data"]
    assert content_row(more["id"]).data["seats"] == 99
    refused = create(client, headers, collectionId="events", title="Text", data={"note": "seats as text"}, expect=422)
    assert refused.json["details"] == [{"field": "data.seats", "message": "must be a number"}]
    # The hook saw the default and removed it: the field stays out, and it is required.
    removed = create(client, headers, collectionId="events", title="Gone", data={"note": "no venue"}, expect=422)
    assert removed.json["details"] == [{"field": "data.venue", "message": "is required"}]
    assert Content.select().where(Content.title.in_(["Text", "Gone"])).count() == 0


def test_a_title_a_before_content_create_hook_gives_is_data_title_too(probed):
    client, headers = probed
    create_collection("memos", {"type": "object", "properties": {
        "title": {"type": "string", "default": "Untitled memo"}, "note": {"type": "string"}}})

    def memo(**body):
        item = client.post_json("/api/content", {"collectionId": "memos", **body}, headers=headers, status=201).json["data"]
        return item["title"], item["data"]["title"], content_row(item["id"]).data["title"]

    # The hook saw the default the item would be stored with, then gave the item its title:
    # the default was only ever the stand-in for a missing title, so the hook's fills data.title.
    assert memo(data={"note": "hook title"}) == ("Set by hook", "Set by hook", "Set by hook")
    assert defaults_probe.SEEN[-1]["data"]["title"] == "Untitled memo"
    # A data.title set on purpose, by the client or by the hook, is kept beside the hook's title.
    assert memo(data={"note": "hook title", "title": "Client's data"}) == ("Set by hook", "Client's data", "Client's data")
    assert memo(data={"note": "hook titles"}) == ("Set by hook", "Hook's data", "Hook's data")
    # A hook that gives no title leaves the default as the item's title.
    assert memo(data={"note": "nothing"}) == ("Untitled memo", "Untitled memo", "Untitled memo")


@pytest.fixture
def update_probed(env, blog_collection, as_admin):
    """A client of an app running the ``update-probe`` plugin, activated, and an admin's headers."""
    _, headers = as_admin
    client = client_for(env, plugins=(UPDATE_PROBE,))
    client.post("/admin/api/plugins/update-probe/activate", headers=headers, status=200)
    update_probe.UPDATED.clear()
    return client, headers


def test_what_a_before_content_update_hook_changes_is_validated_and_written(update_probed):
    client, headers = update_probed
    item = create(client, headers, data={"views": 1}).json["data"]
    path = f"/api/content/{item['id']}"
    views = client.put_json(path, {"data": {"excerpt": "hook views"}}, headers=headers).json["data"]
    assert (views["data"]["views"], content_row(item["id"]).data["views"], views["version_number"]) == (7, 7, 2)
    titled = client.put_json(path, {"data": {"excerpt": "hook title"}}, headers=headers).json["data"]
    assert (titled["title"], content_row(item["id"]).title) == ("Set by hook", "Set by hook")
    refused = client.put_json(path, {"data": {"excerpt": "hook views as text"}}, headers=headers, status=422)
    assert refused.json["details"] == [{"field": "data.views", "message": "must be a number"}]
    # A status the hook sets is not a move: the caller's status stands.
    kept = client.put_json(path, {"data": {"excerpt": "hook status"}}, headers=headers).json["data"]
    assert (kept["status"], kept["data"]["excerpt"], kept["version_number"]) == ("draft", "hook status", 4)
    assert versions_of(item["id"]) == [1, 2, 3, 4]


def test_an_update_that_changes_nothing_runs_no_after_content_update_hook(update_probed):
    client, headers = update_probed
    item = create(client, headers).json["data"]
    client.put_json(f"/api/content/{item['id']}", {}, headers=headers)
    client.put_json(f"/api/content/{item['id']}", {"title": "Hello World"}, headers=headers)
    assert update_probe.UPDATED == []
    client.put_json(f"/api/content/{item['id']}", {"title": "Changed"}, headers=headers)
    assert [item["id"]] == update_probe.UPDATED


# ---------------------------------------------------------------- PostgreSQL


def test_the_write_path_on_postgres(tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    bind_models(env.DB.db)
    client = client_for(env)
    headers = bearer(token_for(create_user("admin")))
    create_collection("blog", BLOG_SCHEMA)
    item = create(client, headers, title="On Postgres", status="published", data={"views": 2}).json["data"]
    create(client, headers, title="On Postgres", slug="on-postgres", expect=409)
    assert create(client, headers, title="On Postgres").json["data"]["slug"] == "on-postgres-2"
    updated = client.put_json(f"/api/content/{item['id']}", {"title": "Edited", "version_number": 1}, headers=headers)
    assert updated.json["data"]["version_number"] == 2
    client.put_json(f"/api/content/{item['id']}", {"title": "Stale", "version_number": 1}, headers=headers, status=409)
    other = create(client, headers, title="Other").json["data"]
    client.put_json(f"/api/content/{other['id']}", {"status": "archived"}, headers=headers, status=409)
    client.put_json(f"/api/content/{other['id']}", {"slug": "on-postgres"}, headers=headers, status=409)
    assert client.get("/api/content?filter[data.views][gte]=2").json["meta"]["total"] == 1
    client.delete(f"/api/content/{item['id']}", headers=headers)
    client.get(f"/api/content/{item['id']}", status=404)
    client.post(f"/api/content/{item['id']}/restore", headers=headers)
    stats = client.get("/admin/api/stats", headers=headers).json
    assert stats["content"]["byStatus"] == {"draft": 2, "published": 1, "archived": 0}
    client.delete(f"/api/content/{item['id']}?hard=true", headers=headers)
    assert content_row(item["id"]) is None and versions_of(item["id"]) == []
    env.DB.db.close()


# ---------------------------------------------------------------- helpers other services call


def test_write_transaction_invalidates_after_commit(env, client, blog_collection, as_editor):
    user, headers = as_editor
    item = create(client, headers).json["data"]
    assert client.get("/api/content").json["meta"]["total"] == 0  # cached: nothing published
    with writes.write_transaction(ThreeTierCache(env.CACHE_KV)):
        moved = workflow.transition(env.DB.db, item["id"], writes_user(user), action="publish", source="test")
    assert (moved.from_state, moved.to_state) == ("draft", "published")
    row = content_row(item["id"])
    assert (row.status, row.workflow_state_id, row.version_number) == ("published", "published", 2)
    assert history_of(item["id"])[-1] == ("draft", "published", "publish", "default-workflow")
    past_generation_bound()  # the write went through another cache
    assert client.get("/api/content").json["meta"]["total"] == 1  # the app's cache saw the bump


def writes_user(user):
    """The Principal of ``user`` (what the API passes to services)."""
    return Principal(id=user.id, email=user.email, role=user.role, permissions=RolePermissions().of(user.role))
