"""Users (admins): the list with search and filters, invitations, role changes, deactivation.

The same services and rules as ``/admin/api/users``: listing needs ``users.read``, inviting
``users.create`` (a role other than viewer also ``users.roles``), changing a role
``users.roles``, deactivating ``users.delete``, reactivating ``users.update`` (and
``users.roles`` for a user above viewer); nobody changes their own role or deactivates
themselves, and the last active admin is neither demoted nor deactivated (409, shown on
the list). A role change or deactivation ends the user's sessions (the service bumps their
token version). Giving the admin role (inviting an admin or resending an admin's
invitation, a role change to admin) and reactivating an admin need proof of the user as
``/admin/api/users`` does: a recent sign-in, or the current password, whose field the forms
show once the sign-in is no longer recent (read only for a change that needs it: a browser
may fill it in by itself). A refusal, found before the write or on the row the write reads,
shows the form again with its message. Creating, editing, resending and cancelling
invitations are in ``app.admin.user_edit``; the list's CSV download in ``app.admin.users_export``.
"""

from typing import NamedTuple
from urllib.parse import urlencode

import falcon

from app.admin.pages import form_as_typed, one, page_number, problems_in_words, redirect, search_of
from app.admin.session import is_email, keep_retry_after, password_messages, proof_refusal, refusal_message
from app.api.access import access
from app.api.exports import EXPORT_LIMIT
from app.api.reauth import PASSWORD_FIELD
from app.api.users import GIVE_ADMIN, check_changes, gives_admin, listed_users, proof_needed_for, prove
from app.services import users
from app.services.accounts import DuplicateAccount
from app.services.cache import Namespace, invalidate
from app.services.identity import LEAST_PRIVILEGED_ROLE, ROLES

PAGE_SIZE = 24
NO_ROLE_CHANGE = {"id": None, "role": None, "password_error": None}  # no refused role change to show
NO_REACTIVATION = {"id": None, "password_error": None}  # no refused reactivation to show
NO_RESEND = {"id": None, "password_error": None}  # no refused resend of an admin's invitation to show
STATES = {"active": True, "inactive": False}
# The labels the invite form shows for its fields (its template writes them from these), and
# so the words a refusal names a field by, as the other user forms do.
INVITE_LABELS = {"email": "Email", "role": "Role", "first_name": "First name", "last_name": "Last name"}
# The words the list names a row's fields by (a role change's or reactivation's).
ROW_LABELS = {"role": "Role"}
DONE = {"invited": "Invitation sent.", "role": "Role changed.", "deactivated": "User deactivated.",
        "reactivated": "User reactivated.", "resent": "Invitation sent again.", "cancelled": "Invitation cancelled."}


class UserFilters(NamedTuple):
    """The users list's filters as the page reads them: an unknown role or status filters
    nothing (the page shows "All" for it), as a search of only spaces does.

    Attributes:
        search: the trimmed, bounded search text, or "".
        role: one of ``ROLES``, or "" for every role.
        state: "active", "inactive", or "" for both.
    """

    search: str
    role: str
    state: str

    def selection(self):
        """``(search, role, active)`` as ``users.list_users`` and ``users.export_users`` take them."""
        return self.search or None, self.role or None, STATES.get(self.state)

    def export_url(self):
        """The CSV download of the users these filters select (those left empty left out)."""
        kept = {"search": self.search, "role": self.role, "status": self.state}
        query = urlencode({name: value for name, value in kept.items() if value})
        return "/admin/users/export" + (f"?{query}" if query else "")


def user_filters(req):
    """The ``search``, ``role`` and ``status`` parameters of ``req`` as the users list reads them."""
    role, state = req.get_param("role") or "", req.get_param("status") or ""
    return UserFilters(search_of(req), role if role in ROLES else "", state if state in STATES else "")


def asks_password(reauth, user):
    """Whether a form that may give the admin role shows the current-password field: ``user``
    may give roles and signed in too long ago to go without it."""
    return user.can("users.roles") and not reauth.is_recent(user)


def proof_problem(reauth, req, resp, role, form):
    """``(message, status)`` when the form's proof for giving ``role`` to a new user is
    refused (only the admin role needs it), else None."""
    return _refused(resp, lambda: _prove_on_form(reauth, req, GIVE_ADMIN if gives_admin(role) else None, form))


def change_proof_problem(reauth, req, resp, target, changes, form):
    """``(message, status)`` when the form's proof for making ``changes`` to ``target`` is
    refused (``app.api.users.proof_needed_for``: an admin's email, password or reactivation),
    else None."""
    return _refused(resp, lambda: _prove_on_form(reauth, req, proof_needed_for(target, changes), form))


def _prove_on_form(reauth, req, action, form):
    """``prove`` with the form's current password, read only when ``action`` needs the proof.

    Once the sign-in is old a form shows the field wherever a change may need it (on every
    row's role change: any role may be changed to admin), and a browser may fill it in by
    itself: a wrong one it filled in must not refuse a change that needs no proof (editor to
    author). Left unread, it tells nothing of the password either, so no guess escapes the
    count of failed sign-ins. The API, whose client sends ``current_password`` on purpose,
    checks one in any case.
    """
    password = one(form, PASSWORD_FIELD) or None
    return prove(reauth, req, req.context.user, action, password if action else None)


def _refused(resp, proof):
    """``(message, status)`` of the refusal ``proof()`` raises, its ``Retry-After`` (past the
    sign-in limits) set on ``resp``; None when it passes."""
    try:
        proof()
    except falcon.HTTPError as ex:
        keep_retry_after(resp, ex)
        return proof_refusal(ex), ex.status
    return None


def change_proven_on_write(reauth, req, target, changes, form):
    """The ``check`` for ``users.update_user`` of ``changes`` that needed no proof as read on
    ``target``: were the user made an admin or deactivated before the write, the change may
    need it then, and the form's current password, unread so far, is that proof (checked in
    the write's transaction: only a change that came to need it while the request ran).
    None when the proof was asked for already."""
    if proof_needed_for(target, changes):
        return None
    return lambda stored: _prove_on_form(reauth, req, proof_needed_for(stored, changes), form)


def check_on_write(reauth, req, target, changes, form):
    """The check ``users.update_user`` runs on the row the write reads, for ``changes`` to
    ``target`` asked by ``req``'s user: the rules that depend on the row hold on it, so a
    user promoted meanwhile may take ``users.roles`` to reactivate, or the proof of the user
    (``change_proven_on_write``)."""
    caller, proven_on_write = req.context.user, change_proven_on_write(reauth, req, target, changes, form)

    def check(stored):
        check_changes(caller, stored, changes)
        if proven_on_write:
            proven_on_write(stored)

    return check


def is_proof_refusal(ex):
    """Whether the ``falcon.HTTPError`` ``ex`` refused the proof of the user (its password
    wrong or missing, or the sign-in limit its password met), which a form shows by its
    current-password field."""
    return bool(password_messages(ex)) or ex.status == falcon.HTTP_429


def change_with_proof(page, cache, req, resp, target, changes, form, done, shown):
    """Make ``changes`` to ``target`` (``users.update_user``) with the proof of the user they
    need, asked before the write and again on the row the write reads (with the caller's
    right to make them: ``check_changes``), and go back to the users list saying ``done``, the
    ``users`` cache namespace invalidated.

    Args:
        page: the ``UsersPage`` that renders the list (a last admin's refusal, or another
            refusal of the write's check: its message).
        shown: ``shown(message, status)`` shows a refusal of the proof, found before the
            write or by it, on the form that asked for the change.
    """
    refused = change_proof_problem(page.reauth, req, resp, target, changes, form)
    if refused is not None:
        shown(*refused)
        return
    try:
        users.update_user(target.id, changes, check=check_on_write(page.reauth, req, target, changes, form))
    except (users.LastAdmin, users.InvitationPending) as ex:  # an open invitation: its invitee activates it
        page.render(req, resp, falcon.HTTP_409, ex.message)
        return
    except falcon.HTTPError as ex:
        keep_retry_after(resp, ex)
        if is_proof_refusal(ex):  # asked on the form's field
            shown(proof_refusal(ex), ex.status)
        else:
            page.render(req, resp, ex.status, refusal_message(ex, ROW_LABELS))
        return
    invalidate(cache, Namespace.USERS)
    redirect(resp, f"/admin/users?done={done}")


class UsersPage:
    """``GET /admin/users``: accounts with search and role and status filters.

    Asked for ``application/json``, it answers SonicJS's ``{users, pagination}`` with the
    users and filters of ``GET /admin/api/users``.
    """

    def __init__(self, renderer, reauth):
        self._renderer = renderer
        self.reauth = reauth

    def render(self, req, resp, status=falcon.HTTP_200, message=None, invite=None, role_change=None,
               reactivation=None, resend=None):
        """The users page; ``message`` is an error to show, ``invite`` the invitation form's
        values (``password_error`` the refusal of its current password), ``role_change`` a
        refused role change: ``{"id", "role", "password_error"}``, ``reactivation`` a refused
        reactivation and ``resend`` a refused resend of an invitation: ``{"id", "password_error"}``."""
        filters, page = user_filters(req), page_number(req)
        rows, total = users.list_users(*filters.selection(), page, PAGE_SIZE)
        pages = -(-total // PAGE_SIZE)
        self._renderer.page(
            req, resp, "users.html", status=status, users=rows,
            meta={"total": total, "page": page, "pages": pages}, search=filters.search, role=filters.role,
            roles=ROLES, state=filters.state, export_url=filters.export_url(), export_limit=EXPORT_LIMIT,
            message=message,
            done=DONE.get(req.get_param("done")),
            invite=invite or {"email": "", "role": LEAST_PRIVILEGED_ROLE, "first_name": "", "last_name": ""},
            ask_password=asks_password(self.reauth, req.context.user), role_change=role_change or NO_ROLE_CHANGE,
            # Whoever may reactivate may need the proof for an admin, with users.roles or not.
            old_sign_in=not self.reauth.is_recent(req.context.user), reactivation=reactivation or NO_REACTIVATION,
            resend=resend or NO_RESEND, invite_labels=INVITE_LABELS,
        )

    @access("users.read")
    def on_get(self, req, resp):
        if "application/json" in (req.get_header("Accept") or ""):
            # SonicJS's clients read this page as JSON: its shape, the API's users and filters.
            found, pagination = listed_users(req)
            resp.media = {"users": found, "pagination": pagination}
            resp.set_header("Cache-Control", "private, no-store")
            return
        self.render(req, resp)


class InviteAction:
    """``POST /admin/users/invite``: create an inactive account and mail its invitation link."""

    def __init__(self, page, accounts, mailer, cache):
        self._page = page
        self._accounts = accounts
        self._mailer = mailer
        self._cache = cache

    @access("users.create")
    def on_post(self, req, resp):
        caller = req.context.user
        form, refused = form_as_typed(req)
        invite = {name: one(form, name).strip() for name in ("email", "role", "first_name", "last_name")}
        problem = None
        if refused:  # a NUL pasted: said by the field's label, the rest shown as typed
            problem = problems_in_words(refused, INVITE_LABELS)
        elif not is_email(invite["email"]):
            problem = "Enter a valid email address."
        elif invite["role"] not in ROLES:
            problem = "Choose a role."
        elif invite["role"] != LEAST_PRIVILEGED_ROLE and not caller.can("users.roles"):
            raise falcon.HTTPForbidden()
        elif refused := proof_problem(self._page.reauth, req, resp, invite["role"], form):
            message, status = refused
            self._page.render(req, resp, status, invite={**invite, "password_error": message})
            return
        if problem is None:
            try:
                _, mail = self._accounts.invite(invite["email"], invite["role"], caller.id,
                                                invite["first_name"][:100], invite["last_name"][:100])
            except DuplicateAccount as ex:
                self._page.render(req, resp, falcon.HTTP_409, str(ex), invite)
                return
            req.context.ctx.wait_until(self._mailer, mail)
            invalidate(self._cache, Namespace.USERS)
            redirect(resp, "/admin/users?done=invited")
            return
        self._page.render(req, resp, falcon.HTTP_422, problem, invite)


def change_and_list(page, cache, req, resp, change, done, refusal):
    """Make ``change()`` and go back to the users list saying ``done``, the ``users`` cache
    namespace invalidated; a ``refusal`` it raises shows the list again with its message (409).

    Args:
        page: the ``UsersPage`` that renders the list.
        done: the key of ``DONE`` the list shows.
        refusal: the ServiceError class the change may raise (the last admin, no invitation).
    """
    try:
        change()
    except refusal as ex:
        page.render(req, resp, falcon.HTTP_409, ex.message)
        return
    invalidate(cache, Namespace.USERS)
    redirect(resp, f"/admin/users?done={done}")


def nul_refused(page, req, resp, refused, shown):
    """Whether a row's post held NUL (``form_as_typed``'s ``refused``): then it is said on the
    row's current-password field when that is where (``shown(message, status)``), else on the
    list, each field by its words, and the change is not made."""
    if not refused:
        return False
    on_password = [problem["message"] for problem in refused if problem["field"] == PASSWORD_FIELD]
    if on_password:
        shown(on_password[0], falcon.HTTP_422)
    else:
        page.render(req, resp, falcon.HTTP_422, problems_in_words(refused, ROW_LABELS))
    return True


def _not_self(req, user_id, message):
    if user_id == req.context.user.id:
        raise falcon.HTTPForbidden(title=message)


class RoleAction:
    """``POST /admin/users/{user_id}/role``: ``role``."""

    def __init__(self, page, cache):
        self._page = page
        self._cache = cache

    @access("users.roles")
    def on_post(self, req, resp, user_id):
        _not_self(req, user_id, "You cannot change your own role")
        form, refused = form_as_typed(req)
        role = one(form, "role")

        def shown(message, status):
            self._page.render(req, resp, status, role_change={"id": user_id, "role": role, "password_error": message})

        if nul_refused(self._page, req, resp, refused, shown):
            return
        if role not in ROLES:
            self._page.render(req, resp, falcon.HTTP_422, "Choose a role.")
            return
        change_with_proof(self._page, self._cache, req, resp, users.get_user(user_id), {"role": role}, form, "role",
                          shown)


class DeactivateAction:
    """``POST /admin/users/{user_id}/deactivate``: sign the user out for good (until reactivated)."""

    def __init__(self, page, cache):
        self._page = page
        self._cache = cache

    @access("users.delete")
    def on_post(self, req, resp, user_id):
        _not_self(req, user_id, "You cannot deactivate your own account")
        change_and_list(self._page, self._cache, req, resp, lambda: users.deactivate_user(user_id), "deactivated",
                        users.LastAdmin)


class ReactivateAction:
    """``POST /admin/users/{user_id}/reactivate``: an admin only with proof of the user (a
    recent sign-in or ``current_password``), as ``PATCH /admin/api/users/{id}`` asks it."""

    def __init__(self, page, cache):
        self._page = page
        self._cache = cache

    @access("users.update")
    def on_post(self, req, resp, user_id):
        form, refused = form_as_typed(req)
        person, changes = users.get_user(user_id), {"is_active": True}

        def shown(message, status):
            self._page.render(req, resp, status, reactivation={"id": user_id, "password_error": message})

        if nul_refused(self._page, req, resp, refused, shown):
            return
        check_changes(req.context.user, person, changes)
        change_with_proof(self._page, self._cache, req, resp, person, changes, form, "reactivated", shown)
