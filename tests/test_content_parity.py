"""Content lists give the same answers on SQLite and PostgreSQL: null and missing values,
mixed types, text order and case folding, cursors over awkward sort values, NUL characters,
and rows whose data is not JSON."""

import base64
import json
import logging

import msgspec
import pytest

from app.db.models import Collection, Content, bind_models
from app.services.collection_sync import sync_collections
from tests.fixtures.app import PROJECT_ROOT
from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends


def where(*conditions):
    """A ``where`` parameter ANDing ``(field, operator, value)`` conditions."""
    return {"where": json.dumps({"and": [dict(zip(("field", "operator", "value"), c)) for c in conditions]})}


def slugs(response):
    return sorted(item["slug"] for item in response.json["data"])


def walk(client, url, params, headers=None, most=20):
    """Follow nextCursor from the first page; the slugs in order (fails instead of looping)."""
    seen, cursor = [], None
    for _ in range(most):
        page = client.get(url, {**params, **({"cursor": cursor} if cursor else {})}, headers=headers).json
        seen += [item["slug"] for item in page["data"]]
        cursor = page["meta"].get("nextCursor")
        if not cursor:
            return seen
    raise AssertionError(f"still paging after {most} pages: {seen}")


def by_offset(client, url, params, headers=None):
    """Every slug of a list in order, read with one large page."""
    return [item["slug"] for item in client.get(url, {**params, "limit": 1000}, headers=headers).json["data"]]


@pytest.fixture
def shipped(env):
    """The collections shipped in app/collections (blog-posts, pages), synced as ``collections sync`` does."""
    bind_models(env.DB.db)
    sync_collections(PROJECT_ROOT / "app" / "collections")
    return Collection.get(Collection.name == "blog-posts")


@pytest.fixture
def free(env):
    """A collection without a schema: its items' data may hold anything."""
    bind_models(env.DB.db)
    return create_collection("free")


def insert_each(collection, author, values):
    """One published item per ``(slug, data)``; returns their ids."""
    ids = []
    for slug, data in values:
        ids += insert_items(collection, author, 1, slug_prefix=slug, data=lambda i, data=data: data)
    return ids


# ---------------------------------------------------------------- null and missing


def test_cursor_paging_over_a_field_holding_null_visits_every_item_once(client, shipped, as_author):
    author, _ = as_author
    excerpts = [None, "b", None, "a", "c", None]
    for n, excerpt in enumerate(excerpts):
        data = {"title": f"Post {n}", "slug": f"post-{n}", "content": "<p>x</p>", "excerpt": excerpt}
        if n == 5:
            del data["excerpt"]  # missing and null are the same: no value
        insert_items(shipped, author, 1, slug_prefix=f"post{n}", data=lambda i, data=data: data)
    url = "/api/collections/blog-posts/content"
    for sort in ("data.excerpt", "-data.excerpt"):
        seen = walk(client, url, {"sort": sort, "limit": 2})
        assert seen == by_offset(client, url, {"sort": sort}), sort
        assert len(set(seen)) == 6, sort
    ascending = walk(client, url, {"sort": "data.excerpt", "limit": 2})
    # No value sorts first going up, then the values in order.
    assert ascending[3:] == ["post3-0", "post1-0", "post4-0"]


@pytest.fixture
def nullish(free, as_author):
    author, _ = as_author
    insert_each(free, author, [
        ("missing", {"other": 1}), ("null", {"v": None}), ("x", {"v": "x"}), ("y", {"v": "y"}),
    ])


@pytest.mark.parametrize("condition, expected", [
    (("data.v", "equals", None), ["missing-0", "null-0"]),
    (("data.v", "not_equals", None), ["x-0", "y-0"]),
    (("data.v", "not_equals", "x"), ["missing-0", "null-0", "y-0"]),
    (("data.v", "in", [None, "x"]), ["missing-0", "null-0", "x-0"]),
    (("data.v", "not_in", [None]), ["x-0", "y-0"]),
    (("data.v", "not_in", ["x"]), ["missing-0", "null-0", "y-0"]),
    (("data.v", "not_in", ["x", None]), ["y-0"]),
    (("data.v", "exists", False), ["missing-0", "null-0"]),
    (("data.v", "exists", True), ["x-0", "y-0"]),
])
def test_missing_and_null_are_the_same_no_value(client, nullish, condition, expected):
    assert slugs(client.get("/api/content", where(condition))) == expected


def test_filter_params_read_null_as_no_value(client, nullish):
    assert slugs(client.get("/api/content?filter[data.v]=null")) == ["missing-0", "null-0"]
    assert slugs(client.get("/api/content?filter[data.v][not_equals]=null")) == ["x-0", "y-0"]


# ---------------------------------------------------------------- mixed types


MIXED = [
    ("one", {"v": 1}), ("two", {"v": 2}), ("half", {"v": 1.5}), ("text-one", {"v": "1"}), ("text-ten", {"v": "10"}),
    ("yes", {"v": True}), ("no", {"v": False}), ("list", {"v": [1]}), ("object", {"v": {"a": 1}}),
    ("null", {"v": None}), ("missing", {}), ("true-text", {"v": "true story"}),
]


@pytest.fixture
def mixed(free, as_author):
    author, _ = as_author
    insert_each(free, author, MIXED)


@pytest.mark.parametrize("condition, expected", [
    # Comparisons apply to values of the filter value's JSON type only.
    (("data.v", "gt", 1), ["half-0", "two-0"]),
    (("data.v", "gte", 1), ["half-0", "one-0", "two-0"]),
    (("data.v", "lt", 2), ["half-0", "one-0"]),
    (("data.v", "gt", "2020-01-01"), ["true-text-0"]),
    # A list matches by its items, compared the same way ([1] holds the number 1).
    (("data.v", "equals", 1), ["list-0", "one-0"]),
    (("data.v", "equals", "1"), ["text-one-0"]),
    (("data.v", "equals", True), ["yes-0"]),
    (("data.v", "equals", False), ["no-0"]),
    (("data.v", "in", [1, "10"]), ["list-0", "one-0", "text-ten-0"]),
    (("data.v", "in", [True, 2]), ["two-0", "yes-0"]),
    (("data.v", "not_equals", 1), sorted(slug + "-0" for slug, _ in MIXED if slug not in ("one", "list"))),
    (("data.v", "equals", "[1]"), []),  # a list's JSON text is no string it holds
    # like, contains and all match string values only (and a list's string items).
    (("data.v", "like", "tru"), ["true-text-0"]),
    (("data.v", "contains", "1"), ["text-one-0", "text-ten-0"]),
    (("data.v", "all", ["1", "0"]), ["text-ten-0"]),
])
def test_mixed_types_compare_by_the_filter_values_type(client, mixed, condition, expected):
    assert slugs(client.get("/api/content", where(condition))) == expected


def test_filter_params_on_mixed_types(client, mixed):
    assert slugs(client.get("/api/content?filter[data.v][gt]=1")) == ["half-0", "two-0"]
    assert slugs(client.get("/api/content?filter[data.v]=true")) == ["yes-0"]
    assert slugs(client.get("/api/content?filter[data.v][like]=TRU")) == ["true-text-0"]


def test_mixed_types_sort_by_type_then_value(client, mixed):
    expected_types = ["no-0", "yes-0", "one-0", "half-0", "two-0", "text-one-0", "text-ten-0", "true-text-0",
                      "list-0", "object-0"]
    ascending = by_offset(client, "/api/content", {"sort": "data.v,slug"})
    assert ascending == ["missing-0", "null-0"] + expected_types
    descending = by_offset(client, "/api/content", {"sort": "-data.v,slug"})
    assert descending == list(reversed(expected_types)) + ["missing-0", "null-0"]
    for sort in ("data.v", "-data.v"):
        assert walk(client, "/api/content", {"sort": sort, "limit": 3}) == by_offset(client, "/api/content",
                                                                                      {"sort": sort})


def test_case_insensitive_matching_folds_every_letter(client, free, as_author):
    author, _ = as_author
    insert_each(free, author, [("cafe", {"name": "Grand CAFÉ Ünïcode"}), ("plain", {"name": "cafe"})])
    Content.update(title="ÉCOLE ÄÖÜ").where(Content.slug == "plain-0").execute()
    assert slugs(client.get("/api/content", {"search": "CAFÉ ünï*"})) == ["cafe-0"]
    assert slugs(client.get("/api/content", {"search": "ünï* café"})) == ["cafe-0"]  # words are AND-ed
    assert slugs(client.get("/api/content", {"search": '"ünïcode café"'})) == []  # a phrase keeps its order
    assert slugs(client.get("/api/content", {"search": "ünï"})) == []  # a word is whole without *
    assert slugs(client.get("/api/content", {"search": "café"})) == ["cafe-0"]
    assert slugs(client.get("/api/content", {"search": "école"})) == ["plain-0"]
    assert slugs(client.get("/api/content", where(("data.name", "like", "ünïcode café")))) == ["cafe-0"]
    assert slugs(client.get("/api/content", where(("title", "like", "äöü")))) == ["plain-0"]
    assert slugs(client.get("/api/content", where(("data.name", "contains", "É")))) == ["cafe-0"]


def test_text_sorts_by_code_point_on_both(client, free, as_author):
    author, _ = as_author
    insert_each(free, author, [("a", {"w": "apple"}), ("b", {"w": "Banana"}), ("c", {"w": "cherry"}),
                                     ("d", {"w": "Äpfel"}), ("e", {"w": "a-b"}), ("f", {"w": "ab"})])
    Content.update(title=Content.slug).execute()
    expected = ["b-0", "e-0", "f-0", "a-0", "c-0", "d-0"]  # B < a-b < ab < apple < cherry < Ä
    assert by_offset(client, "/api/content", {"sort": "data.w"}) == expected
    titles = by_offset(client, "/api/content", {"sort": "title"})
    assert titles == sorted(titles)


# ---------------------------------------------------------------- cursors over awkward values


def test_integers_beyond_64_bits_page_on(client, free, as_author):
    author, _ = as_author
    insert_each(free, author, [(f"big{n}", {"n": 2**63 + n}) for n in range(5)])
    insert_each(free, author, [("small", {"n": 1}), ("huge", {"n": 10**30})])
    for sort in ("data.n", "-data.n"):
        seen = walk(client, "/api/content", {"sort": sort, "limit": 2})
        assert len(seen) == 7 and len(set(seen)) == 7, sort
    ascending = walk(client, "/api/content", {"sort": "data.n", "limit": 2})
    assert ascending[0] == "small-0" and ascending[-1] == "huge-0"


def test_query_string_filters_take_integers_of_any_length(client, free, as_author):
    """19 digits and more read as a number, as the same value in ``where`` does."""
    author, _ = as_author
    insert_each(free, author, [("quintillion", {"n": 10**18}), ("max", {"n": 2**63 - 1}), ("small", {"n": 1})])
    declared = create_collection("declared", {"type": "object", "properties": {"n": {"type": "number"}}})
    insert_each(declared, author, [("declared", {"n": 10**18})])
    assert slugs(client.get("/api/content", where(("data.n", "equals", 10**18)))) == ["declared-0", "quintillion-0"]
    assert slugs(client.get("/api/content?filter[data.n]=1000000000000000000")) == ["declared-0", "quintillion-0"]
    assert slugs(client.get("/api/content?filter[data.n]=9223372036854775807")) == ["max-0"]
    assert slugs(client.get("/api/content?filter[data.n][gte]=1000000000000000000")) == [
        "declared-0", "max-0", "quintillion-0"]
    assert slugs(client.get("/api/collections/declared/content?filter[data.n]=1000000000000000000")) == ["declared-0"]


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "1" + "0" * 30, "9" * 5000])
def test_integers_beyond_64_bits_are_a_400_where_a_number_is_meant(client, free, value):
    # A range, a field the schema declares a number, or a where value (a JSON number).
    create_collection("declared", {"type": "object", "properties": {"n": {"type": "number"}}})
    for url, parameter in (("/api/content", "filter[data.n][gte]"), ("/api/collections/free/content", "filter[data.n][lt]"),
                           ("/api/collections/declared/content", "filter[data.n]")):
        response = client.get(url, {parameter: value, "limit": 1}, status=400)
        assert response.json["details"] == [{"parameter": parameter, "message": "the number is out of range"}], url
    if len(value) < 100:
        response = client.get("/api/content", {"where": f'{{"and":[{{"field":"data.n","operator":"equals","value":{value}}}]}}'},
                              status=400)
        assert response.json["details"] == [{"parameter": "where.and[0]", "message": "the number is out of range"}]


def test_unquoted_digits_past_64_bits_are_text_on_a_field_typed_by_their_look(client, free, as_author):
    # No number a field holds is that long: the digits are the text they read as (a card
    # number stored as text), as the quoted value is.
    author, _ = as_author
    insert_each(free, author, [("card", {"ref": "12345678901234567890"}), ("small", {"ref": 5})])
    for value in ("12345678901234567890", '"12345678901234567890"'):
        for url in ("/api/content", "/api/collections/free/content"):
            assert slugs(client.get(url, {"filter[data.ref]": value})) == ["card-0"], (url, value)


def test_long_sort_values_keep_cursors_short(client, free, as_author):
    author, _ = as_author
    long_text = "x" * 3600
    insert_each(free, author, [(f"long{n}", {"body": long_text + str(n)}) for n in range(5)])
    Content.update(title="T" * 500).execute()
    for sort in ("data.body", "-data.body", "title", "title,data.body,-slug"):
        first = client.get("/api/content", {"sort": sort, "limit": 2}).json
        cursor = first["meta"]["nextCursor"]
        assert len(cursor) < 1024, sort
        seen = walk(client, "/api/content", {"sort": sort, "limit": 2})
        assert len(set(seen)) == 5, sort
        assert seen == by_offset(client, "/api/content", {"sort": sort}), sort


def forged_cursor(sort_labels, keys):
    payload = msgspec.json.encode({"v": 1, "s": sort_labels, "k": keys})
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


# ---------------------------------------------------------------- NUL characters


@pytest.mark.parametrize("condition", [
    ("data.v", "equals", "\u0000"),
    ("data.v", "equals", "a\u0000b"),
    ("data.v", "in", ["a", "\u0000"]),
    ("data.v", "not_in", ["b\u0000"]),
    ("data.v", "like", "x\u0000"),
    ("data.v", "all", ["x", "\u0000"]),
    ("title", "equals", "\u0000"),
    ("slug", "in", ["\u0000"]),
])
def test_nul_in_a_where_value_is_a_400(client, mixed, condition):
    response = client.get("/api/content", where(condition), status=400)
    assert response.json["error"] == "Invalid query parameters"
    assert "NUL" in response.json["details"][0]["message"]


@pytest.mark.parametrize("params, forged", [
    ({"sort": "title"}, "a\u0000"),
    ({"sort": "data.v", "filter[data.v][contains]": "1"}, "1\u0000"),
    ({"sort": "data.v", "filter[data.v][contains]": "1"}, ["\u0000"]),
    ({"sort": "data.v", "filter[data.v][contains]": "1"}, {"a": "\u0000"}),
])
def test_nul_in_a_cursor_key_is_a_400(client, mixed, params, forged):
    cursor = client.get("/api/content", {**params, "limit": 1}).json["meta"]["nextCursor"]
    payload = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    first_text = next(i for i, value in enumerate(payload["k"]) if isinstance(value, str))
    payload["k"][first_text] = forged
    response = client.get("/api/content", {**params, "cursor": forged_cursor(payload["s"], payload["k"])},
                          status=400)
    assert response.json["details"][0]["parameter"] == "cursor"


# ---------------------------------------------------------------- data that is not JSON


def test_a_row_whose_data_is_not_json_breaks_no_query(env, client, free, as_author, as_editor, caplog):
    author, _ = as_author
    _, headers = as_editor
    insert_each(free, author, [("good", {"category": "news", "n": 1}), ("other", {"category": "tech", "n": 2})])
    (bad,) = insert_each(free, author, [("bad", {"category": "news"})])
    env.DB.db.execute_sql("UPDATE content SET data = 'not json {' WHERE id = ?".replace("?", env.DB.db.param), (bad,))
    caplog.set_level(logging.WARNING, logger="sonicpy.content")
    assert slugs(client.get("/api/content?filter[data.category]=news")) == ["good-0"]
    assert by_offset(client, "/api/content", {"sort": "data.n"}) == ["bad-0", "good-0", "other-0"]
    assert slugs(client.get("/api/content", {"search": "tech"})) == ["other-0"]
    assert slugs(client.get("/api/content", where(("data.category", "not_equals", "tech")))) == ["bad-0", "good-0"]
    assert slugs(client.get("/api/content", {"status": "all", "filter[data.n][gte]": "1"}, headers=headers)) == [
        "good-0", "other-0"]
    assert any(bad in record.getMessage() for record in caplog.records)
    # The item itself still reads (its data as stored).
    assert client.get(f"/api/content/{bad}").json["data"]["data"] == "not json {"
