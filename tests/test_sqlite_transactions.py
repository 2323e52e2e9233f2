"""``SqliteDatabase``'s transactions: each reads the schema as it begins, and one whose
first read fails leaves no transaction open on the thread's kept connection."""

import sqlite3

import peewee
import pytest

from app.db.database import open_sqlite


def _refusing_schema_reads(action, table, *_):
    """A SQLite authorizer refusing every read of ``sqlite_master`` and nothing else."""
    if action == sqlite3.SQLITE_READ and table == "sqlite_master":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def test_a_transaction_whose_schema_read_fails_is_rolled_back(tmp_path):
    db = open_sqlite(tmp_path / "d1.sqlite")
    db.execute_sql("CREATE TABLE notes (body TEXT)")
    connection = db.connection()
    connection.set_authorizer(_refusing_schema_reads)

    with pytest.raises(peewee.DatabaseError, match="not authorized"), db.atomic():
        db.execute_sql("INSERT INTO notes VALUES ('lost')")

    assert not connection.in_transaction
    connection.set_authorizer(None)
    with db.atomic():  # the kept connection starts its next transaction as any other
        db.execute_sql("INSERT INTO notes VALUES ('kept')")
    assert db.execute_sql("SELECT body FROM notes").fetchall() == [("kept",)]
    db.close()


def test_a_write_refused_by_a_full_disk_raises_that_error(tmp_path):
    # SQLite ends the transaction itself on a full disk: the ROLLBACK after it must not
    # replace the error (a database error mapped to 503 by its text) with its own.
    db = open_sqlite(tmp_path / "d1.sqlite")
    db.execute_sql("CREATE TABLE notes (body TEXT)")
    pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    db.execute_sql(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(peewee.OperationalError, match="full"):
        db.execute_sql("INSERT INTO notes VALUES (?)", ("x" * 100_000,))
    with pytest.raises(peewee.OperationalError, match="full"), db.atomic():
        db.execute_sql("INSERT INTO notes VALUES (?)", ("x" * 100_000,))

    assert not db.connection().in_transaction
    db.close()


def test_a_write_returning_rows_on_its_own_gives_them(tmp_path):
    db = open_sqlite(tmp_path / "d1.sqlite")
    db.execute_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")

    cursor = db.execute_sql("INSERT INTO notes (body) VALUES ('a'), ('b') RETURNING id, body")

    assert cursor.fetchall() == [(1, "a"), (2, "b")]
    assert db.execute_sql("SELECT count(*) FROM notes").fetchone() == (2,)
    db.close()


def test_a_write_in_manual_commit_mode_is_left_to_the_caller(tmp_path):
    db = open_sqlite(tmp_path / "d1.sqlite")
    db.execute_sql("CREATE TABLE notes (body TEXT)")

    with db.manual_commit():
        db.execute_sql("INSERT INTO notes VALUES ('kept')")

    assert db.execute_sql("SELECT body FROM notes").fetchall() == [("kept",)]
    db.close()
