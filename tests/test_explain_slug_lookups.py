"""A taken slug's next candidates (``-2``, ``-3``... on a create, ``-copy``... on a duplicate)
are searched for in the unique (collection_id, slug) index by both of its columns, on
SQLite and PostgreSQL, instead of reading every item of the collection.

The app's own statements are captured from real requests and planned with their own
parameters: EXPLAIN QUERY PLAN on SQLite, EXPLAIN with sequential scans off on PostgreSQL
(so the plan is an index scan exactly when the index serves the condition), which must
name the index with the slug in its search condition, not only the collection.
"""

import re

import pytest
from peewee import chunked

from app.db.models import Content, now_ms
from tests.fixtures.app import record_statements
from tests.fixtures.explain import plan_without_seqscan, slugs_in_other_collections
from tests.fixtures.workflow import insert_content

pytestmark = [pytest.mark.usefixtures("env"), pytest.mark.backends]

INDEX = "idx_content_collection_slug"
# Items of the collection besides the slugs looked up: on a table this size PostgreSQL's
# planner prefers searching the index by slug to filtering the collection's entries.
OTHERS = 3000
# The slugs the tests look up, taken in other collections too: the index on slug alone
# would find those as well (``slugs_in_other_collections``).
LOOKED_UP = ("post", "post-copy", *(f"post-copy-{n}" for n in range(2, 61)), "news", *(f"news-{n}" for n in range(2, 41)))


@pytest.fixture
def crowded(env, blog_collection, as_editor):
    """The blog collection holding ``OTHERS`` items, ``LOOKED_UP`` taken in other collections,
    and the statistics of a database in use."""
    editor, _ = as_editor
    now = now_ms()
    rows = [{"id": f"other-{n}", "collection": blog_collection.id, "slug": f"other-{n}", "title": f"Other {n}",
             "data": {}, "status": "draft", "author": editor.id, "created_at": now, "updated_at": now}
            for n in range(OTHERS)]
    db = env.DB.db
    with db.atomic():
        for batch in chunked(rows, 500):
            Content.insert_many(batch).execute()
    slugs_in_other_collections(editor, LOOKED_UP)
    db.execute_sql("ANALYZE")
    return blog_collection


def slug_lookups(statements):
    """The captured statements reading slugs of content (the candidates' lookups)."""
    return [(sql, params) for sql, params in statements
            if sql.startswith('SELECT "t1"."slug" FROM "content"') and "WHERE" in sql]


def searches_index_by_slug(lines):
    """True when the plan searches ``INDEX`` by collection and slug (not only the collection)."""
    text = "\n".join(lines)
    sqlite = re.search(rf"SEARCH t1 USING (COVERING )?INDEX {INDEX} \(collection_id=\? AND slug=\?\)", text)
    postgres = re.search(rf"(Index (Only )?Scan using|Bitmap Index Scan on) {INDEX}.*\n\s+(->\s+)?Index Cond: "
                         r".*collection_id = .*slug = ", text)
    return bool(sqlite or postgres) and "Filter" not in text


def test_a_duplicates_slug_is_searched_for_in_the_index(env, client, crowded, as_editor, monkeypatch):
    editor, headers = as_editor
    source = insert_content(editor, crowded, slug="post")
    for n in range(1, 40):
        insert_content(editor, crowded, slug="post-copy" if n == 1 else f"post-copy-{n}")
    statements = record_statements(env.DB.db, monkeypatch)

    copy = client.post(f"/api/content/{source.id}/duplicate", headers=headers, status=201).json["data"]

    assert copy["slug"] == "post-copy-40"
    lookups = slug_lookups(statements)
    for sql, params in lookups:
        lines = plan_without_seqscan(env.DB.db, sql, params)
        assert searches_index_by_slug(lines), lines
    assert len(lookups) == 2  # 16 candidates, then 32


def test_a_titles_numbered_slug_is_searched_for_in_the_index(env, client, crowded, as_editor, monkeypatch):
    editor, headers = as_editor
    for slug in ("news", *(f"news-{n}" for n in range(2, 10))):
        insert_content(editor, crowded, slug=slug)
    statements = record_statements(env.DB.db, monkeypatch)

    created = client.post_json("/api/content", {"collectionId": "blog", "title": "News"}, headers=headers,
                               status=201).json["data"]

    assert created["slug"] == "news-10"
    [(sql, params)] = slug_lookups(statements)
    lines = plan_without_seqscan(env.DB.db, sql, params)
    assert searches_index_by_slug(lines), lines
