"""JSON backup of users, collections, content and media: the file's shape, and the export.

The file, in the shape SonicJS-style ``exportData`` backups use::

    {"version": "1", "timestamp": "2026-11-01T12:00:00.000Z",
     "data": {"users": [...], "collections": [...], "content": [...], "media": [...]}}

Rows are column dicts read from the database itself (every column the migrations made,
whether or not a model names it); JSON columns (``collections.schema``, ``content.data``,
``media.tags``) hold parsed values. Password hashes are included: a restore that lost them
would lock every user out, so the file is as secret as the database (the CLI writes it
mode 0600).

A JSON column may hold text that is not JSON (``media.tags = 'hero,blue'`` written with
``d1 execute``). Exported as a plain string it would come back as the JSON string
``'"hero,blue"'``, so such a value is marked: ``{"$text": "hero,blue"}``, restored
verbatim. A stored JSON value that itself has that shape (one key, ``$text`` or
``$json``) is wrapped as ``{"$json": value}`` so it cannot be mistaken for a marker, and
so is the text ``null`` (``{"$json": null}``), which must not come back as SQL NULL.
Valid JSON keeps its value exactly; only its spacing may change (it is written back as
compact JSON, the way the app writes it).

Reading a backup back in is ``app.services.backup_import``.
"""

from datetime import UTC, datetime

import msgspec

from app.db.database import read_snapshot
from app.db.models import MODELS, JSONField

BACKUP_VERSION = "1"
EXPORT_TABLES = ("users", "collections", "content", "media")
TEXT_MARKER = "$text"  # a JSON column's text that is not JSON, restored verbatim
JSON_MARKER = "$json"  # a JSON value that would otherwise read as a marker (or as NULL)


class BackupError(Exception):
    """The backup cannot be written or read; nothing was changed."""


def json_columns():
    """``{table: {column, ...}}`` of the JSON columns, as the models declare them."""
    columns = {}
    for model in MODELS:
        for fld in model._meta.sorted_fields:
            if isinstance(fld, JSONField):
                columns.setdefault(model._meta.table_name, set()).add(fld.column_name)
    return columns


def iso_timestamp(moment=None):
    """ISO 8601 in UTC with milliseconds and ``Z``, as JavaScript's ``toISOString``."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_marker_shaped(value):
    """True for ``{"$text": ...}`` and ``{"$json": ...}``: one key, a marker's."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in (TEXT_MARKER, JSON_MARKER)


def is_text_marker(value):
    """True for ``{"$text": ...}``: a JSON column's text that is not JSON, restored verbatim."""
    return is_marker_shaped(value) and TEXT_MARKER in value


def _decode_json(value):
    """A JSON column's stored text as the backup holds it (see the module docstring)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = msgspec.json.decode(value)
    except msgspec.DecodeError:
        return {TEXT_MARKER: value}  # not JSON: restored verbatim, not as a JSON string
    return {JSON_MARKER: parsed} if parsed is None or is_marker_shaped(parsed) else parsed


def export_backup(db, on_progress=None):
    """Read users, collections, content and media into the backup shape (a dict).

    Args:
        db: the DB binding's Peewee database (SQLite or PostgreSQL).
        on_progress: called as ``on_progress(table, rows)`` after each table.
    """
    decoded = json_columns()
    data = {}
    with read_snapshot(db):  # every table as of one moment
        for table in EXPORT_TABLES:
            cursor = db.execute_sql(f'SELECT * FROM "{table}" ORDER BY id')
            names = [column[0] for column in cursor.description]
            json_names = decoded.get(table, set())
            data[table] = [
                {name: (_decode_json(value) if name in json_names else value) for name, value in zip(names, row)}
                for row in cursor.fetchall()
            ]
            if on_progress:
                on_progress(table, len(data[table]))
    return {"version": BACKUP_VERSION, "timestamp": iso_timestamp(), "data": data}


def encode_backup(backup):
    """The backup as pretty JSON bytes (UTF-8)."""
    return msgspec.json.format(msgspec.json.encode(backup), indent=2) + b"\n"
