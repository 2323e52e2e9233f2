"""``D1Database.with_session()``: D1's sessions API, every query served by the primary.

D1 keeps a session's reads consistent with a bookmark (a position in the database's
history, sortable as text) so they may go to read replicas. This binding has no replicas:
every query runs on the one database, which is trivially at or past any bookmark, so
code written for sessions runs unchanged and reads its own writes. Bookmarks have D1's
shape (``00000000-0000018c-4ae1f000-00000000000000000000000000000000``): the time of the
query in milliseconds, in hex, so a later bookmark sorts after an earlier one.
"""

import threading
import time

from app.runtime.d1.errors import D1Error
from app.runtime.d1.statement import D1PreparedStatement

CONSTRAINTS = ("first-unconstrained", "first-primary")
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
    return f"{millis >> 64 & 0xFFFFFFFF:08x}-{millis >> 32 & 0xFFFFFFFF:08x}-{millis & 0xFFFFFFFF:08x}-{'0' * 32}"


class D1DatabaseSession:
    """A session: ``prepare``, ``batch`` and ``get_bookmark``, as D1's ``D1DatabaseSession``.

    The session keeps the greatest bookmark it has seen, as D1 does.
    """

    def __init__(self, database, constraint_or_bookmark=None):
        start = "first-unconstrained" if constraint_or_bookmark in (None, "") else constraint_or_bookmark
        if not isinstance(start, str) or not start.strip():
            raise D1SessionError("invalid bookmark or constraint")
        self._database = database
        self._bookmark = None if start in CONSTRAINTS else start
        self._lock = threading.Lock()

    def prepare(self, sql):
        """A statement whose runs belong to this session."""
        if not isinstance(sql, str):
            raise TypeError(f"prepare() takes SQL text, not {type(sql).__name__}")
        return D1PreparedStatement(self, sql)

    def batch(self, statements):
        """``D1Database.batch`` within this session."""
        results = self._database.batch(statements)
        self._advance()
        return results

    def get_bookmark(self):
        """The latest bookmark of this session, or None before its first query."""
        return self._bookmark

    def _execute(self, statement, with_meta):
        # D1PreparedStatement runs through its owner's _execute: the session's, here.
        outcome = self._database._execute(statement, with_meta)
        self._advance()
        return outcome

    def _advance(self):
        bookmark = new_bookmark()
        with self._lock:
            if self._bookmark is None or bookmark > self._bookmark:
                self._bookmark = bookmark
