"""Who is calling: signed JWTs, the permissions of a role, and the Principal a request carries.

A JWT (HS256, signed with the ``JWT_SECRET`` secret) names the user and carries the user's
``token_version``. It is accepted only while the user is active and that version still
matches, so logout, a password change, a role change or deactivation (each bumps the
version) invalidate every token issued before, at once.

Permissions come from ``role_permissions`` in the database: the role's set is read once
and kept for a short time per process: it changes only by migration or through the admin's
permission matrix, which empties the cache of its own process (``RolePermissions.clear``).
"""

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass

import jwt

from app.db.models import Permission, RolePermission, User

ALGORITHM = "HS256"
ROLE_CACHE_SECONDS = 30.0
ROLES = ("admin", "editor", "author", "viewer")
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
            behalf of its creator, with the creator's current role).
        token_id: the API token's id when ``via == "token"``.
    """

    id: str
    email: str
    role: str
    permissions: frozenset
    via: str = "jwt"
    token_id: str | None = None

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
    """Permission names per role, read from the database and kept briefly in memory."""

    def __init__(self, ttl=ROLE_CACHE_SECONDS):
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache = {}

    def of(self, role):
        """The frozenset of permission names granted to ``role``."""
        now = time.monotonic()
        cached = self._cache.get(role)
        if cached and cached[0] > now:
            return cached[1]
        names = frozenset(
            p.name
            for p in Permission.select(Permission.name)
            .join(RolePermission)
            .where(RolePermission.role == role)
        )
        with self._lock:
            self._cache[role] = (now + self._ttl, names)
        return names

    def clear(self):
        """Forget every role's set (after ``role_permissions`` changed): the next ``of`` reads again."""
        with self._lock:
            self._cache.clear()


def hash_token(token):
    """The stored form of a one-time or API token: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_jwt(user, settings, now=None):
    """A signed token for ``user`` valid for ``settings.jwt_ttl_seconds``."""
    issued = int(now if now is not None else time.time())
    payload = {
        "sub": user.id,
        "email": user.email,
        "role": user.role,
        "ver": user.token_version,
        "iat": issued,
        "exp": issued + settings.jwt_ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHM)


def decode_jwt(token, settings):
    """The payload of a valid, unexpired token, or None."""
    try:
        return jwt.decode(
            token, settings.jwt_secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat"]}
        )
    except jwt.PyJWTError:
        return None


def principal_from_jwt(token, settings, roles):
    """The Principal of a JWT still valid for an active user with a matching version, or None."""
    payload = decode_jwt(token, settings)
    if payload is None:
        return None
    user = User.get_or_none(User.id == payload["sub"])
    if user is None or not user.is_active or user.token_version != payload.get("ver"):
        return None
    return Principal(id=user.id, email=user.email, role=user.role, permissions=roles.of(user.role))
