"""Filters (``where`` JSON and ``filter[field][op]``), sort and search of GET /api/content:
every operator on a column and on a data field, on SQLite and on PostgreSQL; the columns
the public may not filter on; search over data values (not keys)."""

import json

import pytest

from app.db.models import Content, bind_models
from tests.fixtures.app import client_for, module_env
from tests.fixtures.content import BLOG_SCHEMA, create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for

START = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY = 24 * 3600 * 1000
CATEGORIES = ("news", "tech", "life")


def item_data(i):
    data = {"title": f"Item {i}", "views": i, "featured": i % 2 == 0, "code": f"ABC-{i}"}
    if i != 9:
        data["category"] = CATEGORIES[i % 3]
    return data


def odd_data(i):
    data = {"views": "7"}
    if i == 0:
        data["notes"] = {"lines": ["A hidden Needle here"]}
    return data


def seed():
    author = create_user("author")
    blog = create_collection("blog", BLOG_SCHEMA)
    insert_items(blog, author, 10, step=DAY, data=item_data)
    Content.update(meta_title="SEO").where(Content.slug == "item-4").execute()
    odd = create_collection("odd")
    insert_items(odd, author, 2, start=START - 10 * DAY, slug_prefix="odd", data=odd_data)
    Content.update(title="100% sure").where(Content.slug == "odd-0").execute()
    Content.update(title="a_b").where(Content.slug == "odd-1").execute()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path_factory):
    """A seeded app per database, shared by the module's (read-only) tests."""
    with module_env(request, tmp_path_factory, "content_filters") as env:
        seed()
        yield env, client_for(env)


@pytest.fixture
def client(backend):
    env, client = backend
    bind_models(env.DB.db)  # other modules' apps may have rebound the models meanwhile
    return client


def numbers(response):
    """The item numbers (``Item <n>``) of a blog response, as a sorted list."""
    return sorted(int(item["slug"].split("-")[1]) for item in response.json["data"] if item["slug"].startswith("item-"))


def where(*conditions, kind="and"):
    return {"where": json.dumps({kind: [dict(zip(("field", "operator", "value"), c)) for c in conditions]})}


def get(client, params, status=200):
    return client.get("/api/content", {"limit": 100, **params}, status=status)


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize("params, expected", [
    # equals
    ({"filter[slug][equals]": "item-3"}, [3]),
    ({"filter[slug]": "item-3"}, [3]),
    ({"filter[data.category][equals]": "tech"}, [1, 4, 7]),
    ({"filter[data.views][eq]": "4"}, [4]),
    ({"filter[data.featured][equals]": "true"}, [0, 2, 4, 6, 8]),
    ({"filter[data.code][equals]": '"ABC-3"'}, [3]),
    # not_equals (absent fields are "not X")
    ({"filter[slug][not_equals]": "item-0", "filter[collection_id]": "col-blog"}, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ({"filter[data.category][not_equals]": "news", "collection": "blog"}, [1, 2, 4, 5, 7, 8, 9]),
    # gt / gte / lt / lte, and SonicJS's names
    ({"filter[published_at][gt]": str(START + 5 * DAY)}, [6, 7, 8, 9]),
    ({"filter[published_at][gte]": str(START + 5 * DAY)}, [5, 6, 7, 8, 9]),
    ({"filter[published_at][less_than]": str(START + 2 * DAY), "collection": "blog"}, [0, 1]),
    ({"filter[published_at][less_than_equal]": str(START + 2 * DAY), "collection": "blog"}, [0, 1, 2]),
    ({"filter[version_number][greater_than_equal]": "1", "collection": "blog"}, list(range(10))),
    ({"filter[data.views][gt]": "6"}, [7, 8, 9]),
    ({"filter[data.views][greater_than]": "6.5"}, [7, 8, 9]),
    ({"filter[data.views][lte]": "1"}, [0, 1]),
    ({"filter[data.views][gte]": "3", "filter[data.views][lt]": "5"}, [3, 4]),
    # like (every word), contains
    ({"filter[title][like]": "item 1"}, [1]),
    ({"filter[title][like]": "ITEM"}, list(range(10))),
    ({"filter[data.category][like]": "EC"}, [1, 4, 7]),
    ({"filter[title][contains]": "m 5"}, [5]),
    ({"filter[data.code][contains]": "C-7"}, [7]),
    # in / not_in
    ({"filter[slug][in]": "item-1,item-2"}, [1, 2]),
    ({"filter[slug][not_in]": "item-1,item-2", "collection": "blog"}, [0, 3, 4, 5, 6, 7, 8, 9]),
    ({"filter[data.category][in]": "news,life"}, [0, 2, 3, 5, 6, 8]),
    ({"filter[data.category][not_in]": "news,life", "collection": "blog"}, [1, 4, 7, 9]),
    # exists
    ({"filter[data.category][exists]": "true"}, [0, 1, 2, 3, 4, 5, 6, 7, 8]),
    ({"filter[data.category][exists]": "false", "collection": "blog"}, [9]),
    ({"filter[meta_title][exists]": "true"}, [4]),
    ({"filter[meta_title][exists]": "false", "collection": "blog"}, [0, 1, 2, 3, 5, 6, 7, 8, 9]),
    # date ranges: ISO dates cover whole days
    ({"filter[published_at][gte]": "2023-11-15", "filter[published_at][lte]": "2023-11-16"}, [1, 2]),
    ({"filter[published_at][gt]": "2023-11-22"}, [9]),
    ({"filter[published_at][lt]": "2023-11-16T00:00:00+00:00", "collection": "blog"}, [0, 1]),
    # all (SonicJS): every value is contained, case-insensitively
    ({"filter[title][all]": "item,1"}, [1]),
    ({"filter[data.code][all]": "abc,-7"}, [7]),
    ({"filter[data.code][all]": "ABC,-7,8"}, []),
    # a schema-less data field compared with an ISO date (text in order)
    ({"filter[data.title][gte]": "2000-01-01"}, list(range(10))),
])
def test_query_string_operators(client, params, expected):
    assert numbers(get(client, params)) == expected


@pytest.mark.parametrize("conditions, kind, expected", [
    ((("data.category", "equals", "tech"),), "and", [1, 4, 7]),
    ((("data.views", "greater_than", 7),), "and", [8, 9]),
    ((("data.views", "in", [1, 2, 3]),), "and", [1, 2, 3]),
    ((("data.views", "not_in", "1,2,3"), ("collection_id", "equals", "col-blog")), "and", [0, 4, 5, 6, 7, 8, 9]),
    ((("data.featured", "equals", False),), "and", [1, 3, 5, 7, 9]),
    ((("data.category", "equals", None), ("collection_id", "equals", "col-blog")), "and", [9]),
    ((("data.category", "not_equals", None),), "and", [0, 1, 2, 3, 4, 5, 6, 7, 8]),
    ((("slug", "equals", "item-1"), ("slug", "equals", "item-8")), "or", [1, 8]),
    ((("title", "like", "item 2"),), "and", [2]),
    ((("published_at", "lte", "2023-11-15"),), "and", [0, 1]),
    ((("data.code", "all", ["abc", "3"]),), "and", [3]),
    ((("title", "all", "Item,9"),), "and", [9]),
])
def test_where_json_operators(client, conditions, kind, expected):
    assert numbers(get(client, where(*conditions, kind=kind))) == expected


def test_a_string_value_matches_json_strings_only(client):
    def slugs(*conditions):
        return sorted(item["slug"] for item in get(client, where(*conditions)).json["data"])

    assert slugs(("data.views", "equals", "7")) == ["odd-0", "odd-1"]
    assert slugs(("data.views", "equals", 7)) == ["item-7"]
    assert slugs(("data.views", "in", ["7", "x"])) == ["odd-0", "odd-1"]
    # SQLite reads an object as its JSON text: a string equal to that text is still no match.
    assert slugs(("data.notes", "equals", '{"lines":["A hidden Needle here"]}')) == []
    assert slugs(("data.notes", "in", ['{"lines":["A hidden Needle here"]}', "x"])) == []


def test_where_combines_and_with_or_and_nests(client):
    tree = {
        "and": [{"field": "data.views", "operator": "gte", "value": 2}],
        "or": [
            {"field": "data.category", "operator": "equals", "value": "news"},
            {"and": [{"field": "data.featured", "operator": "equals", "value": True},
                     {"field": "data.views", "operator": "lt", "value": 5}]},
        ],
    }
    assert numbers(get(client, {"where": json.dumps(tree)})) == [2, 3, 4, 6]


def test_where_and_filter_params_are_anded(client):
    params = {**where(("data.views", "gte", 3)), "filter[data.category]": "news"}
    assert numbers(get(client, params)) == [3, 6]


def test_collection_schema_types_query_string_values(client):
    # With the collection known, values take its field types: views is a number.
    response = client.get("/api/collections/blog/content", {"filter[data.views][equals]": "7"})
    assert numbers(response) == [7]
    bad = client.get("/api/collections/blog/content", {"filter[data.views][equals]": "seven"}, status=400)
    assert bad.json["details"] == [{"parameter": "filter[data.views][equals]", "message": "'seven' is not a number"}]
    # Without a schema, "7" reads as a number and the odd collection's string "7" is not it.
    assert client.get("/api/content", {"filter[data.views][equals]": "7", "collection": "odd"}).json["data"] == []
    assert len(client.get("/api/collections/odd/content", {"filter[data.views]": '"7"'}).json["data"]) == 2


# ---------------------------------------------------------------- sort and search


def test_sort_by_columns_and_data_fields(client):
    assert [i["slug"] for i in get(client, {"sort": "-published_at", "collection": "blog"}).json["data"]][:3] == [
        "item-9", "item-8", "item-7"]
    assert numbers(get(client, {"sort": "title"})) == list(range(10))
    ordered = get(client, {"sort": "data.category,-data.views", "collection": "blog"}).json["data"]
    assert [item["slug"] for item in ordered] == [
        "item-9", "item-8", "item-5", "item-2", "item-6", "item-3", "item-0", "item-7", "item-4", "item-1"]
    json_sort = json.dumps([{"field": "data.views", "order": "desc"}, {"field": "title", "order": "asc"}])
    assert [item["slug"] for item in get(client, {"sort": json_sort, "collection": "blog"}).json["data"]][:2] == [
        "item-9", "item-8"]


def test_search_covers_title_and_data_words(client):
    assert numbers(get(client, {"search": "Item 3"})) == [3]
    # Punctuation separates words: abc-7 is the phrase "abc 7", found in data.code.
    assert numbers(get(client, {"search": "abc-7"})) == [7]
    assert [i["title"] for i in get(client, {"search": "a_b"}).json["data"]] == ["a_b"]
    assert get(client, {"search": "nothing-like-this"}).json["meta"]["total"] == 0


def test_search_syntax_and_phrases_prefixes(client):
    # Words are AND-ed, wherever they are (title, data).
    assert numbers(get(client, {"search": "news item"})) == [0, 3, 6]
    assert numbers(get(client, {"search": "news tech"})) == []
    # A quoted phrase needs its words side by side, in order.
    assert [i["title"] for i in get(client, {"search": '"hidden needle"'}).json["data"]] == ["100% sure"]
    assert get(client, {"search": '"needle hidden"'}).json["meta"]["total"] == 0
    # A trailing * is a prefix; without it a word is whole.
    assert numbers(get(client, {"search": "tec*"})) == [1, 4, 7]
    assert numbers(get(client, {"search": "tec"})) == []
    # Case does not matter; text without any word finds nothing (not everything).
    assert numbers(get(client, {"search": "NEWS ITEM"})) == [0, 3, 6]
    assert get(client, {"search": "%"}).json["meta"]["total"] == 0
    assert get(client, {"search": "OR"}).json["meta"]["total"] == 0


def test_search_matches_data_values_at_any_depth_never_keys(client):
    assert numbers(get(client, {"search": "NEWS"})) == [0, 3, 6]
    assert [i["title"] for i in get(client, {"search": "hidden needle"}).json["data"]] == ["100% sure"]
    # Every blog item has the keys title, views, code: none of them is a value.
    for key in ("title", "views", "code", "notes", "lines", '":"'):
        assert get(client, {"search": key}).json["meta"]["total"] == 0, key


# ---------------------------------------------------------------- bad filters


@pytest.mark.parametrize("params, parameter, words", [
    # A bare name that is no identifier is no data field either.
    ({"filter[password-hash][equals]": "x"}, "filter[password-hash][equals]", "unknown field"),
    ({"filter[data.x') OR 1=1--][equals]": "1"}, "filter[data.x') OR 1=1--][equals]", "invalid data field"),
    ({"filter[data.a.b.c.d.e.f]": "1"}, "filter[data.a.b.c.d.e.f]", "invalid data field"),
    ({"filter[title][regex]": ".*"}, "filter[title][regex]", "unknown operator"),
    ({"filter[title": "x"}, "filter[title", "expected filter[field]"),
    ({"filter[published_at][like]": "2023"}, "filter[published_at][like]", "applies to text fields"),
    ({"filter[published_at][gte]": "last week"}, "filter[published_at][gte]", "epoch milliseconds or an ISO date"),
    ({"filter[version_number][gt]": "1.5"}, "filter[version_number][gt]", "expected an integer"),
    # version_number is an INTEGER column: PostgreSQL would fail on a larger value
    ({"filter[version_number][gt]": "2147483648"}, "filter[version_number][gt]", "out of range"),
    ({"filter[version_number][in]": "1,-2147483649"}, "filter[version_number][in]", "out of range"),
    ({"where": json.dumps({"and": [{"field": "version_number", "operator": "gt", "value": 99999999999999999}]})},
     "where.and[0]", "out of range"),
    ({"filter[title][in]": ",".join(["x"] * 101)}, "filter[title][in]", "at most 100"),
    ({"filter[data.views][exists]": "maybe"}, "filter[data.views][exists]", "true or false"),
    ({"where": "{not json"}, "where", "not valid JSON"),
    # Past the decoder's recursion limit msgspec raises RecursionError, not a DecodeError.
    ({"where": "[" * 1000}, "where", "nested too deeply"),
    ({"where": '{"and":' + "[" * 1000}, "where", "nested too deeply"),
    ({"sort": "[" * 1000}, "sort", "nested too deeply"),
    ({"where": json.dumps({"and": [{"field": "title", "op": "equals"}]})}, "where.and[0]", "unknown keys"),
    # A condition without an operator is refused, never read as equals (filter[field]=v is).
    ({"where": json.dumps({"and": [{"field": "title", "value": "Item 1"}]})}, "where.and[0]", "needs an operator"),
    ({"where": json.dumps({"or": [{"field": "status", "operator": "equals", "value": "draft"},
                                  {"and": [{"field": "title", "value": "Item 1"}]}]})},
     "where.or[1].and[0]", "needs an operator"),
    ({"where": json.dumps({"and": [{"field": "status", "op": "not_equals", "value": "x"}]})}, "where.and[0]",
     "unknown keys ['op'] in a condition; it has only field, operator and value"),
    ({"where": json.dumps({"xor": []})}, "where", "unknown keys"),
    ({"where": json.dumps({"and": [{"field": "title", "operator": "near", "value": 1}]})}, "where.and[0]", "unknown operator"),
    ({"where": json.dumps({"and": [{"field": "title", "operator": "gt", "value": None}]})}, "where.and[0]", "needs a value"),
    ({"sort": '[{"field": "title", "order": "desc; DROP TABLE content"}]'}, "sort", "order must be asc or desc"),
    ({"sort": "-secret key"}, "sort", "unknown field"),
    ({"sort": "-reviewed_at"}, "sort", "unknown field"),  # a column outside the list's: never data.reviewed_at
    ({"sort": "data"}, "sort", "unknown field"),
    # empty list items
    ({"filter[data.views][in]": ""}, "filter[data.views][in]", "empty value"),
    ({"filter[title][not_in]": ","}, "filter[title][not_in]", "empty value"),
    ({"filter[slug][in]": "item-1,,item-2"}, "filter[slug][in]", "empty value"),
    ({"filter[data.code][all]": "abc,"}, "filter[data.code][all]", "empty value"),
    ({"filter[published_at][all]": "1"}, "filter[published_at][all]", "applies to text fields"),
    # ranges on schema-less data fields need numbers or dates
    ({"filter[data.views][gt]": "abc"}, "filter[data.views][gt]", "needs a number or an ISO date"),
    ({"filter[data.views][lte]": "true"}, "filter[data.views][lte]", "needs a number or an ISO date"),
    ({"where": json.dumps({"and": [{"field": "data.views", "operator": "gte", "value": "many"}]})}, "where.and[0]",
     'needs a number or an ISO date, not "many"'),
    # The value as the request spells it: JSON's true, not Python's True.
    ({"where": json.dumps({"and": [{"field": "data.views", "operator": "gt", "value": True}]})}, "where.and[0]",
     "needs a number or an ISO date, not true"),
])
def test_bad_filters_are_400_naming_parameter_and_reason(client, params, parameter, words):
    response = get(client, params, status=400)
    assert response.json["error"] == "Invalid query parameters"
    (detail,) = response.json["details"]
    assert detail["parameter"] == parameter
    assert words in detail["message"]


def test_the_content_table_survives_hostile_input(client):
    get(client, {"filter[title]": "x'; DROP TABLE content; --", "search": "'); DELETE FROM content; --"})
    assert get(client, {}).json["meta"]["total"] == 12


# ---------------------------------------------------------------- columns the public may not use

PRIVATE_COLUMNS = ("scheduled_unpublish_at", "scheduled_publish_at", "workflow_state_id", "review_status",
                   "deleted_at", "content_type")


@pytest.mark.parametrize("params, parameter", [
    *[({f"filter[{name}][exists]": "true"}, f"filter[{name}][exists]") for name in PRIVATE_COLUMNS],
    ({"filter[workflow_state]": "draft"}, "filter[workflow_state]"),  # the alias too
    ({"filter[scheduled_unpublish_at][lt]": "2030-01-01"}, "filter[scheduled_unpublish_at][lt]"),
    ({"where": json.dumps({"and": [{"field": "review_status", "operator": "equals", "value": "pending"}]})},
     "where.and[0]"),
    *[({f"filter[{name}]": "x"}, f"filter[{name}]") for name in
      ("reviewer_id", "review_notes", "embargo_until", "expires_at")],
])
def test_the_public_cannot_filter_on_unpublished_work(client, params, parameter):
    response = get(client, params, status=400)
    (detail,) = response.json["details"]
    assert detail["parameter"] == parameter
    assert detail["message"].startswith("unknown field")
    # The message lists what may be used, never the private columns.
    assert not any(name in detail["message"].split(";")[1] for name in PRIVATE_COLUMNS)
    # The same for a viewer, and through the per-collection route.
    viewer = bearer(token_for(create_user("viewer")))
    client.get("/api/content", params, headers=viewer, status=400)
    client.get("/api/collections/blog/content", params, status=400)


def test_editors_may_filter_on_workflow_columns(client):
    editor = bearer(token_for(create_user("editor")))
    for params in ({"filter[workflow_state_id]": "published"}, {"filter[deleted_at][exists]": "false"},
                   {"filter[scheduled_unpublish_at][exists]": "false", "status": "all"}):
        response = client.get("/api/content", {"limit": 100, "collection": "blog", **params}, headers=editor)
        assert numbers(response) == list(range(10)), params
