"""Every hot query uses an index (D8), checked with SQLite's EXPLAIN QUERY PLAN.

The database is migrated and left without ANALYZE statistics, so SQLite plans as for a
large table. A plan line ``SCAN <table>`` without ``USING [COVERING] INDEX`` is a full
table scan and fails the test. Queries whose index was built to return rows in order must
also not sort (``USE TEMP B-TREE FOR ORDER BY``).
"""

import re
from pathlib import Path

import pytest

from app.db.database import open_postgres, open_sqlite
from app.db.migrations import MigrationRunner

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# name: (sql, parameters, must come out of the index already ordered)
HOT_QUERIES = {
    "content of a collection by status, newest first": (
        "SELECT id, title, slug, published_at FROM content "
        "WHERE collection_id = ? AND status = ? ORDER BY published_at DESC LIMIT 20",
        ("col-1", "published"), True),
    "total for the same list": (
        "SELECT COUNT(*) FROM content WHERE collection_id = ? AND status = ?",
        ("col-1", "published"), False),
    "content with author, collection and featured image in one query": (
        "SELECT c.id, c.title, u.email, col.name, m.public_url FROM content c "
        "JOIN users u ON u.id = c.author_id JOIN collections col ON col.id = c.collection_id "
        "LEFT JOIN media m ON m.id = c.featured_image_id "
        "WHERE c.collection_id = ? AND c.status = ? ORDER BY c.published_at DESC LIMIT 20",
        ("col-1", "published"), True),
    "published content across collections": (
        "SELECT id, title, slug, published_at FROM content "
        "WHERE status = 'published' ORDER BY published_at DESC LIMIT 20",
        (), True),
    "content by slug within a collection": (
        "SELECT * FROM content WHERE collection_id = ? AND slug = ?", ("col-1", "hello"), False),
    "content by slug": ("SELECT * FROM content WHERE slug = ?", ("hello",), False),
    "content by author": (
        "SELECT * FROM content WHERE author_id = ? ORDER BY updated_at DESC LIMIT 20", ("u-1",), False),
    "content by author and status": (
        "SELECT id FROM content WHERE author_id = ? AND status = ? ORDER BY published_at DESC",
        ("u-1", "draft"), True),
    "live media of a folder, newest first": (
        "SELECT * FROM media WHERE folder = ? AND deleted_at IS NULL ORDER BY uploaded_at DESC LIMIT 50",
        ("uploads",), True),
    "live media": ("SELECT * FROM media WHERE deleted_at IS NULL LIMIT 50", (), False),
    "system logs, newest first": (
        "SELECT * FROM system_logs ORDER BY created_at DESC LIMIT 50", (), True),
    "system logs of a category, newest first": (
        "SELECT * FROM system_logs WHERE category = ? ORDER BY created_at DESC LIMIT 50", ("api",), True),
    "retention purge": (
        "DELETE FROM system_logs WHERE category = ? AND created_at < ?", ("api", 0), False),
    "user by email": ("SELECT * FROM users WHERE email = ?", ("a@example.com",), False),
    "active user by email (login)": (
        "SELECT * FROM users WHERE email = ? AND is_active = 1", ("a@example.com",), False),
    "API token by hash": ("SELECT * FROM api_tokens WHERE token = ?", ("hash",), False),
    "permissions of a role": (
        "SELECT p.name FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id "
        "WHERE rp.role = ?", ("editor",), False),
    "allowed transition": (
        "SELECT required_permission FROM workflow_transitions "
        "WHERE workflow_id = ? AND from_state_id = ? AND to_state_id = ?",
        ("default-workflow", "draft", "published"), False),
    "workflow history of an item": (
        "SELECT * FROM workflow_history WHERE content_id = ? ORDER BY created_at", ("c-1",), True),
    "versions of an item": (
        "SELECT * FROM content_versions WHERE content_id = ? ORDER BY version DESC", ("c-1",), True),
    "due scheduled actions (cron)": (
        "SELECT * FROM scheduled_content WHERE status = 'pending' AND scheduled_at <= ? "
        "ORDER BY scheduled_at LIMIT 100", (0,), True),
    "hook handlers in priority order": (
        "SELECT * FROM plugin_hooks WHERE hook_name = ? AND is_active = 1 ORDER BY priority",
        ("content:create",), True),
    "managed active collections": (
        "SELECT id FROM collections WHERE managed = 1 AND is_active = 1", (), False),
}

# Composite, covering and partial indexes of the seed's "Indexing Strategy", plus the unique
# slug-per-collection index the application relies on.
STRATEGY_INDEXES = {
    "idx_content_collection_status", "idx_content_author_status", "idx_media_folder_type",
    "idx_content_published_covering", "idx_active_users", "idx_published_content",
    "idx_content_collection_slug", "idx_collections_managed_active",
}

_FULL_SCAN = re.compile(r"\bSCAN (\w+)\b(?! USING (?:COVERING )?INDEX)")


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory):
    """One migrated SQLite database for all plan checks (they only read)."""
    db = open_sqlite(tmp_path_factory.mktemp("indexes") / "d1.sqlite")
    MigrationRunner(db, MIGRATIONS_DIR).apply()
    yield db
    db.close()


def query_plan(db, sql, params):
    """The ``detail`` column of EXPLAIN QUERY PLAN, one string per plan step."""
    return [row[3] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]


def full_scans(plan):
    """Tables the plan reads in full (a SCAN that is not through an index)."""
    return [match.group(1) for line in plan for match in _FULL_SCAN.finditer(line)]


@pytest.mark.parametrize("name", HOT_QUERIES)
def test_hot_query_uses_an_index(migrated_sqlite, name):
    sql, params, ordered = HOT_QUERIES[name]
    plan = query_plan(migrated_sqlite, sql, params)

    assert full_scans(plan) == [], f"{name}: full table scan in {plan}"
    if ordered:
        assert not any("TEMP B-TREE" in line for line in plan), f"{name}: sorts instead of reading in order: {plan}"


def test_full_scan_detector_catches_a_scan():
    """The check itself: an unindexed filter is reported, index scans are not."""
    assert full_scans(["SCAN media"]) == ["media"]
    assert full_scans(["SCAN system_logs USING INDEX idx_system_logs_created_at"]) == []
    assert full_scans(["SCAN c USING COVERING INDEX idx_x"]) == []


def test_unindexed_query_is_detected(migrated_sqlite):
    plan = query_plan(migrated_sqlite, "SELECT * FROM media WHERE caption = ?", ("x",))
    assert full_scans(plan) == ["media"]


def test_strategy_indexes_exist_with_their_shape(migrated_sqlite):
    found = dict(migrated_sqlite.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall())

    assert STRATEGY_INDEXES <= set(found)
    assert "WHERE is_active = 1" in found["idx_active_users"]
    assert "WHERE status = 'published'" in found["idx_published_content"]
    assert "published_at DESC" in found["idx_content_author_status"]
    assert found["idx_content_collection_slug"].startswith("CREATE UNIQUE INDEX")


def test_postgres_gets_the_same_indexes(migrated_sqlite, fresh_postgres_url):
    """The same SQL builds the same named indexes on PostgreSQL (partial and DESC included)."""
    pg = open_postgres(fresh_postgres_url)
    try:
        MigrationRunner(pg, MIGRATIONS_DIR).apply()
        pg_indexes = {name: definition for name, definition in pg.execute_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()").fetchall()}
    finally:
        pg.close_all()
    sqlite_named = {name for (name,) in migrated_sqlite.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'").fetchall()}

    assert sqlite_named <= set(pg_indexes)
    assert "WHERE (is_active = 1)" in pg_indexes["idx_active_users"]
    assert "published_at DESC" in pg_indexes["idx_content_collection_status_published"]
