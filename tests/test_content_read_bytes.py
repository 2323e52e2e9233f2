"""Public content bodies are kept as JSON bytes with ``meta`` last: a hit answers those
bytes with only ``meta.timestamp``, ``meta.cache`` and ``meta.timing`` spliced in, and
says exactly what a miss said."""

from types import SimpleNamespace

import msgspec
import pytest

from app.api.content_read import meta_last, with_request_meta
from tests.fixtures.content import insert_items
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends


def without_request_meta(body):
    meta = dict(body["meta"])
    timestamp, cache, timing = meta.pop("timestamp"), meta.pop("cache"), meta.pop("timing")
    assert timestamp.endswith("Z") and set(cache) == ({"hit", "source", "ttl"} if cache["hit"] else {"hit", "source"})
    assert set(timing) == {"total", "execution", "unit"}
    return {**body, "meta": meta}, cache


@pytest.mark.parametrize("path", [
    "/api/content?limit=5", "/api/collections/blog/content?limit=5", "/api/collections/blog/content/item-2",
])
def test_a_hit_answers_what_the_miss_answered(client, blog_collection, as_author, path):
    author, _ = as_author
    insert_items(blog_collection, author, 8)
    miss = client.get(path)
    hit = client.get(path)
    assert (miss.headers["X-Cache-Status"], hit.headers["X-Cache-Status"]) == ("MISS", "HIT")
    assert hit.content_type == "application/json"
    miss_body, miss_cache = without_request_meta(miss.json)
    hit_body, hit_cache = without_request_meta(hit.json)
    assert hit_body == miss_body and miss_body["data"]
    assert miss_cache == {"hit": False, "source": "database"}
    assert hit_cache == {"hit": True, "source": hit.headers["X-Cache-Source"], "ttl": int(hit.headers["X-Cache-TTL"])}
    assert "X-Cache-TTL" not in miss.headers
    assert list(hit.json)[-1] == "meta"


def test_an_item_hit_keeps_its_etag(client, blog_collection, as_author):
    author, _ = as_author
    [item] = insert_items(blog_collection, author, 1, version_number=7)
    miss, hit = client.get(f"/api/content/{item}"), client.get(f"/api/content/{item}")
    assert miss.headers["ETag"] == hit.headers["ETag"] and miss.headers["ETag"].startswith('W/"7-')
    assert hit.headers["X-Cache-Status"] == "HIT" and set(hit.json) == {"data", "meta"}


def test_private_bodies_carry_the_same_meta(client, blog_collection, as_editor):
    editor, headers = as_editor
    insert_items(blog_collection, create_user("author"), 2, status="draft")
    response = client.get("/api/content?status=draft", headers=headers)
    body, cache = without_request_meta(response.json)
    assert cache == {"hit": False, "source": "database"} and body["meta"]["total"] == 2
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("body", [
    {"data": [1, 2], "meta": {"count": 2, "note": "}}"}},
    {"meta": {"count": 0}, "data": []},
    {"data": {"id": "x"}},
    {"data": {"id": "x"}, "meta": {}},
])
def test_request_meta_is_spliced_into_any_body(body):
    raw = msgspec.json.encode(meta_last(body))
    context = SimpleNamespace(query_seconds=[0.0125])  # not timed: total 0
    spliced = msgspec.json.decode(with_request_meta(raw, "kv", context))
    assert list(spliced) == [*[name for name in body if name != "meta"], "meta"]
    meta = dict(spliced["meta"])
    assert meta.pop("cache") == {"hit": True, "source": "kv"} and meta.pop("timestamp")
    assert meta.pop("timing") == {"total": 0, "execution": 12.5, "unit": "ms"}
    assert meta == (body.get("meta") or {})
    assert msgspec.json.decode(with_request_meta(raw, "database", context))["meta"]["cache"]["hit"] is False


@pytest.fixture
def parses(monkeypatch):
    """How many times the list parameters were parsed (``parse_list_params`` calls)."""
    import app.api.content_read as content_read

    calls = []
    original = content_read.parse_list_params

    def counted(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(content_read, "parse_list_params", counted)
    monkeypatch.setattr(content_read, "_parsed", {})
    return calls


def test_a_repeated_plain_query_is_parsed_once(client, blog_collection, as_author, parses):
    author, _ = as_author
    insert_items(blog_collection, author, 3)
    first = client.get("/api/content?limit=2&offset=1")
    second = client.get("/api/content?limit=2&offset=1")
    assert len(parses) == 1 and second.headers["X-Cache-Status"] == "HIT"
    assert without_request_meta(first.json)[0] == without_request_meta(second.json)[0]
    client.get("/api/collections/blog/content?limit=2")
    client.get("/api/collections/blog/content?limit=2")
    assert len(parses) == 3  # the collection's first parse, then its loader's (with the schema) on the miss


@pytest.mark.parametrize("query", ["limit=2&sort=title", "filter[title][equals]=x", "li%6Dit=2"])
def test_queries_that_may_read_schemas_or_counts_are_parsed_every_time(client, blog_collection, parses, query):
    client.get(f"/api/content?{query}")
    client.get(f"/api/content?{query}")
    assert len(parses) == 2


def test_a_refused_query_is_refused_every_time(client, parses):
    for _ in range(2):
        assert client.get("/api/content?limit=0", status=400).json["error"] == "Invalid query parameters"
        assert client.get("/api/content?status=draft", status=401).json["error"]
    assert len(parses) == 4
