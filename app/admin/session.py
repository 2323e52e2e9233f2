"""Signing in and out of the admin, and changing one's password.

Reset and invitation pages redeem their tokens through the API's ``redeem_token``.
The pages use the API's own pieces: ``Accounts`` checks the password, ``Guard`` applies the
sign-in rate limits, and ``start_session`` sets the same ``auth_token`` cookie as
``POST /auth/login`` (HttpOnly, SameSite=Strict, Secure per the settings), so a session
begun here is an API session too, and signing out ends both.
"""

import logging
import re

import falcon
import peewee

from app.admin.pages import ADMIN_PREFIX, form_as_typed, one, problems_in_words, redirect, safe_next
from app.api.access import access
from app.api.auth import RESET_MESSAGE, redeem_token, sign_out, start_session
from app.api.reauth import PASSWORD_FIELD
from app.api.sign_in_redirect import REASON_EXPIRED, REASON_REQUIRED
from app.services import users
from app.services.accounts import (
    EMAIL_PATTERN,
    MAX_EMAIL_LENGTH,
    InvalidCredentials,
    WeakPassword,
    is_username,
    mail_issued,
)
from app.services.cache import Namespace
from app.services.display_names import person_name
from app.services.errors import ServiceError

USERNAME_MESSAGE = "A username is 3 to 50 letters, digits, dots, dashes or underscores."
INVALID_LINK_MESSAGE = "That sign-in link is invalid, expired or already used: ask for a new one."
EMAIL = re.compile(EMAIL_PATTERN)
SIGNED_OUT_MESSAGE = "You have signed out."
SIGNED_OUT_PAGE = "/admin/login?signed_out=1"  # where signing out leads: the sign-in page saying so
log = logging.getLogger("sonicpy.admin")
# The labels each form shows for its fields (its template writes them from these), and so
# the words its messages name a field by, as the user forms do (``problems_in_words``).
LOGIN_LABELS = {"email": "Email", "password": "Password"}
PASSWORD_LABELS = {"current_password": "Current password", "new_password": "New password",
                   "confirm_password": "Repeat the new password"}
RESET_LABELS = {"password": "New password", "confirm_password": "Repeat the new password"}
INVITATION_LABELS = {"username": "Username", "password": "Password", "confirm_password": "Repeat the password"}
FORGOT_LABELS = {"email": "Email"}


def is_email(text):
    """Whether ``text`` (as typed) is an address the accounts take: their pattern and length."""
    return EMAIL.fullmatch(text) is not None and len(text) <= MAX_EMAIL_LENGTH


def signed_in_name(cache):
    """``(user) -> str``: the name the nav shows for the signed-in ``user`` (``person_name``).

    Read on every admin page, so kept in the ``users`` namespace (any change to a user
    invalidates it, as it does the session's account). A database that cannot answer leaves
    the email address the session already holds: an error page must still be drawn.
    """

    def name_of(user):
        try:
            if cache is None:
                name = _load_nav_name(user.id)
            else:
                name = cache.get_or_load_shared(Namespace.USERS, ("nav_name", user.id),
                                                lambda: _load_nav_name(user.id))
        except (peewee.DatabaseError, peewee.InterfaceError):  # a closed connection is no DatabaseError
            log.warning("could not read the signed-in user's name", exc_info=True)
            name = ""
        return name or user.email

    return name_of


def _load_nav_name(user_id):
    """``person_name`` of the user ``user_id``, read from the database ("" when there is none)."""
    try:
        return person_name(users.get_user(user_id))
    except ServiceError:  # gone since the session was read: the nav falls back to the email
        return ""


def _refused(ex):
    """The message of a rate-limit refusal, with its wait when the guard gave one."""
    retry = (ex.headers or {}).get("Retry-After")
    return f"Too many attempts; try again in {retry} seconds." if retry else "Too many attempts; try again later."


# Why a page sent the browser here (``app.api.sign_in_redirect``): a fixed text per reason,
# so a link cannot make the sign-in page say what its author likes.
REASON_NOTICES = {
    REASON_REQUIRED: "Sign in to continue.",
    REASON_EXPIRED: "Your session has ended or is no longer valid. Sign in again to continue.",
}


def _notice(req):
    """The sign-in page's notice: a password just reset, a sign-out just done, or why the
    browser was sent here. Each is a fixed sentence picked by a flag; nothing of the URL is shown."""
    if req.get_param("reset") == "1":
        return "Your password was reset; sign in with the new one."
    if req.get_param("signed_out") == "1":
        return SIGNED_OUT_MESSAGE
    return REASON_NOTICES.get(req.get_param("reason") or "")


class _SessionPage:
    """A page that starts a session: it checks what the user typed with ``accounts``, under
    the API's rate limits (``guard``), and sets the session cookie as ``settings`` say."""

    def __init__(self, renderer, accounts, guard, settings):
        self._renderer = renderer
        self._accounts = accounts
        self._guard = guard
        self._settings = settings


class LoginPage(_SessionPage):
    """``GET /admin/login``: the form; ``POST``: sign in and go on to ``next``."""

    @access(public=True)
    def on_get(self, req, resp):
        if req.context.user is not None and req.context.user.via == "jwt":
            redirect(resp, safe_next(req.get_param("next")))
            return
        # A mailed sign-in link that did not work (magic-link-auth) comes back here to say so.
        error = INVALID_LINK_MESSAGE if req.get_param("link") == "invalid" else None
        self._renderer.page(req, resp, "login.html", email="", error=error, next=safe_next(req.get_param("next")),
                            notice=_notice(req), labels=LOGIN_LABELS)

    @access(public=True)
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        email, password = one(form, "email").strip(), one(form, "password")
        target = safe_next(one(form, "next"))
        if refused:  # a NUL pasted: the form again, saying where, and no attempt counted
            error, status = problems_in_words(refused, LOGIN_LABELS), falcon.HTTP_422
        else:
            error, status = self._sign_in(req, resp, email, password)
        if error is None:
            redirect(resp, target)
            return
        self._renderer.page(req, resp, "login.html", status=status, email=email, error=error, next=target,
                            notice=None, labels=LOGIN_LABELS)

    def _sign_in(self, req, resp, email, password):
        """Sign in; ``(None, None)`` on success, else ``(message, status)``."""
        if not email or not password:
            return "Enter your email and password.", falcon.HTTP_422
        try:
            # The API's sign-in limits: the address, never the account alone, so nobody can
            # lock someone else out by failing on purpose.
            attempt = self._guard.acquire_login(req, email)
        except falcon.HTTPError as ex:
            keep_retry_after(resp, ex)
            return _refused(ex), falcon.HTTP_429
        user = self._accounts.authenticate(email, password)
        if user is None:
            return "Invalid email or password.", falcon.HTTP_401
        self._guard.refund(req, attempt)
        start_session(resp, user, self._settings)
        return None, None


class LogoutPage:
    """``GET /admin/logout``: asks to confirm; ``POST``: ends every session of the user and clears the cookie.

    A sign-out link (SonicJS's admin signs out on ``GET /auth/logout``) leads here. Any page
    on the web can make a browser GET a URL, so a GET only asks; the button posts the form,
    with its CSRF token.
    """

    def __init__(self, renderer, accounts):
        self._renderer = renderer
        self._accounts = accounts

    @access(public=True)
    def on_get(self, req, resp):
        if req.context.user is None:
            redirect(resp, "/admin/login")
            return
        self._renderer.page(req, resp, "logout.html")

    @access(public=True)
    def on_post(self, req, resp):
        sign_out(req, resp, self._accounts)
        redirect(resp, SIGNED_OUT_PAGE)


class PasswordPage(_SessionPage):
    """``GET /admin/account/password``: the form; ``POST``: change the password.

    Changing it ends the user's other sessions; this browser gets a new session cookie.
    """

    @access(authenticated=True)
    def on_get(self, req, resp):
        self._renderer.page(req, resp, "password.html", errors={}, error=None, done=req.get_param("done") == "1",
                            labels=PASSWORD_LABELS)

    @access(authenticated=True)
    def on_post(self, req, resp):
        caller = req.context.user
        if caller.via != "jwt":
            raise falcon.HTTPForbidden()
        form, refused = form_as_typed(req)
        current, new, confirm = one(form, "current_password"), one(form, "new_password"), one(form, "confirm_password")
        if refused:  # a NUL pasted: by its field, and no attempt counted
            errors, status = {problem["field"]: problem["message"] for problem in refused}, falcon.HTTP_422
        else:
            errors, status = self._change(req, resp, caller, current, new, confirm)
        if not errors:
            redirect(resp, "/admin/account/password?done=1")
            return
        # A name the form has no field for is said above it (as posted: it has no label).
        others = [problem for problem in refused if problem["field"] not in PASSWORD_LABELS]
        self._renderer.page(req, resp, "password.html", status=status, errors=errors, done=False,
                            error=problems_in_words(others) or None, labels=PASSWORD_LABELS)

    def _change(self, req, resp, caller, current, new, confirm):
        """Change the password; ``({}, None)`` on success, else ``({field: message}, status)``."""
        if not current:
            return {"current_password": "Enter your current password."}, falcon.HTTP_422
        if not new:
            return {"new_password": "Enter a new password."}, falcon.HTTP_422
        if new != confirm:
            return {"confirm_password": "Passwords do not match."}, falcon.HTTP_422
        try:
            attempt = self._guard.acquire_login(req, caller.email)
        except falcon.HTTPError as ex:
            keep_retry_after(resp, ex)
            return {"current_password": _refused(ex)}, falcon.HTTP_429
        try:
            user = self._accounts.change_password(caller.id, current, new)
        except InvalidCredentials as ex:
            return {"current_password": str(ex)}, falcon.HTTP_422
        except WeakPassword as ex:
            self._guard.refund(req, attempt)
            return {"new_password": str(ex)}, falcon.HTTP_422
        self._guard.refund(req, attempt)
        start_session(resp, user, self._settings)
        return {}, None


def refusal_message(ex, labels=None):
    """What a refusal of the API's token redemption says, with each field's message, the
    field named by its label in ``labels`` when it has one (see ``problems_in_words``)."""
    problems = field_problems(ex)
    if ex.status == falcon.HTTP_429:
        return _refused(ex)
    return problems_in_words(problems, labels) if problems else (ex.title or "The request was refused.")


def proof_refusal(ex):
    """What a page says when the proof of the user (``app.api.reauth``) was refused: the
    field's message (no password and no recent sign-in, or a wrong one), or how long to wait."""
    messages = password_messages(ex)
    return messages[0] if messages else refusal_message(ex)


def keep_retry_after(resp, ex):
    """Give the page that shows the refusal ``ex`` its ``Retry-After`` (a 429 of the sign-in
    limits), as the API's answer has it: the page says the wait in words, a client reads it there."""
    retry = (ex.headers or {}).get("Retry-After")
    if retry:
        resp.set_header("Retry-After", retry)


def password_messages(ex):
    """The messages the refusal ``ex`` gives on the caller's current password (the proof of the user)."""
    return [problem["message"] for problem in field_problems(ex)
            if problem["field"] == PASSWORD_FIELD and problem["message"]]


def field_problems(ex):
    """The ``{"field", "message"}`` problems the refusal ``ex`` lists in its ``details`` (none
    when they are no list: a 429's ``{"retry_after"}``, an error of no API route)."""
    details = ex.details if isinstance(getattr(ex, "details", None), list) else []
    return [{"field": item.get("field"), "message": item.get("message")} for item in details if isinstance(item, dict)]


def _link_form_problem(form, token, link, filled, missing):
    """What keeps a mailed link's form from being sent on, or None.

    Args:
        token: the form's token; without it the page names the ``link`` it needs.
        filled: whether the fields the page asks for are there; ``missing`` says which otherwise.
    """
    if not token:
        return f"This page needs the link from your {link}."
    if not filled:
        return missing
    if one(form, "password") != one(form, "confirm_password"):
        return "Passwords do not match."
    return None


def _redeemed(guard, req, resp, redeem, labels):
    """``redeem()`` as the API redeems a token (``redeem_token``: the token-guessing limit, the
    password rules): ``(user, None, None)``, or ``(None, message, status)`` when refused, a
    field named by its label in ``labels``, and a 429's ``Retry-After`` set on ``resp``."""
    try:
        return redeem_token(guard, req, redeem), None, None
    except falcon.HTTPError as ex:
        keep_retry_after(resp, ex)
        return None, refusal_message(ex, labels), ex.status


class ResetPasswordPage:
    """``GET /admin/reset-password?token=``: the form the reset link opens; ``POST``: set the password.

    Redeems the token exactly as ``POST /auth/reset-password`` does (``redeem_token``: the
    token-guessing limit, the password rules), then sends the user to the sign-in page.
    """

    def __init__(self, renderer, accounts, guard):
        self._renderer = renderer
        self._accounts = accounts
        self._guard = guard

    @access(public=True)
    def on_get(self, req, resp):
        self._renderer.page(req, resp, "reset_password.html", token=req.get_param("token") or "", error=None,
                            labels=RESET_LABELS)

    @access(public=True)
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        token, password = one(form, "token")[:200], one(form, "password")
        error = problems_in_words(refused, RESET_LABELS) or _link_form_problem(
            form, token, "email", password, "Enter a new password.")
        status = falcon.HTTP_422
        if error is None:
            user, error, status = _redeemed(self._guard, req, resp,
                                            lambda: self._accounts.reset_password(token, password), RESET_LABELS)
        if error is None:
            self._guard.clear(self._guard.login_buckets(req, user.email)[1:])
            redirect(resp, "/admin/login?reset=1")
            return
        self._renderer.page(req, resp, "reset_password.html", status=status, token=token, error=error,
                            labels=RESET_LABELS)


class AcceptInvitationPage(_SessionPage):
    """``GET /admin/accept-invitation?token=``: the form the invitation opens; ``POST``: join.

    Redeems the invitation as ``POST /auth/accept-invitation`` does, then signs the new user in.
    """

    @access(public=True)
    def on_get(self, req, resp):
        self._renderer.page(req, resp, "accept_invitation.html", token=req.get_param("token") or "", username="",
                            error=None, labels=INVITATION_LABELS)

    @access(public=True)
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        token, username, password = one(form, "token")[:200], one(form, "username").strip(), one(form, "password")
        error = problems_in_words(refused, INVITATION_LABELS) or _link_form_problem(
            form, token, "invitation", username and password, "Choose a username and a password.")
        status = falcon.HTTP_422
        if error is None and not is_username(username):
            error = USERNAME_MESSAGE
        if error is None:
            user, error, status = _redeemed(
                self._guard, req, resp, lambda: self._accounts.accept_invitation(token, username, password),
                INVITATION_LABELS)
        if error is None:
            start_session(resp, user, self._settings)
            redirect(resp, ADMIN_PREFIX)
            return
        self._renderer.page(req, resp, "accept_invitation.html", status=status, token=token, username=username,
                            error=error, labels=INVITATION_LABELS)


class ForgotPasswordPage:
    """``GET /admin/forgot-password``: ask for a reset link; ``POST``: send it if the account exists.

    As ``POST /auth/request-password-reset``: rate-limited per IP and address, the same
    answer whether or not the account exists, and the mail sent after the response. With
    ``?sent=1`` (where that route sends a browser's form post) the page says the link went out.
    """

    def __init__(self, renderer, accounts, guard, mailer):
        self._renderer = renderer
        self._accounts = accounts
        self._guard = guard
        self._mailer = mailer

    @access(public=True)
    def on_get(self, req, resp):
        # A fixed text: a link cannot make the page say what its author likes.
        sent = RESET_MESSAGE + "." if req.get_param("sent") == "1" else None
        self._renderer.page(req, resp, "forgot_password.html", sent=sent, error=None, email="",
                            labels=FORGOT_LABELS)

    @access(public=True)
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        email = one(form, "email").strip()
        problem = problems_in_words(refused, FORGOT_LABELS) or (
            None if is_email(email) else "Enter the email address of your account.")
        if problem:
            self._renderer.page(req, resp, "forgot_password.html", status=falcon.HTTP_422, sent=None,
                                error=problem, email=email, labels=FORGOT_LABELS)
            return
        try:
            self._guard.acquire(req, "reset", email.lower())
        except falcon.HTTPError as ex:
            keep_retry_after(resp, ex)
            self._renderer.page(req, resp, "forgot_password.html", status=falcon.HTTP_429, sent=None,
                                error=_refused(ex), email=email, labels=FORGOT_LABELS)
            return
        # After the response, as the API's route does (``mail_issued``).
        req.context.ctx.wait_until(mail_issued, self._accounts.request_password_reset, self._mailer, email)
        self._renderer.page(req, resp, "forgot_password.html", sent=RESET_MESSAGE + ".", error=None, email="",
                            labels=FORGOT_LABELS)
