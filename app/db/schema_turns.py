"""Transactions that change collection schemas or the field indexes take turns.

A schema save checks the items of a field whose type narrows with ``content`` locked in
SHARE mode (``app.services.type_changes``), counts the values of newly indexed fields
under the same lock (``app.db.derived.track_declared``), and creates and drops the field
indexes, where ``DROP INDEX`` locks ``content`` in ACCESS EXCLUSIVE mode
(``app.services.field_indexes``). SHARE is compatible with itself, so two such
transactions at once could each hold it and then each wait for the other's to drop an
index: PostgreSQL breaks that deadlock by failing one of them. Other paths that rewrite
the schemas (a backup import, a time-travel restore, the migrations) lock tables in
orders of their own.

So each of those transactions calls ``take_schema_turn`` first, before it takes any lock
on ``content`` or ``collections``: on PostgreSQL a transaction-scoped advisory lock, held
until it commits or rolls back, so they run one after the other. SQLite's write
transactions take turns already: every one holds the database's write lock from its
``BEGIN IMMEDIATE``. Content writes do not take the turn; the locks above order them, and
a write that validated data locks its collection's row first, which a save's own lock on
that row waits for (``app.services.content.locks`` gives the order). Nor does the SQL of a
``d1 execute``, which runs as its author wrote it; the field-index sync that follows it
(``follow_schemas``) does.

How long a transaction waits for its turn: a web request's (the collections API and the
admin's collection pages, ``app.services.collections``) waits at most ``wait_ms`` (the
``SCHEMA_TURN_WAIT_MS`` setting), then gives up with ``SchemaTurnBusy`` having written
nothing, which the request answers with 503 and ``Retry-After``: a migration or a restore
holding the turn for minutes would otherwise keep the request until gunicorn's timeout
ends the worker. The command line (``collections sync``, ``d1 execute``, a backup import,
a time-travel restore, the migrations, also when the admin API runs them) waits as long
as it takes: its operator started it and sees it wait. SQLite bounds every wait for its
write lock already, with the connection's busy timeout (5 s unless the database URL says
otherwise), after which the statement fails with "database is locked", a 503 in a request.
"""

import hashlib

import peewee

from app.db.database import is_postgres
from app.runtime.d1.errors import original_error

# A stable 64-bit key of its own (the migration runner's keys are derived the same way
# from other text, so the two never collide by accident).
SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"sonicpy-collection-schemas").digest()[:8], "big", signed=True)
# PostgreSQL's SQLSTATE for a lock not granted within lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"
# Bounded: the turn with lock_timeout for its wait only, then the server's default again (the app
# sets no lock_timeout of its own for the session).
_BOUNDED_TURN = ("SELECT set_config('lock_timeout', %s, true); SELECT pg_advisory_xact_lock(%s);"
                 " SET LOCAL lock_timeout TO DEFAULT")


class SchemaTurnBusy(Exception):
    """Another transaction held the schema turn for longer than the caller would wait.

    The transaction that asked is spoilt (PostgreSQL cancelled its statement) and must be
    rolled back; it had written nothing, since the turn comes first.

    Attributes:
        wait_ms: how long it waited.
    """

    def __init__(self, wait_ms):
        super().__init__(f"another transaction held the schema turn for more than {wait_ms} ms")
        self.wait_ms = wait_ms


def take_schema_turn(db, wait_ms=None):
    """Wait until no other transaction changing schemas or field indexes is open (PostgreSQL).

    Call first thing inside the transaction, not inside a savepoint of it (a savepoint
    rolled back would let the turn go early); the turn ends with the transaction. Taking it
    again in the same transaction is harmless. On SQLite, nothing: the transaction's
    ``BEGIN IMMEDIATE`` took the write lock already (waiting at most the busy timeout).

    Args:
        wait_ms: the longest wait, in milliseconds (at least 1), for a web request; None
            waits as long as it takes (the command line). Only the turn's wait is bounded:
            the locks the transaction takes after it wait as they would.

    Raises:
        SchemaTurnBusy: ``wait_ms`` passed without the turn.
    """
    if not is_postgres(db):
        return
    if wait_ms is None:
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        return
    try:
        db.execute_sql(_BOUNDED_TURN, (f"{int(wait_ms)}ms", SCHEMA_LOCK_KEY))
    except peewee.OperationalError as ex:
        if getattr(original_error(ex), "pgcode", None) == LOCK_NOT_AVAILABLE:
            raise SchemaTurnBusy(wait_ms) from ex
        raise
