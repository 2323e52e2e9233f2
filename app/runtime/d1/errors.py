"""D1's errors: ``PREFIX: message`` with D1's prefixes (D1_ERROR, D1_TYPE_ERROR, ...)."""

import sqlite3

import peewee

try:  # psycopg2 is only needed for database_url = "postgresql://..."
    import psycopg2
except ImportError:  # pragma: no cover - exercised only without the driver installed
    psycopg2 = None


INT64_MAX = 2**63 - 1

DRIVER_ERRORS = (sqlite3.Error, peewee.PeeweeException) + ((psycopg2.Error,) if psycopg2 else ())


def pg_message(ex):
    """The driver's primary message for ``ex`` (one line: PostgreSQL's DETAIL, which may
    repeat a whole row, and its HINT are left out), else the first line of ``str(ex)``."""
    diag = getattr(ex, "diag", None)
    return (diag and diag.message_primary) or (str(ex).strip().splitlines() or [type(ex).__name__])[0]


def original_error(ex):
    """The driver's exception behind ``ex`` (or ``ex`` itself when there is none).

    Peewee re-raises driver errors as its own, keeping the original as the first argument
    or, when connecting, as the exception's context.
    """
    candidates = [ex, *(ex.args[:1]), ex.__cause__, ex.__context__]
    for candidate in candidates:
        if isinstance(candidate, DRIVER_ERRORS) and not isinstance(candidate, peewee.PeeweeException):
            return candidate
    return ex


class D1Error(Exception):
    """A failed D1 call; ``str(error)`` is ``"<prefix>: <detail>"`` as in JS.

    Attributes:
        prefix: ``D1_ERROR`` here; subclasses carry the other D1 prefixes.
        detail: the message without the prefix (JS keeps it in ``error.cause.message``).
    """

    prefix = "D1_ERROR"

    def __init__(self, detail):
        self.detail = detail
        super().__init__(f"{self.prefix}: {detail}")


class D1DumpError(D1Error):
    """``dump()`` cannot give the database as a file (it is not SQLite)."""

    prefix = "D1_DUMP_ERROR"


def with_extended_code(message, extended):
    """``message`` plus D1's `` (extended: SQLITE_CONSTRAINT_UNIQUE)`` when ``extended`` adds to it.

    Args:
        message: ``<text>: SQLITE_<PRIMARY>``.
        extended: SQLite's extended result code name, or None; a primary code adds nothing.
    """
    if not extended or extended.count("_") < 2:
        return message
    return f"{message} (extended: {extended})"


class D1TypeError(D1Error):
    """``bind()`` got a value D1 cannot store."""

    prefix = "D1_TYPE_ERROR"


class D1ColumnNotFoundError(D1Error):
    """``first(column)`` named a column the row does not have."""

    prefix = "D1_COLUMN_NOTFOUND"


class D1ExecError(D1Error):
    """A line of ``exec()`` failed; the detail names the line."""

    prefix = "D1_EXEC_ERROR"
