"""Authentication middleware: sets ``req.context.user`` from the request's credentials.

Credentials are ``Authorization: Bearer <jwt or API token>``, ``X-API-Key: <API token>``
(SonicJS's header for API keys; never a JWT) or the ``auth_token`` cookie, tried in that
order. The cookie only ever carries a session JWT (login sets
it): an API token is accepted from the header alone, so a token planted in a browser's
cookie jar cannot act with the browser's ambient credentials. Missing or invalid
credentials leave the user None; each route's ``@access`` rule then decides between
answering and 401/403.

A resource whose ``ignores_session_cookie`` is true (a public form's submit route, which
other sites post to by design) never acts with the cookie: its requests are anonymous unless
a header names a credential, so a form on another page cannot submit as the visitor.
"""

from app.services.addresses import bare_address
from app.services.identity import VerifiedTokens, principal_from_jwt

COOKIE_NAME = "auth_token"
BEARER = "bearer"
API_KEY = "api_key"
COOKIE = "cookie"
IGNORES_COOKIE_ATTR = "ignores_session_cookie"


def signed_in_by_header(req):
    """Whether ``req`` names its credential in a header, ``Authorization: Bearer`` or
    ``X-API-Key`` (an API client), rather than in the session cookie or not at all; any other
    ``Authorization`` (a proxy's Basic) is none of ours."""
    return credentials_of(req)[1] in (BEARER, API_KEY)


def ignores_cookie(resource):
    """Whether ``resource`` takes no credential from the session cookie (see the module docstring)."""
    return getattr(resource, IGNORES_COOKIE_ATTR, False)


def credentials_of(req):
    """``(credential, source)`` of ``req``: the bearer token, the API key or the auth cookie, or ``(None, None)``."""
    # The WSGI environ directly: an anonymous request, the most common, pays three dict lookups.
    environ = req.env
    header = environ.get("HTTP_AUTHORIZATION")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == BEARER and value.strip():
            return value.strip(), BEARER
    api_key = environ.get("HTTP_X_API_KEY")
    if api_key and api_key.strip():
        return api_key.strip(), API_KEY
    if not environ.get("HTTP_COOKIE"):
        return None, None
    cookies = req.get_cookie_values(COOKIE_NAME)
    return (cookies[0], COOKIE) if cookies else (None, None)


class AuthenticationMiddleware:
    """Resolves the caller once per request.

    Args:
        settings: the app's Settings (JWT secret).
        roles: a RolePermissions cache.
        cache: the app's ThreeTierCache, where session accounts are kept (None: read each time).
        token_resolvers: ``resolver(credential) -> Principal | None`` functions tried in
            order when a Bearer credential is not a valid JWT (API tokens); never for the
            cookie.
    """

    def __init__(self, settings, roles, token_resolvers=(), cache=None):
        self._settings = settings
        self._roles = roles
        self._cache = cache
        self._token_resolvers = tuple(token_resolvers)
        self._verified = VerifiedTokens(settings)  # a session's JWT is verified once per worker

    def process_resource(self, req, resp, resource, params):
        self.identify(req, resource)

    def identify(self, req, resource=None):
        """Set ``req.context.user`` (and ``credential_rejected``) from the request's credentials.

        Falcon calls no ``process_resource`` for a path no route matches; the admin calls this
        for such a path so that its 404 page shows a signed-in user their own layout."""
        credential, source = credentials_of(req)
        if not credential or (source == COOKIE and ignores_cookie(resource)):
            return
        principal = None
        if source != API_KEY:
            principal = principal_from_jwt(credential, self._settings, self._roles, self._cache, self._verified)
        resolvers = self._token_resolvers if source in (BEARER, API_KEY) else ()
        for resolver in resolvers:
            if principal is not None:
                break
            principal = resolver(credential)
        req.context.user = principal
        # Lets a 401 say "invalid or expired" rather than "required" (SonicJS's two messages).
        req.context.credential_rejected = principal is None


def client_ip(req, trusted_proxy_count=0):
    """The client's IP address for rate limits, request logs and Turnstile.

    ``X-Forwarded-For`` is client-controlled, so it is read only when ``trusted_proxy_count``
    proxies are known to sit in front: the address that many hops from the right is the
    one the outermost trusted proxy saw. Some proxies write a port after it, and brackets
    around an IPv6 address (``192.0.2.1:5678``, ``[2001:db8::1]:443``): the address is
    taken without them, or each connection of one client would count as another address.
    """
    if trusted_proxy_count > 0:
        hops = [hop.strip() for hop in (req.get_header("X-Forwarded-For") or "").split(",") if hop.strip()]
        if hops:
            return bare_address(hops[-min(trusted_proxy_count, len(hops))])
    return req.remote_addr or "unknown"
