"""Cross-origin protection of the requests that act with the session cookie.

``SameSite=Strict`` keeps the ``auth_token`` cookie off requests from other *sites*, but a
page on a sibling subdomain (``evil.example.com`` beside ``cms.example.com``) is the same
site, and its browser sends the cookie along. A JSON body cannot come from such a page
without a CORS preflight (``app.api.cors`` refuses origins it does not list), but an HTML
form can: URL-encoded, multipart (a media upload), or empty for a route that takes no
body (signing out, restoring a version, running migrations, clearing the cache, testing a
webhook).

So every unsafe request (any method but GET, HEAD and OPTIONS) whose credential is the
cookie is checked here, before its responder runs, against what the browser says about
where it comes from:

* ``Sec-Fetch-Site`` (every current browser sends it): ``same-origin``, and ``none`` (the
  user's own navigation: the address bar, a bookmark), pass; any other value
  (``same-site``, ``cross-site``) is refused;
* no ``Sec-Fetch-Site``, but ``Origin`` (an older browser): it must be the request's own
  origin (``own_origins``), else it is refused;
* neither header: not a browser, or one too old to send either, which ``SameSite`` still
  holds back: it passes.

An ``Origin`` listed in ``CORS_ALLOW_ORIGINS`` passes either way: those origins are trusted
with the cookie already. ``*`` lists none. A refusal is a 403 in the error envelope, saying
why; nothing has run.

A credential in a header (``Authorization: Bearer``, ``X-API-Key``) is not checked: the
request acts as that credential, never the cookie, and no other page can make a browser
send such a header without a preflight. A blank ``Authorization: Bearer`` is no credential
(``credentials_of``): the cookie acts, and is checked. An API request with no credential at
all acts as nobody and is not checked either: under ``*`` a page on any origin may call
``POST /auth/login`` for a token of its own.

Admin pages (HTML forms, ``Routes.is_page``) are checked whatever their credential but a
header, a request without one included: signing in, a reset, an invitation. Their CSRF
token stays; this is a second lock, which also keeps a sibling from signing a visitor in
to an account of its choosing (login CSRF) should it ever obtain a token pair.

A resource that ignores the cookie (``authentication.ignores_cookie``: a public form's submit
route) is not checked either: the cookie does not act there, so the request acts as nobody.
"""

import falcon

from app.api.authentication import API_KEY, BEARER, COOKIE, credentials_of, ignores_cookie
from app.api.errors import APIError
from app.api.methods import SAFE_METHODS

TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
DEFAULT_PORTS = {"http": "80", "https": "443"}
REFUSED = "Cross-origin request refused"


def normalized_origin(scheme, netloc):
    """``scheme://host[:port]`` in lower case, without the scheme's default port."""
    scheme, netloc = scheme.strip().lower(), netloc.strip().lower()
    default = DEFAULT_PORTS.get(scheme)
    if default and netloc.endswith(":" + default):
        netloc = netloc[: -len(default) - 1]
    return f"{scheme}://{netloc}"


def origin_of(value):
    """The ``Origin`` header's value normalized (``null`` and other opaque values unchanged)."""
    scheme, separator, netloc = value.partition("://")
    return normalized_origin(scheme, netloc) if separator else value.strip()


def _first(value):
    # A proxy that appends to the header lists each hop; the first is the client's side.
    return value.split(",", 1)[0].strip()


def own_origins(req, trusted_proxy_count=0):
    """The origins that are this request's own: its scheme and ``Host``.

    The scheme is ``wsgi.url_scheme``, which gunicorn already takes from the
    ``X-Forwarded-Proto`` of a proxy it trusts (``FORWARDED_ALLOW_IPS``: loopback, where the
    shipped nginx configuration connects from). As for the client's address, the proxy's
    own headers (``Forwarded``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``) are read only
    when ``TRUSTED_PROXY_COUNT`` says a proxy sits in front; its origin then counts too.
    """
    origins = {normalized_origin(req.scheme, req.netloc)}
    if trusted_proxy_count > 0:
        origins.add(normalized_origin(_first(req.forwarded_scheme), _first(req.forwarded_host)))
    return origins


def listed_origins(settings):
    """The normalized origins of ``CORS_ALLOW_ORIGINS`` that may act with the cookie (none for ``*``)."""
    origins = tuple(settings.cors_allow_origins)
    return frozenset() if origins == ("*",) else frozenset(map(origin_of, origins))


def refusal(req, listed, trusted_proxy_count=0):
    """Why ``req`` may not act with the cookie (the envelope's ``details``), or None when it may.

    Args:
        req: the request.
        listed: the normalized origins of ``CORS_ALLOW_ORIGINS`` (empty for ``*``).
        trusted_proxy_count: ``TRUSTED_PROXY_COUNT`` (``own_origins``).
    """
    environ = req.env
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and origin_of(origin) in listed:
        return None
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        if site.strip().lower() in TRUSTED_FETCH_SITES:
            return None
        return (f"the browser sent this {req.method} from another origin (Sec-Fetch-Site: {site}), and the session "
                "cookie acts only for this site's own pages and origins listed in CORS_ALLOW_ORIGINS")
    if origin is None or origin_of(origin) in own_origins(req, trusted_proxy_count):
        return None
    return (f"Origin {origin} is neither this site nor listed in CORS_ALLOW_ORIGINS, and the session cookie acts "
            "only for those")


def refused_cross_origin(req):
    """Whether ``req`` was refused as cross-origin (``refuse``): the error pages say so."""
    return getattr(req.context, "cross_origin_refused", False)


def refuse(req, details):
    """Refuse ``req`` as cross-origin: the 403 envelope with ``details`` (``refusal``'s), the
    request marked so that an error page tells the visitor why (``refused_cross_origin``)."""
    req.context.cross_origin_refused = True
    raise APIError(falcon.HTTP_403, REFUSED, details)


class CrossOriginProtection:
    """Middleware: 403 for an unsafe request acting with the session cookie from another origin.

    Args:
        settings: the app's Settings (``cors_allow_origins``, ``trusted_proxy_count``).
        is_page: ``(resource) -> bool``, whether a resource answers admin pages
            (``Routes.is_page``), checked even without a credential.
    """

    def __init__(self, settings, is_page):
        self._listed = listed_origins(settings)
        self._proxies = settings.trusted_proxy_count
        self._is_page = is_page

    def process_resource(self, req, resp, resource, params):
        if req.method in SAFE_METHODS:
            return
        source = credentials_of(req)[1]
        if source == COOKIE and ignores_cookie(resource):
            source = None  # the request acts as nobody (a public form's submit): nothing to forge
        if source in (BEARER, API_KEY) or (source is None and not self._is_page(resource)):
            return
        details = refusal(req, self._listed, self._proxies)
        if details is not None:
            refuse(req, details)
