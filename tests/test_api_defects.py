"""Request-level tests of API behaviours SonicJS clients rely on, each once a defect here.

Deactivated collections are withdrawn from public reads; ``/admin/api`` is for editors and
admins; registration refuses empty names; admin collection routes take the id or the name;
editors list every status by default; ``X-API-Key`` carries API tokens; and refusals of a
value list the valid ones.
"""

import pytest

from tests.fixtures.auth import PASSWORD
from tests.fixtures.content import create_collection, insert_items


def create_token(client, headers, permissions):
    body = {"name": "ci", "permissions": permissions}
    return client.post_json("/api/tokens", body, headers=headers, status=201).json["data"]["token"]


@pytest.fixture
def archive(app_client, make_user):
    """A deactivated collection ``old`` with one published item, and an active ``news`` with one."""
    author, _ = make_user("author")
    old = create_collection("old", is_active=False)
    news = create_collection("news")
    [old_item] = insert_items(old, author, 1, slug_prefix="old")
    insert_items(news, author, 1, slug_prefix="news")
    return old_item


@pytest.mark.parametrize("role", [None, "viewer"])
def test_content_of_a_deactivated_collection_is_not_public(app_client, make_user, archive, role):
    headers = make_user(role)[1] if role else {}
    app_client.get("/api/collections/old/content", headers=headers, status=404)
    app_client.get("/api/collections/old/content/old-0", headers=headers, status=404)
    assert app_client.get("/api/content?collection=old", headers=headers).json["data"] == []
    listed = app_client.get("/api/content", headers=headers).json["data"]
    assert [item["slug"] for item in listed] == ["news-0"]
    app_client.get(f"/api/content/{archive}", headers=headers, status=404)


def test_editors_still_read_a_deactivated_collection(app_client, make_user, archive):
    _, editor = make_user("editor")
    assert app_client.get("/api/collections/old/content", headers=editor).json["data"][0]["id"] == archive
    app_client.get(f"/api/content/{archive}", headers=editor, status=200)


def test_deactivating_a_collection_drops_its_cached_public_reads(app_client, make_user, archive):
    _, admin = make_user("admin")
    app_client.get("/api/collections/news/content", status=200)
    app_client.get("/api/collections/news/content", status=200)  # now cached
    app_client.patch_json("/admin/api/collections/news", {"is_active": False}, headers=admin)
    app_client.get("/api/collections/news/content", status=404)


@pytest.mark.parametrize("role, status", [("viewer", 403), ("author", 403), ("editor", 200), ("admin", 200)])
def test_the_admin_api_is_for_editors_and_admins(app_client, make_user, role, status):
    create_collection("hidden", is_active=False)
    _, headers = make_user(role)
    response = app_client.get("/admin/api/collections?includeInactive=true", headers=headers, status=status)
    if status == 403:
        assert response.json == {"error": "Insufficient permissions"}
        assert "hidden" not in response.text


@pytest.mark.parametrize("field", ["firstName", "lastName"])
@pytest.mark.parametrize("value", ["", "   "])
def test_registration_refuses_an_empty_name(app_client, field, value):
    body = {"email": "new@example.com", "password": PASSWORD, field: value}
    response = app_client.post_json("/auth/register", body, status=422)
    assert response.json["details"][0]["field"] == field


def test_registration_without_names_still_works(app_client):
    body = {"email": "new@example.com", "password": PASSWORD, "firstName": "Ada"}
    user = app_client.post_json("/auth/register", body, status=201).json["user"]
    assert user["firstName"] == "Ada" and user["lastName"] == ""


def test_admin_collection_routes_take_the_id_or_the_name(app_client, make_user):
    _, admin = make_user("admin")
    collection = create_collection("recipes")
    by_name = app_client.get("/admin/api/collections/recipes", headers=admin).json
    assert by_name["id"] == collection.id
    assert app_client.get(f"/admin/api/collections/{collection.id}", headers=admin).json == by_name
    app_client.patch_json("/admin/api/collections/recipes", {"description": "Food"}, headers=admin)
    assert app_client.get(f"/admin/api/collections/{collection.id}", headers=admin).json["description"] == "Food"
    app_client.delete("/admin/api/collections/recipes", headers=admin)
    app_client.get(f"/admin/api/collections/{collection.id}", headers=admin, status=404)


def test_editors_list_every_status_but_deleted_by_default(app_client, make_user):
    author, _ = make_user("author")
    _, editor = make_user("editor")
    blog = create_collection("blog")
    insert_items(blog, author, 1, status="draft", slug_prefix="draft")
    insert_items(blog, author, 1, status="published", slug_prefix="live")
    insert_items(blog, author, 1, status="archived", slug_prefix="old")
    insert_items(blog, author, 1, status="published", slug_prefix="gone", deleted_at=1)
    slugs = {item["slug"] for item in app_client.get("/api/content", headers=editor).json["data"]}
    assert slugs == {"draft-0", "live-0", "old-0"}
    assert [i["slug"] for i in app_client.get("/api/content?status=published", headers=editor).json["data"]] == ["live-0"]
    # The public is unchanged: published only.
    assert [i["slug"] for i in app_client.get("/api/content").json["data"]] == ["live-0"]


def test_x_api_key_carries_an_api_token(app_client, make_user):
    _, admin = make_user("admin")
    token = create_token(app_client, admin, ["collections.read"])
    app_client.get("/admin/api/collections", headers={"X-API-Key": token}, status=200)
    response = app_client.get("/admin/api/collections", headers={"X-API-Key": "sp_made-up"}, status=401)
    assert response.json == {"error": "Invalid or expired token"}


def test_x_api_key_never_takes_a_session_jwt(app_client, make_user):
    _, admin = make_user("admin")
    jwt = admin["Authorization"].split(" ", 1)[1]
    app_client.get("/admin/api/collections", headers={"X-API-Key": jwt}, status=401)


def test_token_refusals_speak_of_the_token(app_client, make_user):
    _, editor = make_user("editor")
    token = {"X-API-Key": create_token(app_client, editor, ["content.read"])}
    response = app_client.get("/api/content?status=draft", headers=token, status=403)
    assert "API token" in response.json["error"] and "sign in" not in response.text
    response = app_client.post_json("/api/content", {"collectionId": "x"}, headers=token, status=403)
    assert response.json == {"error": "This API token does not grant the permission content.create"}


def test_an_unknown_permission_lists_the_grantable_ones(app_client, make_user):
    _, editor = make_user("editor")
    body = {"name": "ci", "permissions": ["content.raed"]}
    message = app_client.post_json("/api/tokens", body, headers=editor, status=422).json["details"][0]["message"]
    assert "content.raed" in message and "content.read" in message and "content.publish" in message


def test_an_unknown_field_type_lists_the_valid_types(app_client, make_user):
    _, admin = make_user("admin")
    schema = {"type": "object", "properties": {"hero": {"type": "picture"}}}
    body = {"name": "things", "displayName": "Things", "schema": schema}
    details = app_client.post_json("/admin/api/collections", body, headers=admin, status=422).json["details"]
    message = next(d["message"] for d in details if d["field"] == "schema.properties.hero.type")
    assert "'picture'" in message and "richtext" in message and "reference" in message


def test_an_unknown_schema_key_lists_the_valid_keys(app_client, make_user):
    _, admin = make_user("admin")
    schema = {"type": "object", "properties": {"title": {"type": "string", "requird": True}}}
    body = {"name": "things", "displayName": "Things", "schema": schema}
    details = app_client.post_json("/admin/api/collections", body, headers=admin, status=422).json["details"]
    problem = next(d for d in details if d["field"].endswith("requird"))
    assert "required" in problem["message"] and "maxLength" in problem["message"]


def test_bodies_take_camel_case_and_snake_case(app_client, make_user):
    _, admin = make_user("admin")
    create_collection("notes")
    created = app_client.post_json(
        "/api/content", {"collection_id": "notes", "title": "Hi", "meta_title": "SEO"}, headers=admin, status=201,
    ).json["data"]
    assert created["meta_title"] == "SEO"
    app_client.patch_json("/admin/api/collections/notes", {"isActive": False}, headers=admin)
    assert app_client.get("/admin/api/collections/notes", headers=admin).json["is_active"] is False
    both = {"collectionId": "notes", "collection_id": "notes", "title": "Twice"}
    response = app_client.post_json("/api/content", both, headers=admin, status=422)
    assert response.json["details"][0]["field"] in ("collectionId", "collection_id")
