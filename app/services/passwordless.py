"""Passwordless sign-in: one-time codes (``otp-login``) and one-time links (``magic-link-auth``).

Both mail a secret to an active account's address and trade it, once, for a session. The
rules they share:

* only a digest is stored: a code's HMAC-SHA256 keyed with the app's secret and bound to
  its row (a six-digit code hashed without a key is found by trying a million values), a
  link token's SHA-256 (256 random bits need no key, as for password-reset tokens);
* a new code or link replaces the user's earlier ones (their ``used_at`` is set in the
  same transaction), so one secret at most is live per user and plugin;
* ``per_hour`` caps how many a user is sent in any hour, counted from the rows; past it
  nothing is sent, and the caller answers as it does for an unknown address, so the
  answer never tells which addresses have accounts;
* a secret is consumed by a conditional UPDATE (still unused, unexpired), so two requests
  racing with one secret cannot both sign in. A code's attempt is counted by such an
  UPDATE *before* it is compared, so parallel guesses never compare more than
  ``max_attempts`` times; the code is dead once they are spent.

The rows are deleted by the cron handler (``purge_expired``) an hour after they expire, once
the per-hour counts no longer need them.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from app.db.database import locked
from app.db.models import MagicLink, OtpCode, User, database, new_id, now_ms
from app.services.accounts import Mail, normalize_email
from app.services.identity import hash_token

MINUTE_MS = 60 * 1000
HOUR_MS = 60 * MINUTE_MS
CODE_KIND = "sign_in_code"
LINK_KIND = "magic_link"


@dataclass(frozen=True)
class CodePolicy:
    """How codes are made and checked (the ``otp-login`` plugin's settings)."""

    length: int = 6
    expiry_minutes: int = 10
    max_attempts: int = 3
    per_hour: int = 5


@dataclass(frozen=True)
class LinkPolicy:
    """How links are made (the ``magic-link-auth`` plugin's settings)."""

    expiry_minutes: int = 15
    per_hour: int = 5


def active_user(email):
    """The active user whose (normalised) email is ``email``, or None."""
    return User.get_or_none((User.email == normalize_email(email)) & (User.is_active == True))  # noqa: E712


def _replace_live(model, user, per_hour, now):
    """Inside a write: False when ``user`` had ``per_hour`` rows of ``model`` within the hour,
    else void their live rows (a new one is about to be inserted) and return True."""
    # Locks the user's row on PostgreSQL: two requests at once count one after the other.
    locked(User.select(User.id).where(User.id == user.id)).execute()
    recent = model.select().where((model.user == user.id) & (model.created_at > now - HOUR_MS)).count()
    if recent >= per_hour:
        return False
    model.update(used_at=now).where((model.user == user.id) & model.used_at.is_null()).execute()
    return True


class SignInCodes:
    """One-time codes mailed to an address and traded for a session.

    Args:
        secret: the app's secret (``JWT_SECRET``), the key of the codes' HMAC.
    """

    def __init__(self, secret):
        self._key = secret.encode("utf-8")

    def digest(self, code_id, code):
        """The stored form of ``code`` for the row ``code_id``."""
        return hmac.new(self._key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def issue(self, email, policy):
        """A new code for the active account of ``email``: the ``Mail`` to send, or None (no
        such account, or its hourly allowance is spent)."""
        user = active_user(email)
        if user is None:
            return None
        code = f"{secrets.randbelow(10 ** policy.length):0{policy.length}d}"
        code_id, now = new_id(), now_ms()
        with database.atomic():
            if not _replace_live(OtpCode, user, policy.per_hour, now):
                return None
            OtpCode.insert(id=code_id, user=user.id, code_hash=self.digest(code_id, code),
                           expires_at=now + policy.expiry_minutes * MINUTE_MS, created_at=now).execute()
        return Mail(CODE_KIND, user.email, code)

    def redeem(self, email, code, policy):
        """The active user of ``email`` when ``code`` is their live code (now used), else None.

        Every call on a live code spends one of its attempts, right or wrong.
        """
        user = active_user(email)
        if user is None:
            return None
        now = now_ms()
        live = ((OtpCode.user == user.id) & OtpCode.used_at.is_null() & (OtpCode.expires_at > now)
                & (OtpCode.attempts < policy.max_attempts))
        row = OtpCode.select().where(live).order_by(OtpCode.created_at.desc()).first()
        if row is None:
            return None
        counted = OtpCode.update(attempts=OtpCode.attempts + 1).where(live & (OtpCode.id == row.id)).execute()
        if counted != 1 or not hmac.compare_digest(row.code_hash, self.digest(row.id, code)):
            return None
        used = OtpCode.update(used_at=now).where((OtpCode.id == row.id) & OtpCode.used_at.is_null()).execute()
        return user if used == 1 else None


class SignInLinks:
    """One-time links mailed to an address and traded for a session.

    Args:
        base_url: ``PUBLIC_BASE_URL``, which the mailed links start with.
        path: the path of the link's page (``/auth/magic-link/verify``).
    """

    def __init__(self, base_url, path):
        self._prefix = base_url.rstrip("/") + path

    def issue(self, email, policy):
        """A new link for the active account of ``email``: the ``Mail`` to send, or None."""
        user = active_user(email)
        if user is None:
            return None
        token, now = secrets.token_urlsafe(32), now_ms()
        with database.atomic():
            if not _replace_live(MagicLink, user, policy.per_hour, now):
                return None
            MagicLink.insert(id=new_id(), user=user.id, token_hash=hash_token(token),
                             expires_at=now + policy.expiry_minutes * MINUTE_MS, created_at=now).execute()
        return Mail(LINK_KIND, user.email, f"{self._prefix}?token={token}")

    def holder(self, token):
        """The active user whose live link carries ``token``, or None; consumes nothing."""
        row = _live_link(token, now_ms())
        return _active(row.user_id) if row is not None else None

    def redeem(self, token):
        """The active user whose live link carries ``token`` (now used), or None."""
        now = now_ms()
        row = _live_link(token, now)
        if row is None or _active(row.user_id) is None:
            return None
        used = MagicLink.update(used_at=now).where(
            (MagicLink.id == row.id) & MagicLink.used_at.is_null() & (MagicLink.expires_at > now)).execute()
        return _active(row.user_id) if used == 1 else None


def _live_link(token, now):
    return MagicLink.get_or_none((MagicLink.token_hash == hash_token(token)) & MagicLink.used_at.is_null()
                                 & (MagicLink.expires_at > now))


def _active(user_id):
    return User.get_or_none((User.id == user_id) & (User.is_active == True))  # noqa: E712


def purge_expired(now):
    """Delete the codes and links that expired over an hour before ``now``: ``{kind: count}``."""
    cutoff = now - HOUR_MS
    with database.atomic():
        codes = OtpCode.delete().where(OtpCode.expires_at < cutoff).execute()
        links = MagicLink.delete().where(MagicLink.expires_at < cutoff).execute()
    return {"sign_in_codes_purged": codes, "sign_in_links_purged": links}
