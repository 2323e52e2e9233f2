"""Reading and managing user accounts as administrators do: list, look up, update, deactivate.

Creating accounts, passwords, resets and invitations belong to ``app.services.accounts``.
Whoever may call what is the API's business (``users.*`` permissions); the rules here are
about the data: a role change or a deactivation ends the user's sessions at once (it bumps
``token_version``), and a deactivation also cancels a pending invitation and deletes the
user's API tokens, so that reactivating the account does not bring them back.
"""

from app.db.models import User, database, now_ms
from app.db.text_match import contains_any_case
from app.services.api_tokens import revoke_tokens_of
from app.services.errors import CONFLICT, NOT_FOUND, ServiceError


class UserNotFound(ServiceError):
    """No user has that id."""

    kind = NOT_FOUND

    def __init__(self, message="User not found", details=None):
        super().__init__(message, details)


class InvitationPending(ServiceError):
    """An invited user is activated by accepting the invitation, never by an admin: the
    account would otherwise be active with no password while the invitation stays open."""

    kind = CONFLICT


def get_user(user_id):
    """The user ``user_id``; UserNotFound otherwise."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise UserNotFound()
    return user


def list_users(search=None, role=None, active=None, page=1, limit=20):
    """A page of users, newest first: ``(rows, total)``.

    Args:
        search: text found in the email, username, first or last name, in any case.
        role: only users of this role.
        active: only active (True) or inactive (False) users.
        page, limit: the 1-based page and its size.
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
    total = query.count()
    rows = list(query.order_by(User.created_at.desc(), User.id).paginate(page, limit))
    return rows, total


def update_user(user_id, changes):
    """Apply ``changes`` (profile fields, ``role``, ``is_active``) to a user; the user as stored.

    A new role or a deactivation ends the user's sessions in the same transaction; a
    deactivation also deletes the user's API tokens.

    Raises:
        UserNotFound: no such user.
        InvitationPending: ``is_active`` true for a user whose invitation is still open.
    """
    with database.atomic():
        user = get_user(user_id)
        if changes.get("is_active") is True and not user.is_active and user.invitation_token is not None:
            raise InvitationPending("The invitation is still pending: the user becomes active by accepting it",
                                    {"field": "is_active"})
        deactivates = changes.get("is_active", user.is_active) is False and user.is_active
        ends_sessions = deactivates or changes.get("role", user.role) != user.role
        update = dict(changes, updated_at=now_ms())
        if ends_sessions:
            update["token_version"] = User.token_version + 1
        User.update(**update).where(User.id == user.id).execute()
        if deactivates:
            revoke_tokens_of(user.id)
    return User.get_by_id(user_id)


def deactivate_user(user_id):
    """Deactivate a user, end their sessions and API tokens, cancel a pending invitation; the user as stored.

    Raises:
        UserNotFound: no such user.
    """
    with database.atomic():
        user = get_user(user_id)
        User.update(
            is_active=False, invitation_token=None, token_version=User.token_version + 1, updated_at=now_ms()
        ).where(User.id == user.id).execute()
        revoke_tokens_of(user.id)
    return User.get_by_id(user_id)
