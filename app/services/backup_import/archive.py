"""The backup file read and checked: its shape decoded, and every row refused that no
database could store or the import could not match, before anything is written."""

from typing import Any

import msgspec

from app.runtime.d1.errors import INT64_MAX
from app.services.backup import BACKUP_VERSION, TEXT_MARKER, BackupError, is_text_marker, json_columns
from app.services.backup_import.tables import IMPORT_ORDER, SINGULAR

# The columns rows are matched by, text or null in a backup: references and unique keys.
_TEXT_COLUMNS = {
    "users": ("email", "username", "invited_by"),
    "collections": ("name",),
    "media": ("r2_key", "uploaded_by"),
    "content": ("collection_id", "slug", "author_id", "reviewer_id", "featured_image_id"),
}


class BackupData(msgspec.Struct, forbid_unknown_fields=True):
    """The file's ``data``: each table's rows, as column dicts."""

    users: list[dict[str, Any]] = []
    collections: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []


class BackupFile(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON backup file."""

    version: str
    timestamp: str
    data: BackupData


def parse_backup(source):
    """Decode and check a backup file's bytes; raise BackupError saying what is wrong."""
    text = source if isinstance(source, (bytes, str)) else bytes(source)
    head = (text[:200].decode("utf-8", "replace") if isinstance(text, bytes) else text[:200]).lstrip().upper()
    if head.startswith(("PRAGMA", "CREATE", "INSERT", "BEGIN", "--")):
        raise BackupError("this looks like an SQL dump, not a JSON backup: restore it with d1 execute DB --file FILE")
    try:
        backup = msgspec.json.decode(text, type=BackupFile)
    except msgspec.ValidationError as ex:
        raise BackupError(f"not a sonicpy JSON backup: {ex}") from None
    except msgspec.DecodeError as ex:
        raise BackupError(f"not valid JSON: {ex}") from None
    if backup.version != BACKUP_VERSION:
        raise BackupError(f"unsupported backup version {backup.version!r} (this version reads {BACKUP_VERSION!r})")
    return backup


def check_rows(db, backup):
    """Every row's columns must exist in the database, its id must be text, its references
    and unique keys text or null, its ``$text`` markers must hold text, and its values must
    be storable (no NUL character, no integer beyond 64 bits, no list or object outside a
    JSON column). Returns ``{table: [column, ...]}`` of the database's columns.

    The import matches rows by those values, in sets and lookups: a list there cannot be
    hashed, a number is not sorted with text, and neither names a row, so the backup is
    refused before anything is written rather than failing halfway or on a foreign key.
    """
    columns, json_names = {}, json_columns()
    for table in IMPORT_ORDER:
        columns[table] = [column.name for column in db.get_columns(table)]
        for index, row in enumerate(getattr(backup.data, table)):
            _check_row(f"data.{table}[{index}]", table, row, columns[table], json_names.get(table, ()))
    return columns


def _check_row(where, table, row, known, json_names):
    """``check_rows`` for one row of ``table``, named ``where`` in the error."""
    unknown = sorted(set(row) - set(known))
    if unknown:
        raise BackupError(f"{where}: unknown column {unknown[0]!r} for table {table}")
    if not isinstance(row.get("id"), str) or not row["id"]:
        raise BackupError(f"{where}: id must be a non-empty string")
    for name in _TEXT_COLUMNS[table]:
        if row.get(name) is not None and not isinstance(row[name], str):
            raise BackupError(f"{where}.{name}: must be a string or null")
    for name in json_names:
        value = row.get(name)
        if is_text_marker(value) and not isinstance(value[TEXT_MARKER], str):
            raise BackupError(f"{where}.{name}: {TEXT_MARKER} must hold a string")
    for name, value in row.items():
        if name in json_names:  # written as JSON text, escaped, unless a marker holds the text itself
            value = value[TEXT_MARKER] if is_text_marker(value) else None
        _check_storable(f"{where}.{name}", value)


def _check_storable(where, value):
    """Refuse a value one of the databases cannot store, named ``where``: PostgreSQL's text
    holds no NUL character, SQLite's integers are 64-bit. Either would escape the insert as
    the driver's ValueError or OverflowError; refused here, both databases say the same."""
    if isinstance(value, str) and "\x00" in value:
        raise BackupError(f"{where}: contains a NUL character, which PostgreSQL cannot store")
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise BackupError(f"{where}: integer out of range (the databases hold 64-bit integers)")
    if isinstance(value, (list, dict)):
        # SQLite's driver refuses one, psycopg writes a list as an array literal ('{a}'):
        # refused here, neither database stores one outside a JSON column.
        kind = "a list" if isinstance(value, list) else "an object"
        raise BackupError(f"{where}: must be a single value, not {kind} (only JSON columns hold them)")


def check_duplicates(backup):
    """Each id at most once per table, and each collection name once: a database holds them
    once, so a backup holding one twice was edited or pieced together, and which row is meant
    cannot be told (content would follow neither collection, or the wrong one)."""
    keys = [(table, "id") for table in IMPORT_ORDER] + [("collections", "name")]
    for table, column in keys:
        first = {}
        for index, row in enumerate(getattr(backup.data, table)):
            value = row.get(column)
            if value is None:
                continue  # ids and names are checked to be text or null; a missing name is the database's to refuse
            if value in first:
                raise BackupError(f"data.{table}[{first[value]}] and data.{table}[{index}] have the same {column}"
                                  f" {value!r}: a backup holds each {SINGULAR[table]} {column} once")
            first[value] = index
