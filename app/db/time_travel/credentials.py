"""What a restore must not bring back: credentials spent or revoked since the bookmark.

Rewinding a ``users`` row would bring back a password reset, email verification or
invitation token already used (or replaced) since, and an older ``token_version``, under
which the sessions a password change ended would sign in again; rewinding ``api_tokens``
would bring back a token its owner revoked (a revoke deletes the row). So a restore reads
them before it undoes anything (``before_restore``) and, once it has (``after_restore``):

- a user there before the restore keeps its one-time tokens as they were before it (a link
  mailed since still works, one used since stays used), and its ``token_version`` never goes
  lower;
- a user the restore brings back (deleted since) gets no one-time token and a
  ``token_version`` no session was signed with (past its restored one by more than the
  changes undone, each of which bumped it at most once): its links and sessions from
  before its deletion stay ended;
- an API token the restore brings back (revoked since, or its owner deleted) is deleted
  again.

The rest of the row (the password hash, the role) is restored as any other value: that is
what a restore is for.
"""

from dataclasses import dataclass

ONE_TIME = ("password_reset_token", "password_reset_expires", "email_verification_token", "invitation_token")
COLUMNS = ", ".join(("id", *ONE_TIME, "token_version"))


@dataclass(frozen=True)
class Credentials:
    """The credentials of a database at one moment: ``users`` ``{id: (one-time tokens...,
    token_version)}`` and the ids of its API tokens."""

    users: dict
    api_tokens: frozenset


def before_restore(db):
    """The credentials as they are, read inside the restore's transaction before it undoes anything."""
    users = {row[0]: tuple(row[1:]) for row in db.execute_sql(f"SELECT {COLUMNS} FROM users").fetchall()}
    tokens = frozenset(row[0] for row in db.execute_sql("SELECT id FROM api_tokens").fetchall())
    return Credentials(users, tokens)


def after_restore(db, before, undone):
    """Put back what the restore must not rewind (see the module's docstring), in its
    transaction; ``undone``: how many changes it undid."""
    update = (f"UPDATE users SET {', '.join(f'{column} = {db.param}' for column in ONE_TIME)}, "
              f"token_version = {db.param} WHERE id = {db.param}")
    for user_id, *restored in db.execute_sql(f"SELECT {COLUMNS} FROM users").fetchall():
        kept = _kept(tuple(restored), before.users.get(user_id), undone)
        if kept != tuple(restored):
            db.execute_sql(update, (*kept, user_id))
    revived = [row[0] for row in db.execute_sql("SELECT id FROM api_tokens").fetchall()
               if row[0] not in before.api_tokens]
    for token_id in revived:
        db.execute_sql(f"DELETE FROM api_tokens WHERE id = {db.param}", (token_id,))


def _kept(restored, before, undone):
    """A user's one-time tokens and ``token_version`` after the restore, from those it
    ``restored`` and those the user had ``before`` it (None: the restore brought it back)."""
    *_, restored_version = restored
    if before is None:
        return (None,) * len(ONE_TIME) + ((restored_version or 0) + undone + 1,)
    *one_time, version_before = before
    return (*one_time, max(restored_version or 0, version_before or 0))
