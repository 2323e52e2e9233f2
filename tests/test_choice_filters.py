"""Filters on choice fields whose enum lists numbers or booleans (a schema written to the
database directly): a query string's ``2`` or ``true`` names the option validation stored,
not the text "2"."""

import pytest

from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends

SCHEMA = {"type": "object", "properties": {
    "title": {"type": "string"},
    "size": {"type": "select", "enum": [1, 2, 2.5]},
    "answer": {"type": "radio", "enum": [True, False]},
    "code": {"type": "select", "enum": ["2", 2]},
}}
ITEMS = [
    {"title": "a", "size": 1, "answer": True, "code": "2"},
    {"title": "b", "size": 2, "answer": False, "code": 2},
    {"title": "c", "size": 2.5, "answer": True, "code": 2},
]


@pytest.fixture
def sizes(as_author):
    author, _ = as_author
    collection = create_collection("sizes", SCHEMA)
    insert_items(collection, author, len(ITEMS), data=lambda i: ITEMS[i])
    return collection


def titles(client, **params):
    response = client.get("/api/collections/sizes/content", params)
    return sorted(item["data"]["title"] for item in response.json["data"])


@pytest.mark.parametrize("params, expected", [
    ({"filter[data.size]": "2"}, ["b"]),
    ({"filter[data.size]": "2.5"}, ["c"]),
    ({"filter[data.size][in]": "1,2.5"}, ["a", "c"]),
    ({"filter[data.answer]": "true"}, ["a", "c"]),
    ({"filter[data.answer]": "false"}, ["b"]),
    ({"filter[data.code]": "2"}, ["a"]),  # the enum lists the text "2": the text as sent
    ({"filter[data.code]": "3"}, []),
    ({"filter[data.size][gte]": "1.5"}, ["b", "c"]),  # a bound that is no option compares as a number
    ({"filter[data.size][lt]": "3"}, ["a", "b", "c"]),
    ({"filter[data.size][gt]": "1"}, ["b", "c"]),
    ({"where": '{"and": [{"field": "data.size", "operator": "equals", "value": 2}]}'}, ["b"]),
])
def test_a_choice_filter_names_the_typed_option(client, sizes, params, expected):
    assert titles(client, **params) == expected
