"""Identifiers that sort by the time they were made."""

import os
import time


def time_ordered_id():
    """32 hex digits: the epoch milliseconds (12 digits), then 80 random bits (20 digits).

    Rows written often and keyed by such ids (request log rows, their request ids) land at the
    end of their indexes, as their ``created_at`` does, instead of on a random page each: a
    batch of a hundred rows then changes a few index pages, where random keys changed one per
    row (and SQLite wrote each whole page to its WAL at every commit).
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
