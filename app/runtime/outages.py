"""Whether a database error means "come back later", told by the driver's error code.

A request that fails on the database either found it busy (another transaction held a
lock, the server was short of connection slots: over within a second as a rule), found it
unreachable (no server answered, it is shutting down, the file cannot be opened or
written: seconds at least), or hit a bug (the SQL is wrong for this schema), which no
wait cures. ``database_outage(ex)`` tells them apart by what the driver says the error
is: PostgreSQL's SQLSTATE (psycopg2's ``pgcode``) and SQLite's result code
(``sqlite_errorcode``), which hold whatever the server's language (``lc_messages``) and
whatever the wording of the message. Only an error that carries no code at all (raised by
Peewee or the driver itself, not by the server) is told by words of its message.

The driver's exception is found behind the ones that wrap it: Peewee re-raises it as its
own (``new_type(exc_value, *exc_args)`` while handling it, so it is the new exception's
context too), and its exceptions keep a first argument that is an exception as ``orig``;
a binding's error (``D1Error``, ``KVError``) is raised ``from`` it.

PostgreSQL:

* busy: 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available
  (``lock_timeout``), 57014 query_canceled (``statement_timeout``, or a cancel by an
  operator: the statement waited on locks or a loaded server past the operator's bound,
  as a lock timeout does; the server is answering, so the shorter wait), 53300
  too_many_connections (the server answered; its slots are other clients' and free as
  their requests end, as our own pool's do). psycopg2 gives no SQLSTATE for an error while
  connecting, so a server refusing a new connection as full is unreachable in practice;
* unreachable: class 08 (connection exception), 57P01..57P05 (shut down by an operator or
  a crash, cannot connect now, database dropped, idle session ended), 53100 disk_full (no
  write can succeed until an operator frees space), and an ``OperationalError`` or
  ``InterfaceError`` without a SQLSTATE: no server answered (connection refused, dropped,
  already closed).

The rest of class 53 is the statement's own: 53200 out_of_memory and 53400
configuration_limit_exceeded (``temp_file_limit``) are what one query asked for past the
server's bounds, and it would ask again on every retry (a 500, as a bug is).

SQLite (the primary result code of the extended one):

* busy: SQLITE_BUSY and SQLITE_LOCKED (another connection holds the lock past the busy
  timeout), SQLITE_PROTOCOL (a WAL lock race lost repeatedly);
* unreachable: SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_READONLY, SQLITE_FULL (the disk is
  full: no write can succeed until space is freed, which the request cannot cause or cure),
  SQLITE_NOTADB and SQLITE_CORRUPT (the file is not a usable database: the binding is down,
  not the request wrong).

Any other code is the statement's own error (a bug): ``None``.
"""

import enum
import sqlite3

import peewee
from playhouse.pool import MaxConnectionsExceeded

try:  # psycopg2 is only needed for database_url = "postgresql://..."
    import psycopg2
except ImportError:  # pragma: no cover - exercised only without the driver installed
    psycopg2 = None


class Outage(enum.Enum):
    """Why a database could not serve a request now."""

    BUSY = "busy"
    UNREACHABLE = "unreachable"


_PG_BUSY = {"40001", "40P01", "55P03", "57014", "53300"}
_PG_UNREACHABLE_PREFIXES = ("08", "57P", "53100")

_SQLITE_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL}
_SQLITE_UNREACHABLE = {
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT,
}

# For an error without a code only (raised by Peewee or the driver, not by the database).
_BUSY_WORDS = ("locked", "busy", "lock timeout")
_UNREACHABLE_WORDS = (
    "unable to open", "disk i/o", "readonly database", "could not connect", "connection", "server closed",
    "timeout", "timed out", "terminating", "shutting down",
)

_DRIVER_ERRORS = (sqlite3.Error,) + ((psycopg2.Error,) if psycopg2 else ())
# How far to look behind wrappers: Peewee's, then a binding's (D1Error -> Peewee -> driver).
_MAX_DEPTH = 4


def database_outage(ex):
    """``Outage.BUSY`` or ``Outage.UNREACHABLE`` when ``ex`` says the database cannot serve
    now, or None: not a database error, or the statement's own (a bug, a constraint).

    Args:
        ex: a driver error (sqlite3, psycopg2), Peewee's wrapper of one, an error raised
            ``from`` either (``D1Error``, ``KVError``), or the pool's ``MaxConnectionsExceeded``.
    """
    if isinstance(ex, MaxConnectionsExceeded):
        return Outage.BUSY  # every pooled connection stayed taken past the pool's wait
    driver = driver_error(ex)
    if isinstance(driver, sqlite3.Error) and getattr(driver, "sqlite_errorcode", None) is not None:
        return _sqlite_outage(driver.sqlite_errorcode)
    if psycopg2 is not None and isinstance(driver, psycopg2.Error):
        if driver.pgcode is not None:
            return _postgres_outage(driver.pgcode)
        if isinstance(driver, psycopg2.OperationalError | psycopg2.InterfaceError):
            return Outage.UNREACHABLE
    coded_nowhere = driver if driver is not None else _wrapper(ex)
    if isinstance(coded_nowhere, sqlite3.OperationalError | peewee.OperationalError) or (
            psycopg2 is not None and isinstance(coded_nowhere, psycopg2.OperationalError)):
        return _outage_by_words(str(coded_nowhere))
    return None


def driver_error(ex):
    """The sqlite3 or psycopg2 exception behind ``ex`` (``ex`` itself when it is one), or None."""
    seen, layer = set(), [ex]
    for _ in range(_MAX_DEPTH):
        following = []
        for candidate in layer:
            if candidate is None or id(candidate) in seen:
                continue
            seen.add(id(candidate))
            if isinstance(candidate, _DRIVER_ERRORS):
                return candidate
            if isinstance(candidate, BaseException):
                following += [getattr(candidate, "orig", None), *candidate.args[:1], candidate.__cause__,
                              candidate.__context__]
        layer = following
    return None


def _wrapper(ex):
    """The Peewee error ``ex`` is or was raised from (a D1Error's cause), for an error with no driver's."""
    for candidate in (ex, ex.__cause__, ex.__context__):
        if isinstance(candidate, peewee.PeeweeException):
            return candidate
    return None


def _sqlite_outage(code):
    primary = code & 0xFF  # an extended code (SQLITE_BUSY_SNAPSHOT) keeps its primary in the low byte
    if primary in _SQLITE_BUSY:
        return Outage.BUSY
    if primary in _SQLITE_UNREACHABLE:
        return Outage.UNREACHABLE
    return None


def _postgres_outage(code):
    if code in _PG_BUSY:
        return Outage.BUSY
    if code.startswith(_PG_UNREACHABLE_PREFIXES):
        return Outage.UNREACHABLE
    return None


def _outage_by_words(text):
    text = text.lower()
    if any(word in text for word in _BUSY_WORDS):
        return Outage.BUSY
    if any(word in text for word in _UNREACHABLE_WORDS):
        return Outage.UNREACHABLE
    return None
