"""At depth (20,000 items), the public list, a filter on a declared field, a sort on a
declared field (cursor pages too) and search read their indexes, on SQLite and PostgreSQL.

The app's own SQL is captured from real requests and planned with its own parameters
(``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL, after ANALYZE): a plan that
scans ``content`` or sorts the page's rows fails, and the index expected is named. The
rows are seeded in one INSERT ... SELECT (a recursive CTE, ``generate_series``), which is
also the bulk path the triggers must keep counts and search right through.
"""

import re

import pytest

from app.db.database import is_postgres
from app.db.models import bind_models
from app.services.content.query import COUNT_LIMIT
from app.services.field_indexes import sync_field_indexes
from tests.fixtures.app import client_for, module_env, record_statements
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for

ROWS = 20_000
CATEGORIES = 20
SCHEMA = {"type": "object", "properties": {
    "category": {"type": "string", "indexed": True},
    "price": {"type": "number", "sortable": True},
    "name": {"type": "string"},
    "tier": {"type": "json", "indexed": True},  # may hold anything: compared as one value, by its index
}}
_COLUMNS = "id, collection_id, slug, title, data, status, published_at, author_id, created_at, updated_at"
# Every 1,000th item holds the word "needle" in its data.
SQLITE_SEED = (
    f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})"
    f" INSERT INTO content ({_COLUMNS}) SELECT 'd' || i, ?, 'item-' || i, 'Item ' || i,"
    f" json_object('category', 'cat-' || (i % {CATEGORIES}), 'price', (i * 7919) % 10007,"
    " 'name', CASE WHEN i % 1000 = 0 THEN 'a needle here' ELSE 'word' || (i % 50) END, 'tier', 't' || (i % 10)),"
    " 'published', 1700000000000 + i * 1000, ?, 1700000000000, 1700000000000 FROM n")
POSTGRES_SEED = (
    f"INSERT INTO content ({_COLUMNS}) SELECT 'd' || i, %s, 'item-' || i, 'Item ' || i,"
    f" json_build_object('category', 'cat-' || (i %% {CATEGORIES}), 'price', (i * 7919) %% 10007,"
    " 'name', CASE WHEN i %% 1000 = 0 THEN 'a needle here' ELSE 'word' || (i %% 50) END,"
    " 'tier', 't' || (i %% 10))::text,"
    f" 'published', 1700000000000 + i * 1000, %s, 1700000000000, 1700000000000"
    f" FROM generate_series(0, {ROWS - 1}) AS i")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deep(request, tmp_path_factory):
    """A seeded app per database, shared by the module's read-only tests."""
    with module_env(request, tmp_path_factory, "query_depth") as env:
        db = env.DB.db
        author = create_user("author")
        shop = create_collection("shop", SCHEMA)
        sync_field_indexes(db)
        with db.atomic():
            db.execute_sql(POSTGRES_SEED if is_postgres(db) else SQLITE_SEED, (shop.id, author.id))
        if is_postgres(db):
            # PostgreSQL's autovacuum gathers statistics by itself. SQLite has none unless someone
            # runs ANALYZE (the app never does); with them and a site of one user, it would
            # join content last and sort every matching row (the same for every list shape).
            db.execute_sql("ANALYZE")
        yield env, client_for(env)


@pytest.fixture
def captured(deep, monkeypatch):
    """Every ``(sql, params)`` the app sends to the database during the test."""
    env, _ = deep
    bind_models(env.DB.db)
    return record_statements(env.DB.db, monkeypatch)


def plan(db, sql, params):
    """The plan's lines: EXPLAIN QUERY PLAN details on SQLite, EXPLAIN text on PostgreSQL."""
    if is_postgres(db):
        return [row[0] for row in db.execute_sql(f"EXPLAIN {sql}", params).fetchall()]
    return [row[3] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]


def page_plan(env, statements):
    """The plan of the request's page query (the one with ORDER BY)."""
    pages = [(sql, params) for sql, params in statements if "ORDER BY" in sql and '"content" AS "t1"' in sql]
    assert pages, [sql for sql, _ in statements]
    return plan(env.DB.db, *pages[-1])


def count_plan(env, statements):
    counts = [(sql, params) for sql, params in statements if sql.startswith("SELECT COUNT(")]
    assert len(counts) == 1, [sql for sql, _ in statements]
    return plan(env.DB.db, *counts[0])


def scans_content(lines):
    """True when the plan reads every content row (SQLite: SCAN of content's alias t1)."""
    return any(re.match(r"^SCAN t1$", line) or re.search(r"Seq Scan on content( |$)", line) for line in lines)


def sorts(lines):
    return any(re.search(r"USE TEMP B-TREE FOR .*ORDER BY|^\s*(->\s*)?(Incremental )?Sort\b", line)
               for line in lines)


def uses(lines, index):
    return any(index in line for line in lines)


def assert_indexed_page(lines, index):
    assert not scans_content(lines), lines
    assert not sorts(lines), lines
    assert uses(lines, index), lines


def test_public_list_reads_in_index_order_and_counts_from_counts(deep, captured):
    env, client = deep
    body = client.get("/api/collections/shop/content", {"limit": 20}).json
    assert body["meta"]["total"] == ROWS and "totalIsEstimate" not in body["meta"]
    # A live-content list index (the collection's, or all content's when the collection is all of it).
    assert_indexed_page(page_plan(env, captured), "idx_content_live_")
    assert not any(sql.startswith("SELECT COUNT(") for sql, _ in captured)


def test_filter_on_a_declared_field_uses_its_index(deep, captured):
    env, client = deep
    body = client.get("/api/collections/shop/content", {"filter[data.category][equals]": "cat-3", "limit": 20}).json
    assert body["meta"]["total"] == ROWS // CATEGORIES and "totalIsEstimate" not in body["meta"]
    assert {item["data"]["category"] for item in body["data"]} == {"cat-3"}
    assert_indexed_page(page_plan(env, captured), "idx_content_field_category")
    # Its exact total is read from the value counts: no count over content.
    assert not any(sql.startswith("SELECT COUNT(") for sql, _ in captured)
    counted = [sql for sql, _ in captured if "content_counts_values" in sql]
    assert len(counted) == 1 and '"content"' not in counted[0], counted


def test_a_filter_on_an_indexed_json_field_uses_its_index(deep, captured):
    # It may hold lists as far as validation knows, but its owner asked for an index: the
    # public may filter on it, through that index.
    env, client = deep
    body = client.get("/api/collections/shop/content", {"filter[data.tier][equals]": "t3", "limit": 20}).json
    assert body["meta"]["total"] == ROWS // 10 and {item["data"]["tier"] for item in body["data"]} == {"t3"}
    assert_indexed_page(page_plan(env, captured), "idx_content_field_tier")


def test_a_count_of_several_declared_values_uses_its_index(deep, captured):
    env, client = deep
    params = {"filter[data.category][in]": "cat-3,cat-4", "limit": 20}
    body = client.get("/api/collections/shop/content", params).json
    assert body["meta"]["total"] == min(2 * ROWS // CATEGORIES, COUNT_LIMIT)
    assert {item["data"]["category"] for item in body["data"]} == {"cat-3", "cat-4"}
    count = count_plan(env, captured)
    assert not scans_content(count) and uses(count, "idx_content_field_category"), count


@pytest.mark.parametrize("sort", ["data.price", "-data.price"])
def test_sort_on_a_declared_field_uses_its_index_on_every_page(deep, captured, sort):
    env, client = deep
    first = client.get("/api/collections/shop/content", {"sort": sort, "limit": 20}).json
    prices = [item["data"]["price"] for item in first["data"]]
    assert prices == sorted(prices, reverse=sort.startswith("-"))
    assert_indexed_page(page_plan(env, captured), "idx_content_sort_price")
    captured.clear()
    second = client.get("/api/collections/shop/content",
                        {"sort": sort, "limit": 20, "cursor": first["meta"]["nextCursor"]}).json
    following = [item["data"]["price"] for item in second["data"]]
    assert following == sorted(following, reverse=sort.startswith("-")) and len(following) == 20
    assert (following[0] >= prices[-1]) if not sort.startswith("-") else (following[0] <= prices[-1])
    assert_indexed_page(page_plan(env, captured), "idx_content_sort_price")


def test_search_uses_the_full_text_index(deep, captured):
    env, client = deep
    body = client.get("/api/collections/shop/content", {"search": "needle", "limit": 50}).json
    assert body["meta"]["total"] == ROWS // 1000
    lines = page_plan(env, captured)
    assert not scans_content(lines), lines
    if is_postgres(env.DB.db):
        # Few matches: their ids are read from the index once, then their rows by id.
        [(sql, params)] = [(sql, params) for sql, params in captured if "FROM content_fts WHERE vector @@" in sql]
        assert uses(plan(env.DB.db, sql, params), "idx_content_search")
        assert uses(lines, "content_pkey"), lines
        return
    assert uses(lines, "VIRTUAL TABLE INDEX"), lines


def test_a_search_of_few_matches_reads_the_index_once(deep, captured):
    """PostgreSQL: the statement that picks the plan reads the matches' ids, and the count and
    the page take them from it, rather than each reading the index and the vectors again."""
    env, client = deep
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's count and page each read their matches from FTS5 (cheap there)")
    body = client.get("/api/collections/shop/content", {"search": "needle", "limit": 13}).json
    assert [item["id"] for item in body["data"]] == newest(lambda i: i % 1000 == 0, 13)
    assert body["meta"]["total"] == ROWS // 1000 and "totalIsEstimate" not in body["meta"]
    assert len([sql for sql, _ in captured if "content_fts" in sql]) == 1, [sql for sql, _ in captured]


@pytest.mark.parametrize("params, parameter, words", [
    ({"filter[data.name][equals]": "word7"}, "filter[data.name][equals]", "data.name is not indexed"),
    ({"filter[data.category][like]": "cat"}, "filter[data.category][like]", "like reads every item"),
    ({"filter[data.price][gte]": "0"}, "filter[data.price][gte]", "data.price is not indexed"),
    ({"sort": "data.name"}, "sort", "data.name is not sortable"),
    ({"sort": "data.category"}, "sort", "data.category is not sortable"),
])
def test_the_public_cannot_scan_a_large_collection(deep, params, parameter, words):
    _, client = deep
    for path in ("/api/collections/shop/content", "/api/content"):
        query = {**params, "collection": "shop"} if path == "/api/content" else params
        body = client.get(path, query, status=400).json
        assert body["details"][0]["parameter"] == parameter
        assert words in body["details"][0]["message"] and '"indexed": true' in body["details"][0]["message"] or \
            '"sortable": true' in body["details"][0]["message"]


@pytest.mark.parametrize("params", [{"filter[data.category][equals]": "cat-3"}, {"sort": "-data.price"}])
def test_a_collection_named_by_id_declares_its_fields_as_by_name(deep, params):
    """``collection_id`` finds the schema's declarations as ``collection`` does: the public
    may use them, and both lists are the same."""
    _, client = deep
    shop = client.get("/api/collections", {"limit": 100}).json["data"]
    [shop_id] = [item["id"] for item in shop if item["name"] == "shop"]
    by_id = client.get("/api/content", {**params, "collection_id": shop_id, "limit": 5}, status=200).json
    by_name = client.get("/api/content", {**params, "collection": "shop", "limit": 5}, status=200).json
    assert [item["id"] for item in by_id["data"]] == [item["id"] for item in by_name["data"]]
    assert by_id["meta"]["total"] == by_name["meta"]["total"] > 0


def test_editors_may_filter_on_any_field_with_estimated_totals(deep):
    _, client = deep
    editor = bearer(token_for(create_user("editor")))
    exact = client.get("/api/collections/shop/content", {"filter[data.name][equals]": "word7", "limit": 1},
                       headers=editor).json["meta"]
    assert exact["total"] == ROWS // 50 and "totalIsEstimate" not in exact
    # More matches than COUNT_LIMIT: the total stops there and says it is an estimate.
    many = client.get("/api/collections/shop/content", {"filter[data.price][gte]": "0", "limit": 1},
                      headers=editor).json["meta"]
    assert many["total"] == COUNT_LIMIT and many["totalIsEstimate"] is True and many["hasNext"] is True


def test_a_small_collection_stays_open_to_any_public_filter(deep):
    env, client = deep
    bind_models(env.DB.db)
    author = create_user("author")
    small = create_collection("small", {"type": "object", "properties": {"name": {"type": "string"}}})
    with env.DB.db.atomic():
        env.DB.db.execute_sql(
            (POSTGRES_SEED if is_postgres(env.DB.db) else SQLITE_SEED)
            .replace(str(ROWS - 1), "9").replace("'d' || i", "'s' || i"), (small.id, author.id))
    body = client.get("/api/collections/small/content", {"filter[data.name][equals]": "word3",
                                                          "sort": "data.name"}).json
    assert [item["slug"] for item in body["data"]] == ["item-3"]


SEARCH_PLANS = {  # SQLite's plan: (SEARCH_DRIVEN_UP_TO, SEARCH_PROBE_FROM) that select it
    "driven": (10**9, 10**9),
    "in": (0, 10**9),
    "probe": (0, 1),
}
PLAN_SQL = {"driven": '"content_fts" CROSS JOIN "content"', "in": '"rowid" IN (SELECT rowid FROM content_fts',
            "probe": "EXISTS (SELECT 1 FROM content_fts"}
# PostgreSQL has two: the matches' ids first, or the vectors joined (its planner choosing).
PG_PLAN_SQL = {"driven": '"t1"."id" = ANY(ARRAY(SELECT unnest(%s::text[])))', "probe": '"content_fts" CROSS JOIN "content"'}


def newest(predicate, count):
    """Ids of the first ``count`` seeded items matching ``predicate(i)``, newest published first."""
    return [f"d{i}" for i in sorted((i for i in range(ROWS) if predicate(i)), reverse=True)][:count]


@pytest.mark.parametrize("plan", list(SEARCH_PLANS))
def test_every_search_plan_gives_the_same_pages_and_totals(deep, captured, monkeypatch, plan):
    env, client = deep
    postgres = is_postgres(env.DB.db)
    if postgres and plan not in PG_PLAN_SQL:
        pytest.skip("two plans on PostgreSQL: the matches first, or the planner's choice")
    from app.services.content import sql as sql_module

    driven_up_to, probe_from = SEARCH_PLANS[plan]
    monkeypatch.setattr(sql_module, "SEARCH_DRIVEN_UP_TO", driven_up_to)
    monkeypatch.setattr(sql_module, "SEARCH_PROBE_FROM", probe_from)
    path = "/api/collections/shop/content"
    size = 20 + list(SEARCH_PLANS).index(plan)  # a page size per plan: no answer comes from the cache
    # "word7": one item in 50 (400 of them); "item": every title (more than COUNT_LIMIT).
    rare = client.get(path, {"search": "word7", "limit": size}).json
    assert [item["id"] for item in rare["data"]] == newest(lambda i: i % 50 == 7, size)
    assert rare["meta"]["total"] == ROWS // 50 and "totalIsEstimate" not in rare["meta"]
    following = client.get(path, {"search": "word7", "limit": size, "cursor": rare["meta"]["nextCursor"]}).json
    assert [item["id"] for item in following["data"]] == newest(lambda i: i % 50 == 7, 2 * size)[size:]
    common = client.get(path, {"search": "item", "limit": size}).json
    assert [item["id"] for item in common["data"]] == newest(lambda i: True, size)
    assert common["meta"]["total"] == COUNT_LIMIT and common["meta"]["totalIsEstimate"] is True
    pages = [sql for sql, _ in captured if "ORDER BY" in sql and '"content" AS "t1"' in sql]
    assert pages and all((PG_PLAN_SQL if postgres else PLAN_SQL)[plan] in sql for sql in pages), pages
    lines = page_plan(env, captured)
    if postgres:
        # Driven: the matches once, then their rows by id (never the list walked).
        assert not scans_content(lines), lines
        assert uses(lines, "content_pkey" if plan == "driven" else "idx_content_live_"), lines
        return
    if plan == "driven":
        # The matches first, each one's row by rowid, then sorted.
        assert reads_matches_first(lines) and uses(lines, "t1 USING INTEGER PRIMARY KEY"), lines
    else:
        assert_indexed_page(lines, "idx_content_live_")
    # Whatever the page's plan, the count reads matches first and stops at COUNT_LIMIT.
    count = count_plan_of(env, captured, -1)
    assert reads_matches_first(count) and uses(count, "t1 USING INTEGER PRIMARY KEY"), count


def reads_matches_first(lines):
    """True when SQLite's plan reads the full-text matches before any content row (t1)."""
    fts = [n for n, line in enumerate(lines) if line.startswith("SCAN content_fts VIRTUAL TABLE")]
    rows = [n for n, line in enumerate(lines) if re.match(r"^(SCAN|SEARCH) t1\b", line)]
    return bool(fts and rows) and fts[0] < rows[0]


def count_plan_of(env, statements, which):
    counts = [(sql, params) for sql, params in statements if sql.startswith("SELECT COUNT(")]
    assert counts, [sql for sql, _ in statements]
    return plan(env.DB.db, *counts[which])


def test_a_relevance_page_is_the_same_whichever_plan_reads_the_matches(deep, captured, monkeypatch):
    """On PostgreSQL a relevance page of few matches reads their ids first and ranks their
    vectors by id; of many, it joins the vectors: both rank alike (SQLite has one plan)."""
    env, client = deep
    from app.services.content import sql as sql_module

    pages = {}
    for name, driven_up_to in (("driven", 10**9), ("joined", 0)):
        monkeypatch.setattr(sql_module, "SEARCH_DRIVEN_UP_TO", driven_up_to)
        captured.clear()
        limit = 40 + len(pages)  # a page size per plan: no answer comes from the cache
        body = client.get("/api/collections/shop/content", {"search": "word7", "sort": "relevance",
                                                            "limit": limit}).json
        pages[name] = [item["id"] for item in body["data"]][:40]
        page = [sql for sql, _ in captured if "ORDER BY" in sql and '"content" AS "t1"' in sql][-1]
        if is_postgres(env.DB.db):
            assert ("ANY(ARRAY(SELECT unnest(%s::text[])))" in page) == (name == "driven") and "ts_rank" in page, page
    assert len(pages["driven"]) == 40 and pages["driven"] == pages["joined"]
    assert set(pages["driven"]) <= {f"d{i}" for i in range(7, ROWS, 50)}
