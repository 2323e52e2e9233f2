"""PostgreSQL read replicas of a D1 binding: their WAL positions and their health.

A bookmark on a replicated database is a position in the primary's write-ahead log: after
a query on the primary, ``pg_current_wal_lsn()`` (every change committed so far is before
it); a replica may serve a session's read once ``pg_last_wal_replay_lsn()`` (what it has
replayed) is at or past the session's bookmark. Both are read as byte offsets
(``lsn - '0/0'``), so they compare as integers and format as D1-shaped bookmarks.

A replica that cannot be reached (stopped, restarting, network) is skipped for
``RETRY_SECONDS`` so reads go to the primary at once instead of waiting on it again.
"""

import re
import threading
import time

from app.db.database import release_connection
from app.runtime.d1.errors import D1Error, original_error

RETRY_SECONDS = 5.0
BOOKMARK = re.compile(r"([0-9a-f]{8})-([0-9a-f]{8})-([0-9a-f]{8})-([0-9a-f]{32})")
PRIMARY_POSITION = "SELECT (pg_current_wal_lsn() - '0/0')::bigint AS position"
# NULL on a server that is not a standby: such a "replica" never qualifies.
REPLAY_POSITION = "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint AS position"

# SQLSTATE classes after which the same statement may still succeed on the primary: the
# replica is read-only (25), unreachable or shutting down (08, 57), out of resources (53),
# or cancelled a read that conflicted with replay (40001).
RETRY_ON_PRIMARY = ("25", "08", "57", "53", "40001")


def format_bookmark(position):
    """A D1-shaped bookmark (``00000000-0000018c-4ae1f000-000...``) for an integer position.

    Fixed-width hex, so a later position sorts after an earlier one as text.
    """
    return (f"{position >> 64 & 0xFFFFFFFF:08x}-{position >> 32 & 0xFFFFFFFF:08x}-"
            f"{position & 0xFFFFFFFF:08x}-{'0' * 32}")


def parse_bookmark(bookmark):
    """The position a bookmark from ``format_bookmark`` stands for, or None when malformed."""
    match = BOOKMARK.fullmatch(bookmark)
    if match is None:
        return None
    high, middle, low, _ = match.groups()
    return int(high, 16) << 64 | int(middle, 16) << 32 | int(low, 16)


def retry_on_primary(ex):
    """True when a replica's D1Error says nothing about the statement itself.

    Errors of the statement (syntax, missing table, constraint) would fail on the primary
    too and are raised; a read-only refusal (a write the first word did not reveal) or a
    lost or refused connection is retried on the primary.
    """
    code = sqlstate(ex)
    return code is None or code.startswith(RETRY_ON_PRIMARY)


def sqlstate(ex):
    """The SQLSTATE behind a D1Error, or None when the server gave none (no connection)."""
    return getattr(original_error(ex.__cause__), "pgcode", None) if ex.__cause__ is not None else None


class Replica:
    """One replica: its D1Database, how far it has replayed, and whether it answers.

    Args:
        database: a D1Database on the replica's URL.
    """

    def __init__(self, database):
        self.database = database
        self._down_until = float("-inf")
        self._lock = threading.Lock()

    def position(self):
        """The replayed position, or None when unreachable, not a standby or resting after a failure."""
        if time.monotonic() < self._down_until:
            return None
        try:
            return self.database.prepare(REPLAY_POSITION).first("position")
        except D1Error as ex:
            self.failed(ex)
            return None

    def failed(self, ex):
        """Note a failure: a lost or refused connection is dropped and the replica rests.

        Other refusals (a write, a read cancelled by replay) leave the connection usable.
        """
        code = sqlstate(ex)
        if code is None or code.startswith(("08", "57")):
            self.database.discard_connection()
            with self._lock:
                self._down_until = time.monotonic() + RETRY_SECONDS

    def release(self):
        """End of request: the replica's pooled connection goes back to its pool."""
        release_connection(self.database.db)

    def close(self):
        """Close the replica's connections (the binding is closing)."""
        self.database.db.close_all()
