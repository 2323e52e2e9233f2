"""Schema flags ``indexed``/``sortable`` create and drop field indexes: through the collections
API and through ``collections sync``, on SQLite and PostgreSQL; nested flags are refused."""

import json

import pytest

from app.db.database import is_postgres
from app.services.collection_sync import sync_collections
from app.services.field_indexes import FILTER_PREFIX, NAME_BYTES, existing_indexes, index_name, sync_field_indexes
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.content import sync_collections as cli_sync

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


def test_fields_differing_only_in_case_or_past_postgresqls_name_length_get_indexes_of_their_own(app_client, make_user,
                                                                                               env):
    """SQLite compares index names without case and PostgreSQL cuts names at 63 bytes."""
    _, admin = make_user("admin")
    long_name, longer = "a" * 50, "a" * 50 + "b"
    for name, field in (("c1", "Price"), ("c2", "price"), ("l1", long_name), ("l2", longer)):
        body = {"name": name, "displayName": name, "schema": {"type": "object", "properties": {
            field: {"type": "number", "indexed": True}}}}
        app_client.post_json("/admin/api/collections", body, headers=admin, status=201)
    names = existing_indexes(env.DB.db)
    assert names == {index_name(FILTER_PREFIX, f) for f in ("Price", "price", long_name, longer)}
    assert len(names) == 4 and all(len(n) <= NAME_BYTES for n in names)
    assert sync_field_indexes(env.DB.db) == ([], [])  # nothing to rebuild on the next write


def test_an_indexed_fields_name_is_at_most_64_characters(app_client, make_user):
    _, admin = make_user("admin")
    body = {"name": "wide", "displayName": "Wide", "schema": {"type": "object", "properties": {
        "f" * 65: {"type": "string", "indexed": True}}}}
    response = app_client.post_json("/admin/api/collections", body, headers=admin, status=422)
    assert "at most 64 characters" in json.dumps(response.json["details"])


BAD_NAME = {"type": "object", "properties": {"a-b": {"type": "string", "indexed": True, "sortable": True},
                                             "ok": {"type": "string", "indexed": True}}}


def write_by_hand(db, schema):
    db.execute_sql("INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                   f" VALUES ('col-bad', 'bad', 'Bad', {db.param}, 5, 5)", (json.dumps(schema),))


def test_a_flag_on_a_name_no_filter_can_write_is_ignored_and_saves_go_on(app_client, make_user, env):
    """A schema row written by hand may flag a field whose name is no ``data.<field>`` path:
    it gets no index, and every collection write around it answers as usual."""
    _, admin = make_user("admin")
    write_by_hand(env.DB.db, BAD_NAME)
    body = {"name": "shop", "displayName": "Shop", "schema": schema(category={"indexed": True})}
    created = app_client.post_json("/admin/api/collections", body, headers=admin, status=201).json
    assert existing_indexes(env.DB.db) == {"idx_content_field_category", "idx_content_field_ok"}
    app_client.patch_json(f"/admin/api/collections/{created['id']}", {"schema": schema(price={"sortable": True})},
                          headers=admin, status=200)
    assert existing_indexes(env.DB.db) == {"idx_content_sort_price", "idx_content_field_ok"}
    app_client.delete(f"/admin/api/collections/{created['id']}", headers=admin, status=200)
    app_client.delete("/admin/api/collections/col-bad", headers=admin, status=200)
    assert existing_indexes(env.DB.db) == set()


def test_collections_sync_goes_on_beside_a_flag_on_a_name_no_filter_can_write(tmp_path, app_client, env):
    write_by_hand(env.DB.db, BAD_NAME)
    folder = tmp_path / "collections"
    folder.mkdir()
    definition = {"name": "shop", "displayName": "Shop", "schema": schema(price={"sortable": True})}
    (folder / "shop.json").write_text(json.dumps(definition))
    report = sync_collections(folder, now=1000)
    assert existing_indexes(env.DB.db) == {"idx_content_sort_price", "idx_content_field_ok"}
    assert {"created index idx_content_sort_price", "created index idx_content_field_ok"} <= set(report.notes)
    # The indexes outlive a test's rows on PostgreSQL's reused database: dropped with the collections.
    env.DB.db.execute_sql("DELETE FROM collections")
    sync_field_indexes(env.DB.db)
    assert existing_indexes(env.DB.db) == set()


# -- content data an index cannot read ---------------------------------------------------------

UNREADABLE = ["not json {", '{"category": "a\\u0000b"}']


def _items_with_unreadable_data(env, make_user, unreadable, readable=1, trashed=0):
    """A plain collection ``shop`` whose items hold readable data, ``unreadable`` live ones
    data no index can read (written by hand, as ``d1 execute`` may), and ``trashed`` deleted
    ones such data too; returns the live unreadable ones' ids, sorted."""
    author, _ = make_user("author")
    shop = create_collection("shop", schema())
    insert_items(shop, author, readable, slug_prefix="good")
    bad = insert_items(shop, author, unreadable + trashed, slug_prefix="bad")
    db = env.DB.db
    for number, item_id in enumerate(bad):
        deleted = 9 if number >= unreadable else None
        db.execute_sql(f"UPDATE content SET data = {db.param}, deleted_at = {db.param} WHERE id = {db.param}",
                       (UNREADABLE[number % len(UNREADABLE)], deleted, item_id))
    return sorted(bad[:unreadable])


def _stored_schema(db, name):
    (text,) = db.execute_sql(f"SELECT schema FROM collections WHERE name = {db.param}", (name,)).fetchone()
    return json.loads(text)


def test_a_field_index_is_refused_while_items_hold_data_it_cannot_read(app_client, make_user, env):
    """An index reads every live item's ``data`` as JSON, and the database refuses text that is
    not JSON (and PostgreSQL a NUL character): the save is refused before anything is
    written, with a 409 naming a few of those items, on both databases alike."""
    _, admin = make_user("admin")
    bad = _items_with_unreadable_data(env, make_user, unreadable=2, trashed=1)
    response = app_client.patch_json("/admin/api/collections/col-shop", {"schema": schema(category={"indexed": True})},
                                     headers=admin, status=409)
    assert response.json["error"].startswith(
        "Cannot create the index of the field 'category': 2 live content item(s) hold data no field index can read"
        " (text that is not JSON, or a NUL character): ")
    assert response.json["details"] == [{"field": "schema", "message": response.json["error"], "items": 2,
                                         "example_ids": bad}]
    assert _stored_schema(env.DB.db, "shop") == schema()
    assert existing_indexes(env.DB.db) == set()
    # A new collection declaring one is refused alike: the index covers every collection's items.
    body = {"name": "outlet", "displayName": "Outlet", "schema": schema(price={"sortable": True})}
    refused = app_client.post_json("/admin/api/collections", body, headers=admin, status=409).json
    assert refused["details"][0]["example_ids"] == bad and "the field 'price'" in refused["error"]
    assert app_client.get("/admin/api/collections/outlet", headers=admin, expect_errors=True).status_int == 404
    assert existing_indexes(env.DB.db) == set()


def test_json_the_databases_read_does_not_refuse_a_field_index(app_client, make_user, env):
    """Nesting deeper than msgspec decodes, a number past a double's range and an integer of
    more digits than Python converts are JSON both databases read and index: they are no
    reason to refuse an index."""
    _, admin = make_user("admin")
    author, _ = make_user("author")
    odd = insert_items(create_collection("shop", schema()), author, 3)
    db = env.DB.db
    for item_id, data in zip(odd, ['{"a": ' + "[" * 1200 + "]" * 1200 + "}", '{"category": 1e400}',
                                   '{"price": ' + "7" * 5000 + "}"]):
        db.execute_sql(f"UPDATE content SET data = {db.param} WHERE id = {db.param}", (data, item_id))
    app_client.patch_json("/admin/api/collections/col-shop", {"schema": schema(category={"indexed": True})},
                          headers=admin, status=200)
    assert existing_indexes(env.DB.db) == {index_name(FILTER_PREFIX, "category")}


def test_json_too_deep_to_decode_here_is_judged_by_the_database(app_client, make_user, env):
    """Nesting deeper than Python decodes is asked of the database: a document that never
    closes, and one nested deeper than either database reads JSON, are refused as any other
    unreadable data (the index would fail on them), one both databases read is not."""
    _, admin = make_user("admin")
    author, _ = make_user("author")
    items = insert_items(create_collection("shop", schema()), author, 3)
    db = env.DB.db
    unclosed, too_deep, readable = '{"a": ' + "[" * 1200, "[" * 100_000 + "]" * 100_000, "[" * 1500 + "]" * 1500
    for item_id, data in zip(items, [unclosed, too_deep, readable]):
        db.execute_sql(f"UPDATE content SET data = {db.param} WHERE id = {db.param}", (data, item_id))
    refused = app_client.patch_json("/admin/api/collections/col-shop", {"schema": schema(category={"indexed": True})},
                                    headers=admin, status=409).json
    assert refused["details"][0]["items"] == 2 and refused["details"][0]["example_ids"] == sorted(items[:2])
    assert existing_indexes(db) == set()
    db.execute_sql(f"UPDATE content SET data = '{{}}' WHERE id IN ({db.param}, {db.param})", tuple(items[:2]))
    app_client.patch_json("/admin/api/collections/col-shop", {"schema": schema(category={"indexed": True})},
                          headers=admin, status=200)
    assert existing_indexes(db) == {index_name(FILTER_PREFIX, "category")}


def test_json_only_sqlite_reads_refuses_a_field_index_on_postgresql_alone(app_client, make_user, env):
    """A lone surrogate escape and a number past ``numeric``'s range are JSON SQLite indexes
    and PostgreSQL's jsonb refuses: each database refuses what it cannot read itself, so
    PostgreSQL answers the 409 naming them, not the error of the index's creation."""
    _, admin = make_user("admin")
    author, _ = make_user("author")
    items = insert_items(create_collection("shop", schema()), author, 2)
    db = env.DB.db
    for item_id, data in zip(items, ['{"category": "\\ud800"}', '{"price": 1e1000000}']):
        db.execute_sql(f"UPDATE content SET data = {db.param} WHERE id = {db.param}", (data, item_id))
    body = {"schema": schema(category={"indexed": True})}
    if is_postgres(db):
        refused = app_client.patch_json("/admin/api/collections/col-shop", body, headers=admin, status=409).json
        assert refused["details"][0]["items"] == 2 and refused["details"][0]["example_ids"] == sorted(items)
        assert existing_indexes(db) == set()
    else:
        app_client.patch_json("/admin/api/collections/col-shop", body, headers=admin, status=200)
        assert existing_indexes(db) == {index_name(FILTER_PREFIX, "category")}


def test_a_field_index_refusal_names_a_few_items(app_client, make_user, env):
    _, admin = make_user("admin")
    bad = _items_with_unreadable_data(env, make_user, unreadable=7)
    refused = app_client.patch_json("/admin/api/collections/col-shop", {"schema": schema(category={"indexed": True})},
                                    headers=admin, status=409).json
    assert refused["details"][0]["items"] == 7 and refused["details"][0]["example_ids"] == bad[:5]
    assert refused["error"].endswith(", ".join(repr(item) for item in bad[:5]) + " and 2 more; fix or delete"
                                     " them (or their data), then save again")


def test_collections_sync_refuses_a_field_index_while_items_hold_data_it_cannot_read(tmp_path, app_client,
                                                                                    make_user, env):
    bad = _items_with_unreadable_data(env, make_user, unreadable=1)
    folder = tmp_path / "collections"
    folder.mkdir()
    (folder / "outlet.json").write_text(json.dumps({"name": "outlet", "displayName": "Outlet",
                                                     "schema": schema(category={"indexed": True})}))
    result = cli_sync(env, folder)
    assert result.exit_code == 1, result.output
    assert ("Error: Cannot create the index of the field 'category': 1 live content item(s) hold data no field"
            f" index can read (text that is not JSON, or a NUL character): {bad[0]!r}") in result.output
    assert "nothing was changed" in result.output
    assert env.DB.db.execute_sql("SELECT name FROM collections ORDER BY name").fetchall() == [("shop",)]
    assert existing_indexes(env.DB.db) == set()
