"""Bookmarks, arming, restoring and purging the change log.

A bookmark names a state of the database: a change (``seq``), the time it stands for and
the id of the history it belongs to, as ``<seq>-<epoch ms>-<log id>`` in hex, so bookmarks
sort oldest first as wrangler's do. The state holds the transactions committed at or before
that change (see ``transactions``): on SQLite every change up to it; a time names the last
commit made by then. Restoring to it undoes every logged change the state does not hold,
newest first, in one transaction; the restore's own writes are logged like any others, so
the bookmark taken just before it undoes it.

The earliest reachable point is the later of the last arming (a migration that changed a
table or wrote rows, or triggers found missing or outdated: a restore never crosses a
schema change) and the last purge (changes older than the retention window are deleted by
the cron handler).
"""

import json
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import peewee

from app.db import content_media, derived
from app.db.models import DAY_MS
from app.db.schema_turns import take_schema_turn
from app.db.time_travel import credentials, transactions, triggers
from app.db.time_travel.triggers import LOG_TABLE, META_TABLE, is_postgres, quote
from app.db.time_travel.undo import HistoryMismatch, undo_change

_BOOKMARK = re.compile(r"([0-9a-f]{16})-([0-9a-f]{12})-([0-9a-f]{32})")


# The last millisecond an RFC 3339 time can name (9999-12-31T23:59:59.999Z): later points
# cannot even be printed.
LATEST_MS = 253_402_300_799_999


class TimeTravelError(Exception):
    """A point cannot be reached or restored; the message says why and what to do."""


@dataclass(frozen=True)
class Bookmark:
    """A state of the database: every change up to ``seq``, standing for time ``at_ms``."""

    seq: int
    at_ms: int
    log_id: str

    def __str__(self):
        return f"{self.seq:016x}-{self.at_ms:012x}-{self.log_id}"

    @classmethod
    def parse(cls, text):
        """Read a bookmark printed by ``str()``; TimeTravelError when it is not one."""
        match = _BOOKMARK.fullmatch((text or "").strip().lower())
        if match is None:
            raise TimeTravelError(f"{text!r} is not a bookmark (they look like 0000000000000123-018f2a3b4c5d-<32 hex>)")
        at_ms = int(match.group(2), 16)
        if at_ms > LATEST_MS:
            raise TimeTravelError(f"{text!r} is not a bookmark: its time is past the year 9999")
        return cls(int(match.group(1), 16), at_ms, match.group(3))


@dataclass(frozen=True)
class History:
    """The row of ``d1_time_travel`` plus the newest change."""

    log_id: str
    armed_seq: int
    armed_at: int
    armed_by: str
    purged_seq: int
    purged_at: int
    excluded: tuple
    fingerprint: str
    current_seq: int

    @property
    def floor_seq(self):
        """The oldest change a restore may go back to."""
        return max(self.armed_seq, self.purged_seq)

    @property
    def floor_at(self):
        """The earliest time a restore may go back to (epoch ms)."""
        return max(self.armed_at, self.purged_at)


def _sql(db, text):
    """``text`` written with ``?`` placeholders, in ``db``'s parameter style."""
    return text.replace("?", db.param)


def _scalar(db, text, params=()):
    return db.execute_sql(_sql(db, text), params).fetchone()[0]


def read_history(db):
    """The history of ``db``; TimeTravelError when it has none."""
    if not triggers.installed(db):
        raise TimeTravelError("this database keeps no history: apply the migrations (`d1 migrations apply`) "
                              "to install time travel")
    row = db.execute_sql(f"SELECT log_id, armed_seq, armed_at, armed_by, purged_seq, purged_at, excluded,"
                         f" fingerprint FROM {META_TABLE} WHERE id = 1").fetchone()
    if row is None:
        raise TimeTravelError("history is installed but was never armed: run `d1 migrations apply`")
    current = _scalar(db, f"SELECT MAX(seq) FROM {LOG_TABLE}")
    log_id, armed_seq, armed_at, armed_by, purged_seq, purged_at, excluded, fingerprint = row
    return History(log_id, armed_seq, armed_at, armed_by, purged_seq, purged_at,
                   tuple(json.loads(excluded)), fingerprint, max(current or 0, armed_seq, purged_seq))


@contextmanager
def _settled(db):
    """A read of the log that sees no write in flight.

    PostgreSQL hands out ``seq`` before commit, so a bookmark read while a writer is
    between its change and its commit could name a state that never existed: the SHARE
    lock waits for such writers and holds new ones back for the read. SQLite serialises
    writers already; the read takes the write lock, so that its begin marks the end of
    the writes before it (``app.db.tx_marks``): a write another program made just before
    and one after the bookmark then never share a transaction number.
    """
    if is_postgres(db):
        with db.atomic():
            _lock(db)
            yield
    else:
        with db.atomic("IMMEDIATE"):
            yield


def _lock(db, tables=(), mode="SHARE"):
    """PostgreSQL: wait for writers still logging changes (and, EXCLUSIVE, keep new ones out)."""
    if is_postgres(db):
        names = ", ".join(quote(name) for name in (*tables, LOG_TABLE))
        db.execute_sql(f"LOCK TABLE {names} IN {mode} MODE")


# -------------------------------------------------------------------------------- arming

def arm(db, armed_by, excluded=()):
    """Install the triggers for the current schema unless they are installed already.

    Call it inside the caller's transaction (the migration runner's). A schema that changed
    since the last arming (or triggers gone missing) re-arms, which makes this the earliest
    point a restore can reach.

    Returns:
        True when it (re)installed the triggers; False when nothing was to do or the
        history tables do not exist.
    """
    if not triggers.installed(db):
        return False
    specs = triggers.table_specs(db, set(excluded))
    fingerprint = triggers.fingerprint(specs)
    row = db.execute_sql(f"SELECT fingerprint FROM {META_TABLE} WHERE id = 1").fetchone()
    if row is not None and row[0] == fingerprint and triggers.armed_tables(db) == set(specs):
        return False
    _lock(db)
    triggers.drop_triggers(db)
    triggers.create_triggers(db, specs)
    _write_meta(db, row is not None, armed_by, _now_ms(db), sorted(excluded), fingerprint)
    triggers.sync_sequence(db)
    return True


def _write_meta(db, exists, armed_by, at, excluded, fingerprint):
    seq = _scalar(db, f"SELECT COALESCE(MAX(seq), 0) FROM {LOG_TABLE}")
    if exists:
        db.execute_sql(_sql(db, f"UPDATE {META_TABLE} SET"
                                " armed_seq = CASE WHEN ? > purged_seq THEN ? ELSE purged_seq END,"
                                " armed_at = ?, armed_by = ?, excluded = ?, fingerprint = ? WHERE id = 1"),
                       (seq, seq, at, armed_by, json.dumps(excluded), fingerprint))
    else:
        db.execute_sql(_sql(db, f"INSERT INTO {META_TABLE} (id, log_id, armed_seq, armed_at, armed_by, purged_seq,"
                                " purged_at, excluded, fingerprint) VALUES (1, ?, ?, ?, ?, 0, 0, ?, ?)"),
                       (uuid.uuid4().hex, seq, at, armed_by, json.dumps(excluded), fingerprint))


def disarm(db):
    """Remove the triggers (before migrations run: a schema change must not trip over them)."""
    if triggers.installed(db):
        triggers.drop_triggers(db)


def check_armed(db, history):
    """TimeTravelError unless the triggers match the schema they were installed for."""
    specs = triggers.table_specs(db, set(history.excluded))
    if triggers.fingerprint(specs) != history.fingerprint or triggers.armed_tables(db) != set(specs):
        raise TimeTravelError(
            "the schema changed outside `d1 migrations apply` (or history triggers are missing), so the "
            "history no longer describes the tables: run `d1 migrations apply` to record history again "
            "(points before that stay out of reach)")


# ----------------------------------------------------------------------------- bookmarks

def _now_ms(db):
    if is_postgres(db):
        return _scalar(db, "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint")
    return _scalar(db, f"SELECT {triggers.SQLITE_NOW_MS}")


def current_bookmark(db):
    """The bookmark of the database as it is now (after every committed change)."""
    with _settled(db):
        history = read_history(db)
        return Bookmark(history.current_seq, _now_ms(db), history.log_id)


def bookmark_at(db, at_ms):
    """The bookmark of the database as it was at ``at_ms`` (epoch ms): after the last commit by then.

    A transaction commits with its last change: one whose last change is after ``at_ms``
    is left out whole, even if it began before.

    Raises:
        TimeTravelError: the time is in the future, before the last schema change, or
            older than the history kept.
    """
    with _settled(db):
        history = read_history(db)
        now = _now_ms(db)
        if at_ms > now:
            raise TimeTravelError(f"{iso(at_ms)} is in the future (now is {iso(now)})")
        _check_floor(history, at_ms)
        last = _scalar(db, f"SELECT MAX(seq) FROM {LOG_TABLE} WHERE changed_at <= ?", (at_ms,))
        # Not the last change by then but the last commit: a transaction still writing at
        # ``at_ms`` is left out whole.
        commit = None if last is None else transactions.commit_at_or_before(db, last, at_ms)
        return Bookmark(max(commit[0] if commit else 0, history.floor_seq), at_ms, history.log_id)


def _check_floor(history, at_ms, seq=None):
    """TimeTravelError when time ``at_ms`` (or bookmark ``seq`` taken at ``at_ms``) is out of reach.

    A bookmark taken before the last arming is refused even when no change was logged
    since: it names the data under the schema before the migration.
    """
    if seq is None and at_ms >= history.floor_at:
        return
    if seq is not None and seq >= history.floor_seq and at_ms >= history.armed_at:
        return
    if history.armed_at >= history.purged_at or at_ms < history.armed_at:
        # A bookmark names a point by its change number: one from before the change may carry
        # a time that is not (taken in the change's millisecond, or written by hand).
        point = f"{iso(at_ms)} is" if seq is None or at_ms < history.armed_at else "that bookmark is from"
        raise TimeTravelError(
            f"{point} before the schema changed at {iso(history.armed_at)} ({history.armed_by}): "
            "time travel does not cross a migration that changes tables or writes rows. Restore a backup taken "
            "before it (d1 backup / d1 export) instead, or pick a point after it.")
    raise TimeTravelError(
        f"{iso(at_ms)} is older than the history kept: it starts at {iso(history.purged_at)} "
        "(older changes were purged after the retention window, time_travel_retention_days).")


def iso(at_ms):
    """Epoch ms as an RFC 3339 UTC time with milliseconds."""
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------- restore

@dataclass(frozen=True)
class Restored:
    """What ``restore`` did: the bookmark reached, the one that undoes it, changes undone."""

    bookmark: Bookmark
    previous_bookmark: Bookmark
    undone: int


def restore(db, bookmark, batch=500):
    """Bring the database back to ``bookmark``, in ONE transaction: all of it or nothing.

    Raises:
        TimeTravelError: the bookmark is not reachable, the schema changed since the
            triggers were installed, or the log does not match the rows (nothing changed).
    """
    try:
        with db.atomic():
            take_schema_turn(db)  # the schemas may go back too
            return _restore(db, bookmark, batch)
    except peewee.DatabaseError as ex:  # e.g. a foreign key checked at COMMIT
        raise TimeTravelError(f"the restore failed and was rolled back: {str(ex).strip()}") from ex


def _restore(db, bookmark, batch):
    specs = triggers.table_specs(db, set(read_history(db).excluded))
    _lock(db, specs, "EXCLUSIVE")
    history = read_history(db)
    _check_restorable(db, history, bookmark)
    previous = Bookmark(history.current_seq, _now_ms(db), history.log_id)
    logs = triggers.log_tables(db)
    touched = set()
    spent = credentials.before_restore(db)
    with _foreign_keys_deferred(db, {*specs, *logs}):
        undone = _undo_after(db, specs, bookmark.seq, history.current_seq, batch, touched)
        _detach_logs(db, logs)
        credentials.after_restore(db, spent, undone)
    # The schemas may be older now: count the values of the fields they declare indexed.
    derived.track_declared(db)
    if "media" in touched:
        # A file put back (an undone purge) may be named by content the restore left alone.
        content_media.rebuild(db)
    return Restored(bookmark, previous, undone)


def _detach_logs(db, logs):
    """Log rows keep no reference to a row the restore removed: the reference becomes NULL.

    Logs are not restored, so a log row may name a row (a user) that the restore took
    out; as when that user is deleted, the row stays, anonymous. Non-null references are
    declared ``ON DELETE CASCADE`` and went with their row.
    """
    for table in logs:
        nullable = {column.name for column in db.get_columns(table) if column.null}
        for key in db.get_foreign_keys(table):
            if key.column not in nullable:
                continue
            log, column, parent = quote(table), quote(key.column), quote(key.dest_table)
            db.execute_sql(f"UPDATE {log} SET {column} = NULL WHERE {column} IS NOT NULL AND NOT EXISTS"
                           f" (SELECT 1 FROM {parent} WHERE {parent}.{quote(key.dest_column)} = {log}.{column})")


def _undo_after(db, specs, seq, upper, batch, touched):
    """Undo what the state at ``seq`` does not hold, newest first; return how many changes.

    That is the changes ``seq < change <= upper`` and, on PostgreSQL, the earlier changes
    of the transactions among them that began at or before ``seq`` (see ``transactions``).
    The tables changed are added to the set ``touched``.
    """
    transactions_seen = set()
    undone = _undo_newest_first(db, specs, "seq > ?", (seq,), upper, batch, touched, transactions_seen)
    straddling = sorted(tx for tx in transactions_seen if tx is not None and tx <= seq)
    if straddling:
        undone += _undo_newest_first(db, specs, f"tx IN ({', '.join('?' * len(straddling))})", tuple(straddling),
                                     seq, batch, touched, transactions_seen)
    return undone


def _undo_newest_first(db, specs, where, params, upper, batch, touched, transactions_seen):
    """Undo the logged changes matching ``where`` up to ``upper``, newest first; return how many.

    The tables changed are added to ``touched``, the changes' transactions to ``transactions_seen``.
    """
    undone = 0
    while True:
        rows = db.execute_sql(_sql(db, f"SELECT seq, table_name, operation, row_key, old_row, tx FROM {LOG_TABLE}"
                                       f" WHERE {where} AND seq <= ? ORDER BY seq DESC LIMIT ?"),
                              (*params, upper, batch)).fetchall()
        for change, table, operation, row_key, old_row, tx in rows:
            touched.add(table)
            transactions_seen.add(tx)
            try:
                undo_change(db, table, operation, json.loads(row_key),
                            None if old_row is None else json.loads(old_row), specs.get(table))
            except HistoryMismatch as ex:
                raise TimeTravelError(f"change {change} cannot be undone: {ex}; nothing was restored") from None
        undone += len(rows)
        if len(rows) < batch:
            return undone
        upper = rows[-1][0] - 1


@contextmanager
def _foreign_keys_deferred(db, tables):
    """Check foreign keys once, after every change is undone, instead of statement by statement.

    Undone newest first, a cascading delete comes back child before parent (PostgreSQL
    logs the parent row first; its cascade runs after). SQLite defers the checks with a
    pragma. PostgreSQL defers only DEFERRABLE constraints, so the restore makes its
    tables' foreign keys deferrable for the transaction, checks them all at the end
    (``SET CONSTRAINTS ALL IMMEDIATE``), then puts them back as they were; all of it
    commits or rolls back with the restore.
    """
    if not is_postgres(db):
        db.execute_sql("PRAGMA defer_foreign_keys = ON")  # ends with the transaction
        yield
        return
    constraints = db.execute_sql(
        "SELECT t.relname, c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE c.contype = 'f' AND NOT c.condeferrable AND n.nspname = current_schema()").fetchall()
    constraints = [(table, name) for table, name in constraints if table in tables]
    for table, name in constraints:
        db.execute_sql(f"ALTER TABLE {quote(table)} ALTER CONSTRAINT {quote(name)} DEFERRABLE INITIALLY IMMEDIATE")
    db.execute_sql("SET CONSTRAINTS ALL DEFERRED")
    yield
    db.execute_sql("SET CONSTRAINTS ALL IMMEDIATE")  # every deferred check runs here
    for table, name in constraints:
        db.execute_sql(f"ALTER TABLE {quote(table)} ALTER CONSTRAINT {quote(name)} NOT DEFERRABLE")


def _check_not_inside_a_transaction(db, history, bookmark):
    """TimeTravelError naming the points around it when ``bookmark`` is a change its transaction went on after.

    Bookmarks printed by ``info`` never are; one from a timestamp before transactions were
    logged, or written by hand, may be. The state there never existed, and guessing which
    side of the transaction was meant could undo what the caller wanted kept, so neither
    is picked.
    """
    inside = transactions.enclosing(db, bookmark.seq)
    if inside is None:
        return
    first, last, last_at = inside
    commit = transactions.commit_at_or_before(db, bookmark.seq)
    if commit is None or commit[0] < history.floor_seq:
        before = Bookmark(history.floor_seq, history.floor_at, history.log_id)
    else:
        before = Bookmark(commit[0], commit[1], history.log_id)
    raise TimeTravelError(
        f"that bookmark is inside a transaction (changes {first} to {last}, committed at {iso(last_at)}): "
        "restoring to it would keep part of that transaction, a state between two of its changes. Restore to the "
        f"bookmark before the transaction, {before}, or to the one after its commit, "
        f"{Bookmark(last, last_at, history.log_id)}")


def check_restorable(db, bookmark):
    """TimeTravelError when a restore to ``bookmark`` would be refused, saying why.

    ``restore`` checks again under its locks; checked first, a refusal comes before anyone
    is asked to confirm a restore. A database error reading the history (a log table
    altered by hand, say) is a TimeTravelError too, as it is for ``restore``.
    """
    try:
        _check_restorable(db, read_history(db), bookmark)
    except peewee.DatabaseError as ex:
        raise TimeTravelError(f"the history could not be read, so nothing was restored: {str(ex).strip()}") from ex


def _check_restorable(db, history, bookmark):
    _check_reachable(history, bookmark)
    _check_not_inside_a_transaction(db, history, bookmark)
    check_armed(db, history)


def _check_reachable(history, bookmark):
    if bookmark.log_id != history.log_id:
        raise TimeTravelError("this bookmark belongs to another database's history")
    if bookmark.seq > history.current_seq:
        raise TimeTravelError("this bookmark is newer than the database's history")
    _check_floor(history, bookmark.at_ms, bookmark.seq)


def rows_written_since(db, since_ms):
    """Rows inserted, updated or deleted in tracked tables since ``since_ms`` (None without history)."""
    if not triggers.installed(db):
        return None
    return _scalar(db, f"SELECT COUNT(*) FROM {LOG_TABLE} WHERE changed_at >= ?", (since_ms,))


# --------------------------------------------------------------------------------- purge

def purge(db, retention_days, now_ms):
    """Delete the transactions committed ``retention_days`` before ``now_ms``; return how many changes.

    The earliest reachable point becomes the last commit before the cutoff. A transaction
    that began before that commit and committed after it (PostgreSQL runs transactions
    side by side) keeps its older changes: leaving it out of that state needs them.
    """
    if not triggers.installed(db):
        return 0
    cutoff = now_ms - retention_days * DAY_MS
    with db.atomic():
        last = _scalar(db, f"SELECT MAX(seq) FROM {LOG_TABLE} WHERE changed_at < ?", (cutoff,))
        commit = None if last is None else transactions.commit_at_or_before(db, last, cutoff - 1)
        if commit is None:
            return 0
        last = commit[0]
        deleted = transactions.delete_committed_through(db, last)
        db.execute_sql(_sql(db, f"UPDATE {META_TABLE} SET"
                                " purged_seq = CASE WHEN purged_seq > ? THEN purged_seq ELSE ? END,"
                                " purged_at = CASE WHEN purged_at > ? THEN purged_at ELSE ? END WHERE id = 1"),
                       (last, last, cutoff, cutoff))
    return deleted
