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
``BEGIN IMMEDIATE``. Content writes do not take the turn; the locks above order them. Nor
does the SQL of a ``d1 execute``, which runs as its author wrote it; the field-index sync
that follows it (``follow_schemas``) does.
"""

import hashlib

from app.db.database import is_postgres

# A stable 64-bit key of its own (the migration runner's keys are derived the same way
# from other text, so the two never collide by accident).
SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"sonicpy-collection-schemas").digest()[:8], "big", signed=True)


def take_schema_turn(db):
    """Wait until no other transaction changing schemas or field indexes is open (PostgreSQL).

    Call first thing inside the transaction, not inside a savepoint of it (a savepoint
    rolled back would let the turn go early); the turn ends with the transaction. Taking it
    again in the same transaction is harmless. On SQLite, nothing: the transaction's
    ``BEGIN IMMEDIATE`` took the write lock already.
    """
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
