"""Lookups of child rows search an index: the app's and the database's own foreign-key work.

Migration 0023 dropped the indexes that were prefixes of others. Each dropped index served
lookups by its leading columns: the app's queries by collection, author, status, an item's
versions and its history, and the database's own foreign-key work (deleting a user, a
collection or a content row looks up the rows referring to it, or deletes them by ON
DELETE CASCADE). Migration 0028 indexes content.featured_image_id (partially: only rows
with an image), which purging a media file looks up twice: the app's "is it in use" query
and the foreign-key check of the DELETE. Every such lookup is planned here, on SQLite and
on PostgreSQL, and must search an index whose leading column is the one looked up.

* SQLite: EXPLAIN QUERY PLAN for the queries; for the foreign-key work, which the query
  plan does not show, the bytecode of the DELETE (EXPLAIN), whose trigger programs are
  listed with it: a child table read through an index is opened by that index's b-tree, a
  scanned one by the table's own.
* PostgreSQL: EXPLAIN with sequential scans switched off for the statement, so the plan
  is an index scan exactly when a usable index exists. Its foreign-key work runs the
  statements its referential-integrity triggers run, planned here as such.
"""

import re
from pathlib import Path

import pytest

from app.db.database import open_postgres, open_sqlite
from app.db.migrations import MigrationRunner

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

DROPPED = {
    "content": ("idx_content_collection", "idx_content_collection_status", "idx_content_author", "idx_content_status"),
    "content_versions": ("idx_content_versions_content",),
    "workflow_history": ("idx_workflow_history_content",),
}

# (table, the column the index must lead with, SQL with %s placeholders): what the dropped
# indexes were used for.
LOOKUPS = {
    "content of a collection": ("content", "collection_id", "SELECT id FROM content WHERE collection_id = %s"),
    "content of a collection by status": (
        "content", "collection_id", "SELECT COUNT(*) FROM content WHERE collection_id = %s AND status = %s"),
    "content of an author": ("content", "author_id", "SELECT id, title FROM content WHERE author_id = %s"),
    "content by status": ("content", "status", "SELECT COUNT(*) FROM content WHERE status = %s"),
    "versions of an item": (
        "content_versions", "content_id", "SELECT * FROM content_versions WHERE content_id = %s ORDER BY version DESC"),
    "versions of an item, purged": ("content_versions", "content_id", "DELETE FROM content_versions WHERE content_id = %s"),
    "history of an item": (
        "workflow_history", "content_id", "SELECT * FROM workflow_history WHERE content_id = %s ORDER BY created_at"),
    "content using a media file as featured image": (
        "content", "featured_image_id", "SELECT id FROM content WHERE featured_image_id = %s LIMIT 20"),
}

# Deleting a parent row: (DELETE statement, child table, child column, ON DELETE CASCADE?).
FOREIGN_KEYS = {
    "deleting a user checks content.author_id": ("DELETE FROM users WHERE id = %s", "content", "author_id", False),
    "deleting a collection checks content.collection_id": (
        "DELETE FROM collections WHERE id = %s", "content", "collection_id", False),
    "deleting content checks content_versions.content_id": (
        "DELETE FROM content WHERE id = %s", "content_versions", "content_id", False),
    "deleting content cascades to workflow_history.content_id": (
        "DELETE FROM content WHERE id = %s", "workflow_history", "content_id", True),
    "deleting media checks content.featured_image_id": (
        "DELETE FROM media WHERE id = %s", "content", "featured_image_id", False),
}


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory):
    db = open_sqlite(tmp_path_factory.mktemp("prefix-indexes") / "d1.sqlite")
    MigrationRunner(db, MIGRATIONS_DIR).apply()
    yield db
    db.close()


@pytest.fixture(scope="module")
def postgres_db(postgres_server):
    url = postgres_server.create_database("prefix_indexes")
    db = open_postgres(url)
    MigrationRunner(db, MIGRATIONS_DIR).apply()
    yield db
    db.close_all()
    postgres_server.drop_database("prefix_indexes")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def planner(request):
    """The backend's plan checks, over a migrated database."""
    if request.param == "sqlite":
        return SqlitePlanner(request.getfixturevalue("sqlite_db"))
    return PostgresPlanner(request.getfixturevalue("postgres_db"))


class SqlitePlanner:
    def __init__(self, db):
        self.db = db

    def indexes(self, table):
        rows = self.db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))
        return {name for (name,) in rows.fetchall()}

    def leading_column(self, index):
        return self.db.execute_sql(f'PRAGMA index_info("{index}")').fetchall()[0][2]

    def lookup_indexes(self, sql, table, params):
        """The indexes the plan searches ``table`` with (empty: it scans it)."""
        plan = [row[3] for row in self.db.execute_sql(f"EXPLAIN QUERY PLAN {sql.replace('%s', '?')}", params)]
        steps = [line for line in plan if re.match(rf"(SEARCH|SCAN) {table}\b", line)]
        assert steps, plan
        return {match.group(1) for line in steps
                for match in [re.search(r"USING (?:COVERING )?INDEX (\w+)", line)] if match}

    def foreign_key_indexes(self, delete, table, column, cascade):
        """The b-trees of ``table`` the DELETE's foreign-key work opens (an index's name, or the table's)."""
        names = dict(self.db.execute_sql(
            "SELECT rootpage, name FROM sqlite_master WHERE tbl_name = ? AND rootpage", (table,)).fetchall())
        rows = self.db.execute_sql(f"EXPLAIN {delete.replace('%s', '?')}", ("x",)).fetchall()
        # The cursor that finds the rows reads (a cascade's DELETE also opens the table and
        # all its indexes to write them).
        return {names[row[3]] for row in rows if row[1] == "OpenRead" and row[3] in names}


class PostgresPlanner:
    def __init__(self, db):
        self.db = db

    def indexes(self, table):
        rows = self.db.execute_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s", (table,))
        return {name for (name,) in rows.fetchall()}

    def leading_column(self, index):
        return self.db.execute_sql(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace", (index,)).fetchone()[0]

    def lookup_indexes(self, sql, table, params):
        with self.db.atomic() as transaction:
            self.db.execute_sql("SET LOCAL enable_seqscan = off")
            plan = [row[0] for row in self.db.execute_sql(f"EXPLAIN {sql}", params).fetchall()]
            transaction.rollback()
        assert any(re.search(rf" on {table}\b", line) for line in plan), plan
        return {match.group(1) for line in plan
                for match in [re.search(r"Index (?:Only )?Scan (?:Backward )?using (\w+) on", line)
                              or re.search(r"Bitmap Index Scan on (\w+)", line)] if match}

    def foreign_key_indexes(self, delete, table, column, cascade):
        # What PostgreSQL's referential-integrity triggers run for each deleted parent row.
        if cascade:
            sql = f'DELETE FROM ONLY "{table}" WHERE %s OPERATOR(pg_catalog.=) "{column}"'
        else:
            sql = f'SELECT 1 FROM ONLY "{table}" x WHERE %s OPERATOR(pg_catalog.=) "{column}" FOR KEY SHARE OF x'
        return self.lookup_indexes(sql, table, ("x",))


def test_the_prefix_indexes_are_gone(planner):
    for table, names in DROPPED.items():
        assert not set(names) & planner.indexes(table)


@pytest.mark.parametrize("name", LOOKUPS)
def test_their_lookups_still_search_an_index(planner, name):
    table, column, sql = LOOKUPS[name]

    used = planner.lookup_indexes(sql, table, ("x",) * sql.count("%s"))

    assert used, f"{name}: {table} is scanned"
    assert {planner.leading_column(index) for index in used} == {column}, used


@pytest.mark.parametrize("name", FOREIGN_KEYS)
def test_foreign_key_work_still_searches_an_index(planner, name):
    delete, table, column, cascade = FOREIGN_KEYS[name]

    used = planner.foreign_key_indexes(delete, table, column, cascade)

    assert used and table not in used, f"{name}: {table} is scanned ({used})"
    assert column in {planner.leading_column(index) for index in used}, used


def test_the_sqlite_check_sees_a_scanned_child_table(sqlite_db):
    """The check itself: content_versions.author_id has no index, so deleting a user scans it."""
    opened = SqlitePlanner(sqlite_db).foreign_key_indexes("DELETE FROM users WHERE id = %s", "content_versions",
                                                         "author_id", False)
    assert opened == {"content_versions"}


@pytest.mark.postgres
def test_the_postgres_check_sees_a_scanned_child_table(postgres_db):
    """The check itself: content_versions.author_id has no index, so its lookup is a sequential scan."""
    used = PostgresPlanner(postgres_db).foreign_key_indexes(
        "DELETE FROM users WHERE id = %s", "content_versions", "author_id", False)
    assert used == set()
