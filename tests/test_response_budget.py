"""A content list response is bounded in bytes: a page whose items' JSON passes the budget
is cut after the last item that fits, marked ``meta.truncated``, and its ``nextCursor``
continues right after the last item returned, on SQLite and PostgreSQL."""

import msgspec
import pytest

from app.db.models import bind_models
from app.services.content import query
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

ITEMS = 12
BODY_BYTES = 100_000
BUDGET = 350_000  # three items of ~100 KB fit, the fourth does not


@pytest.fixture
def big_items(env, monkeypatch):
    """``ITEMS`` published items of ~100 KB each, under a budget of three of them."""
    bind_models(env.DB.db)
    monkeypatch.setattr(query, "RESPONSE_BUDGET_BYTES", BUDGET)
    collection = create_collection("big")
    insert_items(collection, create_user("author"), ITEMS, data=lambda i: {"body": f"{i:03d}" + "x" * BODY_BYTES})


def expected_order(client):
    """Every slug in list order, read in one page of small items (no truncation)."""
    return [item["slug"] for item in client.get("/api/content", {"limit": 100, "fields": "slug"}).json["data"]]


def walk(client, params, most=20):
    """Follow nextCursor from the first page: (slugs in order, each page's meta)."""
    seen, metas, extra = [], [], {}
    for _ in range(most):
        page = client.get("/api/content", {**params, **extra}).json
        seen += [item["slug"] for item in page["data"]]
        metas.append(page["meta"])
        if not page["meta"].get("nextCursor"):
            return seen, metas
        extra = {"cursor": page["meta"]["nextCursor"]}
    raise AssertionError(f"still paging after {most} pages: {seen}")


def test_a_page_over_the_budget_is_cut_with_a_cursor(client, big_items):
    response = client.get("/api/content", {"limit": 100})
    meta = response.json["meta"]
    items = response.json["data"]
    assert len(items) == 3
    assert meta["truncated"] is True and meta["hasNext"] is True and meta["count"] == 3
    assert meta["total"] == ITEMS and meta["nextCursor"]
    assert sum(len(msgspec.json.encode(item)) for item in items) <= BUDGET
    assert len(response.body) < BUDGET + BODY_BYTES * 2


def test_following_cursors_yields_every_item_once_in_order(client, big_items):
    seen, metas = walk(client, {"limit": 100})
    assert seen == expected_order(client)
    assert len(seen) == ITEMS
    assert [meta.get("truncated", False) for meta in metas] == [True, True, True, False]
    assert metas[-1]["hasNext"] is False


def test_an_offset_page_cut_by_the_budget_continues_by_cursor(client, big_items):
    order = expected_order(client)
    first = client.get("/api/content", {"limit": 100, "offset": 2}).json
    assert first["meta"]["truncated"] is True and first["meta"]["offset"] == 2
    rest, _ = walk(client, {"limit": 100, "cursor": first["meta"]["nextCursor"]})
    assert [item["slug"] for item in first["data"]] + rest == order[2:]
    paged = client.get("/api/content", {"limit": 100, "page": 1}).json
    assert paged["meta"]["truncated"] is True and paged["meta"]["nextCursor"]


def test_one_item_over_the_budget_is_still_returned(client, big_items, monkeypatch):
    monkeypatch.setattr(query, "RESPONSE_BUDGET_BYTES", 1000)
    seen, metas = walk(client, {"limit": 100}, most=ITEMS + 2)
    assert seen == expected_order(client)
    assert all(meta["count"] == 1 for meta in metas)


def test_the_cache_keeps_the_cut_page(client, big_items):
    first = client.get("/api/collections/big/content", {"limit": 100})
    again = client.get("/api/collections/big/content", {"limit": 100})
    assert again.headers["X-Cache-Status"] == "HIT"
    assert again.json["data"] == first.json["data"]
    assert again.json["meta"]["truncated"] is True
    assert again.json["meta"]["nextCursor"] == first.json["meta"]["nextCursor"]


def test_a_page_within_the_budget_is_not_marked(client, big_items):
    meta = client.get("/api/content", {"limit": 2}).json["meta"]
    assert "truncated" not in meta and meta["hasNext"] is True


def test_a_page_of_exactly_the_budget_is_whole(big_items, monkeypatch):
    """The budget bounds the sum of the items' JSON: a page of exactly that many bytes is whole,
    one byte less cuts its last item."""
    scope = query.Scope()

    def page():
        return query.list_content(query.parse_list_params({"limit": "5"}, scope), scope)

    monkeypatch.setattr(query, "RESPONSE_BUDGET_BYTES", 10 * BUDGET)
    items = page()["data"]
    size = sum(len(msgspec.json.encode(item)) for item in items)
    monkeypatch.setattr(query, "RESPONSE_BUDGET_BYTES", size)
    whole = page()
    assert whole["data"] == items and "truncated" not in whole["meta"]
    monkeypatch.setattr(query, "RESPONSE_BUDGET_BYTES", size - 1)
    cut = page()
    assert cut["data"] == items[:4] and cut["meta"]["truncated"] is True
