"""A browser that navigates to a page it must be signed in for is sent to the sign-in page.

SonicJS answers an authentication failure of a request accepting ``text/html`` with a
redirect to its sign-in page rather than JSON. Here every such failure (``SignInRequired``,
raised by the access check and by a content list refusing an anonymous caller more than
published items) goes through ``SignInRedirect``: a browser navigation
gets ``303 See Other`` to ``/admin/login`` with ``next`` (the page, back to which the sign-in
leads) and ``reason`` (``required``: no session; ``expired``: the credential sent was invalid
or expired). Every other client keeps the JSON 401 and its envelope.

A navigation is a GET or HEAD that is neither an htmx request (the admin's pages answer those
with ``HX-Redirect``), nor a script's (``X-Requested-With: XMLHttpRequest``; Android's WebView
puts its app's name in that header on navigations), nor an API client's (``Authorization:
Bearer`` or ``X-API-Key``: a session would not be what it lacks; a Basic credential, as a
proxy in front of a staging admin asks for, is not ours and says nothing). Then the browser's
``Sec-Fetch-Mode`` says it when sent (``navigate``; ``cors``, ``no-cors``, ``same-origin`` are
scripts and subresources); without it, ``Accept`` does. On a JSON route ``Accept`` must prefer
``text/html`` to JSON (a tie, as ``*/*`` or no ``Accept`` at all, is JSON's); on a page (a
resource mounted with ``Routes.add_page``, which answers HTML to whoever accepts it) naming
``text/html`` as acceptable is enough, as the admin's other page refusals read it.

The redirect's body is a short HTML page linking to the sign-in page, as every redirect of
the app answers (``app.api.redirects.redirect``): the navigation asked for HTML.

The same reading tells a browser's HTML form post from a script's (``is_browser_form_post``:
a POST of a URL-encoded or multipart body, read as a navigation to a JSON route), for the
routes whose refusals of such a post are pages (``app.api.form_error_pages``).
"""

from urllib.parse import quote

import falcon

from app.api.auth_pages import SIGN_IN_PAGE
from app.api.authentication import signed_in_by_header
from app.api.errors import SIGN_IN_VARY, SignInRequired
from app.api.redirects import redirect, same_site_path

# The sign-in page sends a browser on to ``next`` inside the admin only (``/admin/api`` too).
NEXT_UNDER = "/admin"
REASON_REQUIRED = "required"
REASON_EXPIRED = "expired"
# Ties go to the first: a client that accepts both alike gets JSON.
_OFFERED = (falcon.MEDIA_JSON, falcon.MEDIA_HTML)
_NAVIGATION_METHODS = frozenset({"GET", "HEAD"})
_SCRIPT = "xmlhttprequest"  # ``X-Requested-With`` of jQuery and most script libraries
_NAVIGATE = "navigate"
_HTML = "text/html"  # falcon.MEDIA_HTML has a charset
_XHTML = "application/xhtml+xml"
_FORM_TYPES = frozenset({falcon.MEDIA_URLENCODED, falcon.MEDIA_MULTIPART})


def is_browser_navigation(req, page=False):
    """Whether ``req`` is a browser opening a page (see the module docstring); ``page``:
    whether the route answers HTML pages."""
    return req.method in _NAVIGATION_METHODS and not _scripted(req) and _navigates(req, page)


def is_browser_form_post(req):
    """Whether ``req`` is a browser sending an HTML form: a POST of a URL-encoded or multipart
    body that navigates as ``is_browser_navigation`` reads it on a JSON route (a script's
    ``fetch`` of a ``FormData`` says ``Sec-Fetch-Mode: cors``, and keeps JSON)."""
    media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    return (req.method == "POST" and media_type in _FORM_TYPES and not _scripted(req)
            and _navigates(req, page=False) and _posts_like_a_browser(req))


def _posts_like_a_browser(req):
    """A browser says so with ``Sec-Fetch-Mode``; one too old to send it still names XHTML
    in ``Accept`` as every browser's navigation does. An HTTP library's default ``Accept``
    never does, even one that ranks HTML first (Java's ``HttpURLConnection``: ``text/html,
    image/gif, image/jpeg, *; q=.2, */*; q=.2``), and its form posts keep their JSON."""
    return bool(req.get_header("Sec-Fetch-Mode")) or _XHTML in (req.accept or "").lower()


def _scripted(req):
    """htmx, a script library, or an API client naming its credential in a header."""
    return (req.get_header("HX-Request") is not None
            or (req.get_header("X-Requested-With") or "").strip().lower() == _SCRIPT
            or signed_in_by_header(req))


def _navigates(req, page):
    mode = req.get_header("Sec-Fetch-Mode")
    if mode:
        return mode.strip().lower() == _NAVIGATE
    return accepts_html(req) if page else req.client_prefers(_OFFERED) == falcon.MEDIA_HTML


def accepts_html(req):
    """Whether ``Accept`` names ``text/html`` and does not refuse it (``q=0``)."""
    return _HTML in (req.accept or "").lower() and req.client_accepts(_HTML)


def sign_in_url(page, rejected):
    """The sign-in page's URL leading back to ``page`` (a ``next`` when it is inside the
    admin), saying why the browser was sent there: a credential ``rejected``, or none."""
    query = ""
    target = same_site_path(page, None, under=NEXT_UNDER)
    if target is not None:
        query = "next=" + quote(target, safe="") + "&"
    return f"{SIGN_IN_PAGE}?{query}reason={REASON_EXPIRED if rejected else REASON_REQUIRED}"


def sign_in_location(req, rejected):
    """The sign-in page's URL for ``req``: ``next`` when the page may lead back there, and the reason."""
    return sign_in_url(req.relative_uri, rejected)


class SignInRedirect:
    """Falcon's error handler of ``SignInRequired``: a redirect for a navigation, else the JSON 401.

    Args:
        is_page: ``(resource) -> bool``, whether a resource answers pages (``Routes.is_page``).
    """

    def __init__(self, is_page):
        self._is_page = is_page

    def __call__(self, req, resp, ex, params):
        if not is_browser_navigation(req, ex.resource is not None and self._is_page(ex.resource)):
            raise ex
        redirect(resp, sign_in_location(req, ex.rejected), lead="Sign in to continue:", title="Sign in")
        # The answer depends on the cookie and on the headers read above: no cache keeps it
        # for others. Appended: CORS appends its own ``Vary: Origin``.
        resp.set_header("Cache-Control", "no-store")
        resp.append_header("Vary", SIGN_IN_VARY)


def install(app, is_page):
    """Register the handler on ``app``; ``is_page``: ``Routes.is_page``."""
    app.add_error_handler(SignInRequired, SignInRedirect(is_page))
