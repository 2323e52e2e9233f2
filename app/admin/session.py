"""Signing in and out of the admin, and changing one's password.

The pages use the API's own pieces: ``Accounts`` checks the password, ``Guard`` applies the
sign-in rate limits, and ``start_session`` sets the same ``auth_token`` cookie as
``POST /auth/login`` (HttpOnly, SameSite=Strict, Secure per the settings), so a session
begun here is an API session too, and signing out ends both.
"""

from urllib.parse import urlsplit

import falcon

from app.admin.pages import one, read_form, redirect
from app.api.access import access
from app.api.auth import start_session
from app.api.authentication import COOKIE_NAME
from app.services.accounts import InvalidCredentials, WeakPassword

HOME = "/admin"


def safe_next(target):
    """``target`` when it is a path inside the admin, else the dashboard (no open redirect)."""
    if not target or not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return HOME
    parts = urlsplit(target)
    return HOME if parts.scheme or parts.netloc else target


def _refused(ex):
    """The message of a rate-limit refusal, with its wait when the guard gave one."""
    retry = (ex.headers or {}).get("Retry-After")
    return f"Too many attempts; try again in {retry} seconds." if retry else "Too many attempts; try again later."


class LoginPage:
    """``GET /admin/login``: the form; ``POST``: sign in and go on to ``next``."""

    def __init__(self, renderer, accounts, guard, settings):
        self._renderer = renderer
        self._accounts = accounts
        self._guard = guard
        self._settings = settings

    @access(public=True)
    def on_get(self, req, resp):
        if req.context.user is not None and req.context.user.via == "jwt":
            redirect(resp, safe_next(req.get_param("next")))
            return
        self._renderer.page(req, resp, "login.html", email="", error=None, next=safe_next(req.get_param("next")))

    @access(public=True)
    def on_post(self, req, resp):
        form = read_form(req)
        email, password = one(form, "email").strip(), one(form, "password")
        target = safe_next(one(form, "next"))
        error, status = self._sign_in(req, resp, email, password)
        if error is None:
            redirect(resp, target)
            return
        self._renderer.page(req, resp, "login.html", status=status, email=email, error=error, next=target)

    def _sign_in(self, req, resp, email, password):
        """Sign in; ``(None, None)`` on success, else ``(message, status)``."""
        if not email or not password:
            return "Enter your email and password.", falcon.HTTP_422
        keys = self._guard.buckets(req, "login", email.lower())
        try:
            self._guard.acquire(keys)
        except falcon.HTTPError as ex:
            return _refused(ex), falcon.HTTP_429
        user = self._accounts.authenticate(email, password)
        if user is None:
            return "Invalid email or password.", falcon.HTTP_401
        self._guard.refund(keys)
        start_session(resp, user, self._settings)
        return None, None


class LogoutPage:
    """``POST /admin/logout``: ends every session of the user and clears the cookie."""

    def __init__(self, accounts):
        self._accounts = accounts

    @access(public=True)
    def on_post(self, req, resp):
        user = req.context.user
        if user is not None and user.via == "jwt":
            self._accounts.end_sessions(user.id)
        resp.unset_cookie(COOKIE_NAME, path="/", same_site="Strict")
        redirect(resp, "/admin/login")


class PasswordPage:
    """``GET /admin/account/password``: the form; ``POST``: change the password.

    Changing it ends the user's other sessions; this browser gets a new session cookie.
    """

    def __init__(self, renderer, accounts, guard, settings):
        self._renderer = renderer
        self._accounts = accounts
        self._guard = guard
        self._settings = settings

    @access(authenticated=True)
    def on_get(self, req, resp):
        self._renderer.page(req, resp, "password.html", errors={}, done=req.get_param("done") == "1")

    @access(authenticated=True)
    def on_post(self, req, resp):
        caller = req.context.user
        if caller.via != "jwt":
            raise falcon.HTTPForbidden()
        form = read_form(req)
        current, new, confirm = one(form, "current_password"), one(form, "new_password"), one(form, "confirm_password")
        errors, status = self._change(req, resp, caller, current, new, confirm)
        if not errors:
            redirect(resp, "/admin/account/password?done=1")
            return
        self._renderer.page(req, resp, "password.html", status=status, errors=errors, done=False)

    def _change(self, req, resp, caller, current, new, confirm):
        """Change the password; ``({}, None)`` on success, else ``({field: message}, status)``."""
        if not current:
            return {"current_password": "Enter your current password."}, falcon.HTTP_422
        if not new:
            return {"new_password": "Enter a new password."}, falcon.HTTP_422
        if new != confirm:
            return {"confirm_password": "Passwords do not match."}, falcon.HTTP_422
        keys = self._guard.buckets(req, "login", caller.email)
        try:
            self._guard.acquire(keys)
        except falcon.HTTPError as ex:
            return {"current_password": _refused(ex)}, falcon.HTTP_429
        try:
            user = self._accounts.change_password(caller.id, current, new)
        except InvalidCredentials as ex:
            return {"current_password": str(ex)}, falcon.HTTP_422
        except WeakPassword as ex:
            self._guard.refund(keys)
            return {"new_password": str(ex)}, falcon.HTTP_422
        self._guard.refund(keys)
        start_session(resp, user, self._settings)
        return {}, None
