"""Forward changes: the log's changes with the row each one left, to replay them on a snapshot.

The log keeps what undoes a change (the key, and the row as it was before an UPDATE or
DELETE), not the row a change wrote. That row is recovered when the changes are shipped,
without logging more on every write: walking the changes newest first from the database
as it is now (read in the same snapshot as the log), the row a change left is the row as
the next change of that key found it (its logged old row) or, with no later change, the
row as it is now. A table without a primary key logged its whole row after the change,
which is already the row it left.

Replaying a forward change is undoing its inverse, so ``undo_change`` does the work: an
INSERT is replayed as the undo of a DELETE of the row it left, an UPDATE as the undo of
an UPDATE back to that row, a DELETE as the undo of an INSERT.
"""

import json

from app.db.time_travel.triggers import LOG_TABLE, _sqlite_row, is_postgres, quote
from app.db.time_travel.undo import HistoryMismatch, _sqlite_value, insert_row, undo_change

LOG_COLUMNS = ("seq", "changed_at", "table_name", "operation", "row_key", "old_row", "tx")
_INVERSE = {"INSERT": "DELETE", "UPDATE": "UPDATE", "DELETE": "INSERT"}


def read_changes(db, after_seq, upto_seq):
    """The logged changes ``after_seq < seq <= upto_seq``, oldest first, as tuples of LOG_COLUMNS."""
    sql = f"SELECT {', '.join(LOG_COLUMNS)} FROM {LOG_TABLE} WHERE seq > ? AND seq <= ? ORDER BY seq"
    return db.execute_sql(sql.replace("?", db.param), (after_seq, upto_seq)).fetchall()


def from_line(line):
    """A shipped change (a JSON list) as a tuple of LOG_COLUMNS plus the row it left.

    Changes shipped before transactions were logged have no tx: each is then a
    transaction of its own.
    """
    if len(line) == len(LOG_COLUMNS):  # seq ... old_row, new row
        return (*line[:-1], None, line[-1])
    return tuple(line)


def with_new_rows(db, changes, specs):
    """``[change + (row it left or None,)]`` for ``changes`` (oldest first), read as described above.

    Raises:
        HistoryMismatch: a change names a table no longer tracked, or a row the database
            does not explain (writes escaped the triggers).
    """
    after = {}  # (table, key as JSON) -> the row that key held after the change being read

    def row_after(table, key):
        name = (table, json.dumps(key))
        if name not in after:
            after[name] = current_row(db, table, specs[table]["columns"], dict(zip(specs[table]["key"], key,
                                                                                    strict=True)))
        return after[name]

    result = []
    for change in reversed(changes):
        _, _, table, operation, row_key, old_row, _ = change
        spec = specs.get(table)
        if spec is None:
            raise HistoryMismatch(f"table {table} is no longer tracked")
        key, before = json.loads(row_key), None if old_row is None else json.loads(old_row)
        if not spec["key"]:
            new_row = None if operation == "DELETE" else key
        else:
            new_row = None if operation == "DELETE" else row_after(table, key)
            if operation != "DELETE" and new_row is None:
                raise HistoryMismatch(f"{operation} on {table} {row_key}: the row it wrote is not in the database")
            after[(table, json.dumps(key))] = None
            if before is not None:
                after[(table, json.dumps([before[column] for column in spec["key"]]))] = before
        result.append((*change, new_row))
    result.reverse()
    return result


def current_row(db, table, columns, key):
    """The row of ``table`` with primary key ``key`` now, in the triggers' JSON form, or None."""
    if is_postgres(db):
        record = f"jsonb_populate_record(NULL::{quote(table)}, %s::jsonb)"
        match = " AND ".join(f"target.{quote(column)} = _key.{quote(column)}" for column in key)
        row = db.execute_sql(f"SELECT to_jsonb(target.*)::text FROM {quote(table)} AS target, {record} AS _key"
                             f" WHERE {match}", (json.dumps(key),)).fetchone()
    else:
        match = " AND ".join(f"{quote(column)} = ?" for column in key)
        row = db.execute_sql(f"SELECT {_sqlite_row(columns, quote(table))} FROM {quote(table)} WHERE {match}",
                             [_sqlite_value(value) for value in key.values()]).fetchone()
    return None if row is None else json.loads(row[0])


def replay(db, change, specs):
    """Apply one forward change and put its log row back, so the history reads as it did.

    Call it with the triggers removed: the log row is the original's, not a new one.
    """
    *logged, new_row = change
    _, _, table, operation, row_key, old_row, _ = logged
    spec = specs.get(table)
    if spec is None:
        raise HistoryMismatch(f"table {table} is no longer tracked")
    key, before = json.loads(row_key), None if old_row is None else json.loads(old_row)
    if spec["key"] and operation == "UPDATE":
        key = [before[column] for column in spec["key"]]  # the row is found by its key before the change
    elif not spec["key"] and operation != "INSERT":
        key = before  # a row without a key is found by its whole self
    undo_change(db, table, _INVERSE[operation], key, new_row, spec)
    insert_row(db, LOG_TABLE, dict(zip(LOG_COLUMNS, logged, strict=True)))
