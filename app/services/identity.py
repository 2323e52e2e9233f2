"""Who is calling: signed JWTs, the permissions of a role, and the Principal a request carries.

A JWT (HS256, signed with the ``JWT_SECRET`` secret) names the user and carries the user's
``token_version``. It is accepted only while the user is active and that version still
matches, so logout, a password change, a role change or deactivation (each bumps the
version) invalidate every token issued before, at once.

A session also has an absolute lifetime (``Settings.session_max_age_seconds``): each token
carries ``auth_time`` (OpenID Connect's name), the Unix second of the sign-in that started
the session. A refresh copies it into the new token instead of starting again, no token of
the session expires past ``auth_time`` plus that lifetime, and a refresh past it is refused,
so a stolen session cannot be kept alive for ever by refreshing. A token issued before the
claim existed has none: its ``iat`` stands in for it (``session_start``), for the session's end
only, never as a recent sign-in (``Principal.auth_time`` stays None), and it is not refreshed
(its iat is no sign-in time to carry over). A token whose ``iat`` or
``auth_time`` is anything but a whole number, or whose ``auth_time`` comes after its ``iat``,
is refused, signed or not: a later sign-in than the token itself would push the session's
end out for ever and make it look recent. Every request checks
that end as it checks ``exp`` (``valid_until``): a token whose session has ended is refused as
an expired one is, so lowering the lifetime ends older sessions at once, not when their last
token expires. The check reads only the token's claims, never the database.

Verifying a JWT costs PyJWT about 30 us (it decodes and re-encodes each segment to check
its padding, and on every call makes sure the HMAC key is not a PEM, SSH or DER key), so
the request path keeps the tokens it has verified (``VerifiedTokens``, per app and so per
secret): a token seen before costs a dict lookup and its ``exp`` check (``iat`` and
``nbf`` only become more true with time). Only a token PyJWT accepted is kept, so nothing
a caller sends can put an entry there.

Checking the user on every request would cost a database read per request, so the
session's account (id, email, role, for one user id and ``token_version``) goes through
the read cache's ``users`` namespace: memory, then CACHE_KV, then the database, decoded
once and shared while the generation holds (``ThreeTierCache.get_or_load_shared``). Every
write that can end a session (the version bump, a role change, a deactivation, a
deletion) invalidates ``users`` after its commit, which makes every cached account stale
in every worker at once; a token whose version is no longer current then misses, reads
the row and is refused.

Permissions come from ``role_permissions`` in the database. A role's set goes through the
read cache's ``users`` namespace as the session's account does (``RolePermissions``): it
changes only by migration, through the admin's permission matrix, or by hand-written SQL
(``d1 execute``), and the matrix's save and ``d1 execute`` invalidate ``users`` after their
commit, so every worker reads the new grants within the cache's generation TTL. Without a
read cache (no CACHE_KV) a process keeps each set for ``ROLE_CACHE_SECONDS``.
"""

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass

import jwt

from app.db.models import Permission, RolePermission, User
from app.services.cache import Namespace

ALGORITHM = "HS256"
ROLE_CACHE_SECONDS = 30.0
# Verified tokens kept per app: about a kilobyte each; past it the memo starts again empty.
TOKENS_KEPT = 1024
ROLES = ("admin", "editor", "author", "viewer")
# Every permission the migrations seed (table ``permissions``), known without a query: what
# a plugin may name (an admin page's ``permission``) is checked against it when the app is built.
PERMISSIONS = frozenset({
    "content.create", "content.read", "content.update", "content.delete", "content.publish", "content.review",
    "content.purge", "collections.create", "collections.read", "collections.update", "collections.delete",
    "media.upload", "media.read", "media.update", "media.delete", "media.purge",
    "users.create", "users.read", "users.update", "users.delete", "users.roles",
    "settings.read", "settings.update", "plugins.manage", "logs.read", "api_tokens.manage",
    "forms.read", "forms.manage",
})
LEAST_PRIVILEGED_ROLE = "viewer"
# Ways of authenticating that act with the user's whole role (not an API token's subset).
FULL_ROLE_VIAS = frozenset({"jwt", "schedule"})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request.

    Attributes:
        id, email, role: the user's.
        permissions: what this request may do (a token's are a subset of its owner's).
        via: how the caller authenticated: "jwt" (a password session), "token" (an API
            token, scoped to its own permissions) or "schedule" (a scheduled action run on
            behalf of its creator, with the creator's current role; one made with an API
            token runs as that token, "token").
        token_id: the API token's id when ``via == "token"``.
        token_version: the user's ``token_version`` the session was signed with (``via ==
            "jwt"``): what a credential made from this session is checked against.
        auth_time: the Unix second of the sign-in that started the session, as the token's
            ``auth_time`` claim says it (``via == "jwt"``); None for a token without the
            claim, which proves no sign-in time and cannot be refreshed.
    """

    id: str
    email: str
    role: str
    permissions: frozenset
    via: str = "jwt"
    token_id: str | None = None
    token_version: int | None = None
    auth_time: int | None = None

    def can(self, permission):
        """True when this caller holds ``permission``."""
        return permission in self.permissions

    @property
    def is_admin(self):
        """Admins may act on anyone's content and media: only with their full role's rights.

        An admin's API token carries only the permissions it was given, so it is never an
        admin: code that short-cuts on ``is_admin`` (see all drafts, edit anyone's content)
        must not widen a token scoped to, say, nothing. Allow-listed, so a new ``via`` is
        not an admin until someone decides it should be.
        """
        return self.role == "admin" and self.via in FULL_ROLE_VIAS


class RolePermissions:
    """Permission names per role, read from the database and kept.

    Args:
        ttl: without ``cache``, seconds a process keeps a role's set.
        cache: the app's ``ThreeTierCache``, or None. With it, the sets are entries of the
            ``users`` namespace (shared by the workers through CACHE_KV, decoded once per
            process), and ``clear`` invalidates that namespace: a change reaches every
            worker within the generation TTL instead of ``ttl``.
    """

    def __init__(self, ttl=ROLE_CACHE_SECONDS, cache=None):
        self._ttl = ttl
        self._read_cache = cache
        self._lock = threading.Lock()
        self._cache = {}  # role -> (valid until, names); or, with the read cache, (its shared list, names)

    def of(self, role):
        """The frozenset of permission names granted to ``role``."""
        if self._read_cache is not None:
            return self._shared(role)
        now = time.monotonic()
        cached = self._cache.get(role)
        if cached and cached[0] > now:
            return cached[1]
        names = _granted(role)
        with self._lock:
            self._cache[role] = (now + self._ttl, names)
        return names

    def _shared(self, role):
        # The read cache answers the same list object while its entry holds: its set is made once.
        listed = self._read_cache.get_or_load_shared(Namespace.USERS, ("role-permissions", role),
                                                     lambda: sorted(_granted(role)))
        kept = self._cache.get(role)
        if kept is not None and kept[0] is listed:
            return kept[1]
        names = frozenset(listed)
        with self._lock:
            self._cache[role] = (listed, names)
        return names

    def clear(self):
        """Forget every role's set (after ``role_permissions`` changed, once committed): the
        next ``of`` reads again, here at once and in the other workers within the read
        cache's generation TTL."""
        with self._lock:
            self._cache.clear()
        if self._read_cache is not None:
            self._read_cache.invalidate(Namespace.USERS)


def _granted(role):
    return frozenset(
        p.name for p in Permission.select(Permission.name).join(RolePermission).where(RolePermission.role == role)
    )


def hash_token(token):
    """The stored form of a one-time or API token: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_jwt(user, settings, now=None, auth_time=None):
    """A signed token for ``user`` valid for ``settings.session_token_ttl_seconds``, at most
    until its session ends.

    Args:
        user: the User row.
        settings: Settings (the secret and the lifetimes).
        now: Unix seconds of issue (default: the time).
        auth_time: Unix second of the sign-in that started the session; None starts one now
            (a sign-in). A refresh passes the old token's, so the session keeps its end.
    """
    issued = issue_time(now, auth_time)
    started = issued if auth_time is None else int(auth_time)
    payload = {
        "sub": user.id,
        "email": user.email,
        "role": user.role,
        "ver": user.token_version,
        "iat": issued,
        "exp": token_expiry(issued, started, settings),
        "auth_time": started,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHM)


def issue_time(now=None, auth_time=None):
    """The ``iat`` of a token issued at ``now`` (default: the time) in a session begun at ``auth_time``.

    Never before ``auth_time``: a refresh on a host whose clock lags the one that signed the
    user in would otherwise issue a token every host refuses (``auth_time`` after ``iat``).
    """
    issued = int(now if now is not None else time.time())
    return issued if auth_time is None else max(issued, int(auth_time))


def session_start(payload):
    """The Unix second of the sign-in that started the session of a decoded token.

    A token issued before tokens carried ``auth_time`` counts from its ``iat``: it is
    accepted until ``iat`` plus the session lifetime (and its own ``exp``), never refreshed.
    """
    return int(payload.get("auth_time", payload["iat"]))


def session_end(auth_time, settings):
    """The Unix second a session begun at ``auth_time`` ends: from then on its tokens are refused."""
    return auth_time + settings.session_max_age_seconds


def token_expiry(issued, auth_time, settings):
    """The ``exp`` of a token issued at ``issued`` in a session begun at ``auth_time``: its
    TTL later, or the session's end if that comes first."""
    return min(issued + settings.session_token_ttl_seconds, session_end(auth_time, settings))


def valid_until(payload, settings):
    """The Unix second the decoded token stops being accepted: its ``exp``, or its session's
    end if that comes first (a token issued before the lifetime was lowered, or before tokens
    carried ``auth_time``)."""
    return min(int(payload["exp"]), session_end(session_start(payload), settings))


def decode_jwt(token, settings, now=None):
    """The payload of a valid token, unexpired and within its session at ``now``, or None.

    Args:
        now: Unix seconds (default: the time); PyJWT checks ``exp`` against the time too.
    """
    try:
        payload = jwt.decode(
            token, settings.jwt_secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat"]}
        )
    except jwt.PyJWTError:
        return None
    if not _session_claims_valid(payload):
        return None
    # Expired once the moment is reached, as PyJWT's rule for exp.
    if valid_until(payload, settings) <= (time.time() if now is None else now):
        return None
    return payload


def _session_claims_valid(payload):
    """Whether ``iat`` is a whole number and ``auth_time`` is absent or one no later than it.

    PyJWT takes an ``iat`` of "123" or ``true``; a string, a list or ``null`` as ``auth_time``
    would fail later, and one in the future would keep the session alive and recent for ever.
    """
    issued = payload["iat"]
    started = payload.get("auth_time", issued)
    return _whole_number(issued) and _whole_number(started) and started <= issued


def _whole_number(value):
    return type(value) is int  # not a bool, a float or a string of digits


class VerifiedToken:
    """A JWT PyJWT accepted: its payload, and the Principal it last resolved to.

    Attributes:
        payload: the decoded claims.
        expires: when it stops being accepted (``valid_until``): ``exp``, or its session's end.
        resolved: None, or ``(account, permissions, Principal)``: the Principal stands
            while the shared account and permission set are the same objects.
    """

    __slots__ = ("payload", "expires", "resolved")

    def __init__(self, payload, expires):
        self.payload = payload
        self.expires = expires
        self.resolved = None


class VerifiedTokens:
    """The JWTs this app has verified, so a session's next requests skip PyJWT.

    Args:
        settings: Settings (the secret every kept token was verified with).
        size: how many tokens to keep; past it the memo is emptied (valid tokens only get
            in, so only that many live sessions in one worker can fill it).
        clock: Unix seconds (tests pass a fake clock to let a kept token expire).
    """

    def __init__(self, settings, size=TOKENS_KEPT, clock=time.time):
        self._settings = settings
        self._size = size
        self._clock = clock
        self._tokens = {}

    def verified(self, token):
        """The ``VerifiedToken`` of ``token`` if it is valid, unexpired and within its session
        now, else None."""
        found = self._tokens.get(token)
        if found is None:
            payload = decode_jwt(token, self._settings, self._clock())
            if payload is None:
                return None
            found = VerifiedToken(payload, valid_until(payload, self._settings))
            if len(self._tokens) >= self._size:
                self._tokens.clear()
            self._tokens[token] = found
        # PyJWT's own rule: expired once exp <= now; a session ends the same way.
        if found.expires <= self._clock():
            self._tokens.pop(token, None)
            return None
        return found


def principal_from_jwt(token, settings, roles, cache=None, tokens=None):
    """The Principal of a JWT still valid for an active user with a matching version, or None.

    A token past its session's end (``SESSION_MAX_AGE_SECONDS`` after ``auth_time``) is not
    valid, whatever its ``exp``: it is refused before the account is looked up.

    Args:
        token: the JWT.
        settings: Settings (the secret).
        roles: a RolePermissions cache.
        cache: the app's ThreeTierCache; None reads the user row every time.
        tokens: the app's VerifiedTokens (over the same settings); None verifies every time.
    """
    if tokens is not None:
        verified = tokens.verified(token)
        payload = verified.payload if verified is not None else None
    else:
        verified, payload = None, decode_jwt(token, settings)
    if payload is None:
        return None
    account = session_account(payload["sub"], payload.get("ver"), cache)
    if account is None:
        return None
    permissions = roles.of(account["role"])
    resolved = verified.resolved if verified is not None else None
    if resolved is not None and resolved[0] is account and resolved[1] is permissions:
        return resolved[2]
    principal = Principal(id=account["id"], email=account["email"], role=account["role"], permissions=permissions,
                          token_version=payload.get("ver"), auth_time=payload.get("auth_time"))
    if verified is not None:
        verified.resolved = (account, permissions, principal)
    return principal


def session_account(user_id, version, cache=None):
    """``{"id", "email", "role"}`` of the active user ``user_id`` at ``token_version`` ``version``, or None.

    Cached in the ``users`` namespace: keyed by both, valid until the next ``users`` write;
    the dict is shared by the requests of this process: callers must not change it.
    """
    if cache is None:
        return load_session_account(user_id, version)
    return cache.get_or_load_shared(
        Namespace.USERS, ("session", user_id, version), lambda: load_session_account(user_id, version)
    )


def load_session_account(user_id, version):
    """``session_account`` read from the database."""
    user = (
        User.select(User.id, User.email, User.role, User.is_active, User.token_version)
        .where(User.id == user_id)
        .first()
    )
    if user is None or not user.is_active or user.token_version != version:
        return None
    return {"id": user.id, "email": user.email, "role": user.role}
