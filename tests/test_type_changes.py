"""A schema save that changes a field's type is refused while items hold values of the old
type: through the collections API, the admin's field builder and ``collections sync``, with
the field, both types, the number of items (trashed ones too) and some of their ids."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest

from app.db.models import Collection, new_id
from app.services import field_indexes
from app.services.collection_schema import CHOICE_TYPES, FIELD_TYPES
from app.services.content.validation import validate_data
from app.services.field_indexes import sync_field_indexes
from app.services.type_changes import ANY, ARRAY, BOOLEAN, INTEGER, OBJECT, REAL, STRING, accepted_kinds
from tests.fixtures.app import record_statements
from tests.fixtures.content import create_collection, insert_items, sync_collections

pytestmark = pytest.mark.backends

GUARD_QUERY = "count(*) OVER ()"


def schema_with(**fields):
    return {"type": "object", "properties": {"title": {"type": "string"}, **fields}}


def items_holding(collection, author, values, **fields):
    """One item per value of ``price`` (``...``: no key at all); their ids in order."""
    def data(i):
        return {"title": f"Item {i}"} if values[i] is ... else {"title": f"Item {i}", "price": values[i]}
    return insert_items(collection, author, len(values), data=data, slug_prefix=new_id()[:8], **fields)


def patch_schema(client, headers, collection, schema, status):
    return client.patch_json(f"/admin/api/collections/{collection.id}", {"schema": schema}, headers=headers,
                             status=status)


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def test_the_api_refuses_a_type_change_with_the_count_and_ids_and_changes_nothing(app_client, admin):
    user, headers = admin
    before = schema_with(price={"type": "string", "indexed": True})
    shop = create_collection("shop", before)
    strings = items_holding(shop, user, ["5", "cheap"]) + items_holding(shop, user, ["9"], status="draft")
    strings += items_holding(shop, user, ["old"], status="archived")
    items_holding(shop, user, [5, None, ...])  # these fit, or hold nothing
    stamp = Collection.get_by_id(shop.id).updated_at

    answer = patch_schema(app_client, headers, shop, schema_with(price={"type": "number", "indexed": True}), 409).json

    assert answer == {
        "error": "Field 'price' cannot change from string to number: 4 items (trashed ones counted) hold a value it "
                 "does not accept; change or clear those values, then save again",
        "details": [{"field": "schema.properties.price.type",
                     "message": "field 'price' cannot change from string to number: 4 items (trashed ones counted) "
                                "hold a value it does not accept",
                     "from": "string", "to": "number", "items": 4, "example_ids": sorted(strings),
                     "accepts": ["number"]}],
    }
    stored = Collection.get_by_id(shop.id)
    assert (stored.schema, stored.updated_at) == (before, stamp)


def test_trashed_items_count_too(app_client, admin):
    user, headers = admin
    shop = create_collection("shop", schema_with(price={"type": "number"}))
    items_holding(shop, user, [None, ...])
    trashed = items_holding(shop, user, [3], deleted_at=1)

    answer = patch_schema(app_client, headers, shop, schema_with(price={"type": "string"}), 409).json

    [conflict] = answer["details"]
    assert conflict["items"] == 1 and conflict["example_ids"] == trashed
    assert conflict["from"] == "number" and conflict["to"] == "string"


# (old field, new field, stored values that the new type refuses)
REFUSED = [
    ({"type": "number"}, {"type": "string"}, [1, 2.5]),
    ({"type": "boolean"}, {"type": "string"}, [True, False]),
    ({"type": "select", "enum": ["a", "b"]}, {"type": "multiselect", "enum": ["a", "b"]}, ["a"]),
    ({"type": "select", "enum": ["a", "b"]}, {"type": "select", "enum": ["a", "b"], "multiple": True}, ["b"]),
    ({"type": "reference", "collection": "shop"}, {"type": "reference", "collection": "shop", "multiple": True},
     ["an-id"]),
    ({"type": "object"}, {"type": "array"}, [{"a": 1}]),
    ({"type": "number"}, {"type": "integer"}, [2.5, 3.0]),
    ({"type": "json"}, {"type": "textarea"}, [["a"], {"a": 1}, 5]),
    ({"type": "json"}, {"type": "easymde"}, [["a"], 5]),
    ({"type": "multiselect", "enum": ["a"]}, {"type": "select", "enum": ["a"]}, [["a"]]),
    # Choices take what their enum lists (a schema written to the database may list numbers
    # or booleans; the API's and the field builder's list text): an integer option takes 3.0 too.
    ({"type": "select", "enum": [1, 2, 3]}, {"type": "string"}, [2, 3.0]),
    ({"type": "select", "enum": [1, 2, 3]}, {"type": "select", "enum": ["1", "2", "3"]}, [2]),
    ({"type": "select", "enum": [1, 2, 3]}, {"type": "integer"}, [3.0]),
    ({"type": "radio", "enum": [True, False]}, {"type": "radio", "enum": ["yes", "no"]}, [True, False]),
]


def change_id(case):
    old, new, _ = case
    return f"{type_id(old)}-to-{type_id(new)}" + ("-multiple" if new.get("multiple") else "")


def type_id(field):
    """``select``, or ``select[1,2,3]`` when its enum lists something other than strings."""
    enum = field.get("enum") or []
    listed = "" if all(isinstance(option, str) for option in enum) else json.dumps(enum, separators=(",", ":"))
    return field["type"] + listed


@pytest.mark.parametrize("old, new, values", REFUSED, ids=[change_id(case) for case in REFUSED])
def test_each_narrowing_change_is_refused_while_values_do_not_fit(app_client, admin, old, new, values):
    user, headers = admin
    shop = create_collection("shop", schema_with(price=old))
    ids = items_holding(shop, user, values)

    [details] = patch_schema(app_client, headers, shop, schema_with(price=new), 409).json["details"]

    assert (details["items"], details["example_ids"]) == (len(values), sorted(ids))
    assert Collection.get_by_id(shop.id).schema == schema_with(price=old)


@pytest.mark.parametrize("old, new, value, key", [
    ({"type": "number"}, {"type": "string"}, 2, "type"),
    ({"type": "select", "enum": ["a", "b"]}, {"type": "multiselect", "enum": ["a", "b"]}, "a", "type"),
    ({"type": "reference", "collection": "shop"}, {"type": "reference", "collection": "shop", "multiple": True},
     "an-id", "multiple"),
    ({"type": "media", "multiple": True}, {"type": "media"}, ["m1"], "multiple"),
    ({"type": "select", "enum": [1, 2, 3]}, {"type": "select", "enum": ["1", "2", "3"]}, 2, "enum"),
])
def test_a_refused_change_names_the_key_that_narrowed_the_field(app_client, admin, old, new, value, key):
    user, headers = admin
    shop = create_collection("shop", schema_with(price=old))
    items_holding(shop, user, [value])

    [details] = patch_schema(app_client, headers, shop, schema_with(price=new), 409).json["details"]

    assert details["field"] == f"schema.properties.price.{key}"


# (old field, new field, stored values the new type takes, or that are no value)
ALLOWED = [
    ({"type": "string"}, {"type": "number"}, [None, ..., "", 3, 4.5]),
    ({"type": "number"}, {"type": "integer"}, [2, -7, None]),
    ({"type": "integer"}, {"type": "number"}, [2]),
    ({"type": "string"}, {"type": "json"}, ["a"]),
    ({"type": "string"}, {"type": "richtext"}, ["a"]),
    ({"type": "markdown"}, {"type": "easymde"}, ["a"]),
    ({"type": "select", "enum": ["a"]}, {"type": "multiselect", "enum": ["a"]}, [["a"], [], None]),
    ({"type": "media"}, {"type": "media", "multiple": True}, [["m1", "m2"]]),
    ({"type": "boolean"}, {"type": "checkbox"}, [True]),
    ({"type": "select", "enum": [1, 2, 3]}, {"type": "number"}, [2, 3.0]),
    ({"type": "select", "enum": [1.5, 2]}, {"type": "number"}, [1.5]),
    ({"type": "radio", "enum": [True, False]}, {"type": "checkbox"}, [True, False]),
    ({"type": "select", "enum": ["a", 2]}, {"type": "json"}, ["a", 2]),
]


@pytest.mark.parametrize("old, new, values", ALLOWED, ids=[change_id(case) for case in ALLOWED])
def test_a_change_goes_through_when_every_value_fits_or_is_empty(app_client, admin, old, new, values):
    user, headers = admin
    shop = create_collection("shop", schema_with(price=old))
    items_holding(shop, user, values)

    patch_schema(app_client, headers, shop, schema_with(price=new), 200)

    assert Collection.get_by_id(shop.id).schema == schema_with(price=new)


def test_a_select_of_numbers_keeps_its_numbers_editable(app_client, admin):
    # A select whose enum lists numbers holds numbers: changing it to a string field would
    # leave the item unsavable ("data.price: must be a string") on its next edit.
    user, headers = admin
    before = schema_with(price={"type": "select", "enum": [1, 2, 3]})
    shop = create_collection("shop", before)
    [item] = items_holding(shop, user, [2])

    answer = patch_schema(app_client, headers, shop, schema_with(price={"type": "string"}), 409).json

    assert answer["details"] == [{"field": "schema.properties.price.type",
                                  "message": "field 'price' cannot change from select (number) to string: 1 item "
                                             "(trashed ones counted) holds a value it does not accept",
                                  "from": "select (number)", "to": "string", "items": 1, "example_ids": [item],
                                  "accepts": ["string"]}]
    assert Collection.get_by_id(shop.id).schema == before
    app_client.put_json(f"/api/content/{item}", {"title": "Edited"}, headers=headers, status=200)


def test_an_empty_collection_takes_any_change(app_client, admin):
    _, headers = admin
    shop = create_collection("shop", schema_with(price={"type": "string"}))
    patch_schema(app_client, headers, shop, schema_with(price={"type": "object"}), 200)
    assert Collection.get_by_id(shop.id).schema == schema_with(price={"type": "object"})


def test_removing_a_field_or_adding_one_its_values_fit_is_never_refused(app_client, admin):
    user, headers = admin
    shop = create_collection("shop", schema_with(price={"type": "string"}))
    insert_items(shop, user, 1, data=lambda i: {"title": "x", "price": "5", "stock": 7, "notes": ["a"]})
    # price goes (its values stay in the items), stock comes as a number over a number, notes as json.
    after = schema_with(stock={"type": "number"}, notes={"type": "json"}, size={"type": "string"})
    patch_schema(app_client, headers, shop, after, 200)
    assert Collection.get_by_id(shop.id).schema == after


def test_a_field_removed_then_added_back_with_another_type_is_refused_as_a_type_change(app_client, admin):
    """The items keep a removed field's values: adding it back under a type that refuses them
    would leave them behind exactly as changing its type in one save would."""
    _, headers = admin
    number = {"type": "number", "indexed": True}
    body = {"name": "shop", "displayName": "Shop", "schema": schema_with(price=number)}
    shop = app_client.post_json("/admin/api/collections", body, headers=headers, status=201).json
    item = app_client.post_json("/api/content", {"collectionId": "shop", "title": "Mug", "status": "published",
                                                 "data": {"title": "Mug", "price": 5}}, headers=headers,
                                status=201).json["data"]
    path = f"/admin/api/collections/{shop['id']}"
    as_string = schema_with(price={"type": "string", "indexed": True})
    app_client.patch_json(path, {"schema": as_string}, headers=headers, status=409)
    app_client.patch_json(path, {"schema": schema_with()}, headers=headers, status=200)

    answer = app_client.patch_json(path, {"schema": as_string}, headers=headers, status=409).json

    assert answer == {
        "error": "Field 'price' cannot be added as string: 1 item (trashed ones counted) holds a value it does not "
                 "accept; change or clear those values, then save again",
        "details": [{"field": "schema.properties.price.type",
                     "message": "field 'price' cannot be added as string: 1 item (trashed ones counted) holds a value "
                                "it does not accept",
                     "from": None, "to": "string", "items": 1, "example_ids": [item["id"]], "accepts": ["string"]}],
    }
    assert Collection.get_by_id(shop["id"]).schema == schema_with()
    # Added back as what its values are, it goes through, and the item is still editable.
    app_client.patch_json(path, {"schema": schema_with(price=number)}, headers=headers, status=200)
    read = app_client.get(f"/api/content/{item['id']}", headers=headers).json["data"]
    app_client.put_json(f"/api/content/{item['id']}", {"title": read["title"], "data": read["data"]},
                        headers=headers, status=200)
    # The field's index outlives a test's rows on PostgreSQL's reused database: dropped with the collection.
    app_client.delete(f"/api/content/{item['id']}", headers=headers, status=200)
    app_client.delete(f"/api/content/{item['id']}/purge", headers=headers, status=200)
    app_client.delete(path, headers=headers, status=200)


def test_data_that_is_not_json_counts_as_no_value(app_client, admin, env):
    user, headers = admin
    shop = create_collection("shop", schema_with(price={"type": "string"}))
    [broken] = items_holding(shop, user, ["5"])
    db = env.DB.db
    db.execute_sql(f"UPDATE content SET data = {db.param} WHERE id = {db.param}", ("{not json", broken))
    patch_schema(app_client, headers, shop, schema_with(price={"type": "number"}), 200)


def test_every_refused_field_is_named_with_one_query_each(app_client, admin, env, monkeypatch):
    user, headers = admin
    old = schema_with(price={"type": "string"}, tags={"type": "select", "enum": ["a"]}, note={"type": "string"})
    shop = create_collection("shop", old)
    insert_items(shop, user, 2, data=lambda i: {"title": "x", "price": "5", "tags": "a", "note": "n"})
    new = schema_with(price={"type": "number"}, tags={"type": "multiselect", "enum": ["a"]},
                      note={"type": "markdown"})
    statements = record_statements(env.DB.db, monkeypatch)

    answer = patch_schema(app_client, headers, shop, new, 409).json

    assert [c["field"] for c in answer["details"]] == ["schema.properties.price.type", "schema.properties.tags.type"]
    assert answer["details"][1]["from"] == "select"
    assert answer["details"][1]["to"] == "multiselect"
    assert "Field 'price' cannot change from string to number: 2 items" in answer["error"]
    assert "; field 'tags' cannot change from select to multiselect: 2 items" in answer["error"]
    assert len([sql for sql, _ in statements if GUARD_QUERY in sql]) == 2


def in_another_transaction(db, statements):
    """Run ``statements`` (``(sql, params)``) in a transaction of another thread, kept open
    until the returned ``commit`` is called (which waits for the commit)."""
    written, release = threading.Event(), threading.Event()

    def run():
        with db.atomic():
            for sql, params in statements:
                db.execute_sql(sql.format(p=db.param), params)
            written.set()
            release.wait(10)
        db.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert written.wait(10)
    timer = threading.Timer(0.5, release.set)
    timer.start()

    def commit():
        release.set()
        thread.join(10)

    return commit


def test_a_value_written_while_the_save_checks_is_counted(app_client, admin, env):
    # The writer's transaction is open when the save starts: the save waits for its commit
    # and counts what it wrote, instead of missing the uncommitted value (PostgreSQL's READ
    # COMMITTED) and committing a type the value does not fit.
    user, headers = admin
    shop = create_collection("shop", schema_with(price={"type": "string"}))
    [item] = items_holding(shop, user, [7])
    commit = in_another_transaction(env.DB.db, [
        ("UPDATE content SET data = {p} WHERE id = {p}", ('{"title": "Item", "price": "seven"}', item))])
    try:
        answer = patch_schema(app_client, headers, shop, schema_with(price={"type": "number"}), 409).json
    finally:
        commit()
    assert answer["details"][0]["example_ids"] == [item]


def test_the_save_compares_with_the_schema_another_save_left(app_client, admin, env):
    # Another save made price a string and a string value followed, both committing while
    # this save runs: it compares with that schema, not the number it would have read
    # before, so it checks the field and counts the value.
    user, headers = admin
    shop = create_collection("shop", schema_with(price={"type": "number"}))
    [item] = items_holding(shop, user, [7])
    commit = in_another_transaction(env.DB.db, [
        ("UPDATE collections SET schema = {p} WHERE id = {p}",
         (json.dumps(schema_with(price={"type": "string"})), shop.id)),
        ("UPDATE content SET data = {p} WHERE id = {p}", ('{"title": "Item", "price": "seven"}', item))])
    try:
        answer = patch_schema(app_client, headers, shop, schema_with(price={"type": "number"}), 409).json
    finally:
        commit()
    assert (answer["details"][0]["from"], answer["details"][0]["example_ids"]) == ("string", [item])


# Values of each JSON kind: a field accepts the kind when validation takes one of them.
SAMPLES = {STRING: ["x"], INTEGER: [2], REAL: [2.5, 2.0], BOOLEAN: [True, False], ARRAY: [["x"]],
           OBJECT: [{"x": 1}]}
# A string each of these types takes (others take "x").
STRING_SAMPLES = {"date": "2024-01-02", "datetime": "2024-01-02T03:04:05", "email": "a@b.example",
                  "url": "https://example.com"}
# The enums a choice field is tried with: the builder's strings, and what a schema written
# to the database may list (integers, reals, booleans, a mix), or no enum at all.
ENUMS = [["x"], [1, 2, 3], [2.5], [True, False], ["x", 2, True], None]
TYPES_AND_ENUMS = [(kind, None) for kind in sorted(FIELD_TYPES - CHOICE_TYPES)] + [
    (kind, enum) for kind in sorted(CHOICE_TYPES) for enum in ENUMS]


@pytest.mark.parametrize("kind, enum", TYPES_AND_ENUMS,
                         ids=[kind + ("" if enum is None else json.dumps(enum, separators=(",", ":")))
                              for kind, enum in TYPES_AND_ENUMS])
@pytest.mark.parametrize("multiple", [False, True])
def test_what_a_type_accepts_is_what_validation_takes(kind, enum, multiple):
    field = {"type": kind, "collection": "shop", "items": {"type": "string"}}
    if enum is not None:
        field["enum"] = enum
    if multiple:
        field["multiple"] = True
    schema = {"type": "object", "properties": {"f": field}}
    accepted = accepted_kinds(field)
    for json_kind in sorted(ANY):
        values = SAMPLES[json_kind]
        if json_kind == STRING:
            values = [STRING_SAMPLES.get(kind, "x")]
        if json_kind == ARRAY:  # a list of what one item takes
            values = [*values, [STRING_SAMPLES.get(kind, "x")], *([option] for option in enum or ())]
        taken = any(not validate_data(schema, {"f": value}, look_up_references=False) for value in values)
        assert taken == (json_kind in accepted), (kind, enum, json_kind)


def write_definition(folder, name, schema):
    definition = {"name": name, "displayName": name.title(), "schema": schema}
    (folder / f"{name}.json").write_text(json.dumps(definition))


def test_collections_sync_refuses_the_file_and_syncs_the_others(tmp_path, env, make_user):
    user, _ = make_user("admin")
    folder = tmp_path / "definitions"
    folder.mkdir()
    write_definition(folder, "shop", schema_with(price={"type": "string"}))
    write_definition(folder, "notes", schema_with(body={"type": "string"}))
    assert sync_collections(env, folder).exit_code == 0
    shop = Collection.get(Collection.name == "shop")
    ids = items_holding(shop, user, ["5", "6", "7", "8", "9", "10"])
    write_definition(folder, "shop", schema_with(price={"type": "number"}))
    write_definition(folder, "notes", schema_with(body={"type": "markdown"}))

    result = sync_collections(env, folder)

    assert result.exit_code == 1
    shown = ", ".join(sorted(ids)[:5])
    assert (f"shop.json: schema.properties.price.type: field 'price' cannot change from string to number: 6 items "
            f"(trashed ones counted) hold a value it does not accept (ids: {shown}, ...)") in result.output
    assert Collection.get_by_id(shop.id).schema == schema_with(price={"type": "string"})
    assert Collection.get(Collection.name == "notes").schema == schema_with(body={"type": "markdown"})


def test_collections_sync_refuses_a_file_adding_a_field_its_items_hold_otherwise(tmp_path, env, make_user):
    user, _ = make_user("admin")
    folder = tmp_path / "definitions"
    folder.mkdir()
    write_definition(folder, "shop", schema_with())
    assert sync_collections(env, folder).exit_code == 0
    shop = Collection.get(Collection.name == "shop")
    [held] = items_holding(shop, user, ["5"])
    write_definition(folder, "shop", schema_with(price={"type": "number"}))

    result = sync_collections(env, folder)

    assert result.exit_code == 1
    assert (f"shop.json: schema.properties.price.type: field 'price' cannot be added as number: 1 item "
            f"(trashed ones counted) holds a value it does not accept (ids: {held})") in result.output
    assert Collection.get_by_id(shop.id).schema == schema_with()


def test_the_field_builder_shows_the_refusal_on_the_fields_row(browser, signed_in_as):
    user = signed_in_as("admin")
    before = schema_with(price={"type": "string"})
    shop = create_collection("shop", before)
    items_holding(shop, user, ["5"])
    form = browser.get("/admin/collections/shop").forms["collection-form"]
    assert form["field-1.name"].value == "price"
    form["field-1.type"] = "number"

    page = form.submit(status=409)

    message = "field 'price' cannot change from string to number: 1 item (trashed ones counted) holds a value"
    assert message in page.html.select_one("#form-message").text.lower()
    assert f"type: {message}" in page.html.select_one("#field-1-errors").text
    assert Collection.get_by_id(shop.id).schema == before


def holding_the_indexes_back(monkeypatch, saves):
    """Make each of ``saves`` schema saves wait, inside its transaction and after its type
    check, until all of them got there (or a second passed: they take turns), before it
    reads the field indexes there are and drops the ones no schema declares any more."""
    barrier, original = threading.Barrier(saves), field_indexes.existing_indexes

    def existing_indexes(db):
        try:
            barrier.wait(1)
        except threading.BrokenBarrierError:
            pass  # the other save waits for this one: nothing to hold back
        return original(db)

    monkeypatch.setattr(field_indexes, "existing_indexes", existing_indexes)


def patch_request(collection, schema, headers):
    return webtest.TestRequest.blank(f"/admin/api/collections/{collection.id}", method="PATCH",
                                     content_type="application/json", headers=headers,
                                     body=json.dumps({"schema": schema}).encode())


def test_two_saves_narrowing_fields_and_dropping_their_indexes_take_turns(app_client, admin, monkeypatch):
    # Each save checks its narrowed field (on PostgreSQL: content locked in SHARE mode) and
    # then drops its field's index (ACCESS EXCLUSIVE on content): two at once each held what
    # the other waited for, and one failed with a deadlock (503).
    user, headers = admin
    shops = [create_collection(name, schema_with(**{field: {"type": "string", "indexed": True}}))
             for name, field in (("shop", "price"), ("store", "cost"))]
    sync_field_indexes(Collection._meta.database)
    for shop, field in zip(shops, ("price", "cost")):
        insert_items(shop, user, 1, data=lambda i, field=field: {"title": "x", field: 5}, slug_prefix=shop.name)
    holding_the_indexes_back(monkeypatch, 2)
    requests = [patch_request(shop, schema_with(**{field: {"type": "number"}}), headers)
                for shop, field in zip(shops, ("price", "cost"))]

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda request: request.get_response(app_client.app), requests))

    assert [r.status_int for r in responses] == [200, 200], [r.text for r in responses]
    assert not field_indexes.existing_indexes(Collection._meta.database)
    assert [Collection.get_by_id(shop.id).schema["properties"] for shop in shops] == [
        {"title": {"type": "string"}, "price": {"type": "number"}},
        {"title": {"type": "string"}, "cost": {"type": "number"}}]
