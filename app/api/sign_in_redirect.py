"""A browser that navigates to a page it must be signed in for is sent to the sign-in page.

SonicJS answers an authentication failure of a request accepting ``text/html`` with a
redirect to its sign-in page rather than JSON. Here every such failure (``SignInRequired``,
raised by the access check) goes through ``handle_sign_in_required``: a browser navigation
gets ``303 See Other`` to ``/admin/login`` with ``next`` (the page, back to which the sign-in
leads) and ``reason`` (``required``: no session; ``expired``: the credential sent was invalid
or expired). Every other client keeps the JSON 401 and its envelope.

A navigation is a GET or HEAD whose ``Accept`` prefers ``text/html`` to JSON (a tie, as
``*/*`` or no ``Accept`` at all, is JSON's), and that is neither an htmx request (the
admin's pages answer those with ``HX-Redirect``), nor a script's (``X-Requested-With``), nor
an API client's (a credential in ``Authorization`` or ``X-API-Key``: a session would not be
what it lacks).
"""

from urllib.parse import quote

import falcon

from app.api.auth_pages import SIGN_IN_PAGE
from app.api.errors import SignInRequired
from app.api.redirects import same_site_path

# The sign-in page sends a browser on to ``next`` inside the admin only (``/admin/api`` too).
NEXT_UNDER = "/admin"
REASON_REQUIRED = "required"
REASON_EXPIRED = "expired"
# Ties go to the first: a client that accepts both alike gets JSON.
_OFFERED = (falcon.MEDIA_JSON, falcon.MEDIA_HTML)
_NAVIGATION_METHODS = frozenset({"GET", "HEAD"})
_NOT_NAVIGATIONS = ("HX-Request", "X-Requested-With", "Authorization", "X-API-Key")


def is_browser_navigation(req):
    """Whether ``req`` is a browser opening a page (see the module docstring)."""
    if req.method not in _NAVIGATION_METHODS:
        return False
    if any(req.get_header(name) is not None for name in _NOT_NAVIGATIONS):
        return False
    return req.client_prefers(_OFFERED) == falcon.MEDIA_HTML


def sign_in_location(req, rejected):
    """The sign-in page's URL for ``req``: ``next`` when the page may lead back there, and the reason."""
    query = ""
    target = same_site_path(req.relative_uri, None, under=NEXT_UNDER)
    if target is not None:
        query = "next=" + quote(target, safe="") + "&"
    return f"{SIGN_IN_PAGE}?{query}reason={REASON_EXPIRED if rejected else REASON_REQUIRED}"


def handle_sign_in_required(req, resp, ex, params):
    """Falcon's error handler of ``SignInRequired``: a redirect for a navigation, else the JSON 401."""
    if not is_browser_navigation(req):
        raise ex
    resp.status = falcon.HTTP_303
    resp.location = sign_in_location(req, ex.rejected)
    resp.text = ""
    # The answer depends on the cookie and the Accept header: no cache keeps it for others.
    resp.set_header("Cache-Control", "no-store")


def install(app):
    """Register the handler on ``app``."""
    app.add_error_handler(SignInRequired, handle_sign_in_required)
