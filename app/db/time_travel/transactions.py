"""Transactions in the change log: the points a restore may reach and what each leaves out.

Each logged change carries ``tx``, the seq of the first change of the transaction that
wrote it (NULL for changes logged before migration 0033: each of those counts as a
transaction of its own). A transaction commits with its last change, and that change's
time is the transaction's time.

A bookmark's ``seq`` S names the state holding exactly the transactions whose last change
is at or before S: whole transactions only, never part of one. On SQLite
transactions never overlap (one writer at a time), so that is every change up to S. On
PostgreSQL they run side by side: a transaction may have begun before S and committed
after it (it straddles S). Its changes at or before S are left out with the rest of it:
a restore undoes them, a rebuild from the bucket does not replay them. Leaving them out
while keeping the changes of the transactions that committed in between is sound: two
transactions in flight at once never wrote the same row (the first holds the row's lock
until it commits), and foreign keys are checked once, at the end. (A transaction's last
change may come a little before its commit, so of two committing at nearly the same
moment a point may keep the second without the first: a state no reader saw, each row of
it as its own transaction left it.)
"""

from app.db.time_travel.triggers import LOG_TABLE


def _sql(db, text):
    return text.replace("?", db.param)


def commit_at_or_before(db, seq, at_ms=None):
    """``(seq, time)`` of the last change at or before ``seq`` that commits its transaction, or None.

    With ``at_ms``, only a change made at or before that time (epoch ms) counts. The
    search walks back from ``seq`` over the changes of transactions that commit later
    (typically none or those of one long transaction).
    """
    when = "" if at_ms is None else " AND changed_at <= ?"
    sql = (f"SELECT seq, changed_at FROM {LOG_TABLE} WHERE seq <= ?{when}"
           f" AND NOT EXISTS (SELECT 1 FROM {LOG_TABLE} later WHERE later.tx = {LOG_TABLE}.tx"
           f" AND later.seq > {LOG_TABLE}.seq) ORDER BY seq DESC LIMIT 1")
    return db.execute_sql(_sql(db, sql), (seq,) if at_ms is None else (seq, at_ms)).fetchone()


def enclosing(db, seq):
    """``(first seq, last seq, last change's time)`` of the transaction change ``seq`` is inside of.

    None when ``seq`` is the last change of its transaction, or names no change.
    """
    sql = (f"SELECT later.tx, later.seq, later.changed_at FROM {LOG_TABLE} this"
           f" JOIN {LOG_TABLE} later ON later.tx = this.tx AND later.seq > this.seq"
           " WHERE this.seq = ? ORDER BY later.seq DESC LIMIT 1")
    row = db.execute_sql(_sql(db, sql), (seq,)).fetchone()
    return None if row is None else tuple(row)


def delete_committed_through(db, seq):
    """Delete the changes of the transactions committed at or before ``seq``; return how many.

    A transaction straddling ``seq`` keeps its earlier changes, so a restore to ``seq``
    can still leave it out whole.
    """
    sql = (f"DELETE FROM {LOG_TABLE} WHERE seq <= ? AND (tx IS NULL OR NOT EXISTS"
           f" (SELECT 1 FROM {LOG_TABLE} later WHERE later.tx = {LOG_TABLE}.tx AND later.seq > ?))")
    return db.execute_sql(_sql(db, sql), (seq, seq)).rowcount


def committed_by(changes, at_ms):
    """Which of ``changes`` (oldest first, as shipped) the state at ``at_ms`` holds.

    ``changes`` are tuples of seq, time, ..., and tx seventh. Returns ``(kept, point)``:
    ``point`` is the seq of the last commit made by ``at_ms`` (None when there was none),
    ``kept`` the changes of the transactions committed at or before it.
    """
    ends = {}  # transaction -> (seq, time) of its last change
    for change in changes:
        ends[_transaction(change)] = (change[0], change[1])
    point = max((seq for seq, at in ends.values() if at <= at_ms), default=None)
    if point is None:
        return [], None
    return [change for change in changes if ends[_transaction(change)][0] <= point], point


def _transaction(change):
    """What groups a change with the others of its transaction: its tx, or itself without one."""
    seq, tx = change[0], change[6]
    return ("tx", tx) if tx is not None else ("seq", seq)
