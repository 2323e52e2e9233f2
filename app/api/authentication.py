"""Authentication middleware: sets ``req.context.user`` from the request's credentials.

Credentials are ``Authorization: Bearer <jwt or API token>`` or the ``auth_token`` cookie,
tried in that order as SonicJS does. Missing or invalid credentials leave the user None;
each route's ``@access`` rule then decides between answering and 401/403.
"""

from app.services.identity import principal_from_jwt

COOKIE_NAME = "auth_token"


def credentials_of(req):
    """The bearer token or auth cookie of ``req``, or None."""
    header = req.get_header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return req.get_cookie_values(COOKIE_NAME)[0] if req.get_cookie_values(COOKIE_NAME) else None


class AuthenticationMiddleware:
    """Resolves the caller once per request.

    Args:
        settings: the app's Settings (JWT secret).
        roles: a RolePermissions cache.
        token_resolvers: extra ``resolver(credential) -> Principal | None`` tried when the
            credential is not a valid JWT (API tokens plug in here).
    """

    def __init__(self, settings, roles, token_resolvers=()):
        self._settings = settings
        self._roles = roles
        self._token_resolvers = list(token_resolvers)

    def process_resource(self, req, resp, resource, params):
        credential = credentials_of(req)
        if not credential:
            return
        principal = principal_from_jwt(credential, self._settings, self._roles)
        for resolver in self._token_resolvers:
            if principal is not None:
                break
            principal = resolver(credential)
        req.context.user = principal
