"""``import_backup``: the checks, then every table's rows written in ONE transaction, and a
database's refusal turned into a ``BackupError`` that does not repeat the row."""

import peewee

from app.db import content_media, derived
from app.db.database import is_postgres, refresh_statistics
from app.db.schema_turns import take_schema_turn
from app.runtime.d1.errors import pg_message
from app.services.backup import BackupError
from app.services.backup_import.archive import BackupFile, check_duplicates, check_rows, parse_backup
from app.services.backup_import.collections import import_collections
from app.services.backup_import.content import import_content
from app.services.backup_import.indexable import check_indexed_data
from app.services.backup_import.media import import_media
from app.services.backup_import.references import check_references
from app.services.backup_import.state import ImportState
from app.services.backup_import.tables import IMPORT_ORDER
from app.services.backup_import.users import import_users

# Each table's rules, called in IMPORT_ORDER with the import's state and the table's rows.
_TABLE_RULES = {"users": import_users, "collections": import_collections, "media": import_media,
                "content": import_content}
# The SQLSTATE of a foreign-key violation, whose DETAIL names the key, not the row.
_FOREIGN_KEY_VIOLATION = "23503"


def import_backup(db, source, on_progress=None):
    """Import a JSON backup (bytes, str or a parsed ``BackupFile``) in one transaction.

    Args:
        db: the DB binding's Peewee database.
        source: the file's content.
        on_progress: called as ``on_progress(table, inserted, skipped)`` after each table.

    Returns:
        An ``ImportReport``.

    Raises:
        BackupError: the file is invalid, a row needs one that is nowhere, or the database
            refused a row; nothing was written.
    """
    backup = source if isinstance(source, BackupFile) else parse_backup(source)
    columns = check_rows(db, backup)
    check_duplicates(backup)
    state = ImportState(db, columns)
    failure = None
    try:
        with db.atomic():
            take_schema_turn(db)  # collections come in too
            if is_postgres(db):
                # Counting the imported fields' values and recomputing content_media lock
                # content in SHARE mode: taken now, before the import's own rows, a content
                # write waiting for one of them (a slug the import took) cannot hold it off.
                db.execute_sql("LOCK TABLE content IN SHARE MODE")
            # Under the turn: no collection save commits a declared field after this read.
            check_indexed_data(db, backup)
            check_references(state, backup.data)  # before the first row is written
            for table in IMPORT_ORDER:
                _TABLE_RULES[table](state, getattr(backup.data, table))
                if on_progress:
                    on_progress(table, state.report.inserted[table], state.report.skipped[table])
            derived.track_declared(db)  # the imported collections' indexed fields are counted too
            if state.report.inserted["media"]:
                # Content already here may name the files that came in: its triggers ran before them.
                content_media.rebuild(db)
    except peewee.DatabaseError as ex:
        failure = failure_message(ex)
    if failure is not None:
        # Raised outside the except block, so the driver's error is neither its cause nor its
        # context: its full text may repeat the row, password hash included, and a traceback
        # (logging.exception) would print it.
        raise BackupError(f"import failed and was rolled back, nothing was written: {failure}")
    if any(state.report.inserted.values()):
        refresh_statistics(db)
    return state.report


def failure_message(ex):
    """The database's message for the error ``ex`` without the row it failed on.

    PostgreSQL's DETAIL may repeat the whole row (a NOT NULL or CHECK violation's
    ``Failing row contains (...)``), a user's password hash too, which must not reach a
    terminal or a log. Its text cannot tell which DETAIL does: the server translates it
    (``lc_messages``). So it is chosen by the error's SQLSTATE: only a foreign key's DETAIL
    (``Key (author_id)=(...) is not present``), which says which row is missing, is kept.
    """
    cause = getattr(ex, "orig", ex)  # Peewee wraps the driver's error
    message = pg_message(cause)
    detail = getattr(getattr(cause, "diag", None), "message_detail", None)
    if detail and getattr(cause, "pgcode", None) == _FOREIGN_KEY_VIOLATION:
        message = f"{message} ({detail})"
    return message
