"""Identifiers that sort by the time they were made."""

import random
import time


def time_ordered_id():
    """32 hex digits: the epoch milliseconds (12 digits), then 80 random bits (20 digits).

    Rows written often and keyed by such ids (request log rows, their request ids) land at the
    end of their indexes, as their ``created_at`` does, instead of on a random page each: a
    batch of a hundred rows then changes a few index pages, where random keys changed one per
    row (and SQLite wrote each whole page to its WAL at every commit).

    The random part is not a secret (request ids are sent in ``X-Request-ID``), so it comes
    from ``random`` (reseeded in each forked worker) rather than ``os.urandom``: its system
    call lets go of the GIL, and a request thread then often waits out another thread's turn.
    """
    return f"{time.time_ns() // 1_000_000:012x}{random.getrandbits(80):020x}"
