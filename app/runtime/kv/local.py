"""The local KV backend: one SQLite file shared by every worker process.

Like Miniflare's local KV, a namespace is a SQLite file under the state folder; gunicorn
workers open the same file, so a write through one worker is read by the next request on
any other. Settings follow what was measured on this stack with several gunicorn workers:

* WAL and ``synchronous=NORMAL``: readers never block the writer.
* A 5 s busy timeout: without one, a third of concurrent writes fail with
  ``database is locked``. Every write is a single statement in autocommit mode, so no
  transaction ever upgrades a read lock (the case a busy timeout cannot help).
* One connection per process and thread, kept open: opening costs more than a query, and
  sqlite3 connections must neither cross threads nor survive a fork.

Expired rows are filtered out by every read and purged at most once a minute by writes.
"""

import os
import sqlite3
import threading
import time
from pathlib import Path

from app.runtime.kv.namespace import Entry, KVError
from app.runtime.outages import Outage, database_outage
from app.runtime.private import private_sqlite_file

BUSY_TIMEOUT_SECONDS = 5.0
PURGE_INTERVAL_SECONDS = 60

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv ("
    " key TEXT PRIMARY KEY NOT NULL,"
    " value BLOB NOT NULL,"
    " expiration INTEGER,"
    " metadata TEXT)",
    "CREATE INDEX IF NOT EXISTS kv_expiration ON kv (expiration) WHERE expiration IS NOT NULL",
)

# Connections opened before a fork. SQLite forbids using or closing them in the child
# (closing could checkpoint or unlink the WAL under the parent's feet), so the child keeps
# a reference and simply never touches them again.
_INHERITED_CONNECTIONS = []


class LocalBackend:
    """KV storage in a SQLite file: key, value BLOB, expiration (epoch s), metadata JSON.

    Args:
        path: the SQLite file; its folder is created on first use.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._local = threading.local()
        self._next_purge = 0

    def __repr__(self):
        return f"LocalBackend({str(self.path)!r})"

    def describe(self):
        """``SQLite <file>``."""
        return f"SQLite {self.path}"

    def connection(self):
        """The SQLite connection of this process and thread, opened on first use."""
        state = self._local
        pid = os.getpid()
        if getattr(state, "pid", None) != pid:
            if getattr(state, "conn", None) is not None:
                _INHERITED_CONNECTIONS.append(state.conn)
            state.conn = self._connect()
            state.pid = pid
        return state.conn

    def _connect(self):
        try:
            private_sqlite_file(self.path)
            # isolation_level=None: autocommit, so each write is its own short transaction.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in SCHEMA:
                conn.execute(statement)
        except (OSError, sqlite3.Error) as ex:
            raise KVError(f"KV failed: cannot open local store {self.path}: {ex}") from ex
        return conn

    def _execute(self, op, sql, params=()):
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as ex:
            raise KVError(f"KV {op} failed: local store {self.path}: {ex}") from ex

    def get_many(self, keys, now):
        """Live entries for ``keys`` (at most 100), keyed by name; missing keys absent."""
        marks = ",".join("?" * len(keys))
        rows = self._execute(
            "GET",
            "SELECT key, value, expiration, metadata FROM kv"
            f" WHERE key IN ({marks}) AND (expiration IS NULL OR expiration > ?)",
            (*keys, now),
        )
        return {row[0]: Entry(row[0], bytes(row[1]), row[2], row[3]) for row in rows}

    def put(self, entry, now):
        """Store or replace ``entry``; purge expired rows if a minute has passed."""
        self._execute(
            "PUT",
            "INSERT INTO kv (key, value, expiration, metadata) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " expiration = excluded.expiration, metadata = excluded.metadata",
            (entry.key, entry.value, entry.expiration, entry.metadata),
        )
        if now >= self._next_purge:
            self.purge_expired(now)

    def purge_expired(self, now):
        """Delete rows whose expiration has passed (they are already invisible)."""
        self._execute("PUT", "DELETE FROM kv WHERE expiration <= ?", (now,))
        self._next_purge = now + PURGE_INTERVAL_SECONDS

    def delete(self, key):
        """Delete ``key`` if present."""
        self._execute("DELETE", "DELETE FROM kv WHERE key = ?", (key,))

    def list(self, prefix, after, limit, now):
        """Up to ``limit`` live keys with ``prefix``, after key ``after``, in byte order.

        SQLite's BINARY collation compares the stored UTF-8 bytes, which is KV's order.
        The prefix becomes a key range (not LIKE, whose ``%``/``_`` and case folding would
        match the wrong keys), so the primary key index serves the query.
        """
        clauses, params = ["(expiration IS NULL OR expiration > ?)"], [now]
        if prefix is not None:
            clauses.append("key >= ?")
            params.append(prefix)
            upper = _prefix_upper_bound(prefix)
            if upper is not None:
                clauses.append("key < ?")
                params.append(upper)
        if after is not None:
            clauses.append("key > ?")
            params.append(after)
        rows = self._execute(
            "GET",
            "SELECT key, expiration, metadata FROM kv"
            f" WHERE {' AND '.join(clauses)} ORDER BY key LIMIT ?",
            (*params, limit),
        )
        return [Entry(key, b"", expiration, metadata) for key, expiration, metadata in rows]

    def close(self):
        """Close this thread's connection, if this process opened it."""
        state = self._local
        if getattr(state, "pid", None) == os.getpid() and state.conn is not None:
            state.conn.close()
        state.conn, state.pid = None, None


def _enable_wal(conn):
    """Switch to WAL, waiting for other processes that open a fresh file at the same time.

    Changing the journal mode needs an exclusive lock and SQLite reports SQLITE_BUSY
    ("database is locked") at once instead of calling the busy handler, so the wait is done here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as ex:
            if database_outage(ex) is not Outage.BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    if mode.lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL (journal mode is {mode})")


def _prefix_upper_bound(prefix):
    """The smallest string greater than every string starting with ``prefix``, or None.

    Code point order equals UTF-8 byte order, so bumping the last code point that can be
    bumped gives an exclusive upper bound (surrogates are skipped: they cannot be stored).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code == 0xD800:
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None
