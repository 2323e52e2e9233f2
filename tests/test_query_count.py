"""The list endpoint runs a constant number of SQL statements whatever the page size
(count + page: author, collection and featured image are joined, never fetched per row),
and a deep cursor page is an index seek, not a scan: SQLite's plan for the SQL actually
run is checked."""

import re
import sqlite3

import pytest

from app.db.models import Content, Media, bind_models, new_id, now_ms
from tests.fixtures.app import record_statements
from tests.fixtures.content import insert_items

pytestmark = pytest.mark.backends


@pytest.fixture
def recorded(env, monkeypatch):
    """``recorded()`` -> the ``(sql, params)`` run since the last call (the models' database)."""
    bind_models(env.DB.db)
    statements = record_statements(env.DB.db, monkeypatch)

    def take():
        taken = list(statements)
        statements.clear()
        return taken

    return take


@pytest.fixture
def counted(recorded):
    """``counted()`` -> the SQL texts run since the last call."""
    return lambda: [sql for sql, _ in recorded()]


@pytest.fixture
def thousand(blog_collection, as_author):
    author, _ = as_author
    images = [
        Media.create(id=new_id(), filename="i", original_name="i", mime_type="image/png", size=1, r2_key=new_id(),
                     public_url=f"/files/{i}", uploaded_by=author.id, uploaded_at=now_ms()).id
        for i in range(3)
    ]
    ids = insert_items(blog_collection, author, 1000)
    for n, image in enumerate(images):
        Content.update(featured_image=image).where(Content.id.in_(ids[n::3])).execute()
    return ids


@pytest.mark.parametrize("path", ["/api/content", "/api/collections/blog/content"])
def test_list_queries_do_not_grow_with_the_page(client, thousand, counted, path):
    client.get(path)  # warm up whatever is per-process (route compilation, role cache)
    counts = {}
    for limit in (1, 10, 100, 1000):
        counted()
        response = client.get(path, {"limit": limit, "sort": "-published_at"})
        assert response.json["meta"]["count"] == limit
        assert response.headers["X-Cache-Status"] == "MISS"
        assert all(item["featuredImage"] for item in response.json["data"])
        counts[limit] = len(counted())
    assert len(set(counts.values())) == 1, counts
    assert counts[1] == (2 if path == "/api/content" else 3)  # (collection lookup +) count + page


def test_cursor_pages_stay_constant_too(client, thousand, counted):
    cursor = client.get("/api/content", {"limit": 10}).json["meta"]["nextCursor"]
    for limit in (5, 50, 500):
        counted()
        client.get("/api/content", {"limit": limit, "cursor": cursor})
        assert len(counted()) == 2


def test_authenticated_lists_are_constant_as_well(client, thousand, counted, as_editor):
    _, headers = as_editor
    client.get("/api/content", headers=headers)
    sizes = set()
    for limit in (1, 100, 1000):
        counted()
        client.get("/api/content", {"limit": limit}, headers=headers)
        sizes.add(len(counted()))
    assert len(sizes) == 1


def test_a_cached_list_runs_no_query(client, thousand, counted):
    client.get("/api/content", {"limit": 100})
    counted()
    assert client.get("/api/content", {"limit": 100}).headers["X-Cache-Status"] == "HIT"
    assert counted() == []


def query_plan(env, sql, params):
    """SQLite's EXPLAIN QUERY PLAN details for ``sql`` (run on a connection of its own)."""
    connection = sqlite3.connect(env.DB.db.database)
    try:
        return [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, params or ())]
    finally:
        connection.close()


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)  # reads SQLite's query plan
@pytest.mark.parametrize("path", ["/api/content", "/api/collections/blog/content"])
def test_a_deep_cursor_page_seeks_the_published_at_index(env, client, thousand, recorded, path):
    cursor = None
    for _ in range(3):  # 900 rows deep
        meta = client.get(path, {"limit": 300, **({"cursor": cursor} if cursor else {})}).json["meta"]
        cursor = meta["nextCursor"]
    recorded()
    page = client.get(path, {"limit": 50, "cursor": cursor}).json
    assert [item["slug"] for item in page["data"]][:2] == ["item-99", "item-98"]
    [(sql, params)] = [(sql, params) for sql, params in recorded() if "ORDER BY" in sql]
    plan = query_plan(env, sql, params)
    content_steps = [step for step in plan if step.startswith(("SEARCH t1", "SCAN t1"))]
    assert len(content_steps) == 1, plan
    # An index seek straight to the cursor (a range on published_at), rows already in order.
    assert re.match(r"SEARCH t1 USING INDEX idx_content_\w*published \(.*published_at<\?\)$", content_steps[0]), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
