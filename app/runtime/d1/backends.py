"""How a statement runs on SQLite and on PostgreSQL, and the meta each reports."""

import datetime
import decimal
import json
import time
import uuid

from app.db import tx_marks
from app.runtime.d1.errors import D1Error, pg_message, with_extended_code
from app.runtime.d1.guard import guarded

try:  # psycopg2 is only needed for database_url = "postgresql://..."
    import psycopg2
    import psycopg2.extensions
except ImportError:  # pragma: no cover - exercised only without the driver installed
    psycopg2 = None


class SqliteBackend:
    """Runs statements on a sqlite3 connection and reads D1's meta from SQLite itself."""

    served_by = "sonicpy.sqlite"

    def run(self, conn, part, values):
        """Execute one statement; return (columns, rows, command tag, rows changed)."""
        changes_before = conn.total_changes  # counts trigger and cascade changes, as Miniflare
        cursor = conn.cursor()
        try:
            with guarded(conn):
                cursor.execute(part.text, values)
                rows = cursor.fetchall()
        except ValueError as ex:  # e.g. a lone surrogate in a str cannot be encoded
            raise D1Error(f"{ex}: SQLITE_MISMATCH") from ex
        columns = tuple(column[0] for column in cursor.description or ())
        changes = conn.total_changes - changes_before
        if changes and not conn.in_transaction:  # wrote on its own, though its first word did not say so
            tx_marks.mark_after(conn)
        return columns, rows, None, changes

    def needs_transaction(self, conn, part):
        """Whether ``part``, run on its own, needs a transaction of its own: a write, so that
        time travel's marks commit with it."""
        return not conn.in_transaction and tx_marks.may_write(part.text)

    def snapshot(self, conn):
        """State compared after the statement to tell whether the database changed."""
        # One round trip for both: the connection's last rowid and the database size.
        return conn.execute(
            "SELECT last_insert_rowid(),"
            " (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())"
        ).fetchone()

    def meta(self, conn, before, outcome):
        """D1's meta dict, computed as Miniflare computes it from SQLite."""
        after = self.snapshot(conn)
        return {
            "served_by": self.served_by,
            "duration": outcome.duration,
            "changes": outcome.changes,
            "last_row_id": after[0],
            # As Miniflare: rows changed, or the last rowid moved, or the size did (DDL).
            "changed_db": outcome.changes != 0 or after != before,
            "size_after": after[1],
            "rows_read": outcome.rows_returned + outcome.changes,
            "rows_written": outcome.changes,
        }

    @staticmethod
    def describe(ex):
        """``<sqlite message>: SQLITE_<CODE>``, then `` (extended: <name>)`` when SQLite gives one."""
        name = getattr(ex, "sqlite_errorname", None) or "SQLITE_ERROR"
        return with_extended_code(f"{ex}: {'_'.join(name.split('_')[:2])}", name)


# SQLSTATE class (or full code) -> nearest SQLite primary result code.
# SQLSTATE -> SQLite extended result code, for the errors both databases name alike.
_PG_EXTENDED = {
    "23505": "SQLITE_CONSTRAINT_UNIQUE",
    "23503": "SQLITE_CONSTRAINT_FOREIGNKEY",
    "23502": "SQLITE_CONSTRAINT_NOTNULL",
    "23514": "SQLITE_CONSTRAINT_CHECK",
}

_PG_CODES = {
    "23": "SQLITE_CONSTRAINT",
    "22": "SQLITE_MISMATCH",
    "40": "SQLITE_BUSY",
    "55P03": "SQLITE_BUSY",
    "53": "SQLITE_FULL",
    "57": "SQLITE_INTERRUPT",
    "08": "SQLITE_CANTOPEN",
    "42501": "SQLITE_AUTH",
}

SIZE_TTL = 1.0

_PG_WRITE_COMMANDS = {"INSERT", "UPDATE", "DELETE", "MERGE"}
_PG_READ_COMMANDS = {"SELECT", "SHOW", "EXPLAIN", "VALUES", "TABLE", "FETCH"}


class PostgresBackend:
    """Runs statements on a psycopg2 connection, translating placeholders and values."""

    served_by = "sonicpy.postgres"

    def __init__(self):
        self._size_cache = (0, float("-inf"))

    def run(self, conn, part, values):
        """Execute one statement; return (columns, rows, command tag, rows changed)."""
        cursor = conn.cursor()
        try:
            cursor.execute(part.pg_text, tuple(values[index - 1] for index in part.pg_order))
        except ValueError as ex:  # psycopg2 refuses NUL characters in strings
            raise D1Error(f"{ex}: SQLITE_MISMATCH") from ex
        command = (cursor.statusmessage or "").split(" ", 1)[0].upper()
        rows = [tuple(map(_pg_value, row)) for row in cursor.fetchall()] if cursor.description else []
        columns = tuple(column[0] for column in cursor.description or ())
        changes = cursor.rowcount if command in _PG_WRITE_COMMANDS and cursor.rowcount > 0 else 0
        return columns, rows, command, changes

    def needs_transaction(self, conn, part):
        """Never: PostgreSQL's trigger tells each transaction apart by itself."""
        return False

    def snapshot(self, conn):
        """Nothing to compare: the command tags tell whether the database changed."""
        return

    def meta(self, conn, before, outcome):
        """D1's meta dict; size is pg_database_size, last_row_id is lastval() after INSERT."""
        inserted = "INSERT" in outcome.commands and outcome.changes > 0
        return {
            "served_by": self.served_by,
            "duration": outcome.duration,
            "changes": outcome.changes,
            "last_row_id": (self._lastval(conn) if inserted else None) or 0,
            "changed_db": outcome.changes > 0 or any(c not in _PG_READ_COMMANDS for c in outcome.commands),
            "size_after": self._size(conn),
            "rows_read": outcome.rows_returned + outcome.changes,
            "rows_written": outcome.changes,
        }

    def _size(self, conn):
        # pg_database_size() walks the database's files (about 0.5 ms, more than a simple
        # query), so a value up to SIZE_TTL seconds old is reported instead.
        size, measured_at = self._size_cache
        if time.monotonic() - measured_at > SIZE_TTL:
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_database_size(current_database())")
                size = cursor.fetchone()[0]
            self._size_cache = (size, time.monotonic())  # one tuple: atomic for other threads
        return size

    @staticmethod
    def _lastval(conn):
        # lastval() fails when no sequence was used in this session; inside a transaction a
        # failure would abort it, so ask inside a savepoint there.
        in_transaction = conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE
        with conn.cursor() as cursor:
            if in_transaction:
                cursor.execute("SAVEPOINT d1_lastval")
            try:
                cursor.execute("SELECT lastval()")
                value = cursor.fetchone()[0]
            except psycopg2.Error:
                value = None
                if in_transaction:
                    cursor.execute("ROLLBACK TO SAVEPOINT d1_lastval")
            if in_transaction:
                cursor.execute("RELEASE SAVEPOINT d1_lastval")
        return value

    @staticmethod
    def describe(ex):
        """``<primary message>: SQLITE_<CODE>`` from a psycopg2 (or Peewee) error."""
        code = getattr(ex, "pgcode", None)
        message = pg_message(ex)
        if code is not None:
            sqlite_code = _PG_CODES.get(code, _PG_CODES.get(code[:2], "SQLITE_ERROR"))
        elif psycopg2 and isinstance(ex, psycopg2.OperationalError):
            sqlite_code = "SQLITE_CANTOPEN"  # no SQLSTATE: the server could not be reached
        else:
            sqlite_code = "SQLITE_ERROR"
        return with_extended_code(f"{message}: {sqlite_code}", _PG_EXTENDED.get(code))


def _pg_value(value):
    """Make a PostgreSQL value look like what D1 (SQLite) would return."""
    if value is None or type(value) in (int, float, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value
