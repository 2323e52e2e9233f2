"""A base snapshot of a database for shipping: every table's rows as JSON, on both backends.

Rows are written in the form the triggers log them (PostgreSQL's ``to_jsonb``; SQLite's
values with BLOBs as ``{"$blob": hex}``), so ``insert_row`` loads them back and a restore
needs no per-backend format. The schema is not in the snapshot: a database is restored
into a database migrated to the same schema (``d1 migrations apply`` on the new host),
which the tracked tables' fingerprint checks. The history tables are in it, so a restored
database keeps its history, bookmarks included.
"""

import json

from app.db.derived import is_derived
from app.db.time_travel import triggers
from app.db.time_travel.triggers import is_postgres, quote
from app.db.time_travel.undo import insert_row


def snapshot_tables(db, excluded):
    """The tables a snapshot holds: all but the excluded (migrations), SQLite's internal and
    virtual ones, and those derived from content (counts, search index), which a rebuild
    recomputes from the content it loads."""
    virtual, shadow = triggers._virtual_tables(db)
    return sorted(name for name in db.get_tables()
                  if name not in excluded and name not in virtual | shadow
                  and not name.startswith(("sqlite_", "_cf_")) and not is_derived(name))


def _jsonable(value):
    return {"$blob": value.hex()} if isinstance(value, bytes | memoryview) else value


def table_rows(db, table):
    """Yield the rows of ``table`` as dicts, in the triggers' JSON form."""
    if is_postgres(db):
        # ``t.*`` is the row even when a column is named ``t`` (``to_jsonb(t)`` would be that column).
        for (text,) in db.execute_sql(f"SELECT to_jsonb(t.*)::text FROM {quote(table)} AS t"):
            yield json.loads(text)
        return
    cursor = db.execute_sql(f"SELECT * FROM {quote(table)}")
    names = [column[0] for column in cursor.description]
    for values in cursor:
        yield {name: _jsonable(value) for name, value in zip(names, values, strict=True)}


def clear_tables(db, tables):
    """Delete every row of ``tables`` (inside the caller's transaction, foreign keys deferred)."""
    for table in tables:
        db.execute_sql(f"DELETE FROM {quote(table)}")


def load_row(db, table, row):
    """Insert one snapshot row."""
    insert_row(db, table, row)


def reset_sequences(db):
    """PostgreSQL: move every column's sequence past the loaded rows (SQLite follows by itself)."""
    if not is_postgres(db):
        return
    columns = db.execute_sql(
        "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), column_name)"
        " FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND pg_get_serial_sequence(quote_ident(table_name), column_name) IS NOT NULL").fetchall()
    for table, column, sequence in columns:
        db.execute_sql(f"SELECT setval(%s, COALESCE((SELECT MAX({quote(column)}) FROM {quote(table)}), 0) + 1, false)",
                       (sequence,))
    triggers.sync_sequence(db)
