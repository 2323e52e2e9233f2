"""``/admin/api/users``: list, get, update, deactivate and invite users (JSON; SonicJS has HTML).

Rules beyond the route permissions: changing a role needs ``users.roles`` besides
``users.update`` (and nobody changes their own role); nobody deactivates themself; a role
change or a deactivation ends the user's sessions at once (``token_version``). The user JSON
never carries the password hash or any token; every response is ``no-store`` (personal data).
"""

from typing import Literal

import falcon
import msgspec

from app.api.access import access
from app.api.auth import Email, Name
from app.api.describe import Param, describe, paged
from app.api.errors import conflict, field_error, forbidden, invalid_param, nothing_to_update, read_body
from app.api.params import limit_param, page_param
from app.api.private import no_store
from app.api.schemas import AdminUser, Listed, One, UserMessage
from app.services import users
from app.services.accounts import DuplicateAccount, InvalidEmail
from app.services.cache import Namespace, invalidate
from app.services.identity import LEAST_PRIVILEGED_ROLE
from app.services.pagination import pagination_meta

Role = Literal["admin", "editor", "author", "viewer"]
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
USER_FILTERS = (
    Param("search", str, "in email, username and names"),
    Param("role", Role, "only this role"),
    Param("status", Literal["active", "inactive"], "only active or inactive users"),
)


class UserPatch(msgspec.Struct, forbid_unknown_fields=True):
    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class InviteBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Role = LEAST_PRIVILEGED_ROLE
    first_name: Name = ""
    last_name: Name = ""


def user_json(user):
    """A user as the admin API shows it: profile and status, never a hash or a token."""
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "is_active": bool(user.is_active),
        "email_verified": bool(user.email_verified),
        "invitation_pending": user.invitation_token is not None,
        "invited_by": user.invited_by_id,
        "invited_at": user.invited_at,
        "accepted_invitation_at": user.accepted_invitation_at,
        "last_login_at": user.last_login_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _filters(req):
    """The list filters of the query string: ``search``, ``role`` and ``status`` (400 if invalid)."""
    filters = {"search": (req.get_param("search") or "").strip() or None}
    role = req.get_param("role")
    if role:
        if role not in Role.__args__:
            raise invalid_param("role", f"must be one of {', '.join(Role.__args__)}", allowed=list(Role.__args__))
        filters["role"] = role
    status = req.get_param("status")
    if status:
        if status not in ("active", "inactive"):
            raise invalid_param("status", "must be active or inactive", allowed=["active", "inactive"])
        filters["active"] = status == "active"
    return filters


def listed_users(req):
    """``(users, pagination meta)`` of the page of users the query string asks for (400 for a bad parameter)."""
    page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
    rows, total = users.list_users(**_filters(req), page=page, limit=limit)
    return [user_json(u) for u in rows], pagination_meta(total, limit, page)


class UsersResource:
    """``GET /admin/api/users``: ``{data, meta}`` with search and filters."""

    @access("users.read")
    @describe("List users", query=paged(DEFAULT_LIMIT, MAX_LIMIT) + USER_FILTERS, response=Listed[AdminUser])
    @no_store
    def on_get(self, req, resp):
        found, meta = listed_users(req)
        resp.media = {"data": found, "meta": meta}


class UserResource:
    """``GET/PATCH/DELETE /admin/api/users/{user_id}``.

    Writes invalidate the cache namespace ``users`` (content responses embed their authors).
    """

    def __init__(self, cache):
        self._cache = cache

    @access("users.read")
    @describe("One user", response=One[AdminUser])
    @no_store
    def on_get(self, req, resp, user_id):
        resp.media = {"data": user_json(users.get_user(user_id))}

    @access("users.update")
    @describe("Update a user (role changes need users.roles; deactivation users.delete)", body=UserPatch,
              response=One[AdminUser])
    @no_store
    def on_patch(self, req, resp, user_id):
        caller = req.context.user
        patch = read_body(req, UserPatch)
        changes = {
            name: getattr(patch, name) for name in patch.__struct_fields__ if getattr(patch, name) is not msgspec.UNSET
        }
        if not changes:
            raise nothing_to_update()
        if "role" in changes:
            if not caller.can("users.roles"):
                raise forbidden("Changing a role requires the users.roles permission")
            if user_id == caller.id:
                raise forbidden("You cannot change your own role")
        if changes.get("is_active") is False:
            # The same right as DELETE: deactivating ends the user's sessions and deletes their tokens.
            if not caller.can("users.delete"):
                raise forbidden("Deactivating a user requires the users.delete permission")
            if user_id == caller.id:
                raise forbidden("You cannot deactivate your own account")
        user = users.update_user(user_id, changes)
        invalidate(self._cache, Namespace.USERS)
        resp.media = {"data": user_json(user)}

    @access("users.delete")
    @describe("Deactivate a user", response=UserMessage)
    @no_store
    def on_delete(self, req, resp, user_id):
        if user_id == req.context.user.id:
            raise forbidden("You cannot deactivate your own account")
        user = users.deactivate_user(user_id)
        invalidate(self._cache, Namespace.USERS)
        resp.media = {"message": "User deactivated", "data": user_json(user)}


class InviteResource:
    """``POST /admin/api/users/invite``: an inactive user; the link goes to the mailer only."""

    def __init__(self, accounts, mailer):
        self._accounts = accounts
        self._mailer = mailer

    @access("users.create")
    @describe("Invite a user by email", body=InviteBody, status=201, response=UserMessage)
    @no_store
    def on_post(self, req, resp):
        caller = req.context.user
        body = read_body(req, InviteBody)
        if body.role != LEAST_PRIVILEGED_ROLE and not caller.can("users.roles"):
            raise forbidden("Inviting with a role other than viewer requires the users.roles permission")
        try:
            user, mail = self._accounts.invite(body.email, body.role, caller.id, body.first_name, body.last_name)
        except InvalidEmail as ex:
            raise field_error("email", str(ex)) from None
        except DuplicateAccount as ex:
            raise conflict(str(ex)) from None
        req.context.ctx.wait_until(self._mailer, mail)
        resp.status = falcon.HTTP_201
        resp.media = {"data": user_json(user), "message": "Invitation sent"}


def register(routes):
    """Mount ``/admin/api/users``."""
    services = routes.services
    routes.add("/admin/api/users", UsersResource())
    routes.add("/admin/api/users/invite", InviteResource(services.accounts, services.mailer))
    routes.add("/admin/api/users/{user_id}", UserResource(services.cache))
