"""Schema flags ``indexed``/``sortable`` create and drop field indexes: through the collections
API and through ``collections sync``, on SQLite and PostgreSQL; nested flags are refused."""

import json

import pytest

from app.services.collection_sync import sync_collections
from app.services.field_indexes import existing_indexes

pytestmark = pytest.mark.backends


def schema(**flags):
    return {"type": "object", "properties": {
        "category": {"type": "string", **flags.get("category", {})},
        "price": {"type": "number", **flags.get("price", {})},
    }}


def test_the_api_creates_and_drops_field_indexes(app_client, make_user, env):
    _, admin = make_user("admin")
    body = {"name": "shop", "displayName": "Shop",
            "schema": schema(category={"indexed": True}, price={"sortable": True})}
    created = app_client.post_json("/admin/api/collections", body, headers=admin, status=201).json
    assert existing_indexes(env.DB.db) == {"idx_content_field_category", "idx_content_sort_price"}
    # A second collection declaring the same field shares the index; it stays while one declares it.
    other = {"name": "outlet", "displayName": "Outlet", "schema": schema(category={"indexed": True})}
    second = app_client.post_json("/admin/api/collections", other, headers=admin, status=201).json
    app_client.patch_json(f"/admin/api/collections/{created['id']}", {"schema": schema()}, headers=admin)
    assert existing_indexes(env.DB.db) == {"idx_content_field_category"}
    app_client.delete(f"/admin/api/collections/{second['id']}", headers=admin)
    assert existing_indexes(env.DB.db) == set()


def test_only_top_level_fields_may_be_indexed(app_client, make_user, env):
    _, admin = make_user("admin")
    nested = {"type": "object", "properties": {
        "seo": {"type": "object", "properties": {"slug": {"type": "string", "indexed": True}}}}}
    body = {"name": "pages", "displayName": "Pages", "schema": nested}
    response = app_client.post_json("/admin/api/collections", body, headers=admin, status=422)
    assert response.json["details"] == [{"field": "schema.properties.seo.properties.slug.indexed",
                                         "message": "only a top-level field can be indexed"}]
    assert existing_indexes(env.DB.db) == set()


def test_sync_follows_the_definition_files(tmp_path, app_client, env):
    folder = tmp_path / "collections"
    folder.mkdir()
    definition = {"name": "shop", "displayName": "Shop", "schema": schema(price={"indexed": True, "sortable": True})}
    (folder / "shop.json").write_text(json.dumps(definition))
    report = sync_collections(folder, now=1000)
    assert existing_indexes(env.DB.db) == {"idx_content_field_price", "idx_content_sort_price"}
    assert "created index idx_content_field_price" in report.notes
    definition["schema"] = schema(price={"sortable": True})
    (folder / "shop.json").write_text(json.dumps(definition))
    report = sync_collections(folder, now=2000)
    assert existing_indexes(env.DB.db) == {"idx_content_sort_price"}
    assert report.notes == ["dropped index idx_content_field_price"]
