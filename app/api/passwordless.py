"""``/auth/otp/*`` and ``/auth/magic-link/*``: signing in with a mailed code or link.

Mounted by the ``otp-login`` and ``magic-link-auth`` plugins (so they answer 404 while the
plugin is inactive, as every plugin route does). The codes and links themselves are
``app.services.passwordless``'s; here they meet HTTP:

* the request routes answer the same 202 whatever the address (an account or not, its
  hourly allowance spent or not) and do the same work for each: the account lookup, the
  new code or link and the mail all happen after the response, so neither the answer nor
  its timing says which addresses have accounts. Every request counts against the
  ``sign-in-mail`` limit of the caller's address only: a limit per address asked for would
  let anyone refuse an account's own requests by filling it, and what one account is sent
  is capped anyway (the plugins' ``rateLimitPerHour``, silently);
* a code is traded for a session by ``POST /auth/otp/verify`` (JSON only, as
  ``/auth/login``: no form on another site can sign a visitor in), under the sign-in
  limits of ``/auth/login``: a wrong code is a failed sign-in. Its timing is not uniform
  (an active account's row is locked, its failures summed and its attempt counted; an
  unknown address answers after one lookup): the same statements run against no row would
  still cost less, and the sign-in limits bound how many addresses a client can time;
* a link opens a page (``GET /auth/magic-link/verify``, in the admin's sign-in layout)
  whose button signs in (``POST``). Mail scanners and link previews fetch links, and a GET that signed in would
  spend the link, or sign the scanner in; the page consumes nothing. Its form is accepted
  from this site's own pages only (the cross-origin check admin forms get), so another
  page cannot post a link token of its own. The link itself can still be passed on: one
  its author asked for and sent to someone else would sign that person in to the author's
  account (login CSRF), so the page names the account the link signs in to (masked), and
  says so when the visitor is signed in as someone else.

Each sign-in is the one ``/auth/login`` makes: the same body, cookie and token (a new
session, ``auth_time`` now), ``last_login_at``, and the ``after_auth_login`` hooks.
"""

from typing import Annotated
from urllib.parse import urlencode

import falcon
import msgspec

from app.api.access import access
from app.api.auth import Email, session_user, start_session
from app.api.auth_pages import SIGN_IN_PAGE
from app.api.cross_origin import listed_origins, refusal, refuse
from app.api.describe import REDIRECT_PAGE, Header, Param, describe
from app.api.errors import bad_request, read_body, require_json, unauthorized
from app.api.private import no_store
from app.api.rate_limits import Guard, rate_limited
from app.api.redirects import redirect, same_site_path
from app.api.schemas import Closed, Session
from app.services.accounts import mail_issued
from app.services.passwordless import SignInCodes, SignInLinks

MAIL_ACTION = "sign-in-mail"
OTP_MESSAGE = "If an account exists for this email, a sign-in code has been sent"
LINK_MESSAGE = "If an account exists for this email, a sign-in link has been sent"
INVALID_CODE = "Invalid or expired code"
INVALID_LINK = "Invalid or expired sign-in link"
VERIFY_PATH = "/auth/magic-link/verify"
AFTER_SIGN_IN = "/admin"
INVALID_LINK_PAGE = f"{SIGN_IN_PAGE}?{urlencode({'link': 'invalid'})}"

# "(?!\n)$": a pattern is searched, and a bare "$" also matches before a final newline.
Code = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(?!\n)$", max_length=20)]
LinkToken = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class EmailBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    code: Code


class LinkBody(msgspec.Struct, forbid_unknown_fields=True):
    token: LinkToken
    next: str | None = None


class MailRequested(Closed):
    """The same answer whether or not the address has an account."""

    success: bool
    message: str
    expiresIn: int  # SonicJS's key: the seconds a code or link works


def sign_in(resp, user, accounts, settings):
    """Sign ``user`` in as ``POST /auth/login`` does: recorded, cookie set; the Session body."""
    user = accounts.record_sign_in(user)
    return {"user": session_user(user), "token": start_session(resp, user, settings)}


def masked_email(email):
    """``email`` with its local part reduced to its first character: ``p•••@example.com``."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}\u2022\u2022\u2022@{domain}"


class MailRequestResource:
    """Base of the request routes: mail a code or link (``issuer``: SignInCodes, SignInLinks)
    to the address, when it is an active account's. A subclass sets ``message`` and its
    ``on_post``, which calls ``send``."""

    message: str

    def __init__(self, issuer, policy, guard, mailer):
        self._issuer = issuer
        self._policy = policy
        self._guard = guard
        self._mailer = mailer

    def send(self, req, resp):
        """Count the request, answer 202 at once; the account lookup, the secret and the mail
        come after the response, the same work for every address (``mail_issued``)."""
        body = read_body(req, EmailBody)
        self._guard.acquire(req, MAIL_ACTION)
        policy = self._policy()
        req.context.ctx.wait_until(mail_issued, self._issuer.issue, self._mailer, body.email, policy)
        resp.status = falcon.HTTP_202
        resp.media = {"success": True, "message": self.message, "expiresIn": policy.expiry_minutes * 60}


class CodeRequestResource(MailRequestResource):
    """``POST /auth/otp/request``: mail a code to the address, when it is an active account's."""

    message = OTP_MESSAGE

    @access(public=True)
    @rate_limited(MAIL_ACTION)
    @describe("Mail a one-time sign-in code", body=EmailBody, status=202, response=MailRequested,
              description="The same answer for every address: the code is mailed only to an active account, "
                          "at most the plugin's `rateLimitPerHour` an hour. A new code replaces the earlier ones.")
    def on_post(self, req, resp):
        self.send(req, resp)


class CodeResendResource(CodeRequestResource):
    """``POST /auth/otp/resend``: a new code (SonicJS's resend; the earlier code stops working)."""

    @access(public=True)
    @rate_limited(MAIL_ACTION)
    @describe("Mail a new sign-in code (the earlier one stops working)", body=EmailBody, status=202,
              response=MailRequested)
    def on_post(self, req, resp):
        self.send(req, resp)


class CodeVerifyResource:
    """``POST /auth/otp/verify``: trade a code for a session (``{user, token}`` and the cookie)."""

    def __init__(self, codes, policy, accounts, guard, settings):
        self._codes = codes
        self._policy = policy
        self._accounts = accounts
        self._guard = guard
        self._settings = settings

    @access(public=True)
    @rate_limited("login")
    @describe("Sign in with a mailed code", body=CodeBody, response=Session,
              description="A code works once, until it expires, for the plugin's `maxAttempts` tries (a wrong "
                          "try spends one); past the plugin's `maxFailuresPerDay` wrong tries on an account's codes "
                          "in 24 hours, every code of that account is refused until the day is over. A wrong code "
                          f"counts as a failed sign-in against the limits of `POST /auth/login`. Any failure is 401 "
                          f"`{INVALID_CODE}`.")
    @no_store
    def on_post(self, req, resp):
        body = read_body(req, CodeBody)
        attempt = self._guard.acquire_login(req, body.email)
        user = self._codes.redeem(body.email, body.code, self._policy())
        if user is None:
            raise unauthorized(INVALID_CODE)
        self._guard.refund(req, attempt)
        resp.media = sign_in(resp, user, self._accounts, self._settings)


class LinkRequestResource(MailRequestResource):
    """``POST /auth/magic-link/request``: mail a sign-in link, when the address is an active account's."""

    message = LINK_MESSAGE

    @access(public=True)
    @rate_limited(MAIL_ACTION)
    @describe("Mail a one-time sign-in link", body=EmailBody, status=202, response=MailRequested,
              description="The same answer for every address: the link, `PUBLIC_BASE_URL/auth/magic-link/verify"
                          "?token=...`, is mailed only to an active account, at most the plugin's "
                          "`rateLimitPerHour` an hour. A new link replaces the earlier ones.")
    def on_post(self, req, resp):
        self.send(req, resp)


CONFIRM_TEMPLATE = "magic_link.html"  # in the admin's templates: the sign-in pages' layout


def show_confirm_page(pages, req, resp, holder, token, target):
    """Answer the confirm page of a valid link held by ``holder`` (a user): it names the
    link's account, masked, and says when the visitor is signed in as someone else.
    ``pages``: the app's ``PublicPages``, which gives the page its headers too (no Referer
    takes the token in the page's URL elsewhere)."""
    visitor = req.context.user
    current = visitor.email if visitor is not None and visitor.id != holder.id else None
    pages.page(req, resp, CONFIRM_TEMPLATE, account=masked_email(holder.email), current=current,
               action=VERIFY_PATH, token=token, next=target)


def _wants_json(req):
    return req.client_prefers(["text/html", falcon.MEDIA_JSON]) == falcon.MEDIA_JSON


class LinkVerifyResource:
    """``GET /auth/magic-link/verify``: the page that signs in; ``POST``: sign in with the link's token."""

    # The page's button: a browser sees these refusals as a page (app.api.form_error_pages).
    browser_form_refusals = frozenset({403, 429})

    def __init__(self, links, accounts, guard, settings, pages):
        self._links = links
        self._accounts = accounts
        self._guard = guard
        self._settings = settings
        self._listed = listed_origins(settings)
        self._pages = pages

    @access(public=True)
    @describe("The page of a mailed sign-in link (nothing is signed in yet)", media_type="text/html",
              query=(Param("token", description="the mailed link's token", required=True),
                     Param("next", description="a path on this site to go on to once signed in "
                                               "(default `/admin`; anything else is ignored)")),
              others={303: REDIRECT_PAGE},
              headers={303: (Header("Location", f"{INVALID_LINK_PAGE} for a link that is not valid"),)},
              description="A valid link gets a page whose button posts the token to this route; the link is not "
                          "spent by opening it, so a mail scanner fetching it signs nobody in. The page names the "
                          "account the link signs in to (`p•••@example.com`), and says so when the visitor is "
                          "signed in as another account: a link forwarded by its author would sign the visitor in "
                          "to the author's account. An invalid, "
                          f"expired or used link answers `303` to `{INVALID_LINK_PAGE}`, or 400 `{INVALID_LINK}` "
                          "when the client prefers JSON.")
    def on_get(self, req, resp):
        token = req.get_param("token") or ""
        holder = self._links.holder(token) if token and len(token) <= 200 else None
        if holder is None:
            self._invalid(req, resp)
            return
        target = same_site_path(req.get_param("next"), AFTER_SIGN_IN)
        show_confirm_page(self._pages, req, resp, holder, token, target)

    @access(public=True)
    @rate_limited("token")
    @describe("Sign in with a mailed link's token", body=LinkBody, response=Session, others={303: REDIRECT_PAGE},
              headers={303: (Header("Location", "`next` (a path on this site, default `/admin`) once signed in, "
                                                f"else {INVALID_LINK_PAGE}"),)},
              description="JSON `{token}` answers the session (`{user, token}` and the cookie), or 400 "
                          f"`{INVALID_LINK}`. The link's page posts a form (`token`, `next`), answered `303` to "
                          "`next` once signed in, or to the sign-in page with a message; a form is taken from "
                          "this site's own pages only (403 otherwise). A link works once, until it expires.")
    @no_store
    def on_post(self, req, resp):
        form = req.content_type is not None and req.content_type.startswith(falcon.MEDIA_URLENCODED)
        if form:
            self._check_same_origin(req)
        else:
            require_json(req)
        body = read_body(req, LinkBody, form_ok=form)
        attempt = self._guard.acquire(req, "token")
        user = self._links.redeem(body.token)
        if user is None:
            if form:
                redirect(resp, INVALID_LINK_PAGE)
                return
            raise bad_request(INVALID_LINK)
        self._guard.refund(req, attempt)
        session = sign_in(resp, user, self._accounts, self._settings)
        if form:
            redirect(resp, same_site_path(body.next, AFTER_SIGN_IN))
        else:
            resp.media = session

    def _invalid(self, req, resp):
        if _wants_json(req):
            raise bad_request(INVALID_LINK)
        redirect(resp, INVALID_LINK_PAGE)
        resp.cache_control = ["no-store"]

    def _check_same_origin(self, req):
        """403 for a form from another origin: it would sign the visitor in to the account of a
        link its author holds (login CSRF)."""
        details = refusal(req, self._listed, self._settings.trusted_proxy_count)
        if details is not None:
            refuse(req, details)


def otp_routes(settings, services, policy):
    """The routes of ``otp-login``; ``policy()`` is its CodePolicy now."""
    guard = Guard(services.rate_limiter, settings)
    codes = SignInCodes(settings.jwt_secret)
    return [
        ("/auth/otp/request", CodeRequestResource(codes, policy, guard, services.mailer)),
        ("/auth/otp/resend", CodeResendResource(codes, policy, guard, services.mailer)),
        ("/auth/otp/verify", CodeVerifyResource(codes, policy, services.accounts, guard, settings)),
    ]


def magic_link_routes(settings, services, policy):
    """The routes of ``magic-link-auth``; ``policy()`` is its LinkPolicy now."""
    guard = Guard(services.rate_limiter, settings)
    links = SignInLinks(settings.public_base_url, VERIFY_PATH)
    return [
        ("/auth/magic-link/request", LinkRequestResource(links, policy, guard, services.mailer)),
        # The link's page wears the admin's sign-in layout, rendered by the app's one PublicPages.
        ("/auth/magic-link/verify", LinkVerifyResource(links, services.accounts, guard, settings, services.pages)),
    ]
