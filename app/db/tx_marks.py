"""Where each SQLite transaction starts in time travel's change log (``d1_changes.tx``).

Time travel must not restore half a transaction, so each logged change says which
transaction wrote it: ``tx``, the seq of that transaction's first change. PostgreSQL's
trigger keeps it in a transaction-local setting. A SQLite trigger has nothing that lives
exactly as long as a transaction (no such setting, and a trigger of the main schema
cannot read a TEMP table), so the number is kept in the database instead: the triggers
copy ``d1_time_travel.current_tx``, and ``mark`` moves it to the seq the next change will
get. sonicpy marks when a transaction of its own that holds the write lock begins and before
one commits after writing, both under that lock; a write it runs on its own (outside a
transaction) runs in a transaction of its own for that (``may_write``). SQLite lets one
writer at a time in, so every change logged between two marks comes from the same
transaction. A statement that wrote though no keyword announced it (a CTE, DDL firing a
trigger) is marked after its own commit, as far as the lock can be had (``mark_after``).

Another program writing to the file (the sqlite3 shell) does not mark: its writes share
the number of whatever was written since sonicpy's last mark, which groups several whole
transactions as one, never splits one. So a time point can land before a few of them,
not inside any.

A copy of the database (``d1 export``) holds ``current_tx`` as a mark would leave it
(``copied_as``), so two copies of the same rows are the same.

A database without time travel (or migrated before ``current_tx`` existed) has nothing to
mark: ``mark`` does nothing there.
"""

import logging
import re
import sqlite3

log = logging.getLogger(__name__)

# The seq the next logged change gets; after a purge emptied the log, numbering continues
# from what was purged. The simple MAX() is answered from the primary key's index.
NEXT_SEQ = ("COALESCE((SELECT MAX(seq) FROM d1_changes), "
            "(SELECT purged_seq FROM d1_time_travel WHERE id = 1), 0) + 1")

# What a SQLite trigger writes as the change's tx.
CURRENT_TX = "(SELECT current_tx FROM d1_time_travel WHERE id = 1)"

# Only when a change carries the current number (it is behind the next seq then): marking
# twice in a row writes nothing, so a transaction that logged nothing dirties no page.
_STALE = f"WHERE id = 1 AND (current_tx IS NULL OR current_tx <> {NEXT_SEQ})"
_MARK = f"UPDATE d1_time_travel SET current_tx = {NEXT_SEQ} {_STALE}"
# A read, taking no write lock: whether a mark would write anything.
_MARK_NEEDED = f"SELECT 1 FROM d1_time_travel {_STALE}"

# The statements that say by their first word that they write rows.
_WRITES = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def copied_as(table, column):
    """The SQL expression a copy of the database (``d1 export``) reads ``column`` of ``table``
    through, or None to read the column as it is.

    ``current_tx`` is read as a mark would leave it. Unmarked, it is whatever the last mark
    left: after another program's writes, the next transaction of sonicpy's moves it on, even
    one that writes nothing (a read that takes the write lock marks as it begins), so two
    copies of the same rows would differ in it alone. A copy holds committed transactions
    only, so a mark where it was taken splits none.
    """
    if table == "d1_time_travel" and column == "current_tx":
        return NEXT_SEQ
    return None


def may_write(sql):
    """Whether ``sql`` starts as a statement writing rows does (INSERT, UPDATE, DELETE, REPLACE):
    run on its own, it takes a transaction of its own, which the marks frame."""
    return _WRITES.match(sql) is not None


def mark(conn):
    """Make the next change logged on SQLite connection ``conn`` start a new transaction number.

    Call it only while holding the write lock (or outside a transaction): it writes.
    """
    try:
        conn.execute(_MARK)
    except sqlite3.OperationalError as ex:
        # The statement is refused when it is prepared, which leaves the transaction as it was.
        if not str(ex).startswith("no such"):  # table d1_time_travel / column current_tx
            raise


def mark_after(conn):
    """Mark after a statement that wrote on its own and was committed with no transaction
    around it: a second, separate write, done only when needed and never failing the
    statement, which is committed already. Missed (the lock is held past the busy timeout),
    the statement's number is shared with the next writes: whole transactions grouped as
    one, none split.
    """
    try:
        if conn.execute(_MARK_NEEDED).fetchone() is not None:
            conn.execute(_MARK)
    except sqlite3.OperationalError as ex:
        if not str(ex).startswith("no such"):
            log.warning("time travel: a write's transaction number was not moved on: %s", ex)
