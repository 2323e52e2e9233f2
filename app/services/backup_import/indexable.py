"""Content ``data`` the declared field indexes cannot read, refused before anything is written.

A backup may hold a JSON column's text that is not JSON (``{"$text": ...}``), restored
verbatim, and the app reads such ``data`` as empty. But the index of a field declared
``"indexed"`` or ``"sortable"`` (``app.services.field_indexes``) reads every live row's
``data`` as JSON (SQLite's ``json_extract``, PostgreSQL's ``CAST(data AS jsonb)``), and
either database raises on text that is not; PostgreSQL's jsonb also refuses a NUL
character (``\\u0000``) in a string or key, which SQLite reads and the backup's JSON holds
escaped, so such data is refused on both alike. The import creates the indexes its
collections declare only after its commit (PostgreSQL cannot create one in a transaction
whose content rows still wait for their deferred triggers), so such a row would be
written and the index then fail: a half-done import. Refused up front instead, named as
the other refusals name their rows. A JSON document that is not an object (a number, a
list) has no fields, which the indexes read as absent: it is imported.
"""

import msgspec

from app.db.derived import declared_fields
from app.services.backup import JSON_MARKER, TEXT_MARKER, BackupError, is_marker_shaped, is_text_marker
from app.services.content.values import holds_nul


def check_indexed_data(db, backup):
    """Refuse the backup (``BackupError``, naming the first such row) when a live content
    row's ``data`` is one the field indexes cannot read (see the module docstring) while a
    collection of the backup or of the database declares a field ``indexed`` or ``sortable``."""
    fields = _declared_names(db, backup)
    if not fields:
        return
    for index, row in enumerate(backup.data.content):
        problem = _unreadable(row.get("data")) if row.get("deleted_at") is None else None
        if problem:
            names = ", ".join(repr(name) for name in sorted(fields))
            whose = "the index of the declared field" if len(fields) == 1 else "the indexes of the declared fields"
            raise BackupError(f"data.content[{index}].data: {problem}, which {whose} {names} cannot read")


def _declared_names(db, backup):
    """The names of the fields the backup's collections and the database's declare
    ``indexed`` or ``sortable``."""
    schemas = [_as_stored(row.get("schema")) for row in backup.data.collections]
    schemas += [_parsed(text) for (text,) in db.execute_sql("SELECT schema FROM collections").fetchall()]
    names = set()
    for schema in schemas:
        indexed, sortable = declared_fields(schema)
        names |= indexed | sortable
    return names


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


def _unreadable(data):
    """Why the indexes cannot read ``data`` (a backup's value), or None when they can."""
    if is_text_marker(data):
        try:
            parsed = msgspec.json.decode(data[TEXT_MARKER])
        except msgspec.DecodeError:
            return "text that is not JSON"
    else:
        parsed = _as_stored(data)
    if holds_nul(parsed):
        # SQLite reads it, but PostgreSQL's jsonb refuses the \u0000 escape: refused on both alike.
        return "JSON holding a NUL character (PostgreSQL's jsonb holds none)"
    return None
