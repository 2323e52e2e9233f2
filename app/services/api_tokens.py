"""API tokens: long-lived credentials for scripts, scoped to a subset of the owner's rights.

A token is ``"sp_" + secrets.token_urlsafe(32)`` (256 random bits). Only its SHA-256 is
stored (``api_tokens.token``), so a database leak gives no usable token, and the plaintext
is shown once, when it is created. A request presenting it as ``Authorization: Bearer``
acts with the token's permissions intersected with the owner's *current* role: demoting
the owner narrows every token at once, and deleting the row (revoke) or ``expires_at``
stops it on the next request.

A token lives no longer than the password session it was made from: every token expires
(by default 90 days after creation; an explicit ``expires_at`` may be no further than the
maximum lifetime), and a password change, a password reset, a new email and a deactivation
delete all of the user's tokens (``revoke_tokens_of``), so reactivating the user revives none.
Schedules made with a token keep its id and run with its rights only while it lasts
(``app.services.content.scheduling``): revoking it stops them too.
"""

import secrets

from app.db.database import locked
from app.db.models import DAY_MS, ApiToken, Permission, User, database, now_ms
from app.services.identity import Principal, hash_token

TOKEN_PREFIX = "sp_"
NO_PERMISSIONS = "Choose at least one permission for the token"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION_MS = 60_000


class TokenRequestError(Exception):
    """A token cannot be created as asked; ``problems`` lists ``{field, message}`` for each reason.

    Reasons: an expiry that is not in the future or beyond the maximum lifetime, a
    permission that is unknown or exceeds the owner's role.
    """

    def __init__(self, problems):
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


class SessionEnded(Exception):
    """The session a token was asked from is no longer the user's (its ``token_version``
    changed: a password change or reset, a deactivation): no credential is made from it."""


class ApiTokens:
    """Create, list, revoke and resolve API tokens.

    Args:
        roles: the RolePermissions cache (permissions of the owner's role).
        default_ttl_days: the lifetime of a token created without ``expires_at``.
        max_ttl_days: how far ahead an explicit ``expires_at`` may be.
    """

    def __init__(self, roles, default_ttl_days=90, max_ttl_days=365):
        self._roles = roles
        self._max_ttl_ms = max_ttl_days * DAY_MS
        self._default_ttl_ms = min(default_ttl_days * DAY_MS, self._max_ttl_ms)

    @classmethod
    def from_settings(cls, roles, settings):
        """ApiTokens with the lifetimes of ``settings`` (``API_TOKEN_*_TTL_DAYS``)."""
        return cls(roles, settings.api_token_default_ttl_days, settings.api_token_max_ttl_days)

    def create(self, owner, name, permissions, expires_at=None):
        """Create a token for ``owner`` (a Principal): ``(row, plaintext)``.

        Args:
            expires_at: epoch milliseconds; None means the default lifetime from now.

        Raises:
            TokenRequestError: ``expires_at`` is not in the future or beyond the maximum
                lifetime, no permission is given, or one is unknown or not held by the owner's role.
        """
        wanted = list(dict.fromkeys(permissions))
        if not wanted:
            # A token without permissions may do nothing but what a signed-out visitor may:
            # it can only be a mistake (a form sent with no box ticked).
            raise TokenRequestError([{"field": "permissions", "message": NO_PERMISSIONS}])
        expires_at = self._expiry(expires_at)
        known = set()
        if wanted:
            known = {p.name for p in Permission.select(Permission.name).where(Permission.name.in_(wanted))}
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
        with database.atomic():
            # The session must still be the user's when the token is written (an owner made
            # outside a session, with no version, is only checked to be active): a password
            # change that committed since this request signed in (or while it ran) deleted
            # the tokens there were, and must not miss this one. The owner's row is locked
            # (on SQLite the write transaction is), so a change waits for this insert and
            # deletes the token, or this waits for the change and refuses.
            query = User.select(User.token_version, User.is_active).where(User.id == owner.id)
            current = locked(query).first()
            if current is None or not current.is_active or owner.token_version not in (None, current.token_version):
                raise SessionEnded("This session has ended (the password changed or the account was deactivated)")
            row = ApiToken.create(
                name=name, token=hash_token(plaintext), user=owner.id, permissions=wanted,
                expires_at=expires_at, created_at=now_ms(),
            )
        return row, plaintext

    def _expiry(self, expires_at):
        """``expires_at`` checked against now and the maximum lifetime, or the default one."""
        now = now_ms()
        if expires_at is None:
            return now + self._default_ttl_ms
        if expires_at <= now:
            message = "expires_at must be in the future (epoch milliseconds)"
        elif expires_at > now + self._max_ttl_ms:
            message = f"expires_at may be at most {self._max_ttl_ms // DAY_MS} days from now"
        else:
            return expires_at
        raise TokenRequestError([{"field": "expires_at", "message": message}])

    def list_for(self, user_id, page, limit):
        """A page of the tokens of ``user_id``, newest first: ``(rows, total)``."""
        query = ApiToken.select().where(ApiToken.user == user_id)
        return list(query.order_by(ApiToken.created_at.desc(), ApiToken.id).paginate(page, limit)), query.count()

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
        if has_expired(row, now) or not owner.is_active:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION_MS:
            ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
        return Principal(
            id=owner.id, email=owner.email, role=owner.role, permissions=granted(row, self._roles.of(owner.role)),
            via="token", token_id=row.id,
        )


def has_expired(token, now):
    """Whether the token row ``token`` has expired at ``now`` (epoch ms)."""
    return token.expires_at is not None and token.expires_at <= now


def granted(token, role_grants):
    """What the token row ``token`` lets its holder do: its permissions within its owner's
    current role's (``role_grants``), so a demotion narrows it at once."""
    return frozenset(token.permissions or ()) & role_grants


def revoke_tokens_of(user_id):
    """Delete every API token of ``user_id`` (its password changed, or it was deactivated).

    Callers run it inside the transaction of the change that calls for it.
    """
    ApiToken.delete().where(ApiToken.user == user_id).execute()


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
