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
