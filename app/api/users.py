"""``/admin/api/users``: list, create, get, update, deactivate and invite users, resend and
cancel invitations (JSON; SonicJS has HTML).

Rules beyond the route permissions: giving a role other than viewer (creating, inviting,
changing a role) needs ``users.roles``, and so does changing the email or password of a
user above viewer, since whoever sets them can sign in as that user; nobody changes their
own role or deactivates themself, nor sets their own password here (``/auth/change-password``
asks for the current one), nor their own email: a new address takes a password-reset link,
so a stolen session or an API token scoped to ``users.update`` would become the account
(403; another admin changes it); the last active admin is neither demoted nor deactivated (409).
A role, email or password change or a deactivation ends the user's sessions at once
(``token_version``). The user JSON never carries the password hash or any token; every
response is ``no-store`` (personal data).

Giving someone the admin role (creating or inviting an admin, resending an admin's
invitation, promoting a user) needs proof of the user besides (``app.api.reauth``): a
sign-in within ``RECENT_SIGN_IN_SECONDS``, or ``current_password`` in the body (an API
token, which tells no sign-in time, always sends its owner's). Otherwise a stolen session
or token could make its thief an admin account of their own, one that outlives the theft.
So does setting the email or password of a user who is or would become an admin (whoever
sets them signs in as that admin) and reactivating a deactivated admin (an account the
thief may hold the credentials of). A ``current_password`` that is sent is checked
whatever the change, never ignored (the admin's forms, where a browser may fill the field
in, read it only where it is needed).
"""

from typing import Literal

import falcon
import msgspec

from app.api.access import access
from app.api.auth import EditedUsername, Email, Name, Password, Username, checked_username
from app.api.describe import Param, describe, paged
from app.api.errors import conflict, field_error, forbidden, invalid_param, nothing_to_update, read_body
from app.api.params import limit_param, page_param
from app.api.private import no_store
from app.api.rate_limits import Guard, rate_limited
from app.api.reauth import PROOF_NEEDED, Reauthentication
from app.api.schemas import AdminUser, InvitationCancelled, Listed, One, UserMessage
from app.services import users
from app.services.accounts import DuplicateAccount, EditedEmail, InvalidEmail, WeakPassword, normalize_email
from app.services.cache import Namespace, invalidate
from app.services.identity import LEAST_PRIVILEGED_ROLE
from app.services.pagination import pagination_meta

Role = Literal["admin", "editor", "author", "viewer"]
MAX_LIMIT = 100
OWN_EMAIL = "You cannot change your own email"
OWN_EMAIL_DETAIL = "Ask another admin to change it"
DEFAULT_LIMIT = 20
ADMIN_ROLE = "admin"
GIVE_ADMIN = "give the admin role"
SET_ADMIN_CREDENTIALS = "set an admin's email or password"
REACTIVATE_ADMIN = "reactivate an admin"
ADMIN_PROOF = ("Giving the admin role, and (on update) setting an admin's email or password or reactivating an "
               "admin, needs a sign-in within `RECENT_SIGN_IN_SECONDS` (10 minutes by default) or "
               f"`current_password` in the body (an API token always sends its owner's): without either, 403 "
               f"`{PROOF_NEEDED}`; a wrong password is a 422 on `current_password`, counted as a failed sign-in "
               "(429 past the limit).")
USER_FILTERS = (
    Param("search", str, "in email, username and names"),
    Param("role", Role, "only this role"),
    Param("status", Literal["active", "inactive"], "only active or inactive users"),
)


class UserPatch(msgspec.Struct, forbid_unknown_fields=True):
    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET
    username: EditedUsername | msgspec.UnsetType = msgspec.UNSET
    email: EditedEmail | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    current_password: Password | None = None  # the caller's: proof for a change to an admin's access, not a change


class CreateUserBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    role: Role = LEAST_PRIVILEGED_ROLE
    username: Username | None = None
    first_name: Name = ""
    last_name: Name = ""
    current_password: Password | None = None  # the caller's: proof for the admin role


class InviteBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Role = LEAST_PRIVILEGED_ROLE
    first_name: Name = ""
    last_name: Name = ""
    current_password: Password | None = None  # the caller's: proof for the admin role


class ResendBody(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password | None = None  # the caller's: proof for an admin's invitation


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
        "invitation_pending": user.invitation_pending,
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


def check_can_grant(caller, role, action):
    """403 unless ``caller`` may give ``role``: any role but viewer needs ``users.roles``."""
    if role != LEAST_PRIVILEGED_ROLE and not caller.can("users.roles"):
        raise forbidden(f"{action} with a role other than viewer requires the users.roles permission")


def gives_admin(role, held=None):
    """Whether giving ``role`` to a user who holds ``held`` (None: a new user) makes them an admin."""
    return role == ADMIN_ROLE and held != ADMIN_ROLE


def sets_email(target, email):
    """Whether ``email`` (None: not sent) is a new address for ``target``: one differing only
    in what normalising removes (case, for one stored before emails were lower-cased) is the
    same address, whoever receives its mail."""
    return email is not None and normalize_email(email) != normalize_email(target.email)


def proof_needed_for(target, changes):
    """What ``changes`` to ``target`` would do that needs proof of the user, in the words of
    the refusal ("give the admin role"), or None.

    Making them an admin does, and so does, for a user who is or would become an admin,
    setting their email or password (whoever sets them signs in as that admin) or
    reactivating them: each hands over an admin account.
    """
    role = changes.get("role")
    if gives_admin(role, target.role):
        return GIVE_ADMIN
    if ADMIN_ROLE not in (target.role, role):
        return None
    if "password" in changes or sets_email(target, changes.get("email")):
        return SET_ADMIN_CREDENTIALS
    if changes.get("is_active") is True and not target.is_active:
        return REACTIVATE_ADMIN
    return None


def prove(reauth, req, caller, action, password):
    """``caller``'s proof of being at the keyboard (``Reauthentication.require``) when
    ``action`` (the words of ``proof_needed_for``) asks for it; a ``password`` sent is checked
    in any case. Returns whether the proof was asked for.

    Raises:
        APIError: 403 without proof, 422 for a wrong password, 429 past the sign-in limits.
    """
    if not (password or action):
        return False
    reauth.require(req, caller, password, action)  # no action only with a password: never said
    return True


def prove_to_give(reauth, req, caller, role, password):
    """Before ``role`` is given to a new user: ``prove`` when it makes them an admin (a change
    to an existing user asks ``proof_needed_for``). Returns whether the proof was asked for."""
    return prove(reauth, req, caller, GIVE_ADMIN if gives_admin(role) else None, password)


def check_changes(caller, target, changes):
    """403 for a change ``caller`` may not make to ``target`` (the permission to update aside).

    Whoever sets a user's email (then asks for a reset) or password signs in as that user,
    so doing it to anyone above viewer takes the permission to give their role; so does
    reactivating such a user, which gives the role back.
    """
    own = target.id == caller.id
    if "role" in changes:
        if not caller.can("users.roles"):
            raise forbidden("Changing a role requires the users.roles permission")
        if own:
            raise forbidden("You cannot change your own role")
    if changes.get("is_active") is False:
        # The same right as DELETE: deactivating ends the user's sessions and deletes their tokens.
        if not caller.can("users.delete"):
            raise forbidden("Deactivating a user requires the users.delete permission")
        if own:
            raise forbidden("You cannot deactivate your own account")
    if "password" in changes and own:
        raise forbidden("Change your own password with /auth/change-password")
    if own and "email" in changes and normalize_email(changes["email"]) != target.email \
            and changes["email"] != target.email:  # sent back as stored, one with capitals is kept
        # Whoever sets the address receives the reset link: a session or token could become the account.
        raise forbidden(OWN_EMAIL, [{"field": "email", "message": OWN_EMAIL_DETAIL}])
    if {"email", "password"} & changes.keys() and not own and target.role != LEAST_PRIVILEGED_ROLE \
            and not caller.can("users.roles"):
        raise forbidden("Changing the email or password of a user above viewer requires the users.roles permission")
    if changes.get("is_active") is True and not target.is_active and target.role != LEAST_PRIVILEGED_ROLE \
            and not caller.can("users.roles"):
        # Reactivating gives the account its role back: as much as giving that role.
        raise forbidden("Reactivating a user above viewer requires the users.roles permission")


def stored_changes(accounts, changes):
    """``changes`` as the service takes them: a password checked against the policy and
    hashed (before any transaction: the KDF is slow), or a 422."""
    if "password" not in changes:
        return changes
    changes = dict(changes)
    password = changes.pop("password")
    try:
        accounts.check_password(password)
    except WeakPassword as ex:
        raise field_error("password", str(ex)) from None
    changes["password_hash"] = accounts.hasher.hash(password)
    return changes


def account_errors(action):
    """Run ``action()``; an invalid email is a 422, a taken email or username a 409."""
    try:
        return action()
    except InvalidEmail as ex:
        raise field_error("email", str(ex)) from None
    except WeakPassword as ex:
        raise field_error("password", str(ex)) from None
    except DuplicateAccount as ex:
        raise conflict(str(ex), ex.details) from None


class UsersResource:
    """``GET /admin/api/users``: ``{data, meta}`` with search and filters; ``POST``: create a user.

    Writes invalidate the cache namespace ``users`` (content responses embed their authors).
    """

    def __init__(self, accounts, cache, reauth):
        self._accounts = accounts
        self._cache = cache
        self._reauth = reauth

    @access("users.read")
    @describe("List users", query=paged(DEFAULT_LIMIT, MAX_LIMIT) + USER_FILTERS, response=Listed[AdminUser])
    @no_store
    def on_get(self, req, resp):
        found, meta = listed_users(req)
        resp.media = {"data": found, "meta": meta}

    @access("users.create")
    @rate_limited("login")
    @describe("Create an active user with a password (a role other than viewer needs users.roles)",
              body=CreateUserBody, status=201, response=UserMessage, description=ADMIN_PROOF)
    @no_store
    def on_post(self, req, resp):
        body = read_body(req, CreateUserBody)
        checked_username(body.username)
        check_can_grant(req.context.user, body.role, "Creating a user")
        prove_to_give(self._reauth, req, req.context.user, body.role, body.current_password)
        user = account_errors(lambda: self._accounts.create_user(
            body.email, body.password, body.role, body.username, body.first_name, body.last_name))
        invalidate(self._cache, Namespace.USERS)
        resp.status = falcon.HTTP_201
        resp.media = {"data": user_json(user), "message": "User created"}


class UserResource:
    """``GET/PATCH/DELETE /admin/api/users/{user_id}``.

    Writes invalidate the cache namespace ``users`` (content responses embed their authors).
    """

    def __init__(self, accounts, cache, reauth):
        self._accounts = accounts
        self._cache = cache
        self._reauth = reauth

    @access("users.read")
    @describe("One user", response=One[AdminUser])
    @no_store
    def on_get(self, req, resp, user_id):
        resp.media = {"data": user_json(users.get_user(user_id))}

    @access("users.update")
    @rate_limited("login")
    @describe("Update a user (role changes need users.roles; deactivation users.delete; the email or password "
              "of a user above viewer users.roles)", body=UserPatch, response=One[AdminUser],
              description=ADMIN_PROOF)
    @no_store
    def on_patch(self, req, resp, user_id):
        patch = read_body(req, UserPatch)
        changes = {
            name: getattr(patch, name) for name in patch.__struct_fields__
            if name != "current_password" and getattr(patch, name) is not msgspec.UNSET
        }
        if not changes:
            raise nothing_to_update()
        caller = req.context.user
        target = users.get_user(user_id)
        check_changes(caller, target, changes)
        proven = prove(self._reauth, req, caller, proof_needed_for(target, changes), patch.current_password)

        def check(stored):
            check_changes(caller, stored, changes)
            if not proven:  # changed meanwhile (demoted, promoted, deactivated), the change may need it now
                prove(self._reauth, req, caller, proof_needed_for(stored, changes), None)

        prepared = stored_changes(self._accounts, changes)
        # Checked again on the row the write sees: a promotion may commit while the password hashes.
        user = account_errors(lambda: users.update_user(user_id, prepared, check=check))
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

    def __init__(self, accounts, mailer, reauth):
        self._accounts = accounts
        self._mailer = mailer
        self._reauth = reauth

    @access("users.create")
    @rate_limited("login")
    @describe("Invite a user by email", body=InviteBody, status=201, response=UserMessage, description=ADMIN_PROOF)
    @no_store
    def on_post(self, req, resp):
        caller = req.context.user
        body = read_body(req, InviteBody)
        check_can_grant(caller, body.role, "Inviting")
        prove_to_give(self._reauth, req, caller, body.role, body.current_password)
        user, mail = account_errors(
            lambda: self._accounts.invite(body.email, body.role, caller.id, body.first_name, body.last_name))
        req.context.ctx.wait_until(self._mailer, mail)
        resp.status = falcon.HTTP_201
        resp.media = {"data": user_json(user), "message": "Invitation sent"}


ROLE_CHANGED_MEANWHILE = "This invitation's role changed while it was being resent: resend it again"


def invitation_to_resend(caller, user_id):
    """The user whose pending invitation ``caller`` asks to resend, before any proof is asked:
    404 for no such user, 403 unless ``caller`` may give its role, 409 without one pending."""
    person = users.get_user(user_id)
    check_can_grant(caller, person.role, "Inviting")
    if not person.invitation_pending:
        raise users.NoPendingInvitation()
    return person


def resend_invitation(accounts, person):
    """A new link for the pending invitation of ``person`` (as ``invitation_to_resend`` read
    it, the caller's right to its role checked, and the proof for an admin's): ``(user,
    Mail)``; 409 when it is no longer pending (accepted or cancelled meanwhile) or its role
    changed meanwhile, which the caller's right and proof were not checked for."""
    renewed = accounts.reinvite(person.id, person.role)
    if renewed is None:
        if users.get_user(person.id).invitation_pending:
            raise users.NoPendingInvitation(ROLE_CHANGED_MEANWHILE)
        raise users.NoPendingInvitation()
    return renewed


def resend_body(req):
    """The resend's body: none (as clients sent it before an admin's invitation asked for
    the proof) is an empty one."""
    return read_body(req, ResendBody) if req.content_length else ResendBody()


class InvitationResource:
    """``POST /admin/api/users/{user_id}/invitation``: resend (a new link; the old one stops
    working), an admin's invitation with proof of the user as inviting one; ``DELETE``:
    cancel a pending invitation."""

    def __init__(self, accounts, mailer, cache, reauth):
        self._accounts = accounts
        self._mailer = mailer
        self._cache = cache
        self._reauth = reauth

    @access("users.create")
    @rate_limited("login")
    @describe("Resend a pending invitation with a new link (the old one stops working)", body=ResendBody,
              optional_body=True, response=UserMessage,
              description="The body may be left out. Resending an admin's invitation gives the admin role: "
                          + ADMIN_PROOF)
    @no_store
    def on_post(self, req, resp, user_id):
        body, caller = resend_body(req), req.context.user
        person = invitation_to_resend(caller, user_id)
        prove_to_give(self._reauth, req, caller, person.role, body.current_password)
        user, mail = resend_invitation(self._accounts, person)
        req.context.ctx.wait_until(self._mailer, mail)
        resp.media = {"data": user_json(user), "message": "Invitation sent"}

    @access("users.delete")
    @describe("Cancel a pending invitation: the invited account is deleted", response=InvitationCancelled)
    @no_store
    def on_delete(self, req, resp, user_id):
        deleted = users.cancel_invitation(user_id)
        invalidate(self._cache, Namespace.USERS)
        resp.media = {"message": "Invitation cancelled", "deleted": deleted}


def register(routes):
    """Mount ``/admin/api/users``."""
    services, settings = routes.services, routes.settings
    accounts, cache = services.accounts, services.cache
    reauth = Reauthentication(accounts, Guard(services.rate_limiter, settings), settings)
    routes.add("/admin/api/users", UsersResource(accounts, cache, reauth))
    routes.add("/admin/api/users/invite", InviteResource(accounts, services.mailer, reauth))
    routes.add("/admin/api/users/{user_id}", UserResource(accounts, cache, reauth))
    routes.add("/admin/api/users/{user_id}/invitation", InvitationResource(accounts, services.mailer, cache, reauth))
