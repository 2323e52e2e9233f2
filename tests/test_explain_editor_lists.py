"""At depth (20,000 items), an editor's lists read their indexes in order, on SQLite and
PostgreSQL: the default list (every status, live items, last edited first), per collection
(by path or by ``?collection=<name>``), its cursor pages and one status; the trash reads the
index of deleted rows.

As in ``test_query_depth.py``: the app's own SQL is captured from real requests and planned
with its own parameters; a plan that scans ``content`` or sorts the page's rows fails.
"""

import pytest

from app.db.database import is_postgres
from app.db.models import bind_models
from tests.fixtures.app import client_for, module_env, record_statements
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.test_query_depth import assert_indexed_page, page_plan, plan, scans_content, uses

ROWS = 20_000
_COLUMNS = "id, collection_id, slug, title, data, status, published_at, author_id, created_at, updated_at, deleted_at"
# Two collections (every other item), three statuses, one item in 100 deleted; updated_at
# in another order than the ids (a permutation), so that the order comes from the index.
SQLITE_SEED = (
    f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})"
    f" INSERT INTO content ({_COLUMNS}) SELECT 'e' || i, CASE WHEN i % 2 = 0 THEN ? ELSE ? END, 'item-' || i,"
    " 'Item ' || i, '{}', CASE i % 3 WHEN 0 THEN 'draft' WHEN 1 THEN 'published' ELSE 'archived' END,"
    " CASE WHEN i % 3 = 1 THEN 1700000000000 + i * 1000 END, ?, 1700000000000,"
    f" 1700000000000 + ((i * 7919) % {ROWS}) * 1000, CASE WHEN i % 100 = 7 THEN 1750000000000 END FROM n")
POSTGRES_SEED = (
    f"INSERT INTO content ({_COLUMNS}) SELECT 'e' || i, CASE WHEN i %% 2 = 0 THEN %s ELSE %s END, 'item-' || i,"
    " 'Item ' || i, '{}', CASE i %% 3 WHEN 0 THEN 'draft' WHEN 1 THEN 'published' ELSE 'archived' END,"
    " CASE WHEN i %% 3 = 1 THEN 1700000000000 + i * 1000 END, %s, 1700000000000,"
    f" 1700000000000 + ((i * 7919) %% {ROWS}) * 1000, CASE WHEN i %% 100 = 7 THEN 1750000000000 END"
    f" FROM generate_series(0, {ROWS - 1}) AS i")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deep(request, tmp_path_factory):
    """A seeded app per database and an editor's headers, shared by the module's read-only tests."""
    with module_env(request, tmp_path_factory, "editor_depth") as env:
        db = env.DB.db
        author = create_user("author")
        shop, pages = create_collection("shop"), create_collection("pages")
        with db.atomic():
            db.execute_sql(POSTGRES_SEED if is_postgres(db) else SQLITE_SEED, (shop.id, pages.id, author.id))
        if is_postgres(db):
            db.execute_sql("ANALYZE")  # autovacuum would, in time; SQLite has no statistics (see test_query_depth)
        yield env, client_for(env), bearer(token_for(create_user("editor")))


@pytest.fixture
def captured(deep, monkeypatch):
    """Every ``(sql, params)`` the app sends to the database during the test."""
    env = deep[0]
    bind_models(env.DB.db)
    return record_statements(env.DB.db, monkeypatch)


def updated(items):
    return [item["updated_at"] for item in items]


def test_the_editors_default_list_reads_the_live_index_in_order(deep, captured):
    env, client, editor = deep
    body = client.get("/api/content", {"limit": 20}, headers=editor).json
    assert body["meta"]["total"] == ROWS - ROWS // 100
    assert {item["status"] for item in body["data"]} == {"draft", "published", "archived"}
    assert updated(body["data"]) == sorted(updated(body["data"]), reverse=True)
    assert_indexed_page(page_plan(env, captured), "idx_content_live_updated")
    assert not any(sql.startswith("SELECT COUNT(") for sql, _ in captured)  # the kept counts
    captured.clear()
    after = client.get("/api/content", {"limit": 20, "cursor": body["meta"]["nextCursor"]}, headers=editor).json
    assert updated(after["data"])[0] <= updated(body["data"])[-1] and len(after["data"]) == 20
    assert_indexed_page(page_plan(env, captured), "idx_content_live_updated")


def test_the_editors_list_of_a_collection_reads_its_live_index_in_order(deep, captured):
    env, client, editor = deep
    body = client.get("/api/collections/shop/content", {"limit": 20}, headers=editor).json
    assert body["meta"]["total"] == ROWS // 2  # the deleted items are all in "pages"
    assert {item["collection"]["name"] for item in body["data"]} == {"shop"}
    assert updated(body["data"]) == sorted(updated(body["data"]), reverse=True)
    assert_indexed_page(page_plan(env, captured), "idx_content_live_collection_updated")
    captured.clear()
    client.get("/api/collections/shop/content", {"limit": 20, "cursor": body["meta"]["nextCursor"]}, headers=editor)
    assert_indexed_page(page_plan(env, captured), "idx_content_live_collection_updated")


@pytest.mark.parametrize("editor_list", [True, False], ids=["editor", "public"])
def test_a_list_of_a_collection_named_in_the_query_reads_its_index_in_order(deep, captured, editor_list):
    """``?collection=<name>`` compares collection_id with the one id the name has (a scalar
    subquery): with ``IN (subquery)`` the planners read the collection's rows and sorted them."""
    env, client, editor = deep
    body = client.get("/api/content", {"limit": 20, "collection": "shop"}, headers=editor if editor_list else {}).json
    assert {item["collection"]["name"] for item in body["data"]} == {"shop"} and len(body["data"]) == 20
    index = "idx_content_live_collection_updated" if editor_list else "idx_content_live_collection_published"
    assert_indexed_page(page_plan(env, captured), index)
    assert client.get("/api/content", {"collection": "none"}, headers=editor).json["meta"]["total"] == 0


def test_the_editors_list_of_one_status_reads_its_live_index_in_order(deep, captured):
    env, client, editor = deep
    body = client.get("/api/content", {"limit": 20, "status": "draft"}, headers=editor).json
    assert {item["status"] for item in body["data"]} == {"draft"} and len(body["data"]) == 20
    assert updated(body["data"]) == sorted(updated(body["data"]), reverse=True)
    assert_indexed_page(page_plan(env, captured), "idx_content_live_status_updated")


def test_the_trash_reads_the_index_of_deleted_items(deep, captured):
    env, client, editor = deep
    body = client.get("/api/content", {"include_deleted": "true", "filter[deleted_at][exists]": "true",
                                       "limit": 20}, headers=editor).json
    assert body["meta"]["total"] == ROWS // 100
    assert all(item["deleted_at"] for item in body["data"])
    for lines in (page_plan(env, captured), plan(env.DB.db, *[(sql, params) for sql, params in captured
                                                                  if sql.startswith("SELECT COUNT(")][0])):
        assert not scans_content(lines) and uses(lines, "idx_content_trash"), lines
