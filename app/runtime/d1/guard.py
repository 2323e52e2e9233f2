"""What D1 lets a query do to its SQLite connection: an authorizer and D1's size limit.

D1 runs every query on a shared SQLite connection it owns, so a query may not change
that connection: ``ATTACH``/``DETACH`` and the PRAGMAs that change the connection (for
example ``journal_mode``) answer ``not authorized: SQLITE_AUTH``. ``PRAGMA foreign_keys``
may be read, but setting it does nothing (foreign keys stay enforced for the next query on
the same connection; ``PRAGMA defer_foreign_keys = on`` is the supported way to relax them
until the end of a transaction). Strings and BLOBs over D1's 2,000,000-byte limit fail
with ``SQLITE_TOOBIG``.

The guard is in place only while the binding runs a query: sonicpy's own Peewee code on the
same connection (migrations, backups) is the platform, not a Worker's query.
"""

import sqlite3
from contextlib import contextmanager

MAX_VALUE_BYTES = 2_000_000  # D1's limit for a string, a BLOB or a row

# PRAGMAs a query may run, read-only or with a value, as D1 allows them.
SETTABLE_PRAGMAS = {
    "defer_foreign_keys", "case_sensitive_like", "legacy_alter_table", "recursive_triggers",
    "reverse_unordered_selects",
}
# PRAGMAs that only report (their argument, when given, names a table or an index).
REPORTING_PRAGMAS = {
    "data_version", "page_count", "page_size", "freelist_count", "table_list", "table_info", "table_xinfo",
    "index_info", "index_list", "index_xinfo", "foreign_key_check", "foreign_key_list", "quick_check",
    "integrity_check", "optimize", "foreign_keys",
}
DENIED_ACTIONS = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}


def d1_authorizer(action, arg1, arg2, _database, _trigger):
    """SQLite authorizer callback: D1's rules for ATTACH, DETACH and PRAGMA."""
    if action in DENIED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action != sqlite3.SQLITE_PRAGMA:
        return sqlite3.SQLITE_OK
    name = (arg1 or "").lower()
    if name == "foreign_keys" and arg2 is not None:
        return sqlite3.SQLITE_IGNORE  # D1 keeps foreign keys on: setting them is a no-op
    if name in SETTABLE_PRAGMAS or name in REPORTING_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


@contextmanager
def guarded(conn):
    """Run the block with D1's authorizer and length limit on the sqlite3 connection ``conn``.

    Installing an authorizer makes SQLite re-prepare cached statements, so a statement the
    platform compiled before cannot slip past it.
    """
    conn.set_authorizer(d1_authorizer)
    previous_limit = conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    try:
        yield
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, previous_limit)
        conn.set_authorizer(None)
