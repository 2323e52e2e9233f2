"""Undo one logged change: delete what an INSERT added, put back what UPDATE and DELETE changed.

Every undo must touch exactly the row the log names; when it does not (the row is not
there, or a row with its key already is), the log and the database disagree, which only
happens when writes escaped the triggers, and the restore stops before anything commits.

On PostgreSQL the logged JSON is turned back into a row by ``jsonb_populate_record``, so
every column returns with its own type; on SQLite the values are bound as parameters,
with the ``$blob`` and ``$real`` wrappers of the SQLite triggers unwrapped.

A table without a primary key logged the whole row instead of a key: its INSERT and
UPDATE are undone on one row (SQLite's ``rowid``, PostgreSQL's ``ctid``) among those
equal to the logged row in every column (NULL equal to NULL; PostgreSQL compares the
columns' text forms, so types without an equality operator, such as ``json``, work too).
"""

import json

import peewee

from app.db.time_travel.triggers import is_postgres, quote


class HistoryMismatch(Exception):
    """The row a logged change names is not in the state the log says it is."""


def undo_change(db, table, operation, row_key, old_row, spec):
    """Undo one change of ``table`` (``spec``: its columns and key, as when it was logged)."""
    if spec is None:
        raise HistoryMismatch(f"table {table} is no longer tracked")
    postgres = is_postgres(db)
    try:
        if spec["key"]:
            undo = _postgres if postgres else _sqlite
            changed = undo(db, table, operation, dict(zip(spec["key"], row_key, strict=True)), old_row)
        else:
            undo = _postgres_keyless if postgres else _sqlite_keyless
            changed = undo(db, table, operation, row_key, old_row)
    except peewee.IntegrityError as ex:
        raise HistoryMismatch(f"{operation} on {table} {row_key}: {str(ex).strip().splitlines()[0]}") from ex
    if changed != 1:
        raise HistoryMismatch(f"{operation} on {table}: row {row_key} is not in the database")


def _where(key):
    return " AND ".join(f"{quote(column)} = ?" for column in key)


def _sqlite_value(value):
    if isinstance(value, dict) and "$blob" in value:
        return bytes.fromhex(value["$blob"])
    if isinstance(value, dict) and "$real" in value:
        return float(value["$real"])
    return value


def _sqlite(db, table, operation, key, old_row):
    """Undo on SQLite; returns the number of rows touched."""
    key_values = [_sqlite_value(value) for value in key.values()]
    if operation == "INSERT":
        sql, params = f"DELETE FROM {quote(table)} WHERE {_where(key)}", key_values
    elif operation == "UPDATE":
        assignments = ", ".join(f"{quote(column)} = ?" for column in old_row)
        sql = f"UPDATE {quote(table)} SET {assignments} WHERE {_where(key)}"
        params = [*map(_sqlite_value, old_row.values()), *key_values]
    else:
        columns = ", ".join(map(quote, old_row))
        sql = f"INSERT INTO {quote(table)} ({columns}) VALUES ({', '.join('?' for _ in old_row)})"
        params = [_sqlite_value(value) for value in old_row.values()]
    return db.execute_sql(sql, params).rowcount


def _postgres(db, table, operation, key, old_row):
    """Undo on PostgreSQL; returns the number of rows touched."""
    target = quote(table)
    record = f"jsonb_populate_record(NULL::{target}, %s::jsonb)"
    match = " AND ".join(f"target.{quote(column)} = _key.{quote(column)}" for column in key)
    if operation == "INSERT":
        sql = f"DELETE FROM {target} AS target USING {record} AS _key WHERE {match}"
        params = (json.dumps(key),)
    elif operation == "UPDATE":
        assignments = ", ".join(f"{quote(column)} = _old.{quote(column)}" for column in old_row)
        sql = f"UPDATE {target} AS target SET {assignments} FROM {record} AS _old, {record} AS _key WHERE {match}"
        params = (json.dumps(old_row), json.dumps(key))
    else:
        sql = f"INSERT INTO {target} SELECT * FROM {record}"
        params = (json.dumps(old_row),)
    return db.execute_sql(sql, params).rowcount


def _sqlite_keyless(db, table, operation, row, old_row):
    """Undo on an SQLite table without a primary key; ``row`` is the whole row after the change."""
    if operation == "DELETE":
        return _sqlite(db, table, operation, {}, old_row)
    target = quote(table)
    match = " AND ".join(f"{quote(column)} IS ?" for column in row)
    one_row = f"rowid = (SELECT rowid FROM {target} WHERE {match} LIMIT 1)"
    match_params = [_sqlite_value(value) for value in row.values()]
    if operation == "INSERT":
        return db.execute_sql(f"DELETE FROM {target} WHERE {one_row}", match_params).rowcount
    assignments = ", ".join(f"{quote(column)} = ?" for column in old_row)
    params = [*map(_sqlite_value, old_row.values()), *match_params]
    return db.execute_sql(f"UPDATE {target} SET {assignments} WHERE {one_row}", params).rowcount


def _postgres_keyless(db, table, operation, row, old_row):
    """Undo on a PostgreSQL table without a primary key; ``row`` is the whole row after the change."""
    if operation == "DELETE":
        return _postgres(db, table, operation, {}, old_row)
    target = quote(table)
    record = f"jsonb_populate_record(NULL::{target}, %s::jsonb)"
    match = " AND ".join(f"_match.{quote(column)}::text IS NOT DISTINCT FROM _row.{quote(column)}::text"
                         for column in row)
    one_row = f"(SELECT _match.ctid FROM {target} AS _match, {record} AS _row WHERE {match} LIMIT 1)"
    if operation == "INSERT":
        return db.execute_sql(f"DELETE FROM {target} WHERE ctid = {one_row}", (json.dumps(row),)).rowcount
    assignments = ", ".join(f"{quote(column)} = _old.{quote(column)}" for column in old_row)
    sql = f"UPDATE {target} AS target SET {assignments} FROM {record} AS _old WHERE target.ctid = {one_row}"
    return db.execute_sql(sql, (json.dumps(old_row), json.dumps(row))).rowcount


def insert_row(db, table, row):
    """Insert ``row`` (a JSON object as the triggers log rows) into ``table``, as undoing a DELETE does."""
    return (_postgres if is_postgres(db) else _sqlite)(db, table, "DELETE", {}, row)
