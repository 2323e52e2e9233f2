"""On PostgreSQL the count triggers run at commit: a writer holds its collection and status's
counter row only while it commits, so concurrent creates there do not queue behind each
other's whole transaction, and the counts stay exact."""

import psycopg2
import pytest

from app.db import derived
from app.db.database import open_postgres
from app.db.migrations import MigrationRunner
from tests.fixtures.app import MIGRATIONS

pytestmark = pytest.mark.postgres

INSERT = ("INSERT INTO content (id, collection_id, slug, title, data, status, author_id, created_at, updated_at)"
          " VALUES (%s, 'col-a', %s, 'T', '{}', 'draft', 'u-1', 1, 1)")


@pytest.fixture
def url(migrated_postgres_url):
    """A migrated database of the test's own holding a user, a collection and one draft
    (so the counter row of ('col-a', 'draft', live) exists)."""
    db = open_postgres(migrated_postgres_url)
    with db.atomic():
        db.execute_sql("INSERT INTO users (id, email, username, first_name, last_name, role, created_at, updated_at)"
                       " VALUES ('u-1', 'a@example.com', 'a', 'A', 'B', 'editor', 1, 1)")
        db.execute_sql("INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                       " VALUES ('col-a', 'a', 'A', '{}', 1, 1)")
        db.execute_sql(INSERT, ("c-0", "s-0"))
    db.close_all()
    return migrated_postgres_url


def _connect(url, lock_timeout_ms=None):
    conn = psycopg2.connect(url)
    if lock_timeout_ms is not None:
        with conn.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {lock_timeout_ms}")
        conn.commit()
    return conn


def _count(url):
    with _connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT n FROM content_counts WHERE collection_id = 'col-a' AND status = 'draft' AND deleted = 0")
        return cursor.fetchone()[0]


def test_the_count_triggers_are_deferred_to_the_commit(url):
    with _connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT tgname, tgdeferrable, tginitdeferred FROM pg_trigger"
                       " WHERE tgrelid = 'content'::regclass AND tgname LIKE %s", (derived.TRIGGER_PREFIX + "count%",))
        assert sorted(cursor.fetchall()) == [(name, True, True) for name in sorted(derived.PG_COUNT_TRIGGERS)]


def test_a_second_writer_commits_while_the_first_is_still_open(url):
    first, second = _connect(url), _connect(url, lock_timeout_ms=1000)
    try:
        with first.cursor() as cursor:
            cursor.execute(INSERT, ("c-1", "s-1"))  # open: its count waits for its commit
        with second.cursor() as cursor:
            cursor.execute(INSERT, ("c-2", "s-2"))
        second.commit()  # took and released the counter row without waiting for the first
        assert _count(url) == 2
        first.commit()
    finally:
        first.close()
        second.close()
    assert _count(url) == 3


def test_a_rolled_back_write_counts_nothing(url):
    conn = _connect(url)
    with conn.cursor() as cursor:
        cursor.execute(INSERT, ("c-1", "s-1"))
        cursor.execute("UPDATE content SET status = 'published' WHERE id = 'c-0'")
    conn.rollback()
    conn.close()
    assert _count(url) == 1


def test_a_move_and_a_delete_count_at_commit(url):
    with _connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(INSERT, ("c-1", "s-1"))
        cursor.execute("UPDATE content SET status = 'published' WHERE id = 'c-1'")
        cursor.execute("DELETE FROM content WHERE id = 'c-0'")
    with _connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT status, deleted, n FROM content_counts WHERE collection_id = 'col-a' ORDER BY status")
        assert cursor.fetchall() == [("draft", 0, 0), ("published", 0, 1)]


def test_a_rebuild_after_writes_in_its_own_transaction_counts_them_once(url):
    db = open_postgres(url)
    try:
        with db.atomic():
            db.execute_sql(INSERT, ("c-1", "s-1"))
            derived.rebuild(db)
            db.execute_sql(INSERT, ("c-2", "s-2"))
    finally:
        db.close_all()
    assert _count(url) == 3


def test_an_earlier_install_s_plain_triggers_are_replaced(url):
    db = open_postgres(url)
    try:
        with db.atomic():
            for name, timing in derived.PG_COUNT_TRIGGERS.items():
                db.execute_sql(f"DROP TRIGGER {name} ON content")
                db.execute_sql(f"CREATE TRIGGER {name} {timing} FOR EACH ROW"
                               f" EXECUTE FUNCTION {derived.PG_COUNT_FUNCTION}()")
        MigrationRunner(db, MIGRATIONS).apply()
        with db.atomic():
            db.execute_sql(INSERT, ("c-1", "s-1"))
    finally:
        db.close_all()
    test_the_count_triggers_are_deferred_to_the_commit(url)
    assert _count(url) == 2
