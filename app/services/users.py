"""Reading and managing user accounts as administrators do: list, look up, update, deactivate.

Creating accounts, passwords, resets and invitations belong to ``app.services.accounts``.
Whoever may call what is the API's business (``users.*`` permissions); the rules here are
about the data: a role change, a deactivation, a new email or a new password ends the
user's sessions at once (it bumps ``token_version``); a deactivation, a new email or a new
password also deletes the user's API tokens, so that neither reactivating the account nor
the old password or address brings them back; a deactivation also withdraws an invitation
token. An invitation is pending while the account holds its token and is not active
(``User.invitation_pending``): an active account's leftover token holds back none of its
changes. The last active admin can be neither demoted nor deactivated: on PostgreSQL the writes that could
remove an admin lock the active admins' rows first, so two admins demoting each other at
once cannot both succeed (SQLite's write transactions take turns already); an update locks
the user's row too, and checks the caller's rules against it (``update_user``'s ``check``),
so a role changed by a request committing meanwhile is the role those rules see.
"""

import peewee

from app.db.database import is_postgres
from app.db.models import User, database, now_ms
from app.db.text_match import contains_any_case
from app.services.accounts import EITHER_TAKEN, DuplicateAccount, check_username, duplicate_account, edited_email
from app.services.api_tokens import revoke_tokens_of
from app.services.errors import CONFLICT, NOT_FOUND, ServiceError

ADMIN = "admin"


class UserNotFound(ServiceError):
    """No user has that id."""

    kind = NOT_FOUND

    def __init__(self, message="User not found", details=None):
        super().__init__(message, details)


class InvitationPending(ServiceError):
    """An invited user is activated by accepting the invitation, never by an admin: the
    account would otherwise be active with no password while the invitation stays open.
    The invitation's address and the password the invitee will choose are not an admin's
    to change either."""

    kind = CONFLICT


class NoPendingInvitation(ServiceError):
    """The user has no invitation to resend or cancel: accepted, cancelled, or never invited."""

    kind = CONFLICT

    def __init__(self, message="This user has no pending invitation", details=None):
        super().__init__(message, details)


class LastAdmin(ServiceError):
    """The change would leave no active admin, and nobody able to manage the site."""

    kind = CONFLICT


def get_user(user_id):
    """The user ``user_id``; UserNotFound otherwise."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise UserNotFound()
    return user


# The lists' order: newest first, ``id`` breaking ties so that pages never overlap.
NEWEST_FIRST = (User.created_at.desc(), User.id)
# What an export of the list holds of each user: nothing secret (no password hash, token or
# two-factor secret), and whether an invitation is pending rather than its token.
EXPORTED = (User.id, User.email, User.username, User.first_name, User.last_name, User.role, User.is_active,
            User.pending_invitation().alias("invitation_pending"), User.created_at, User.last_login_at)


def matching_users(search=None, role=None, active=None):
    """The query of the users the list's filters select, unordered.

    Args:
        search: text found in the email, username, first or last name, in any case.
        role: only users of this role.
        active: only active (True) or inactive (False) users.
    """
    query = User.select()
    if search:
        # In any case, every letter's (SQLite's LIKE folds ASCII only); % _ and \ match
        # themselves and the pattern is bound: no wildcard or SQL injection.
        query = query.where(
            contains_any_case(User.email, search) | contains_any_case(User.username, search)
            | contains_any_case(User.first_name, search) | contains_any_case(User.last_name, search)
        )
    if role is not None:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.is_active == active)
    return query


def list_users(search=None, role=None, active=None, page=1, limit=20):
    """A page of users, newest first: ``(rows, total)``.

    Args:
        search, role, active: the filters of ``matching_users``.
        page, limit: the 1-based page and its size.
    """
    query = matching_users(search, role, active)
    total = query.count()
    rows = list(query.order_by(*NEWEST_FIRST).paginate(page, limit))
    return rows, total


def export_users(search, role, active, limit):
    """Up to ``limit`` users the filters select, newest first, as dicts of the ``EXPORTED``
    columns only: ``(rows, truncated)``.

    ``truncated`` says whether more users matched: one row past ``limit`` is read to know,
    rather than counting every match again.
    """
    query = matching_users(search, role, active).select(*EXPORTED).order_by(*NEWEST_FIRST)
    rows = list(query.limit(limit + 1).dicts())
    return rows[:limit], len(rows) > limit


def update_user(user_id, changes, check=None):
    """Apply ``changes`` to a user in one transaction; the user as stored.

    Args:
        user_id: the user to change.
        changes: any of ``first_name``, ``last_name``, ``username``, ``email`` (normalised
            here), ``password_hash`` (hashed by the caller, outside the transaction),
            ``role`` and ``is_active``.
        check: ``check(user)``, called with the user's row as the transaction reads it,
            locked against other writes until it ends, before anything is written; it
            raises to refuse. The caller's rules that depend on the row (who may set the
            credentials of a user of this role) hold even if it changed since they read it.

    A new role, email or password or a deactivation ends the user's sessions; a new email
    or password or a deactivation also deletes the user's API tokens; a new email is not
    verified, and a password-reset link mailed to the old one stops working.

    Raises:
        UserNotFound: no such user.
        InvalidEmail: the new email is not acceptable. The stored one, sent back exactly
            (one with capitals from before emails were lower-cased too), is kept as it is.
        InvalidUsername: a new username breaks ``USERNAME_PATTERN``. The stored one, sent
            back unchanged (as an edit form resubmits every field), is kept as it is, though
            an older install may have taken it before the rule.
        DuplicateAccount: another user has the email or the username.
        InvitationPending: ``is_active`` true, an email or a password for a user whose
            invitation is still open.
        LastAdmin: the change would demote or deactivate the last active admin.
    """
    with database.atomic():
        _keep_an_admin(user_id, changes)
        user = _locked_user(user_id)
        if check is not None:
            check(user)
        changes = _email_normalised(user, changes)
        changes = {name: value for name, value in changes.items() if getattr(user, name) != value}
        if "username" in changes:
            check_username(changes["username"])
        _check_invitation(user, changes)
        _check_taken(user.id, changes)
        deactivates = changes.get("is_active") is False
        update = dict(changes, updated_at=now_ms())
        if deactivates or {"role", "email", "password_hash"} & changes.keys():
            update["token_version"] = User.token_version + 1
        if deactivates:
            # An active account's leftover invitation would become an open one, its link
            # able to set the username and password.
            update["invitation_token"] = None
        if "email" in changes:
            update.update(email_verified=False, password_reset_token=None, password_reset_expires=None)
        _write(user.id, update)
        if deactivates or {"email", "password_hash"} & changes.keys():
            # The account's credentials changed hands or may have: a token must not outlive
            # the sessions it was made from (a role change only narrows the tokens).
            revoke_tokens_of(user.id)
    return User.get_by_id(user_id)


def _email_normalised(user, changes):
    """``changes`` with a new email normalised and checked (InvalidEmail), or without the
    email when it is ``user``'s sent back exactly: one stored with capitals (from before
    emails were lower-cased), or one today's rules refuse, is kept as it is, not rewritten
    (which would end the user's sessions and unverify it) nor refused (which would block a
    save of the names around it)."""
    if "email" not in changes:
        return changes
    if changes["email"] == user.email:
        return {name: value for name, value in changes.items() if name != "email"}
    return dict(changes, email=edited_email(changes["email"]))


def deactivate_user(user_id):
    """Deactivate a user, end their sessions and API tokens, cancel a pending invitation; the user as stored.

    Raises:
        UserNotFound: no such user.
        LastAdmin: the user is the last active admin.
    """
    with database.atomic():
        _keep_an_admin(user_id, {"is_active": False})
        user = get_user(user_id)
        User.update(
            is_active=False, invitation_token=None, token_version=User.token_version + 1, updated_at=now_ms()
        ).where(User.id == user.id).execute()
        revoke_tokens_of(user.id)
    return User.get_by_id(user_id)


def cancel_invitation(user_id):
    """Withdraw a pending invitation: the invited account goes, and its link with it.

    The account is deleted, so its email can be invited again. Should another row refer to
    it already, it stays, inactive and with no invitation, as a deactivation leaves it.

    Returns:
        True when the account was deleted, False when it was kept without its invitation.

    Raises:
        UserNotFound: no such user.
        NoPendingInvitation: the invitation was accepted or cancelled, or there was none.
    """
    # One conditional statement decides: an acceptance racing the cancellation makes it find no row.
    pending = (User.id == user_id) & User.pending_invitation()
    with database.atomic():
        get_user(user_id)
        try:
            with database.atomic():  # a savepoint: PostgreSQL's transaction survives a refused delete
                if User.delete().where(pending).execute() == 1:
                    return True
        except peewee.IntegrityError:
            kept = User.update(invitation_token=None, token_version=User.token_version + 1,
                               updated_at=now_ms()).where(pending).execute()
            if kept == 1:
                return False
        raise NoPendingInvitation()


def _active_admins():
    """The ids of the active admins, locked against other writes until the transaction ends
    on PostgreSQL (in one order, so two such transactions cannot deadlock)."""
    query = User.select(User.id).where((User.role == ADMIN) & (User.is_active == True)).order_by(User.id)  # noqa: E712
    if is_postgres(database):
        query = query.for_update()
    return [row.id for row in query]


def _locked_user(user_id):
    """The user ``user_id``, its row locked until the transaction ends on PostgreSQL (SQLite's
    write transactions hold the whole database already); UserNotFound otherwise."""
    query = User.select().where(User.id == user_id)
    if is_postgres(database):
        query = query.for_update()
    user = query.first()
    if user is None:
        raise UserNotFound()
    return user


def _keep_an_admin(user_id, changes):
    """Raise LastAdmin when ``changes`` would take away the last active admin."""
    if changes.get("role", ADMIN) == ADMIN and changes.get("is_active") is not False:
        return
    if _active_admins() == [user_id]:
        field = "is_active" if changes.get("is_active") is False else "role"
        raise LastAdmin("The last active admin cannot be demoted or deactivated",
                        [{"field": field, "message": "Make another user an active admin first"}])


def _check_invitation(user, changes):
    """InvitationPending for what only accepting an open invitation may do."""
    if not user.invitation_pending:
        return
    if changes.get("is_active") is True:
        raise InvitationPending("The invitation is still pending: the user becomes active by accepting it",
                                [{"field": "is_active", "message": "The user becomes active by accepting it"}])
    for field in ("email", "password_hash"):
        if field in changes:
            name = "password" if field == "password_hash" else field
            raise InvitationPending(f"The invitation is still pending: cancel it to change the {name}",
                                    [{"field": name, "message": f"Cancel the invitation to change the {name}"}])


def _check_taken(user_id, changes):
    """DuplicateAccount when another user holds the new email or username (in any case)."""
    taken = duplicate_account(changes.get("email"), changes.get("username"), other_than=user_id)
    if taken is not None:
        raise taken


def _write(user_id, update):
    try:
        with database.atomic():  # a savepoint: PostgreSQL's transaction survives a refused update
            User.update(**update).where(User.id == user_id).execute()
    except peewee.IntegrityError:
        # Another request took the email or the username between the check and the update.
        taken = duplicate_account(update.get("email"), update.get("username"), other_than=user_id)
        raise (taken or DuplicateAccount(EITHER_TAKEN)) from None
