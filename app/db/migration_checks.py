"""What a migration file needs of the data before it runs, checked in Python.

A file stays plain SQL (wrangler can run it, and both databases read it alike), but SQL
cannot refuse with a message of its own: a unique index over rows that already break it
fails with the database's words, which on SQLite name only the index. A check here runs
inside the file's transaction, before its first statement; when it returns a message, the
runner refuses the file with it, nothing changed. ``CHECKS`` maps a file's name to its
check, ``check(db) -> message or None``.
"""

import re
import shlex

MAX_NAMED = 20  # clashes named in a refusal; the rest are counted
SHELL_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")  # an id the suggested command may show between double quotes


def usernames_differing_in_case(db):
    """Why ``lower(username)`` cannot be unique yet: the users whose usernames differ only in
    case, each with its id (``ADMIN (id u1) and admin (id u2)``), and a command renaming one,
    or None when there are none.

    ``dev`` applies the migrations before it serves, so its admin is not there to rename them
    with: the command line is (``d1 execute``)."""
    cursor = db.execute_sql(
        "SELECT lower(username), username, id FROM users WHERE lower(username) IN ("
        " SELECT lower(username) FROM users GROUP BY lower(username) HAVING COUNT(*) > 1)")
    clashes = {}
    for folded, username, user_id in cursor.fetchall():
        clashes.setdefault(folded, []).append((username, user_id))
    if not clashes:
        return None
    # Sorted here: the databases' collations order "ADMIN" and "admin" differently.
    groups = [sorted(clashes[folded]) for folded in sorted(clashes)]
    named = "; ".join(_spelled([f"{name} (id {user_id})" for name, user_id in group])
                      for group in groups[:MAX_NAMED])
    if len(clashes) > MAX_NAMED:
        named += f"; and {len(clashes) - MAX_NAMED} more"
    _, renamed = groups[0][-1]
    sql = f"UPDATE users SET username = 'NEW-NAME' WHERE id = '{_sql_text(renamed)}'"
    # An id is any text a backup brought: quoted for the shell unless it is plainly safe.
    quoted = f'"{sql}"' if SHELL_SAFE_ID.fullmatch(renamed) else shlex.quote(sql)
    command = f"sonicpy d1 execute DB --command {quoted}"
    return (f"usernames that differ only in case: {named}. Usernames become unique ignoring case: "
            "give all but one of each a new username, then apply again. From the command line (dev "
            f"applies the migrations before it serves, so its admin is not there yet), e.g. {command}; "
            "or, where an app already serves, the admin's user page or PATCH /admin/api/users/{id} "
            "with a username")


def _spelled(names):
    """``a and b``, ``a, b and c``."""
    return ", ".join(names[:-1]) + " and " + names[-1]


def _sql_text(text):
    """``text`` inside an SQL string literal."""
    return text.replace("'", "''")


# A character JSON holds only escaped, which a plain SQL REPLACE cannot escape portably.
_CONTROL = re.compile(r"[\x00-\x1f]")


def assignee_ids_json_cannot_hold(db):
    """Why migration 0043 cannot record the end of every assignment: those whose assignee id
    holds a control character (a backup may bring any text as an id), which the history row's
    JSON, built by plain SQL, would hold unescaped; or None when there are none."""
    # Exactly the items it ends assignments on: trashed, or published or archived as it reads
    # the state (a draft whose workflow state still says published is a draft).
    rows = db.execute_sql(
        "SELECT a.content_id, a.assignee_id FROM content_assignments a JOIN content c ON c.id = a.content_id"
        " WHERE c.deleted_at IS NOT NULL OR c.status IN ('published', 'archived', 'deleted')"
        " OR ((c.status IS NULL OR c.status <> 'draft') AND c.workflow_state_id IN ('published', 'archived'))"
        ).fetchall()
    odd = sorted((content_id, assignee) for content_id, assignee in rows if _CONTROL.search(assignee or ""))
    if not odd:
        return None
    named = "; ".join(f"item {content_id!r} (assignee {assignee!r})" for content_id, assignee in odd[:MAX_NAMED])
    if len(odd) > MAX_NAMED:
        named += f"; and {len(odd) - MAX_NAMED} more"
    return (f"assignments whose assignee id holds a control character: {named}. Unassign them (the item's "
            "page in the admin, or DELETE FROM content_assignments WHERE content_id = '...' with d1 execute), "
            "then apply again")


CHECKS = {"0038_usernames_unique_ignoring_case.sql": usernames_differing_in_case,
          "0043_end_assignments_of_items_done_with.sql": assignee_ids_json_cannot_hold}
