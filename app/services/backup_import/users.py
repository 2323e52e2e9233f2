"""The rules for a backup's users: matched by id, email and username (in any case), and
their inviters linked once both sides are in."""

from app.services.accounts import USERNAME_RULE, is_username, normalize_email
from app.services.backup_import.lookups import IN_CHUNK, existing, held_usernames, users_by_email
from app.services.backup_import.references import clear_dangling, report_cleared
from app.services.backup_import.refusals import forget_refused


def import_users(state, rows):
    """Insert the users not already here, mapping each backup user to its target user
    (itself, the user holding its email, or None when it has no counterpart)."""
    # Emails are stored and looked up in one form; a backup from elsewhere may hold another.
    rows = [{**r, "email": normalize_email(r["email"])} if isinstance(r.get("email"), str) else r for r in rows]
    by_id = existing(state.db, "users", "id", [r["id"] for r in rows])
    by_email = users_by_email(state.db, [r.get("email") for r in rows])
    held = held_usernames(state.db, [r.get("username") for r in rows])
    candidates = []
    for row in rows:
        username = row.get("username")
        if row["id"] in by_id:
            state.users[row["id"]] = row["id"]
        elif row.get("email") in by_email:
            holder, stored = by_email[row["email"]]
            state.users[row["id"]] = holder
            state.skip("users", row, _email_taken(row["email"], holder, stored))
        elif isinstance(username, str) and not is_username(username):
            # Written before the rule, or by hand: other letters than A-Z fold one way in
            # SQLite's lower() and another in PostgreSQL's, so the index would differ.
            state.users[row["id"]] = None
            state.skip("users", row, f"username {username!r} breaks the rule for usernames ({USERNAME_RULE})")
        elif isinstance(username, str) and username.lower() in held:
            # Held by another user, in this case or another (or by a row of this backup).
            state.users[row["id"]] = None
            state.skip("users", row, f"username {username!r} belongs to another user")
        else:
            state.users[row["id"]] = row["id"]
            candidates.append(row)
            if isinstance(username, str):
                held.add(username.lower())
            if row.get("email") is not None:  # a later row of this backup with it is this user
                by_email[row["email"]] = (row["id"], row["email"])
    invited = _unlink_inviters(state, candidates)
    state.finish("users", len(rows), candidates)
    refused = forget_refused(state, "users", candidates, state.users)
    _link_inviters(state, invited)
    report_cleared(state, "users", refused)


def _email_taken(email, holder, stored):
    """Why a backup user whose ``email`` the user ``holder`` holds (written ``stored``) was skipped."""
    written = "" if stored == email else f", stored as {stored!r}"
    return f"email {email!r} belongs to user {holder}{written}: its rows go to that user"


def _unlink_inviters(state, candidates):
    """Point each candidate's ``invited_by`` at its target user; ``{id: inviter}`` of those
    invited by another candidate, inserted without it until both are known to be in."""
    incoming, invited = {row["id"] for row in candidates}, {}
    for row in candidates:
        clear_dangling(state, "users", row, "invited_by", "users")
        if row.get("invited_by") not in state.users:
            continue  # none, or a user the database holds, kept as it is
        inviter = state.users[row["invited_by"]]
        if inviter in incoming:
            invited[row["id"]], inviter = inviter, None
        row["invited_by"] = inviter
    return invited


def _link_inviters(state, invited):
    """Set ``invited_by`` of the users imported with their inviter (``{id: inviter}``): one
    UPDATE per inviter. An inviter the database refused stays cleared, as one skipped is."""
    by_inviter = {}
    for user_id, inviter in invited.items():
        if state.users[user_id] is not None and state.users[inviter] is not None:
            by_inviter.setdefault(inviter, []).append(user_id)
    p = state.db.param
    for inviter, user_ids in by_inviter.items():
        for start in range(0, len(user_ids), IN_CHUNK):
            chunk = user_ids[start:start + IN_CHUNK]
            marks = ", ".join([p] * len(chunk))
            state.db.execute_sql(f'UPDATE "users" SET "invited_by" = {p} WHERE "id" IN ({marks})', [inviter, *chunk])
