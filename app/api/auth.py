"""``/auth/*``: register, login, logout, refresh, me, password change and reset, invitations.

Paths and JSON shapes follow SonicJS's auth routes so its clients keep
working; its flaws do not carry over: registration always gives the least privileged role,
logout and password changes end existing sessions (``token_version``), login and register
are rate-limited (sign-in per client address, so nobody can lock someone else's account:
see ``Guard``), reset and invitation tokens reach the user only through the mailer hook,
never a response.

The routes that start a session from credentials in the body (login, register, accept an
invitation) take JSON only, 415 otherwise: a page on any site can submit an HTML form
(URL-encoded or multipart) across origins without a CORS preflight, and could sign a
visitor in to an account of its choosing (login CSRF); a JSON body cannot be sent that
way. SonicJS's JSON routes take JSON only as well (its form routes are HTML pages this
app does not serve). Responses carrying a token or the caller's details are ``no-store``.
"""

import time
from typing import Annotated

import falcon
import msgspec

from app.api import auth_pages
from app.api.access import access
from app.api.auth_pages import SIGN_IN_PAGE, page_redirect
from app.api.authentication import COOKIE_NAME
from app.api.describe import REDIRECT_PAGE, Header, describe
from app.api.errors import (
    bad_request,
    conflict,
    field_error,
    forbidden,
    nothing_to_update,
    read_body,
    require_json,
    unauthorized,
)
from app.api.private import no_store
from app.api.rate_limits import Guard, rate_limited
from app.api.redirects import redirect
from app.api.schemas import Me, Message, PasswordChanged, ResetRequested, Session, TokenOnly
from app.api.sign_in_redirect import is_browser_form_post
from app.services import users
from app.services.accounts import (
    MAX_PASSWORD_LENGTH,
    USERNAME_RULE,
    DuplicateAccount,
    Email,
    InvalidCredentials,
    InvalidEmail,
    InvalidToken,
    WeakPassword,
    check_username,
    mail_issued,
)
from app.services.cache import Namespace, invalidate
from app.services.identity import LEAST_PRIVILEGED_ROLE, issue_jwt, issue_time, token_expiry
from app.services.plugins import hooks

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
# A username the client chooses: no pattern in the type, ``checked_username`` checks it once the
# body is read, so every route refuses it in the rule's words (422 on ``username``).
Username = Annotated[str, msgspec.Meta(description=f"A username is {USERNAME_RULE}")]
# A username in an edit: the stored one sent back unchanged is kept even when an older install
# took it before today's rule; the service checks a new one against the rule (422 on ``username``).
EditedUsername = Annotated[str, msgspec.Meta(description=f"A new username is {USERNAME_RULE}")]
Name = Annotated[str, msgspec.Meta(max_length=100)]
# SonicJS refuses an empty first or last name: absent is fine, "" or blanks are not.
GivenName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
OneTimeToken = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]

RESET_MESSAGE = "If an account exists for this email, a password reset link has been sent"


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    username: Username | None = None
    firstName: GivenName | None = None
    lastName: GivenName | None = None


class ChangePasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password
    confirm_password: Password | None = None


class ResetRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class ResetPasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    token: OneTimeToken
    password: Password
    confirm_password: Password | None = None


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True):
    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET
    username: EditedUsername | msgspec.UnsetType = msgspec.UNSET


class AcceptInvitationBody(msgspec.Struct, forbid_unknown_fields=True):
    token: OneTimeToken
    username: Username
    password: Password
    confirm_password: Password | None = None


def checked_username(username):
    """``username`` when it is None (one is derived) or obeys the rule for usernames;
    InvalidUsername otherwise (422 on ``username``, in the rule's words).

    A route calls it right after reading its body, before a token, a password, a role or
    the per-address guard is looked at, as a pattern in the body's type was checked; the
    accounts service checks again for its other callers.
    """
    if username is not None:
        check_username(username)
    return username


def session_user(user):
    """The user as SonicJS's login and register return it."""
    return {
        "id": user.id, "email": user.email, "username": user.username,
        "firstName": user.first_name, "lastName": user.last_name, "role": user.role,
    }


def me_user(user):
    """The user as SonicJS's ``GET /auth/me`` returns it."""
    return {
        "id": user.id, "email": user.email, "username": user.username, "first_name": user.first_name,
        "last_name": user.last_name, "role": user.role, "created_at": user.created_at,
    }


def start_session(resp, user, settings, auth_time=None, now=None):
    """Issue a JWT for ``user``, set it as the ``auth_token`` cookie, and return it.

    Without ``auth_time`` (a sign-in: the password was just checked) a new session starts
    now; a refresh passes its session's, which keeps the session's end. The cookie lasts
    as long as the token.
    """
    issued = issue_time(now, auth_time)
    token = issue_jwt(user, settings, issued, auth_time)
    lifetime = token_expiry(issued, issued if auth_time is None else auth_time, settings) - issued
    resp.set_cookie(
        COOKIE_NAME, token, max_age=lifetime, path="/", secure=settings.cookie_secure,
        http_only=True, same_site="Strict",
    )
    return token


def clear_session_cookie(resp):
    """Tell the browser to drop the ``auth_token`` cookie."""
    resp.unset_cookie(COOKIE_NAME, path="/", same_site="Strict")


def _check_confirmation(password, confirmation, field="confirm_password"):
    if confirmation is not None and confirmation != password:
        raise field_error(field, "Passwords do not match")


def _weak(ex, field="password"):
    return field_error(field, str(ex))


def _json_only(req, resp, resource, params):
    """415 unless the body is declared JSON, before anything is counted: no cross-site HTML
    form can start a session (login CSRF)."""
    require_json(req)


class LoginResource:
    """``POST /auth/login``: ``{user, token}`` and the cookie; only failures count against the limit.

    Every attempt is counted before the password check and refunded when it succeeds, so
    parallel guesses cannot slip past the limit while the KDF runs.
    """

    def __init__(self, accounts, guard, settings):
        self._accounts = accounts
        self._guard = guard
        self._settings = settings

    on_get = page_redirect(SIGN_IN_PAGE, "sign-in")

    @access(public=True)
    @rate_limited("login")
    @describe("Sign in with email and password", body=LoginBody, response=Session)
    @falcon.before(_json_only)
    @no_store
    def on_post(self, req, resp):
        body = read_body(req, LoginBody)
        attempt = self._guard.acquire_login(req, body.email)
        user = self._accounts.authenticate(body.email, body.password)
        if user is None:
            raise unauthorized("Invalid email or password")
        self._guard.refund(req, attempt)
        token = start_session(resp, user, self._settings)
        resp.media = {"user": session_user(user), "token": token}


class RegisterResource:
    """``POST /auth/register``: 201, always the least privileged role; every attempt counts."""

    def __init__(self, accounts, guard, settings):
        self._accounts = accounts
        self._guard = guard
        self._settings = settings

    # The admin has no sign-up page: accounts come from invitations (see app.api.auth_pages).
    on_get = page_redirect(SIGN_IN_PAGE, "sign-up")

    @access(public=True)
    @rate_limited("register")
    @describe("Register an account (always the least privileged role)", body=RegisterBody, status=201, response=Session)
    @falcon.before(_json_only)
    @no_store
    def on_post(self, req, resp):
        if not self._accounts.registration_open():
            raise forbidden("Registration is currently disabled")
        body = read_body(req, RegisterBody)
        checked_username(body.username)
        self._guard.acquire(req, "register", body.email)
        try:
            user = self._accounts.create_user(
                body.email, body.password, LEAST_PRIVILEGED_ROLE, body.username,
                body.firstName or "", body.lastName or "",
            )
        except WeakPassword as ex:
            raise _weak(ex) from None
        except InvalidEmail as ex:
            raise field_error("email", str(ex)) from None
        except DuplicateAccount as ex:
            raise conflict(str(ex), ex.details) from None
        hooks.after("auth_register", user=user)
        token = start_session(resp, user, self._settings)
        resp.status = falcon.HTTP_201
        resp.media = {"user": session_user(user), "token": token}


LOGOUT_PAGE = "/admin/logout"


class LogoutResource:
    """``POST /auth/logout``: clears the cookie and ends every session of the caller.

    ``GET`` (SonicJS's sign-out link) sends the browser to the admin's sign-out page, which
    asks before it signs out: any page on the web can make a browser GET a URL.
    """

    def __init__(self, accounts):
        self._accounts = accounts

    @access(public=True)
    @describe(
        "Sign out from a link: on to the confirmation page", status=303, media_type=REDIRECT_PAGE,
        headers={303: (Header("Location", "the sign-out page"),)},
        description="Answers `303 See Other` to `/admin/logout`, whose button signs out (`POST`). "
                    "Nothing is signed out by the GET itself.",
    )
    def on_get(self, req, resp):
        redirect(resp, LOGOUT_PAGE)

    @access(public=True)
    @describe("Sign out: clear the cookie and end every session", response=Message)
    def on_post(self, req, resp):
        sign_out(req, resp, self._accounts)
        resp.media = {"message": "Logged out successfully"}


def sign_out(req, resp, accounts):
    """End every session of the caller, when a session signed it in, and clear the cookie."""
    user = req.context.user
    if user is not None and user.via == "jwt":
        accounts.end_sessions(user.id)
        hooks.after("auth_logout", user=user)
    clear_session_cookie(resp)


def _session_only(user):
    # An API token is scoped and revocable; trading it for a full session would escape both.
    if user.via != "jwt":
        raise forbidden("API tokens cannot be used for this action; sign in with a password")


class RefreshResource:
    """``POST /auth/refresh``: a new token for a still-valid session, within its lifetime.

    The new token keeps the session's ``auth_time`` (the sign-in that started it), so
    refreshing never extends a session past ``SESSION_MAX_AGE_SECONDS`` from that sign-in;
    a token of a session past that end is refused by the authentication middleware (as
    on every route) before it gets here, and one let in just before that end but handled
    at it is refused here the same way, rather than answered with a token (and a cookie)
    that expires as it is issued. A token without ``auth_time`` (issued before tokens carried
    it) is refused the same way: it tells no sign-in time to carry over, and giving it its
    ``iat`` would make it look like a recent sign-in; its user signs in again.
    """

    def __init__(self, settings):
        self._settings = settings

    @access(authenticated=True)
    @describe(
        "A new token for a still-valid session", response=TokenOnly,
        description="The new token belongs to the same session: it keeps the time of the sign-in that started "
                    "it (`auth_time`) and expires after `SESSION_TOKEN_TTL_SECONDS` (24 hours by default) or "
                    "when the session does, whichever comes first. A session lasts `SESSION_MAX_AGE_SECONDS` "
                    "(30 days by default) from that sign-in; past it, every request with one of its tokens, "
                    "this one included, is refused with 401 `Invalid or expired token`. A token without "
                    "`auth_time` (issued before tokens carried it) is not refreshed: the same 401, sign in again.",
    )
    @no_store
    def on_post(self, req, resp):
        caller = req.context.user
        _session_only(caller)
        now = int(time.time())
        # A request let in just before its session's end may get here just after it: a token
        # would expire as it is issued (a cookie with Max-Age=0).
        if caller.auth_time is None or token_expiry(now, caller.auth_time, self._settings) <= now:
            raise unauthorized("Invalid or expired token")
        user = users.get_user(caller.id)
        resp.media = {"token": start_session(resp, user, self._settings, caller.auth_time, now)}


class MeResource:
    """``GET /auth/me``: the caller; ``PATCH``: the caller's own names and username.

    Never the role or the active state (422: unknown fields); a password session only, as an
    API token is scoped to what its permissions name. Sessions go on: none of these fields
    is a credential.
    """

    def __init__(self, cache):
        self._cache = cache

    @access(authenticated=True)
    @describe("The signed-in caller", response=Me)
    @no_store
    def on_get(self, req, resp):
        resp.media = {"user": me_user(users.get_user(req.context.user.id))}

    @access(authenticated=True)
    @describe("Change one's own first name, last name or username", body=ProfilePatch, response=Me)
    @no_store
    def on_patch(self, req, resp):
        caller = req.context.user
        _session_only(caller)
        patch = read_body(req, ProfilePatch)
        changes = {name: getattr(patch, name) for name in patch.__struct_fields__
                   if getattr(patch, name) is not msgspec.UNSET}
        if not changes:
            raise nothing_to_update()
        try:
            user = users.update_user(caller.id, changes)
        except DuplicateAccount as ex:
            raise conflict(str(ex), ex.details) from None
        invalidate(self._cache, Namespace.USERS)
        resp.media = {"user": me_user(user)}


class ChangePasswordResource:
    """``POST /auth/change-password``: needs the current password; ends other sessions and
    deletes the caller's API tokens (whoever knew the old password may have made them)."""

    def __init__(self, accounts, guard, settings):
        self._accounts = accounts
        self._guard = guard
        self._settings = settings

    @access(authenticated=True)
    @rate_limited("login")
    @describe("Change the password (ends other sessions)", body=ChangePasswordBody, response=PasswordChanged)
    @no_store
    def on_post(self, req, resp):
        caller = req.context.user
        _session_only(caller)
        body = read_body(req, ChangePasswordBody)
        _check_confirmation(body.new_password, body.confirm_password)
        # A stolen session must not be able to brute-force the current password either.
        attempt = self._guard.acquire_login(req, caller.email)
        try:
            user = self._accounts.change_password(caller.id, body.current_password, body.new_password)
        except InvalidCredentials as ex:
            raise field_error("current_password", str(ex)) from None
        except WeakPassword as ex:
            self._guard.refund(req, attempt)  # the current password was right
            raise _weak(ex, "new_password") from None
        self._guard.refund(req, attempt)
        resp.media = {"message": "Password changed successfully", "token": start_session(resp, user, self._settings)}


# Where a browser's form post goes once answered (``is_browser_form_post``): the admin's
# pages of the same steps, which say what happened; and where it tries again when refused.
RESET_SENT_PAGE = "/admin/forgot-password?sent=1"
RESET_DONE_PAGE = f"{SIGN_IN_PAGE}?reset=1"
FORGOT_PASSWORD_PAGE = "/admin/forgot-password"
# A browser's form sees these refusals as the error page (app.api.form_error_pages).
RESET_FORM_REFUSALS = frozenset({400, 403, 422, 429})
BROWSER_FORM_NOTE = (" A browser's HTML form post (URL-encoded or multipart, preferring `text/html`, as "
                     "`Sec-Fetch-Mode: navigate` or `Accept` says, as SonicJS's pages post) answers `303` to {page} "
                     "instead, and "
                     "its refusals (400, 403, 422, 429) are an HTML page; JSON clients and scripts keep the JSON.")


class RequestResetResource:
    """``POST /auth/request-password-reset``: the same 202 whether or not the email exists; a
    browser's form post is sent on to the admin's page saying the link went out."""

    browser_form_refusals = RESET_FORM_REFUSALS
    browser_form_page = FORGOT_PASSWORD_PAGE

    def __init__(self, accounts, guard, mailer):
        self._accounts = accounts
        self._guard = guard
        self._mailer = mailer

    @access(public=True)
    @rate_limited("reset")
    @describe("Mail a password-reset link", body=ResetRequestBody, status=202, response=ResetRequested,
              others={303: REDIRECT_PAGE}, headers={303: (Header("Location", RESET_SENT_PAGE),)},
              description="The same answer whether or not an account has the email; the mail goes out after "
                          "the response." + BROWSER_FORM_NOTE.format(page=f"`{RESET_SENT_PAGE}`"))
    def on_post(self, req, resp):
        body = read_body(req, ResetRequestBody, form_ok=True)  # SonicJS's reset page posts a form
        self._guard.acquire(req, "reset", body.email)
        # The account's lookup, its token and the mail all come after the response, for
        # every address alike: the answer's timing does not tell whether the email has one.
        req.context.ctx.wait_until(mail_issued, self._accounts.request_password_reset, self._mailer, body.email)
        if is_browser_form_post(req):
            redirect(resp, RESET_SENT_PAGE)
            return
        resp.status = falcon.HTTP_202
        resp.media = {"success": True, "message": RESET_MESSAGE}


class ResetPasswordResource:
    """``POST /auth/reset-password``: ``{token, password}`` from the mailed link; ends every
    session and deletes the user's API tokens. A browser's form post is sent on to the sign-in
    page saying the password was reset."""

    browser_form_refusals = RESET_FORM_REFUSALS
    # A refused token cannot be tried again: the visitor asks for a new link.
    browser_form_page = FORGOT_PASSWORD_PAGE

    def __init__(self, accounts, guard):
        self._accounts = accounts
        self._guard = guard

    on_get = page_redirect("/admin/reset-password", "password reset")

    @access(public=True)
    @rate_limited("token")
    @describe("Set a new password with a reset token", body=ResetPasswordBody, response=Message,
              others={303: REDIRECT_PAGE}, headers={303: (Header("Location", RESET_DONE_PAGE),)},
              description="Ends every session of the user and deletes their API tokens."
                          + BROWSER_FORM_NOTE.format(page=f"`{RESET_DONE_PAGE}`"))
    def on_post(self, req, resp):
        # SonicJS's reset page posts a form; it signs nobody in and needs the mailed token,
        # so a form from another site can do nothing with it that its sender could not.
        body = read_body(req, ResetPasswordBody, form_ok=True)
        _check_confirmation(body.password, body.confirm_password)
        user = redeem_token(self._guard, req, lambda: self._accounts.reset_password(body.token, body.password))
        self._guard.clear(self._guard.login_buckets(req, user.email)[1:])
        if is_browser_form_post(req):
            redirect(resp, RESET_DONE_PAGE)
            return
        resp.media = {"message": "Password has been reset; sign in with the new password"}


def redeem_token(guard, req, redeem):
    """Run ``redeem()`` (a reset or invitation) under the token-guessing limit.

    Only a wrong token counts against the limit: a weak password or a taken username is
    not a guess, so the attempt is given back, as it is on success.
    """
    attempt = guard.acquire(req, "token")
    try:
        result = redeem()
    except InvalidToken as ex:
        raise bad_request(str(ex)) from None
    except WeakPassword as ex:
        guard.refund(req, attempt)
        raise _weak(ex) from None
    except DuplicateAccount as ex:
        guard.refund(req, attempt)
        raise conflict(str(ex), ex.details) from None
    guard.refund(req, attempt)
    return result


class AcceptInvitationResource:
    """``POST /auth/accept-invitation``: sets username and password, activates, signs in."""

    def __init__(self, accounts, guard, settings):
        self._accounts = accounts
        self._guard = guard
        self._settings = settings

    on_get = page_redirect("/admin/accept-invitation", "invitation")

    @access(public=True)
    @rate_limited("token")
    @describe("Accept an invitation and sign in", body=AcceptInvitationBody, response=Session)
    @falcon.before(_json_only)
    @no_store
    def on_post(self, req, resp):
        body = read_body(req, AcceptInvitationBody)
        checked_username(body.username)
        _check_confirmation(body.password, body.confirm_password)
        user = redeem_token(
            self._guard, req, lambda: self._accounts.accept_invitation(body.token, body.username, body.password)
        )
        token = start_session(resp, user, self._settings)
        resp.media = {"user": session_user(user), "token": token}


def register(routes):
    """Mount ``/auth/*``."""
    services, settings = routes.services, routes.settings
    accounts = services.accounts
    guard = Guard(services.rate_limiter, settings)
    routes.add("/auth/login", LoginResource(accounts, guard, settings))
    routes.add("/auth/register", RegisterResource(accounts, guard, settings))
    routes.add("/auth/logout", LogoutResource(accounts))
    routes.add("/auth/refresh", RefreshResource(settings))
    routes.add("/auth/me", MeResource(services.cache))
    routes.add("/auth/change-password", ChangePasswordResource(accounts, guard, settings))
    routes.add("/auth/request-password-reset", RequestResetResource(accounts, guard, services.mailer))
    routes.add("/auth/reset-password", ResetPasswordResource(accounts, guard))
    routes.add("/auth/accept-invitation", AcceptInvitationResource(accounts, guard, settings))
    auth_pages.register(routes)
