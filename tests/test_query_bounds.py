"""Content list parameters that once answered 500 answer 400 (or work) on SQLite and PostgreSQL.

A ``like`` of many words and an ``all`` of many values are each one LIKE per term: they
are bounded (400 beyond, naming the limit). Many conditions are joined as a balanced tree,
so the SQL nests by the logarithm of their number and no database parser overflows. A
forged cursor whose key holds an object is compared as JSON text, never bound raw. The
size of a query is bounded too: ``where`` by its length, and every route's query string
by its length (400 naming the limit, before gunicorn's request line limit would refuse it).
"""

import base64
import json

import msgspec
import pytest

from app.api.request_guard import MAX_QUERY_STRING_LENGTH
from app.services.content.filters import MAX_CONDITIONS, MAX_WHERE_LENGTH
from app.services.content.values import MAX_MATCH_TERMS
from tests.fixtures.app import client_for, module_env
from tests.fixtures.content import BLOG_SCHEMA, create_collection, insert_items
from tests.fixtures.users import create_user


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(request, tmp_path_factory):
    with module_env(request, tmp_path_factory, "query_bounds") as env:
        insert_items(create_collection("blog", BLOG_SCHEMA), create_user("author"), 3)
        yield client_for(env)


def words(n):
    return " ".join(f"w{i}" for i in range(n))


def test_like_with_too_many_words_is_400(client):
    response = client.get("/api/content", {"filter[title][like]": words(120)}, status=400)
    assert response.json["details"][0] == {
        "parameter": "filter[title][like]", "message": f"like takes at most {MAX_MATCH_TERMS} words, not 120",
    }


def test_all_with_too_many_values_is_400(client):
    values = [f"v{i}" for i in range(100)]
    client.get("/api/content", {"filter[title][all]": ",".join(values)}, status=400)
    where = {"and": [{"field": "data.title", "operator": "all", "value": values}]}
    response = client.get("/api/content", {"where": json.dumps(where)}, status=400)
    assert "at most" in response.json["details"][0]["message"]


def largest_where(words):
    """A ``where`` ORing MAX_CONDITIONS ``like`` conditions of ``words`` times ``i``."""
    condition = {"field": "title", "operator": "like", "value": " ".join(["i"] * words)}
    return json.dumps({"or": [condition] * MAX_CONDITIONS}, separators=(",", ":"))


def test_the_most_a_filter_may_hold_still_answers(client):
    # As many one-letter words per condition as the length cap lets through: hundreds of
    # LIKEs, yet shallow SQL.
    words = max(n for n in range(1, MAX_MATCH_TERMS + 1) if len(largest_where(n)) <= MAX_WHERE_LENGTH)
    assert words * MAX_CONDITIONS >= 500
    response = client.get("/api/content", {"where": largest_where(words)})
    assert len(response.json["data"]) == 3
    assert client.get("/api/content", {"filter[title][like]": "item " * MAX_MATCH_TERMS}).json["meta"]["total"] == 3


def forged(sort, key):
    payload = msgspec.json.encode({"v": 1, "s": sort, "k": key})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize("value", [{"a": {"b": 1}}, [1, [2]], {"$ne": None}])
def test_a_forged_cursor_with_an_object_key_is_not_a_500(client, value):
    cursor = forged(["data.title"], [value, "0" * 32])
    response = client.get("/api/content", {"sort": "data.title", "cursor": cursor}, expect_errors=True)
    assert response.status_int in (200, 400), response.text


def test_a_forged_cursor_with_an_object_for_a_column_is_400(client):
    cursor = forged(["-published_at"], [{"a": 1}, "0" * 32])
    client.get("/api/content", {"cursor": cursor}, status=400)


ODD_PARAMETERS = [
    {"where": json.dumps({"and": [{"field": "data.a.b.c.d.e.f", "operator": "equals", "value": {"x": [1, {"y": 2}]}}]})},
    {"where": json.dumps({"and": [{"field": "data.title", "operator": "in", "value": [[1], {"a": 1}]}]})},
    {"where": json.dumps({"and": [{"field": "data.views", "operator": "gt", "value": 1e308}]})},
    {"where": json.dumps({"and": [{"field": "data.views", "operator": "equals", "value": 2**70}]})},
    {"where": json.dumps({"or": [{"and": [{"or": [{"and": [{"or": []}]}]}]}]})},
    {"where": json.dumps([1, 2])}, {"where": "null"}, {"where": json.dumps({"and": None})},
    {"sort": "data." + "x." * 200 + "y"}, {"sort": json.dumps([{"field": "title", "order": "desc; drop"}])},
    {"filter[data.title][like]": "%_%\\"}, {"filter[data.views][gt]": "NaN"}, {"filter[data.views][gt]": "1e999"},
    {"filter[data.]": "x"}, {"filter[data..x]": "x"}, {"filter[data.title][in]": ",".join(["a"] * 100)},
    {"fields": "id," * 300}, {"search": "%" * 200}, {"limit": "0"}, {"limit": "99999999999999999999"},
    {"filter[data.starts][gt]": "2026-13-45T99:99"}, {"filter[published_at][gt]": "99999999999999999999"},
    {"filter[data.title][exists]": "maybe"}, {"collection_id": "x" * 5000},
]


@pytest.mark.parametrize("params", ODD_PARAMETERS, ids=range(len(ODD_PARAMETERS)))
def test_odd_parameters_are_answered_never_a_5xx(client, params):
    response = client.get("/api/content", params, expect_errors=True)
    assert response.status_int < 500, response.text


def test_a_where_over_the_length_cap_is_400_naming_it(client):
    # One long value: over the where cap, yet under the query string's once percent-encoded.
    text = json.dumps({"and": [{"field": "title", "operator": "equals", "value": "a" * MAX_WHERE_LENGTH}]})
    response = client.get("/api/content", {"where": text}, status=400)
    assert response.json["details"] == [
        {"parameter": "where", "message": f"at most {MAX_WHERE_LENGTH} characters, not {len(text)}"},
    ]


@pytest.mark.parametrize("url", ["/api/content", "/api/collections/blog/content", "/api/media", "/health"])
def test_a_query_string_over_the_cap_is_400_naming_it(client, url):
    query = "search=" + "a" * (MAX_QUERY_STRING_LENGTH - len("search=") + 1)
    response = client.get(f"{url}?{query}", status=400)
    assert response.json["error"] == "Query string too long"
    assert str(MAX_QUERY_STRING_LENGTH) in response.json["details"]


def test_a_query_string_at_the_cap_passes_the_guard(client):
    query = "collection_id=" + "x" * (MAX_QUERY_STRING_LENGTH - len("collection_id="))
    assert client.get(f"/api/content?{query}").json["data"] == []
