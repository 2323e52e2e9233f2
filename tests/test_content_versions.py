"""GET /api/content/{id}/versions[/{n}] and POST .../versions/{n}/restore."""

import pytest

from app.db.models import ContentVersion, WorkflowHistory

pytestmark = pytest.mark.backends


@pytest.fixture
def edited(client, blog_collection, as_author):
    """An item by the author with three versions (title One, Two, Three)."""
    _, headers = as_author
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "One", "data": {"views": 1}},
                            headers=headers, status=201).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "Two", "data": {"views": 2}}, headers=headers)
    client.put_json(f"/api/content/{item['id']}", {"title": "Three", "slug": "three"}, headers=headers)
    return item["id"]


def test_versions_are_listed_newest_first(client, edited, as_author):
    _, headers = as_author
    response = client.get(f"/api/content/{edited}/versions", headers=headers).json
    assert [(v["version"], v["title"], v["is_current"]) for v in response["data"]] == [
        (3, "Three", True), (2, "Two", False), (1, "One", False)]
    assert response["meta"] == {"count": 3, "total": 3, "limit": 50, "offset": 0, "current_version": 3, "page": 1, "pages": 1, "hasNext": False, "hasPrev": False}
    assert "data" not in response["data"][0]
    paged = client.get(f"/api/content/{edited}/versions?limit=1&offset=1", headers=headers).json
    assert [v["version"] for v in paged["data"]] == [2]
    by_page = client.get(f"/api/content/{edited}/versions?limit=1&page=3", headers=headers).json
    assert [v["version"] for v in by_page["data"]] == [1]
    assert (by_page["meta"]["page"], by_page["meta"]["offset"], by_page["meta"]["hasNext"]) == (3, 2, False)
    both = client.get(f"/api/content/{edited}/versions?page=2&offset=1", headers=headers, status=400)
    assert both.json["details"] == [{"parameter": "offset", "message": "use only one of offset and page"}]
    client.get(f"/api/content/{edited}/versions?page=0", headers=headers, status=400)


def test_one_version_holds_the_full_snapshot(client, edited, as_author):
    _, headers = as_author
    version = client.get(f"/api/content/{edited}/versions/2", headers=headers).json["data"]
    assert version["title"] == "Two"
    assert version["slug"] == "one"
    assert version["data"] == {"views": 2, "title": "Two"}
    assert version["status"] == "draft" and version["workflow_state_id"] == "draft"
    assert client.get(f"/api/content/{edited}/versions/9", headers=headers, status=404).json == {"error": "Version not found"}
    client.get(f"/api/content/{edited}/versions/0", headers=headers, status=404)
    client.get(f"/api/content/{edited}/versions/99999999999999999999", headers=headers, status=404)


def test_restoring_a_version_creates_a_new_one(client, edited, as_author):
    _, headers = as_author
    response = client.post(f"/api/content/{edited}/versions/1/restore", headers=headers)
    item = response.json["data"]
    assert (item["title"], item["slug"], item["data"], item["version_number"]) == ("One", "one", {"views": 1, "title": "One"}, 4)
    assert response.headers["ETag"].startswith('W/"4-')
    assert [row.version for row in ContentVersion.select().where(ContentVersion.content == edited)
            .order_by(ContentVersion.version)] == [1, 2, 3, 4]
    last = WorkflowHistory.select().where(WorkflowHistory.content == edited).order_by(WorkflowHistory.created_at.desc()).first()
    assert last.metadata == {"action": "version_restored", "restored_from": 1, "version": 4}


def test_a_restored_version_keeps_the_data_title_it_was_saved_with(client, blog_collection, as_author):
    """Version 1 held a data.title set apart from its title, equal to the title the item has
    now: a restore brings back what was saved, not the rule that keeps an edited title in step."""
    _, headers = as_author
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "One", "data": {"title": "Two"}},
                            headers=headers, status=201).json["data"]
    url = f"/api/content/{item['id']}"
    client.put_json(url, {"title": "Two"}, headers=headers)
    restored = client.post(f"{url}/versions/1/restore", headers=headers).json["data"]
    assert (restored["title"], restored["data"]) == ("One", {"title": "Two"})


def test_restore_respects_if_match_and_missing_versions(client, edited, as_author):
    _, headers = as_author
    stale = client.post(f"/api/content/{edited}/versions/1/restore", headers={**headers, "If-Match": '"2"'}, status=409)
    assert stale.json["details"]["current_version"] == 3
    client.post(f"/api/content/{edited}/versions/1/restore", headers={**headers, "If-Match": '"3"'})
    client.post(f"/api/content/{edited}/versions/42/restore", headers=headers, status=404)


def test_a_restore_is_validated_against_the_current_schema(client, edited, as_author, blog_collection):
    _, headers = as_author
    schema = dict(blog_collection.schema)
    schema["properties"] = {**schema["properties"], "views": {"type": "number", "min": 5}}
    blog_collection.schema = schema
    blog_collection.save()
    response = client.post(f"/api/content/{edited}/versions/1/restore", headers=headers, status=422)
    assert response.json["details"] == [{"field": "data.views", "message": "must be at least 5"}]


def test_a_version_holding_a_field_the_schema_lost_is_restored_without_it(client, edited, as_author,
                                                                         blog_collection):
    _, headers = as_author
    version_one = client.get(f"/api/content/{edited}/versions/1", headers=headers).json["data"]
    assert "views" in version_one["data"]
    schema = dict(blog_collection.schema)
    schema["properties"] = {name: config for name, config in schema["properties"].items() if name != "views"}
    schema["required"] = [name for name in schema.get("required", []) if name != "views"]
    blog_collection.schema = schema
    blog_collection.save()
    restored = client.post(f"/api/content/{edited}/versions/1/restore", headers=headers).json["data"]
    assert "views" not in restored["data"] and restored["title"] == "One"
    assert client.get(f"/api/content/{edited}/versions/1", headers=headers).json["data"]["data"] == version_one["data"]


def test_versions_are_for_editors_and_the_item_author(client, edited, make_user, as_editor):
    client.get(f"/api/content/{edited}/versions", status=401)
    _, viewer_headers = make_user("viewer")
    _, other_author = make_user("author")
    client.get(f"/api/content/{edited}/versions", headers=viewer_headers, status=403)  # no content.update at all
    # A draft they cannot read is missing to them, as GET /api/content/{id} says.
    hidden = client.get(f"/api/content/{edited}/versions", headers=other_author, status=404)
    assert hidden.json == {"error": "Content not found"}
    client.post(f"/api/content/{edited}/versions/1/restore", headers=other_author, status=404)
    _, headers = as_editor
    client.put_json(f"/api/content/{edited}", {"status": "published"}, headers=headers)
    client.get(f"/api/content/{edited}/versions", headers=viewer_headers, status=403)
    refused = client.get(f"/api/content/{edited}/versions", headers=other_author, status=403)
    assert refused.json == {"error": "You may only read the versions of your own content"}
    client.post(f"/api/content/{edited}/versions/1/restore", headers=other_author, status=403)
    assert client.get(f"/api/content/{edited}/versions", headers=headers).json["meta"]["total"] == 4  # the publication made the fourth
    client.get("/api/content/nope/versions", headers=headers, status=404)
