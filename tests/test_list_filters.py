"""Filters on data fields holding lists (tags, multiselect), SonicJS's bare field names and
its ``pageSize``: request-level, on SQLite and PostgreSQL alike.

A field that may hold a list (no schema, or a type that is not one value) is matched by its
items: ``equals``/``in``/``all`` by an equal item (same JSON type rules as a scalar),
``contains``/``like`` by a string item holding the text, ``not_equals``/``not_in`` by a list
holding none. Scalars keep their meaning.
"""

import json

import pytest

from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends

SCHEMA = {"type": "object", "properties": {
    "title": {"type": "string"},
    "category": {"type": "string"},
    "price": {"type": "number"},
    "cats": {"type": "multiselect", "enum": ["a", "b", "c"]},
    "sizes": {"type": "multiselect", "enum": [1, 2, 3]},
    "nums": {"type": "array", "items": {"type": "number"}},
    "tags": {"type": "json"},
    "misc": {"type": "json"},
}}
ITEMS = [
    {"title": "p", "category": "blog", "price": 50, "cats": ["a"], "sizes": [1, 2], "nums": [1, 2.5],
     "tags": ["tutorial", "x"], "misc": ["Tutorial Guide", 7, True]},
    {"title": "q", "category": "news", "price": 150, "cats": ["b", "c"], "sizes": [3], "nums": [3],
     "tags": ["intro"], "misc": "tutorial"},
    {"title": "r", "category": "blog", "price": 99, "cats": [], "sizes": [], "nums": [],
     "tags": "tutorial", "misc": [False, "7"]},
    {"title": "s", "category": "tips", "price": 100, "tags": ["tutorial", "intro"], "misc": {"a": "tutorial"}},
]
FREE = [  # a free-form collection: no schema types any field
    {"title": "f1", "tags": ["tutorial", "x"], "flags": [True], "n": [1, 2]},
    {"title": "f2", "tags": ["y"], "flags": [False], "n": 1},
    {"title": "f3", "tags": "tutorial", "flags": True, "n": ["1"]},
    {"title": "f4"},
]


@pytest.fixture
def shop(as_author):
    author, _ = as_author
    create_collection("shop", SCHEMA)
    create_collection("free")
    insert_items(create_collection.__globals__["Collection"].get_by_id("col-shop"), author, len(ITEMS),
                 data=lambda i: ITEMS[i])
    insert_items(create_collection.__globals__["Collection"].get_by_id("col-free"), author, len(FREE),
                 data=lambda i: FREE[i], slug_prefix="free")


def titles(client, collection="shop", **params):
    response = client.get(f"/api/collections/{collection}/content", params)
    found = sorted(item["data"]["title"] for item in response.json["data"])
    assert response.json["meta"]["total"] == len(found)  # counts agree with the page
    return found


def where(field, operator, value):
    return {"where": json.dumps({"and": [{"field": field, "operator": operator, "value": value}]})}


@pytest.mark.parametrize("params, expected", [
    ({"filter[data.tags][contains]": "tutorial"}, ["p", "r", "s"]),
    ({"filter[data.tags][contains]": "TUT"}, ["p", "r", "s"]),
    ({"filter[data.tags][equals]": "tutorial"}, ["p", "r", "s"]),
    ({"filter[data.tags]": "intro"}, ["q", "s"]),
    ({"filter[data.tags][in]": "x,intro"}, ["p", "q", "s"]),
    ({"filter[data.tags][all]": "tutorial,intro"}, ["s"]),
    ({"filter[data.tags][all]": "tutorial"}, ["p", "r", "s"]),
    ({"filter[data.tags][not_equals]": "tutorial"}, ["q"]),
    ({"filter[data.tags][not_in]": "x,intro"}, ["r"]),
    ({"filter[data.tags][like]": "tut"}, ["p", "r", "s"]),
    (where("data.tags", "contains", "tutorial"), ["p", "r", "s"]),
    (where("data.tags", "in", ["intro", "nothing"]), ["q", "s"]),
    ({"filter[data.cats][in]": "a"}, ["p"]),
    ({"filter[data.cats][equals]": "c"}, ["q"]),
    ({"filter[data.cats][contains]": "a"}, ["p"]),
    ({"filter[data.cats][all]": "b,c"}, ["q"]),
    ({"filter[data.cats][not_in]": "a,b"}, ["r", "s"]),
    ({"filter[data.sizes]": "2"}, ["p"]),
    ({"filter[data.sizes][in]": "1,3"}, ["p", "q"]),
    ({"filter[data.nums]": "2.5"}, ["p"]),
    ({"filter[data.nums][all]": "1,2.5"}, ["p"]),
    (where("data.nums", "equals", 3), ["q"]),
    (where("data.nums", "equals", "3"), []),  # a string is no number, in a list as alone
    (where("data.misc", "equals", 7), ["p"]),  # the number 7; "7" (r) is a string
    (where("data.misc", "equals", "7"), ["r"]),
    ({"filter[data.misc]": "7"}, ["r"]),  # a json field's query-string value is text, as before
    (where("data.misc", "equals", True), ["p"]),
    (where("data.misc", "in", [False, 8]), ["r"]),
    ({"filter[data.misc][contains]": "tutorial guide"}, ["p"]),
    ({"filter[data.misc][like]": "guide tutorial"}, ["p"]),
    ({"filter[data.misc][contains]": "tutorial"}, ["p", "q"]),  # never an object's values
    ({"filter[data.misc][all]": "7,true"}, ["p"]),
    ({"filter[data.misc][exists]": "true"}, ["p", "q", "r", "s"]),
    ({"filter[data.category]": "blog"}, ["p", "r"]),  # scalars as before
    ({"filter[data.price][lt]": "100"}, ["p", "r"]),
])
def test_a_list_field_matches_by_its_items(client, shop, params, expected):
    assert titles(client, **params) == expected


@pytest.mark.parametrize("params, expected", [
    ({"filter[data.tags]": "tutorial"}, ["f1", "f3"]),
    ({"filter[data.flags]": "true"}, ["f1", "f3"]),
    ({"filter[data.flags]": "false"}, ["f2"]),
    ({"filter[data.n]": "1"}, ["f1", "f2"]),
    ({"filter[data.n][in]": "2,9"}, ["f1"]),
    ({"filter[data.n]": '"1"'}, ["f3"]),
    ({"filter[data.tags][not_equals]": "tutorial"}, ["f2", "f4"]),
])
def test_a_free_form_field_matches_lists_by_their_items(client, shop, params, expected):
    assert titles(client, "free", **params) == expected


def test_the_content_list_across_collections_matches_list_items(client, shop):
    response = client.get("/api/content", {"filter[data.tags][contains]": "tutorial", "collection": "free"})
    assert sorted(item["data"]["title"] for item in response.json["data"]) == ["f1", "f3"]
    response = client.get("/api/content", {"filter[data.tags][contains]": "tutorial"})
    assert sorted(item["data"]["title"] for item in response.json["data"]) == ["f1", "f3", "p", "r", "s"]
    assert response.json["meta"]["total"] == 5


def test_cursor_pages_walk_an_array_filter(client, shop):
    seen, params = [], {"filter[data.tags][contains]": "tutorial", "limit": "1", "sort": "title"}
    while True:
        body = client.get("/api/collections/shop/content", params).json
        seen += [item["data"]["title"] for item in body["data"]]
        assert body["meta"]["total"] == 3
        if "nextCursor" not in body["meta"]:
            break
        params = {**params, "cursor": body["meta"]["nextCursor"]}
    assert seen == ["p", "r", "s"]


@pytest.mark.parametrize("params, expected", [
    ({"filter[category][equals]": "blog"}, ["p", "r"]),
    ({"filter[price][less_than]": "100"}, ["p", "r"]),
    ({"filter[tags][contains]": "tutorial"}, ["p", "r", "s"]),
    ({"filter[title]": "Item 0"}, ["p"]),  # the column wins over data.title
    (where("category", "equals", "news"), ["q"]),
    ({"filter[featuredImage][exists]": "false"}, ["p", "q", "r", "s"]),
])
def test_a_bare_name_is_a_data_field_unless_a_column(client, shop, params, expected):
    assert titles(client, **params) == expected


def test_a_bare_name_sorts_by_the_data_field(client, shop):
    response = client.get("/api/collections/shop/content", {"sort": "-price"})
    assert [item["data"]["title"] for item in response.json["data"]] == ["q", "s", "r", "p"]


def test_the_public_may_not_reach_a_private_column_by_its_bare_name(client, shop):
    response = client.get("/api/collections/shop/content", {"filter[deleted_at][exists]": "true"}, status=400)
    assert "unknown field 'deleted_at'" in response.json["details"][0]["message"]


def test_page_size_is_sonicjs_s_name_for_limit(client, shop):
    body = client.get("/api/collections/shop/content", {"pageSize": "2"}).json
    assert len(body["data"]) == 2 and body["meta"]["total"] == 4
    body = client.get("/api/collections/shop/content", {"pageSize": "2", "page": "2"}).json
    assert len(body["data"]) == 2 and body["meta"]["offset"] == 2
    response = client.get("/api/collections/shop/content", {"pageSize": "2", "limit": "3"}, status=400)
    assert response.json["details"][0]["parameter"] == "pageSize"
    response = client.get("/api/content", {"pageSize": "0"}, status=400)
    assert response.json["details"][0]["parameter"] == "pageSize"


INDEXED = {"type": "object", "properties": {
    "title": {"type": "string"},
    "cats": {"type": "multiselect", "enum": ["a", "b"], "indexed": True},
    "kind": {"indexed": True},  # no type, but indexed: compared as one value, by its index
    "label": {"type": "string", "indexed": True},
}}


def test_a_list_field_declared_indexed_counts_its_matches(client, as_author):
    """The value counts hold string values only: a list field's total is counted from its matches."""
    from app.db.models import database
    from app.services.field_indexes import sync_field_indexes
    author, _ = as_author
    collection = create_collection("tagged", INDEXED)
    rows = [{"title": "t", "cats": ["a"], "kind": ["x", "y"], "label": "x"},
            {"title": "u", "cats": ["a", "b"], "kind": "x", "label": "y"},
            {"title": "v", "cats": [], "kind": "z", "label": "x"}]
    insert_items(collection, author, len(rows), data=lambda i: rows[i])
    sync_field_indexes(database)
    for params, expected in (({"filter[data.cats]": "a"}, ["t", "u"]), ({"filter[data.kind]": "x"}, ["u"]),
                             ({"filter[kind]": "y"}, []), ({"filter[data.label]": "x"}, ["t", "v"])):
        assert titles(client, "tagged", **params) == expected, params


def test_all_takes_digits_past_64_bits_as_text_on_both_databases(client, as_author):
    # As a double, 2**63 would match the stored number on SQLite and nothing on PostgreSQL.
    author, _ = as_author
    big = create_collection("big")
    insert_items(big, author, 2, data=lambda i: [{"title": "n", "v": [2**63]}, {"title": "t", "v": [str(2**63)]}][i])
    assert titles(client, "big", **{"filter[data.v][all]": str(2**63)}) == ["t"]
    assert titles(client, "big", **{"filter[data.v][all]": str(2**64 + 1)}) == []


def test_sonicjs_s_camel_case_time_names_are_the_columns(client, shop):
    assert len(titles(client, **{"filter[createdAt][gt]": "0"})) == len(ITEMS)
    assert titles(client, **{"filter[publishedAt][lt]": "0"}) == []
    ordered = client.get("/api/collections/shop/content", {"sort": "-updatedAt"}).json["data"]
    assert len(ordered) == len(ITEMS)


@pytest.mark.parametrize("params, parameter", [
    ({"sort": "relevance,title"}, "sort"),  # the search's own key, not a data field
    ({"filter[v\n]": "x"}, "filter[v\n]"),  # a name ends where its characters do
])
def test_names_that_are_no_data_field(client, shop, params, parameter):
    response = client.get("/api/collections/shop/content", params, status=400)
    assert response.json["details"][0]["parameter"] == parameter


def test_a_percent_encoded_filter_name_keeps_its_text_in_the_cache_key(client, as_author):
    # 1.0 and 1.00 are one number by their look, two texts to the schema: two answers.
    author, _ = as_author
    codes = create_collection("codes", {"type": "object", "properties": {"code": {"type": "string"}}})
    insert_items(codes, author, 2, data=lambda i: {"code": ["1.0", "1.00"][i]})
    for value, expected in (("1.0", "item-0"), ("1.00", "item-1")):
        found = client.get(f"/api/collections/codes/content?%66ilter[data.code]={value}").json["data"]
        assert [item["slug"] for item in found] == [expected], value
