"""Users (admins): create a user with a password, a user's page (details and the edit form),
resend and cancel an invitation.

The API's rules, through the API's own checks: creating needs ``users.create`` (a role other
than viewer also ``users.roles``), editing ``users.update`` (the email or password of a user
above viewer also ``users.roles``; nobody sets their own password here), resending
``users.create``, cancelling ``users.delete``. A new email or password ends the user's
sessions. Nobody changes their own email or password here: one's own page shows the email
without a field (another admin changes it; whoever sets an address receives its reset link)
and links to the password page instead. An open invitation's page has neither field either:
the invitation's address is cancelled with it, and the invitee chooses the password.
Creating an admin, setting an admin's email or password and resending an admin's invitation
need proof of the user, as the API does: a recent sign-in, or the current password, whose
field the form shows once the sign-in is no longer recent (on a user's page: an admin's).
"""

import falcon

from app.admin.pages import form_as_typed, one, problems_in_words, redirect
from app.admin.session import (
    USERNAME_MESSAGE,
    is_email,
    keep_retry_after,
    proof_refusal,
    refusal_message,
)
from app.admin.users import (
    asks_password,
    change_and_list,
    change_proof_problem,
    check_on_write,
    is_proof_refusal,
    nul_refused,
    proof_problem,
)
from app.api.access import access
from app.api.errors import SERVICE_ERROR_STATUS
from app.api.users import (
    ADMIN_ROLE,
    account_errors,
    check_can_grant,
    check_changes,
    invitation_to_resend,
    resend_invitation,
    stored_changes,
)
from app.services import users
from app.services.accounts import is_username, normalize_email
from app.services.cache import Namespace, invalidate
from app.services.errors import ServiceError
from app.services.identity import LEAST_PRIVILEGED_ROLE, ROLES

MAX_NAME = 100
PROFILE_FIELDS = ("first_name", "last_name", "username", "email")
# The labels the forms show for their fields (their templates write them from these), and
# so the words a refusal names a field by, as the content editor names its fields by label.
NEW_USER_LABELS = {"email": "Email", "password": "Password", "role": "Role", "username": "Username",
                   "first_name": "First name", "last_name": "Last name"}
USER_LABELS = {"first_name": "First name", "last_name": "Last name", "username": "Username", "email": "Email",
               "password": "New password"}
DONE = {"created": "User created.", "saved": "Changes saved.", "resent": "Invitation sent again."}


def form_problem(values):
    """What is wrong with the typed ``values`` (names, username, email, role), or None."""
    if "email" in values and not is_email(values["email"]):
        return "Enter a valid email address."
    if values.get("username") and not is_username(values["username"]):
        return USERNAME_MESSAGE
    if any(len(values.get(name, "")) > MAX_NAME for name in ("first_name", "last_name")):
        return f"A name is at most {MAX_NAME} characters."
    if "role" in values and values["role"] not in ROLES:
        return "Choose a role."
    return None


class NewUserPage:
    """``GET /admin/users/new``: the form; ``POST``: create an active user with a password."""

    def __init__(self, renderer, accounts, cache, reauth):
        self._renderer = renderer
        self._accounts = accounts
        self._cache = cache
        self._reauth = reauth

    def render(self, req, resp, values=None, error=None, status=falcon.HTTP_200, password_error=None):
        """The form with the ``values`` typed so far and an ``error`` to show, or the
        ``password_error`` of its current-password field."""
        blank = {"email": "", "username": "", "first_name": "", "last_name": "", "role": LEAST_PRIVILEGED_ROLE}
        refused = values is not None  # what was typed, stored nowhere: leaving the page asks
        self._renderer.page(req, resp, "user_new.html", status=status, values=values or blank, roles=ROLES,
                            error=error, labels=NEW_USER_LABELS, password_error=password_error,
                            ask_password=asks_password(self._reauth, req.context.user), refused=refused)

    @access("users.create")
    def on_get(self, req, resp):
        self.render(req, resp)

    @access("users.create")
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        values = {name: one(form, name).strip() for name in ("email", "username", *PROFILE_FIELDS[:2], "role")}
        password = one(form, "password")
        problem = (problems_in_words(refused, NEW_USER_LABELS) or form_problem(values)
                   or (None if password else "Choose a password."))
        if problem:
            self.render(req, resp, values, problem, falcon.HTTP_422)
            return
        check_can_grant(req.context.user, values["role"], "Creating a user")
        if refused := proof_problem(self._reauth, req, resp, values["role"], form):
            message, status = refused
            self.render(req, resp, values, status=status, password_error=message)
            return
        try:
            user = account_errors(lambda: self._accounts.create_user(
                values["email"], password, values["role"], values["username"] or None, values["first_name"],
                values["last_name"]))
        except falcon.HTTPError as ex:
            self.render(req, resp, values, refusal_message(ex, NEW_USER_LABELS), ex.status)
            return
        invalidate(self._cache, Namespace.USERS)
        redirect(resp, f"/admin/users/{user.id}?done=created")


class UserPage:
    """``GET /admin/users/{user_id}``: the user's details, and the edit form for ``users.update``;
    ``POST``: save names, username, email and (when typed) a new password."""

    def __init__(self, renderer, accounts, cache, reauth):
        self._renderer = renderer
        self._accounts = accounts
        self._cache = cache
        self._reauth = reauth

    def render(self, req, resp, person, values=None, error=None, status=falcon.HTTP_200, password_error=None):
        """The page of ``person``; ``values`` are the form's as typed after a refusal, and
        ``password_error`` the refusal of its current-password field."""
        refused = values is not None  # what was typed, stored nowhere: leaving the page asks
        values = values or {name: getattr(person, name) for name in PROFILE_FIELDS}
        # Only an admin's email or password needs the proof (app.api.users.proof_needed_for).
        ask_password = person.role == ADMIN_ROLE and not self._reauth.is_recent(req.context.user)
        self._renderer.page(req, resp, "user.html", status=status, person=person, values=values, error=error,
                            done=DONE.get(req.get_param("done")), labels=USER_LABELS, ask_password=ask_password,
                            password_error=password_error, refused=refused)

    @access("users.read")
    def on_get(self, req, resp, user_id):
        self.render(req, resp, users.get_user(user_id))

    @access("users.update")
    def on_post(self, req, resp, user_id):
        caller = req.context.user
        person = users.get_user(user_id)
        form, refused = form_as_typed(req)
        # A form without the email field (one's own page, an open invitation's) keeps the address.
        values = {name: one(form, name, person.email if name == "email" else "").strip() for name in PROFILE_FIELDS}
        problem = (problems_in_words(refused, USER_LABELS) or form_problem(typed(person, values))
                   or (None if values["username"] else "Choose a username."))
        if problem:
            self.render(req, resp, person, values, problem, falcon.HTTP_422)
            return
        changes = _changes(person, values, one(form, "password"))
        check_changes(caller, person, changes)
        if refused := change_proof_problem(self._reauth, req, resp, person, changes, form):
            message, status = refused
            self.render(req, resp, person, values, status=status, password_error=message)
            return
        check = check_on_write(self._reauth, req, person, changes, form)
        try:
            prepared = stored_changes(self._accounts, changes)
            user = account_errors(lambda: users.update_user(user_id, prepared, check=check))
        except falcon.HTTPError as ex:
            keep_retry_after(resp, ex)
            # Made an admin while the password hashed: the proof, asked on its field, as before
            # the write (a 429 of the sign-in limits its password met included).
            if is_proof_refusal(ex):
                self.render(req, resp, person, values, status=ex.status, password_error=proof_refusal(ex))
            else:
                self.render(req, resp, person, values, refusal_message(ex, USER_LABELS), ex.status)
            return
        except ServiceError as ex:  # an open invitation, say: the form again, as typed
            self.render(req, resp, person, values, ex.message, SERVICE_ERROR_STATUS[ex.kind])
            return
        invalidate(self._cache, Namespace.USERS)
        redirect(resp, f"/admin/users/{user.id}?done=saved")


def typed(person, values):
    """``values`` less an email or a username that is ``person``'s already: only a new one is
    the form's to judge; one stored before the form's rule (or by another way in) must not
    block a save of the names."""
    return {name: value for name, value in values.items() if not _kept(person, name, value)}


def _kept(person, name, value):
    """Whether ``value`` (trimmed, as the forms read it) is ``person``'s ``name`` already. A
    stored username is compared trimmed too: one an older install kept with spaces at an end
    comes back from the form without them, and is still the same name, left as stored."""
    if name == "email":
        # In any case: one stored with capitals (from before emails were lower-cased) is the
        # same address, and rewriting it would end the user's sessions and unverify it.
        return normalize_email(value) == normalize_email(person.email)
    return name == "username" and value == (person.username or "").strip()


def _changes(person, values, password):
    """The fields the form changes: what differs from ``person``, and a password when typed."""
    changes = {name: values[name] for name in PROFILE_FIELDS[:3]
               if values[name] != getattr(person, name) and not _kept(person, name, values[name])}
    if not _kept(person, "email", values["email"]):
        changes["email"] = values["email"]
    if password:
        changes["password"] = password
    return changes


class ResendInvitationAction:
    """``POST /admin/users/{user_id}/resend``: mail a new invitation link; the old one stops
    working. An admin's invitation needs proof of the user, as inviting an admin does."""

    def __init__(self, page, accounts, mailer):
        self._page = page
        self._accounts = accounts
        self._mailer = mailer

    @access("users.create")
    def on_post(self, req, resp, user_id):
        try:
            person = invitation_to_resend(req.context.user, user_id)
            form, refused = form_as_typed(req)
            if nul_refused(self._page, req, resp, refused, lambda message, status: self._page.render(
                    req, resp, status, resend={"id": user_id, "password_error": message})):
                return
            # Resending an admin's invitation gives the admin role, as inviting one does.
            if refused := proof_problem(self._page.reauth, req, resp, person.role, form):
                message, status = refused
                self._page.render(req, resp, status, resend={"id": user_id, "password_error": message})
                return
            _, mail = resend_invitation(self._accounts, person)
        except users.NoPendingInvitation as ex:
            self._page.render(req, resp, falcon.HTTP_409, ex.message)
            return
        req.context.ctx.wait_until(self._mailer, mail)
        redirect(resp, "/admin/users?done=resent")


class CancelInvitationAction:
    """``POST /admin/users/{user_id}/cancel``: withdraw a pending invitation (the account goes)."""

    def __init__(self, page, cache):
        self._page = page
        self._cache = cache

    @access("users.delete")
    def on_post(self, req, resp, user_id):
        change_and_list(self._page, self._cache, req, resp, lambda: users.cancel_invitation(user_id), "cancelled",
                        users.NoPendingInvitation)
