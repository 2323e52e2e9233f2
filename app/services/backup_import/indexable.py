"""Content ``data`` the declared field indexes cannot read, refused before anything is written.

A backup may hold a JSON column's text that is not JSON (``{"$text": ...}``), restored
verbatim, and the app reads such ``data`` as empty. But the index of a field declared
``"indexed"`` or ``"sortable"`` reads every live row's ``data`` as JSON, and either
database raises on text that is not, PostgreSQL also on a NUL character, so such data is
refused on both alike (the rule is ``app.services.field_indexes``', ``data_problem``). The
import creates the indexes its collections declare only after its commit (PostgreSQL
cannot create one in a transaction whose content rows still wait for their deferred
triggers), so such a row would be written and the index then fail: a half-done import.
Refused up front instead, named as the other refusals name their rows. A JSON document
that is not an object (a number, a list) has no fields, which the indexes read as absent:
it is imported.

The database's own live rows count too when a declared field has no index yet (one the
backup brings, say): that index, created after the commit, reads them as well. The
schemas are those the database will hold after the import: its own, and those of the
backup's collections the import inserts (``collections.placements``); a backup collection
skipped, its id or name already here, declares nothing, since its schema is not written.
They are read in the import's transaction, after its schema turn, so a collection saved
while the import was being checked is one they see.
"""

import msgspec

from app.db.derived import declared_fields
from app.services.backup import JSON_MARKER, TEXT_MARKER, BackupError, is_marker_shaped, is_text_marker
from app.services.backup_import.collections import collections_to_insert
from app.services.field_indexes import (
    data_problem,
    existing_indexes,
    fields_lacking_index,
    stored_data_problem,
    unreadable_message,
    unreadable_rows,
)


def check_indexed_data(db, backup):
    """Refuse the backup (``BackupError``) when a collection the backup inserts or of the database
    declares a field ``indexed`` or ``sortable`` and a live content row's ``data`` is one the
    field indexes cannot read (see the module docstring): a row of the backup (the first
    named), or, when such a field has no index yet, a row of the database (a few named).

    Call in the import's transaction, after its schema turn and before its first write.
    """
    schemas = _schemas(db, backup)
    fields = set()
    for schema in schemas:
        indexed, sortable = declared_fields(schema)
        fields |= indexed | sortable
    if not fields:
        return
    _check_backup_rows(db, backup, fields)
    new = fields_lacking_index(schemas, existing_indexes(db))
    items, examples = unreadable_rows(db) if new else (0, [])
    if items:
        raise BackupError(f"{unreadable_message(new, items, examples)}; the database holds them, nothing was written:"
                          " fix or delete them (or their data), then import again")


def _check_backup_rows(db, backup, fields):
    """Refuse the backup, naming the first of its live content rows whose data the indexes
    of ``fields`` could not read in ``db``."""
    for index, row in enumerate(backup.data.content):
        problem = _unreadable(db, row.get("data")) if row.get("deleted_at") is None else None
        if problem:
            names = ", ".join(repr(name) for name in sorted(fields))
            whose = "the index of the declared field" if len(fields) == 1 else "the indexes of the declared fields"
            raise BackupError(f"data.content[{index}].data: {problem}, which {whose} {names} cannot read")


def _schemas(db, backup):
    """The schemas of the collections the database will hold after the import, parsed: the
    backup's it inserts, and its own."""
    schemas = [_as_stored(row.get("schema")) for row in collections_to_insert(db, backup.data.collections)]
    return schemas + [_parsed(text) for (text,) in db.execute_sql("SELECT schema FROM collections").fetchall()]


def _as_stored(value):
    """A backup's JSON column value parsed as the database will hold it (the markers are
    described in ``app.services.backup``'s docstring)."""
    if is_text_marker(value):
        return _parsed(value[TEXT_MARKER])
    return value[JSON_MARKER] if is_marker_shaped(value) else value


def _parsed(text):
    """A JSON column's text parsed; None for text that is not JSON, which declares nothing."""
    if not isinstance(text, (str, bytes)):
        return text
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None


def _unreadable(db, data):
    """Why the indexes of ``db`` cannot read ``data`` (a backup's value), or None when they can."""
    if is_text_marker(data):
        return stored_data_problem(data[TEXT_MARKER], db)
    return data_problem(_as_stored(data))
