"""``D1Database.with_session()``: D1's sessions API, with reads on PostgreSQL read replicas.

D1 keeps a session's reads consistent with a bookmark (a position in the database's
history, sortable as text) so they may go to read replicas. Bookmarks have D1's shape
(``00000000-0000018c-4ae1f000-00000000000000000000000000000000``).

* Without replicas every query runs on the one database, which is trivially at or past
  any bookmark; a bookmark is the time of the query in milliseconds, so a later bookmark
  sorts after an earlier one.
* With ``read_replica_urls`` (PostgreSQL), a bookmark is a WAL position of the primary
  (``app.runtime.d1.replicas``). A read goes to a replica that has replayed at least the
  session's bookmark (any answering replica for a ``first-unconstrained`` session's first
  query), else to the primary; writes, ``first-primary`` first queries and anything a
  replica refuses run on the primary. The session's bookmark then becomes the position of
  the server that answered, so later reads in the session see what it saw or wrote.
"""

import itertools
import threading
import time

from app.runtime.d1.errors import D1Error
from app.runtime.d1.replicas import PRIMARY_POSITION, format_bookmark, parse_bookmark, retry_on_primary
from app.runtime.d1.statement import D1PreparedStatement

CONSTRAINTS = ("first-unconstrained", "first-primary")
# A statement starting with one of these reads only (a write hidden in a WITH, or a
# function that writes, is refused by the replica and retried on the primary).
READ_WORDS = {"SELECT", "WITH", "VALUES", "TABLE", "EXPLAIN", "SHOW"}
_clock_lock = threading.Lock()
_last_millis = [0]


class D1SessionError(D1Error):
    """An invalid bookmark or constraint given to ``with_session``."""

    prefix = "D1_SESSION_ERROR"


def new_bookmark():
    """A bookmark for now, strictly after every bookmark this process made before."""
    with _clock_lock:
        millis = max(int(time.time() * 1000), _last_millis[0] + 1)
        _last_millis[0] = millis
    return format_bookmark(millis)


def reads_only(sql):
    """True when ``sql`` starts with a reading keyword (comments first count as a write)."""
    words = sql.lstrip().lstrip("(").split(None, 1)
    return bool(words) and words[0].upper() in READ_WORDS


class D1DatabaseSession:
    """A session: ``prepare``, ``batch`` and ``get_bookmark``, as D1's ``D1DatabaseSession``.

    The session keeps the greatest bookmark it has seen, as D1 does.
    """

    _turns = itertools.count()  # spreads unconstrained reads over the replicas

    def __init__(self, database, constraint_or_bookmark=None):
        start = "first-unconstrained" if constraint_or_bookmark in (None, "") else constraint_or_bookmark
        if not isinstance(start, str) or not start.strip():
            raise D1SessionError("invalid bookmark or constraint")
        replicated = bool(database.replicas)
        if replicated and start not in CONSTRAINTS and parse_bookmark(start) is None:
            raise D1SessionError("invalid bookmark or constraint")
        self._database = database
        self._replicated = replicated
        self._primary_first = start == "first-primary"
        self._bookmark = None if start in CONSTRAINTS else start
        self._lock = threading.Lock()

    def prepare(self, sql):
        """A statement whose runs belong to this session."""
        if not isinstance(sql, str):
            raise TypeError(f"prepare() takes SQL text, not {type(sql).__name__}")
        return D1PreparedStatement(self, sql)

    def batch(self, statements):
        """``D1Database.batch`` within this session: on a replica when every statement reads."""
        statements = list(statements)
        read = bool(statements) and all(reads_only(statement.sql) for statement in statements)
        return self._routed(read, lambda database: database.batch(statements), with_meta=True)

    def get_bookmark(self):
        """The latest bookmark of this session, or None before its first query."""
        return self._bookmark

    def mark_written(self):
        """Move the bookmark to the primary's position now (after writes made outside the session).

        Code that wrote through the Peewee models calls this so that the session's later
        reads, and the sessions continued from its bookmark, see those writes.
        """
        self._advance(self._primary_position() if self._replicated else None)

    def release(self):
        """Return the replicas' connections to their pools (end of a request)."""
        for replica in self._database.replicas:
            replica.release()

    def _execute(self, statement, with_meta):
        # D1PreparedStatement runs through its owner's _execute: the session's, here.
        return self._routed(reads_only(statement.sql),
                            lambda database: database._execute(statement, with_meta), with_meta)

    def _routed(self, read, call, with_meta):
        """Run ``call(database)`` on a replica that may serve it, else on the primary."""
        if not self._replicated:
            outcome = call(self._database)
            self._advance(None)
            return _served(outcome, True, with_meta)
        if read:
            replica, position = self._pick_replica()
            if replica is not None:
                try:
                    outcome = call(replica.database)
                except D1Error as ex:
                    if not retry_on_primary(ex):
                        raise
                    replica.failed(ex)
                else:
                    self._advance(position)
                    return _served(outcome, False, with_meta)
        outcome = call(self._database)
        self._advance(self._primary_position())
        return _served(outcome, True, with_meta)

    def _pick_replica(self):
        """``(replica, its replayed position)`` that may serve the next read, or ``(None, None)``."""
        if self._bookmark is None and self._primary_first:
            return None, None
        needed = parse_bookmark(self._bookmark) if self._bookmark else 0
        replicas = self._database.replicas
        first = next(self._turns) % len(replicas)
        for replica in replicas[first:] + replicas[:first]:
            position = replica.position()
            if position is not None and position >= needed:
                return replica, position
        return None, None

    def _primary_position(self):
        return self._database.prepare(PRIMARY_POSITION).first("position")

    def _advance(self, position):
        bookmark = new_bookmark() if position is None else format_bookmark(position)
        with self._lock:
            if self._bookmark is None or bookmark > self._bookmark:
                self._bookmark = bookmark


def _served(outcome, by_primary, with_meta):
    """Add D1's ``served_by_primary`` to the meta of a result (or of each result of a batch)."""
    if not with_meta:
        return outcome
    for item in outcome if isinstance(outcome, list) else [outcome]:
        meta = item["meta"] if isinstance(item, dict) else item.meta
        meta["served_by_primary"] = by_primary
    return outcome
