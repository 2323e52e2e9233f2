"""CORS for the JSON API (``/api``, ``/auth``, ``/admin/api``), from ``CORS_ALLOW_ORIGINS``.

* ``*`` (the default, as SonicJS): any origin may call the API, without credentials.
  ``Access-Control-Allow-Origin: *`` and never ``Allow-Credentials``; a browser then sends
  no cookie, so a page on another origin can only act with a token it holds itself
  (``Authorization: Bearer`` or ``X-API-Key``).
* a list of origins: those origins, and only those, with credentials (the ``auth_token``
  cookie): the response names the caller's origin and carries ``Vary: Origin``. They are
  also the only other origins ``app.api.cross_origin`` lets write with the cookie.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) of a
mounted route answers 204 with the methods that route has and the request headers the API
reads; it runs no responder and no access check. ``/files/*`` sends its own headers (its
files are public to every origin). Falcon's ``CORSMiddleware`` is not used: it covers
every path and echoes whatever request headers the browser asks for.
"""

import falcon

from app.api.access import responders
from app.api.methods import allowed_methods

API_PREFIXES = ("/api", "/auth", "/admin/api")
ALLOWED_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match, X-API-Key, X-Requested-With, x-d1-bookmark"
EXPOSED_HEADERS = ", ".join((
    "ETag", "Location", "Retry-After", "X-Request-ID", "X-Response-Time", "X-Cache-Status", "X-Cache-Source",
    "X-Cache-TTL", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "x-d1-bookmark",
    "Content-Disposition", "X-Export-Truncated",  # a logs export's file name, and whether it was cut short
))
PREFLIGHT_MAX_AGE = "600"


def in_scope(path):
    """Whether ``path`` belongs to the JSON API CORS covers."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES)


def route_methods(routes):
    """``{uri_template: "GET, HEAD, OPTIONS, POST"}`` of ``(template, resource, suffix)`` triples:
    the methods its ``Allow`` names (``app.api.methods``)."""
    methods = {}
    for template, resource, suffix in routes:
        methods[template] = ", ".join(allowed_methods(method for method, _ in responders(resource, suffix)))
    return methods


class CORSMiddleware:
    """Answers preflights and adds CORS headers to API responses (errors included).

    Args:
        origins: ``("*",)`` or the allowed origins (``Settings.cors_allow_origins``).
        routes: the mounted ``(template, resource, suffix)`` triples.
    """

    def __init__(self, origins, routes):
        self._any = tuple(origins) == ("*",)
        self._origins = frozenset(origins)
        self._methods = route_methods(routes)

    def _allowed(self, origin):
        return self._any or origin in self._origins

    def _origin_headers(self, resp, origin):
        if self._any:
            resp.set_header("Access-Control-Allow-Origin", "*")
            return
        resp.append_header("Vary", "Origin")
        if origin in self._origins:
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.set_header("Access-Control-Allow-Credentials", "true")

    def process_resource(self, req, resp, resource, params):
        origin = req.env.get("HTTP_ORIGIN")  # the header, read as cheaply as can be (most requests have none)
        if not (req.method == "OPTIONS" and origin and req.get_header("Access-Control-Request-Method")):
            return
        if not in_scope(req.path):
            return
        resp.status = falcon.HTTP_204
        resp.complete = True  # no responder, no access check: a preflight carries no credentials
        if not self._allowed(origin):
            return
        resp.set_header("Access-Control-Allow-Methods", self._methods.get(req.uri_template, "OPTIONS"))
        resp.set_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
        resp.set_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE)

    def process_response(self, req, resp, resource, req_succeeded):
        origin = req.env.get("HTTP_ORIGIN")
        if not origin or not in_scope(req.path):
            return
        self._origin_headers(resp, origin)
        if self._allowed(origin):
            resp.set_header("Access-Control-Expose-Headers", EXPOSED_HEADERS)
