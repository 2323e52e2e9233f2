"""A search sorted by relevance scores each match once, on SQLite and PostgreSQL.

A short prefix (``re*``) matches most items. The relevance sort used to score each row by a
subquery of its own that ran the prefix MATCH again (a correlated subquery on the full-text
index per row: quadratic in the matches). The app's own SQL is captured from real requests
(``/api/content?search=re*&sort=relevance``, ``POST /api/search``, the suggestions) and planned
with its own parameters: no plan may hold a subquery run per row.
"""

import re

import pytest

from app.db.database import is_postgres
from app.db.derived import PG_SEARCH_FUNCTION
from tests.fixtures.app import record_statements
from tests.fixtures.content import create_collection, insert_items
from tests.test_query_depth import plan

pytestmark = pytest.mark.backends

WORDS = ("red", "read", "ready", "real", "reach", "green", "river", "report", "review", "record")
ITEMS = 2000


def per_row_subqueries(lines):
    """The plan lines using a subquery run once per row: SQLite's CORRELATED SCALAR SUBQUERY,
    PostgreSQL's SubPlan unless hashed (a hashed SubPlan, as an InitPlan, runs once)."""
    return [line for line in lines if "CORRELATED" in line
            or (re.search(r"(?<!hashed )SubPlan \d", line) and not line.strip().startswith("SubPlan"))]


@pytest.fixture
def many(env, as_author):
    author, _ = as_author
    insert_items(create_collection("blog"), author, ITEMS, title="Report",
                 data=lambda i: {"body": " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(8))})
    return env


def searched(sql):
    """True for a search's page: it reads the index, or (PostgreSQL, few matches) their
    rows by the ids found first (bound: ``unnest(%s::text[])``)."""
    return "ORDER BY" in sql and ("content_fts" in sql or "to_tsquery" in sql or "unnest(%s::text[])" in sql)


def searched_plans(env, statements):
    return [plan(env.DB.db, sql, params) for sql, params in list(statements) if searched(sql)]


@pytest.mark.parametrize("request_of", [
    lambda client: client.get("/api/content", {"search": "re*", "sort": "relevance"}),
    lambda client: client.get("/api/content", {"search": "re*", "sort": "relevance", "limit": "100"}),
    lambda client: client.post_json("/api/search", {"query": "re*"}),
    lambda client: client.post_json("/api/search", {"query": "red"}),
    lambda client: client.get("/api/search/suggest", {"q": "re"}),
], ids=["content", "content-100", "search-prefix", "search-word", "suggest"])
def test_relevance_sort_scores_each_match_once(client, many, monkeypatch, request_of):
    statements = record_statements(many.DB.db, monkeypatch)
    request_of(client)
    plans = searched_plans(many, statements)
    assert plans, [sql for sql, _ in statements]
    for lines in plans:
        assert not per_row_subqueries(lines), lines


@pytest.mark.parametrize("request_of", [
    lambda client: client.get("/api/content", {"search": "red", "sort": "relevance"}),
    lambda client: client.get("/api/content", {"search": "red"}),
    lambda client: client.post_json("/api/search", {"query": "red"}),
], ids=["relevance", "list-order", "search"])
def test_searching_reads_the_stored_words_and_never_walks_an_item_again(client, many, monkeypatch, request_of):
    """Matching and ranking read the index's stored words: no item's data is walked again
    (SQLite's ``json_tree``, PostgreSQL's search vector function) for a search, which would
    cost the walk of every match's JSON per request."""
    statements = record_statements(many.DB.db, monkeypatch)
    request_of(client)
    db = many.DB.db
    # A page of few matches (PostgreSQL) reads their rows by the ids found first (bound).
    searched = [(sql, params) for sql, params in list(statements)
                if "content_fts" in sql or "unnest(%s::text[])" in sql]
    assert any("ORDER BY" in sql for sql, _ in searched), [sql for sql, _ in statements]
    for sql, params in searched:
        if is_postgres(db):  # VERBOSE shows every expression a node computes
            lines = [row[0] for row in db.execute_sql(f"EXPLAIN (VERBOSE) {sql}", params).fetchall()]
        else:
            lines = plan(db, sql, params)
        assert not [line for line in lines if PG_SEARCH_FUNCTION in line or "json_tree" in line], lines


def test_relevance_pages_follow_each_other(client, many):
    """The cursor of a relevance sort reads the same order page after page."""
    first = client.get("/api/content", {"search": "red", "sort": "relevance", "limit": "50"}).json
    second = client.get("/api/content", {"search": "red", "sort": "relevance", "limit": "50",
                                         "cursor": first["meta"]["nextCursor"]}).json
    whole = client.get("/api/content", {"search": "red", "sort": "relevance", "limit": "100"}).json
    assert [item["id"] for item in first["data"] + second["data"]] == [item["id"] for item in whole["data"]]


def test_suggestions_read_titles_by_prefix_without_ranking(client, many, monkeypatch):
    """The titles holding the prefix, in title order and bounded: no relevance computed."""
    statements = record_statements(many.DB.db, monkeypatch)
    assert client.get("/api/search/suggest", {"q": "re"}).json["data"] == ["Report"]
    pages = [sql for sql, _ in statements if searched(sql)]
    assert pages, [sql for sql, _ in statements]
    for sql in pages:
        assert "bm25" not in sql and "ts_rank" not in sql and "LIMIT" in sql, sql
