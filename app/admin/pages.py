"""Rendering admin pages (with ``app.admin.public``'s Jinja environment), form bodies, and their middleware.

Templates autoescape every value (``select_autoescape`` on ``.html``), so nothing a user
typed reaches a page as markup. ``AdminPagesMiddleware`` gives each admin page its security
headers, checks the CSRF token of every state-changing request, and, for browsers, turns the
JSON refusals of ``@access`` (401, 403, 404) into pages. A browser opening a page without a
session never gets here with its 401: ``app.api.sign_in_redirect`` sends it to the sign-in
page, as it does for every route; an htmx request is sent there with ``HX-Redirect``. Clients
that do not ask for HTML keep the API's JSON envelope.
"""

import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import falcon

from app.admin.blocks import capped_number, one_value
from app.admin.csrf import FIELD, HEADER
from app.api.authentication import signed_in_by_header
from app.api.content_write import MAX_BODY_BYTES
from app.api.cross_origin import refused_cross_origin
from app.api.errors import envelope_lines
from app.api.methods import SAFE_METHODS
from app.api.redirects import redirect as redirect  # the pages' 303 (after a POST, the browser GETs the page)
from app.api.redirects import same_site_path
from app.api.request_guard import RefusedBody, nul_problems, without_nul
from app.api.sign_in_redirect import sign_in_url

log = logging.getLogger("sonicpy.admin")
TEMPLATES = Path(__file__).resolve().parent / "templates"
ADMIN_PREFIX = "/admin"
# JSON routes that live under /admin for SonicJS's sake; they keep the API's behaviour.
API_PREFIX = "/admin/api/"
# An item the API accepts (up to its 2 MiB JSON body) must fit the admin's form too:
# URL-encoding spends up to 3 bytes on each byte of text (%XX), so the form gets 3 times that.
MAX_FORM_BYTES = 3 * MAX_BODY_BYTES
HTML = "text/html; charset=utf-8"


def page_policy(image_sources):
    """The admin pages' Content-Security-Policy, images taken from ``image_sources``.

    No inline script or style anywhere: scripts and styles come from /admin/static only.
    """
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {image_sources}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


CONTENT_SECURITY_POLICY = page_policy("'self' data:")
# Stored rich text embeds images by their https URL (SonicJS's editors and API clients write
# them so): the pages showing it, the content form's HTML editor and its preview, load them
# as the site would. Images only, over https only; the Referrer-Policy below, the same on
# every page, sends no admin URL to another origin when one loads.
CONTENT_PAGE_POLICY = page_policy("'self' data: https:")
# The templates of those pages (the preview is a fragment inserted into the content form,
# whose policy governs it there; opened by itself it answers the same one).
CONTENT_TEMPLATES = frozenset({"content_form.html", "_markdown_preview.html"})
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
CONTENT_PAGE_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": CONTENT_PAGE_POLICY}


def format_time(epoch_ms):
    """Epoch milliseconds as ``2026-01-31 09:00 UTC`` ("" for None)."""
    if epoch_ms is None:
        return ""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


ERROR_TITLES = {
    "400": "Bad request", "401": "Sign in required", "403": "Forbidden", "404": "Not found",
    "405": "Not allowed", "409": "Conflict", "413": "Too large", "422": "Invalid input",
    "429": "Too many requests", "500": "Server error", "503": "Unavailable",
}


class FormTooLarge(falcon.HTTPContentTooLarge):
    """A form body over ``MAX_FORM_BYTES``: a 413 wherever the form is read (the CSRF check,
    or a resource reading a form htmx sent with the token in a header)."""


def wants_html(req):
    """True for a browser (navigations ask for ``text/html``) or htmx; API clients keep JSON refusals."""
    return "text/html" in (req.get_header("Accept") or "") or req.get_header("HX-Request") is not None


def is_admin_page(path):
    """True for the HTML pages under /admin (not the JSON routes kept there for SonicJS)."""
    return (path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")) and not path.startswith(API_PREFIX)


def serves_page(req, resource, is_page):
    """Whether ``req`` is for an admin page: answered by a resource mounted as a page
    (``is_page``: ``Routes.is_page``), or, when no route matched, a path under /admin (its
    404 is a page too). JSON routes that live under /admin for SonicJS's sake
    (``/admin/plugins/{name}/settings``) are not pages."""
    if resource is None:
        return is_admin_page(req.path)
    return is_page(resource)

class Renderer:
    """Renders admin pages with what every page needs (the user, the CSRF token, the nav).

    Args:
        pages: the app's ``PublicPages`` (``app.admin.public``), whose Jinja environment it renders with.
        csrf: the ``CsrfTokens``.
        settings: the app's Settings.
    """

    def __init__(self, pages, csrf, settings):
        self.csrf = csrf
        self.settings = settings
        self._pages = pages
        self.plugin_nav = _no_plugin_nav  # ``(user) -> [(href, title)]``: the nav items of plugins' pages
        self.user_name = _email_name  # ``(user) -> str``: how the nav names the signed-in user

    def page(self, req, resp, template, status=falcon.HTTP_200, **values):
        """Render ``template`` into ``resp`` as an HTML page with ``status``; ``page_cap``
        (``LAST_PAGE``) tells a list's pager which page number stands for any number past it."""
        if template in CONTENT_TEMPLATES:
            req.context.shows_content = True  # its headers: CONTENT_PAGE_HEADERS
        user = getattr(req.context, "user", None)
        self._pages.render(req, resp, template, status, user=user, csrf_token=self.csrf.token_for(req, resp),
                           plugin_nav=self.plugin_nav(user), user_name=self.user_name(user) if user else "",
                           page_cap=LAST_PAGE, **values)


def _no_plugin_nav(user):
    return []


def _email_name(user):
    return user.email


def read_form(req):
    """The URL-encoded body as ``{name: str or [str, ...]}`` (empty when there is none).

    Raises:
        RefusedBody: a body holding NUL (the error page, 422). A form page that shows a
            refused post again reads it with ``form_as_typed`` instead.
    """
    if (req.content_length or 0) > MAX_FORM_BYTES:
        raise FormTooLarge()
    if not (req.content_type or "").startswith(falcon.MEDIA_URLENCODED):
        return {}
    return req.get_media(default_when_empty={}) or {}


def form_as_typed(req):
    """``(form, problems)``: ``read_form``'s values, and for a body holding NUL, those values
    with their NULs taken out and a ``{field, message}`` problem for each name holding one.

    For a form page that shows a refused post again, as typed: a NUL is invisible where it
    was pasted, so the editor keeps the rest of what was typed and never gets one back in
    the HTML. The page must refuse the save when there are problems (it shows them as a
    service's refusal): a value without its NUL is not what was sent, and is never stored.
    """
    try:
        return read_form(req), []
    except RefusedBody as ex:
        return without_nul(ex.media), nul_problems(ex.media, as_shown=True)


def problems_in_words(problems, labels=None):
    """``problems`` (``[{field, message}]``) as one sentence, for a form that shows a single message.

    Args:
        labels: ``{field: label}``, the words the form shows for its fields: a problem of
            one of them is named by its label, another (a name the form has no field for)
            as posted.
    """
    labels = labels or {}
    return "; ".join(f"{labels.get(problem['field'], problem['field'])}: {problem['message']}" for problem in problems)


# The last page a list reads: no list holds a million pages, so this one is past the last
# page of every list, and a page asked for past it is read as it (its pager says the page
# asked for is past the last page, naming no number, and links back there) rather than as
# the first.
LAST_PAGE = 10**6 - 1


def page_number(req):
    """The 1-based ``page`` parameter of a list page: 1 when it is missing, zero or not a
    whole number, and ``LAST_PAGE`` when it is that or more, however many digits it has."""
    return capped_number(req.get_param("page") or "", LAST_PAGE) or 1


MAX_SEARCH = 200


def search_of(req):
    """The ``search`` parameter of a list page, trimmed and bounded."""
    return (req.get_param("search") or "").strip()[:MAX_SEARCH]


def one(form, name, default=""):
    """The single value of ``name`` in ``form`` (the last one when repeated)."""
    value = one_value(form.get(name))
    return default if value is None else value


def safe_next(target):
    """``target`` when it is a path inside the admin, else the dashboard (no open redirect)."""
    return same_site_path(target, ADMIN_PREFIX, under=ADMIN_PREFIX)


def _current_page(req):
    """The admin page an htmx request came from (its ``HX-Current-URL``), else the dashboard."""
    parts = urlsplit(req.get_header("HX-Current-URL") or "")
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


def _seconds(retry_after):
    """``Retry-After``'s whole seconds in words: "1 second", "5 seconds"."""
    return "1 second" if retry_after == "1" else f"{retry_after} seconds"


class AdminPagesMiddleware:
    """Security headers, CSRF checks and HTML refusals for every admin page.

    Args:
        renderer: the Renderer for the error pages.
        is_page: ``(resource) -> bool``, whether a resource answers pages (``Routes.is_page``).
        identify: ``(req) -> None``, sets ``req.context.user`` for a path no route matched
            (``Routes.identify``), whose 404 page a signed-in user sees in their own layout.
    """

    def __init__(self, renderer, is_page, identify):
        self._renderer = renderer
        self._is_page = is_page
        self._identify = identify

    def process_resource(self, req, resp, resource, params):
        if not serves_page(req, resource, self._is_page) or req.method in SAFE_METHODS:
            return
        if signed_in_by_header(req):
            # The caller is whoever the header names, never the browser's cookie, and no other
            # site can make a browser send such a header (that takes a CORS preflight): there
            # is no forged request to catch. API clients use the page actions SonicJS serves
            # as JSON (activating a plugin) this way.
            return
        token = req.get_header(HEADER)
        if token is None and getattr(resource, "reads_csrf_from_multipart", False) and (
                req.content_type or "").startswith(falcon.MEDIA_MULTIPART):
            # A multipart form (an upload without script) cannot be read here without
            # consuming its files: the resource checks the token, its form's first part,
            # before it reads any file.
            return
        if token is None:
            # A form holding NUL elsewhere is still checked here: its page shows it again.
            token = one(form_as_typed(req)[0], FIELD, None)
        if not self._renderer.csrf.valid(req, token):
            req.context.admin_refusal = "csrf"
            raise falcon.HTTPForbidden(title="Forbidden", description="Invalid or missing CSRF token")

    def process_response(self, req, resp, resource, req_succeeded):
        if not serves_page(req, resource, self._is_page):
            return
        shows_content = getattr(req.context, "shows_content", False)
        for name, value in (CONTENT_PAGE_HEADERS if shows_content else SECURITY_HEADERS).items():
            resp.set_header(name, value)
        if resp.status in (falcon.HTTP_401, 401) and req.get_header("HX-Request"):
            # A fragment asked for by htmx (a picker, a preview) once the session has ended:
            # the whole page goes to the sign-in form, instead of the form's page being
            # swapped into the fragment's place.
            rejected = getattr(req.context, "credential_rejected", False)
            resp.set_header("HX-Redirect", sign_in_url(_current_page(req), rejected))
            return
        if (resp.content_type and resp.content_type.startswith(HTML)) or not wants_html(req):
            return
        status = resp.status if isinstance(resp.status, str) else falcon.code_to_http_status(resp.status)
        if int(status[:3]) >= 400:
            if status[:3] == "404" and resource is None and req.context.user is None:
                self._identify_for_not_found(req)
            self._error_page(req, resp, status, ERROR_TITLES.get(status[:3], "Something went wrong"))

    def _identify_for_not_found(self, req):
        """Who is signed in, for the 404 of a path no route matches (no ``process_resource``
        ran): their own layout. Only then: other refusals before any resource (a request
        guard's, a plugin's veto) stay as cheap as they were. Whatever this fails on (the
        database down) leaves the signed-out page, rather than no page at all."""
        try:
            self._identify(req)
        except Exception:  # the page is what matters; the error is logged
            log.warning("could not tell who asked for a missing admin page", exc_info=True)
            req.context.user = None

    def _error_page(self, req, resp, status, title):
        """Replace an error's JSON envelope with a page saying the same (its status kept)."""
        if getattr(req.context, "admin_refusal", None) == "csrf" or refused_cross_origin(req):
            message = "The form was stale or did not come from this site. Reload the page and try again."
        elif status == falcon.HTTP_403:
            message = "Your role does not allow this."
        elif status == falcon.HTTP_401:
            message = "Sign in to continue."
        elif status == falcon.HTTP_404:
            message = "There is nothing here."
        elif status == falcon.HTTP_503 and resp.get_header("Retry-After"):
            # A busy or unreachable database (or media store) says when it may answer again.
            wait = _seconds(resp.get_header("Retry-After"))
            message = f"The service is temporarily unavailable. Try again in {wait}."
        else:
            message = "The request could not be carried out. Go back and try again."
        # 401, 403 and 404 are told in fixed words above; their envelopes add nothing to mend.
        reasons = envelope_lines(resp) if status[:3] not in ("401", "403", "404") and status[0] == "4" else []
        resp.media = None
        resp.data = None
        self._renderer.page(req, resp, "error.html", status=status, title=title, message=message,
                            reasons=reasons)
