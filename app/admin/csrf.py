"""CSRF protection of the admin: a signed double-submit token.

The browser holds a random nonce in the ``admin_csrf`` cookie (HttpOnly, SameSite=Strict);
every page puts ``<nonce>.<HMAC(key, nonce)>`` into its forms (``csrf_token`` field) and
into the ``X-CSRF-Token`` header of htmx requests. A state-changing request is accepted
only when the token's signature is valid AND its nonce is the cookie's: another site can
neither read the cookie nor forge a signature, so it cannot build a matching pair. The
same check covers the sign-in form, before any session exists.

Served over HTTPS (``cookie_secure``) the cookie is ``__Host-admin_csrf``: a browser accepts
that name only from this very host, over HTTPS, for path ``/``, so a page on a sibling
subdomain (same site, so ``SameSite`` does not stop it) cannot plant a nonce whose signed
token it fetched for itself and then post a form with that pair.
"""

import hashlib
import hmac
import secrets

from app.services.secret_keys import derived_key

COOKIE = "admin_csrf"
HOST_COOKIE = "__Host-" + COOKIE  # the name over HTTPS: only this host may set it
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
KEY_PURPOSE = "sonicpy admin csrf"  # what the tokens' signing key is derived with


class CsrfTokens:
    """Issues and checks tokens signed with a key derived from the app's secret for them alone.

    Args:
        settings: the app's Settings (``jwt_secret``, ``cookie_secure``).
    """

    def __init__(self, settings):
        self._key = derived_key(settings.jwt_secret, KEY_PURPOSE)
        self._secure = settings.cookie_secure
        self.cookie = HOST_COOKIE if self._secure else COOKIE
        self._path = "/" if self._secure else "/admin"  # __Host- cookies must be for path /

    def _sign(self, nonce):
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def token_for(self, req, resp):
        """The token for this browser's nonce; sets the cookie when the browser has none yet."""
        nonce = self.nonce_of(req)
        if nonce is None:
            nonce = secrets.token_urlsafe(24)
            resp.set_cookie(self.cookie, nonce, path=self._path, secure=self._secure, http_only=True,
                            same_site="Strict")
            req.context.csrf_nonce = nonce  # later renders of this request reuse it
        return f"{nonce}.{self._sign(nonce)}"

    def nonce_of(self, req):
        """The nonce of the request's cookie (or one issued earlier in this request), or None."""
        issued = getattr(req.context, "csrf_nonce", None)
        if issued:
            return issued
        values = req.get_cookie_values(self.cookie)
        return values[0] if values else None

    def valid(self, req, token):
        """True when ``token`` is signed by this app and carries the cookie's nonce."""
        nonce = self.nonce_of(req)
        if not token or not nonce or "." not in token:
            return False
        given_nonce, _, signature = token.partition(".")
        # compare_digest takes str of ASCII only (a TypeError otherwise); a token is whatever
        # the client posted, so both sides are compared as bytes.
        return (hmac.compare_digest(given_nonce.encode(), nonce.encode())
                and hmac.compare_digest(signature.encode(), self._sign(given_nonce).encode()))
