"""``ImportState``: one import as it goes, table by table, and what every table's rules share."""

from app.services.backup import json_columns
from app.services.backup_import.report import ImportReport
from app.services.backup_import.writes import insert_rows


class ImportState:
    """One import: the id maps from backup rows to target rows, filled table by table.

    Attributes:
        db: the Peewee database, in the import's transaction.
        columns: ``{table: [column, ...]}`` of the database's columns.
        json: ``{table: {column, ...}}`` of the JSON columns.
        report: the ``ImportReport`` being filled.
        users, collections, media: backup id -> target id, or None when the row has no
            counterpart.
        dangling: per table, the ids the backup's rows name that are in neither the backup
            nor the database (``references.check_references``).
        cleared_refs: ``(table, row id, column, value)`` of optional references imported as NULL.
    """

    def __init__(self, db, columns):
        self.db = db
        self.columns = columns
        self.json = json_columns()
        self.report = ImportReport()
        self.users = {}
        self.collections = {}
        self.media = {}
        self.dangling = {"users": set(), "collections": set(), "media": set()}
        self.cleared_refs = []

    def finish(self, table, total, candidates):
        """Insert ``table``'s ``candidates`` and count its rows: those that went in, and the
        rest of its ``total`` rows as skipped (before the insert, or refused by it)."""
        inserted = insert_rows(self.db, table, self.columns[table], self.json.get(table, set()), candidates)
        self.report.inserted[table] = inserted
        self.report.skipped[table] = total - inserted

    def skip(self, table, row, why):
        """Record why ``row`` of ``table`` was not imported."""
        self.report.reasons.append(f"{table} {row['id']}: {why}")

    def user(self, user_id):
        """The target user for a backup user id (ids outside the backup are kept as they are)."""
        return self.users.get(user_id, user_id)
