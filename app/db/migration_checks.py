"""What a migration file needs of the data before it runs, checked in Python.

A file stays plain SQL (wrangler can run it, and both databases read it alike), but SQL
cannot refuse with a message of its own: a unique index over rows that already break it
fails with the database's words, which on SQLite name only the index. A check here runs
inside the file's transaction, before its first statement; when it returns a message, the
runner refuses the file with it, nothing changed. ``CHECKS`` maps a file's name to its
check, ``check(db) -> message or None``.
"""

MAX_NAMED = 20  # clashes named in a refusal; the rest are counted


def usernames_differing_in_case(db):
    """Why ``lower(username)`` cannot be unique yet: the usernames that differ only in case
    (``ADMIN and admin; Ed and ed``), or None when there are none."""
    cursor = db.execute_sql(
        "SELECT lower(username), username FROM users WHERE lower(username) IN ("
        " SELECT lower(username) FROM users GROUP BY lower(username) HAVING COUNT(*) > 1)")
    clashes = {}
    for folded, username in cursor.fetchall():
        clashes.setdefault(folded, []).append(username)
    if not clashes:
        return None
    # Sorted here: the databases' collations order "ADMIN" and "admin" differently.
    named = "; ".join(_spelled(sorted(clashes[folded])) for folded in sorted(clashes)[:MAX_NAMED])
    if len(clashes) > MAX_NAMED:
        named += f"; and {len(clashes) - MAX_NAMED} more"
    return (f"usernames that differ only in case: {named}. Usernames become unique ignoring case: "
            "give all but one of each a new username (the admin's user page, or PATCH /admin/api/users/{id} "
            "with a username), then apply again")


def _spelled(names):
    """``a and b``, ``a, b and c``."""
    return ", ".join(names[:-1]) + " and " + names[-1]


CHECKS = {"0038_usernames_unique_ignoring_case.sql": usernames_differing_in_case}
