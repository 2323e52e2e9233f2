"""API tokens: long-lived credentials for scripts, scoped to a subset of the owner's rights.

A token is ``"sp_" + secrets.token_urlsafe(32)`` (256 random bits). Only its SHA-256 is
stored (``api_tokens.token``), so a database leak gives no usable token, and the plaintext
is shown once, when it is created. A request presenting it as ``Authorization: Bearer``
acts with the token's permissions intersected with the owner's *current* role: demoting
or deactivating the owner narrows or ends every token at once, and deleting the row
(revoke) or passing ``expires_at`` stops it on the next request.
"""

import secrets

from app.db.models import ApiToken, Permission, User, now_ms
from app.services.accounts import hash_token
from app.services.identity import Principal

TOKEN_PREFIX = "sp_"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION_MS = 60_000


class TokenRequestError(Exception):
    """A token cannot be created as asked; ``problems`` lists ``{field, message}`` for each reason.

    Reasons: an expiry that is not in the future, a permission that is unknown or exceeds
    the owner's role.
    """

    def __init__(self, problems):
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


class ApiTokens:
    """Create, list, revoke and resolve API tokens.

    Args:
        roles: the RolePermissions cache (permissions of the owner's role).
    """

    def __init__(self, roles):
        self._roles = roles

    def create(self, owner, name, permissions, expires_at=None):
        """Create a token for ``owner`` (a Principal): ``(row, plaintext)``.

        Raises:
            TokenRequestError: ``expires_at`` is not in the future, or a permission is unknown
                or not held by the owner's role.
        """
        if expires_at is not None and expires_at <= now_ms():
            raise TokenRequestError(
                [{"field": "expires_at", "message": "expires_at must be in the future (epoch milliseconds)"}]
            )
        wanted = list(dict.fromkeys(permissions))
        known = {p.name for p in Permission.select(Permission.name).where(Permission.name.in_(wanted))} if wanted else set()
        allowed = self._roles.of(owner.role)
        problems = [
            {"field": f"permissions[{i}]",
             "message": f"Unknown permission {name!r}; your role can grant: {', '.join(sorted(allowed))}"}
            if name not in known else
            {"field": f"permissions[{i}]", "message": f"Permission {name!r} exceeds your role ({owner.role})"}
            for i, name in enumerate(wanted)
            if name not in known or name not in allowed
        ]
        if problems:
            raise TokenRequestError(problems)
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken.create(
            name=name, token=hash_token(plaintext), user=owner.id, permissions=wanted,
            expires_at=expires_at, created_at=now_ms(),
        )
        return row, plaintext

    def list_for(self, user_id):
        """The tokens of ``user_id``, newest first."""
        return list(
            ApiToken.select().where(ApiToken.user == user_id).order_by(ApiToken.created_at.desc(), ApiToken.id)
        )

    def get(self, token_id):
        """The token row ``token_id``, or None."""
        return ApiToken.get_or_none(ApiToken.id == token_id)

    def revoke(self, token_id):
        """Delete the token; it stops working on the next request."""
        ApiToken.delete().where(ApiToken.id == token_id).execute()

    def resolve(self, credential):
        """The authentication middleware's resolver: a Principal for a live token, else None."""
        if not credential.startswith(TOKEN_PREFIX):
            return None
        row = (
            ApiToken.select(ApiToken, User)
            .join(User)
            .where(ApiToken.token == hash_token(credential))
            .first()
        )
        if row is None:
            return None
        now = now_ms()
        owner = row.user
        if (row.expires_at is not None and row.expires_at <= now) or not owner.is_active:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION_MS:
            ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
        granted = frozenset(row.permissions or ()) & self._roles.of(owner.role)
        return Principal(
            id=owner.id, email=owner.email, role=owner.role, permissions=granted, via="token", token_id=row.id
        )


def token_json(row):
    """The public view of a token row (never the stored hash)."""
    return {
        "id": row.id,
        "name": row.name,
        "user_id": row.user_id,
        "permissions": row.permissions or [],
        "expires_at": row.expires_at,
        "last_used_at": row.last_used_at,
        "created_at": row.created_at,
    }
