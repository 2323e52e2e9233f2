"""Writing the rows: inserts that skip a row whose key is taken, and JSON columns' markers undone."""

import msgspec
import peewee

from app.services.backup import JSON_MARKER, TEXT_MARKER, is_marker_shaped, is_text_marker

_MAX_PARAMS = 900  # parameters per INSERT (SQLite builds before 3.32 allow 999)
_MISSING = object()  # a column the row leaves out, which takes the column's DEFAULT


def insert_rows(db, table, names, json_names, rows):
    """Insert ``rows`` (dicts) of ``table`` with ON CONFLICT DO NOTHING; return how many went in.

    Args:
        db: the Peewee database, in the import's transaction.
        table: the table's name.
        names: the table's columns.
        json_names: those of its columns that hold JSON.
        rows: the rows to insert, as column dicts.
    """
    if not rows:
        return 0
    target = peewee.Table(table, names).bind(db)
    per_chunk = max(1, _MAX_PARAMS // len(names))
    inserted = 0
    for start in range(0, len(rows), per_chunk):
        chunk = [
            tuple(_encode(row.get(n), n in json_names) if n in row else _MISSING for n in names)
            for row in rows[start:start + per_chunk]
        ]
        inserted += _insert_chunk(target, names, chunk)
    return inserted


def _insert_chunk(target, names, chunk):
    # Columns a row leaves out take the column's DEFAULT: insert such rows one shape at a time.
    inserted = 0
    for shape in {tuple(v is _MISSING for v in row) for row in chunk}:
        used = [n for n, missing in zip(names, shape) if not missing]
        rows = [tuple(v for v in row if v is not _MISSING) for row in chunk
                if tuple(v is _MISSING for v in row) == shape]
        query = target.insert(rows, columns=[peewee.Column(target, n) for n in used])
        inserted += query.on_conflict(action="NOTHING").as_rowcount().execute()
    return inserted


def _encode(value, is_json):
    """The column value to insert; a JSON column's markers undone (they are described in
    ``app.services.backup``'s docstring)."""
    if not is_json or value is None:
        return value
    if is_text_marker(value):
        return value[TEXT_MARKER]
    if is_marker_shaped(value):
        value = value[JSON_MARKER]
    return msgspec.json.encode(value).decode()
