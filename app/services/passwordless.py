"""Passwordless sign-in: one-time codes (``otp-login``) and one-time links (``magic-link-auth``).

Both mail a secret to an active account's address and trade it, once, for a session. The
rules they share:

* only a digest is stored: a code's HMAC-SHA256, keyed with a key derived from the app's
  secret for codes alone and bound to its row (a six-digit code hashed without a key is
  found by trying a million values), a link token's SHA-256 (256 random bits need no key,
  as for password-reset tokens);
* a new code or link replaces the user's earlier ones (they expire in the same
  transaction), so one secret at most is live per user and plugin;
* ``per_hour`` caps how many a user is sent in any hour, counted from the rows; past it
  nothing is sent, and the caller answers as it does for an unknown address, so the
  answer never tells which addresses have accounts. The caller runs ``issue`` after its
  response (``app.services.accounts.mail_issued``), so neither does the answer's timing;
* each row keeps the user's ``token_version`` when it was issued, and works only while it
  is still the user's: what ends the user's sessions (deactivation, a new password, a
  sign-out everywhere) ends their codes and links too, and a reactivation revives none.
  A secret is issued only while the account still has the address it was looked up by
  and is mailed to: an email change committing in between (it bumps the version) leaves
  nothing issued and nothing mailed, rather than a secret of the new version at the old
  address;
* a secret is consumed by a conditional UPDATE (still unused, unexpired, same version), so
  two requests racing with one secret cannot both sign in. A code's attempt is counted
  *before* it is compared, under a lock on the user's row, so parallel guesses never
  compare more than ``max_attempts`` times; the code is dead once they are spent;
* a code's failed tries (its attempts, less the one that signed in) are also summed over
  the user's codes of the last 24 hours, replaced ones included: past
  ``max_failures_per_day`` every code of the user is refused until the oldest of those
  tries is a day old, so asking for new codes buys no new guesses.

The rows are deleted by the cron handler (``purge_spent``) a day after they were created,
once neither the hourly nor the daily count needs them.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from peewee import fn

from app.db.database import locked
from app.db.models import DAY_MS, HOUR_MS, MagicLink, OtpCode, User, database, new_id, now_ms
from app.services.accounts import Mail, account_of, normalize_email
from app.services.identity import hash_token
from app.services.secret_keys import derived_key

MINUTE_MS = 60 * 1000
CODE_KIND = "sign_in_code"
LINK_KIND = "magic_link"
CODE_KEY_PURPOSE = "sonicpy sign-in code"  # what the key of the codes' HMAC is derived with


@dataclass(frozen=True)
class CodePolicy:
    """How codes are made and checked (the ``otp-login`` plugin's settings)."""

    length: int = 6
    expiry_minutes: int = 10
    max_attempts: int = 3
    per_hour: int = 5
    max_failures_per_day: int = 10


@dataclass(frozen=True)
class LinkPolicy:
    """How links are made (the ``magic-link-auth`` plugin's settings)."""

    expiry_minutes: int = 15
    per_hour: int = 5


def active_user(email):
    """The active user whose email is ``email`` in any case (the one ``account_of`` names, as
    a password sign-in does), or None."""
    return account_of(normalize_email(email), User.is_active == True)  # noqa: E712


def _lock_active(user_id, email=None):
    """Inside a write: the ``token_version`` of ``user_id`` while active (else None), its row
    locked on PostgreSQL until the transaction ends, so one user's writes run one by one.

    With ``email``, None as well unless the account still has that address: a secret mailed
    to it must not be stamped with the version an email change committing meanwhile gave it.
    """
    where = (User.id == user_id) & (User.is_active == True)  # noqa: E712
    if email is not None:
        where &= User.email == email
    row = locked(User.select(User.token_version).where(where)).first()
    return None if row is None else row.token_version


def _current_version(user_id):
    """A subquery: the ``token_version`` of ``user_id`` while active (NULL otherwise, which
    no row's version equals)."""
    return User.select(User.token_version).where((User.id == user_id) & (User.is_active == True))  # noqa: E712


def _replace_live(model, user, per_hour, now):
    """Inside a write: the ``token_version`` of ``user`` (as looked up) for a new row of
    ``model``, after the user's live rows were made to expire; None when the user is no
    longer active, no longer has the address looked up (the secret is mailed to it), or had
    ``per_hour`` rows within the hour (nothing changed then)."""
    user_id = user.id
    version = _lock_active(user_id, user.email)
    if version is None:
        return None
    recent = model.select().where((model.user == user_id) & (model.created_at > now - HOUR_MS)).count()
    if recent >= per_hour:
        return None
    # Expired rather than marked used: used_at says a row signed someone in (the failure count reads it).
    model.update(expires_at=now).where(
        (model.user == user_id) & model.used_at.is_null() & (model.expires_at > now)).execute()
    return version


def failures_today(user_id, now):
    """The failed code tries of ``user_id`` in the 24 hours before ``now``: every attempt on
    their codes of that day but the ones that signed in."""
    return (OtpCode.select(fn.COALESCE(fn.SUM(OtpCode.attempts), 0) - fn.COUNT(OtpCode.used_at))
            .where((OtpCode.user == user_id) & (OtpCode.created_at > now - DAY_MS)).scalar())


class SignInCodes:
    """One-time codes mailed to an address and traded for a session.

    Args:
        secret: the app's secret (``JWT_SECRET``); the codes' HMAC is keyed with the key
            derived from it for codes alone (``CODE_KEY_PURPOSE``).
    """

    def __init__(self, secret):
        self._key = derived_key(secret, CODE_KEY_PURPOSE)

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
            version = _replace_live(OtpCode, user, policy.per_hour, now)
            if version is None:
                return None
            OtpCode.insert(id=code_id, user=user.id, code_hash=self.digest(code_id, code), token_version=version,
                           expires_at=now + policy.expiry_minutes * MINUTE_MS, created_at=now).execute()
        return Mail(CODE_KIND, user.email, code)

    def redeem(self, email, code, policy):
        """The active user of ``email`` when ``code`` is their live code (now used), else None.

        Every call on a live code spends one of its attempts, right or wrong; none is
        compared once the user's failures of the day reach the policy's budget.
        """
        user = active_user(email)
        if user is None:
            return None
        now = now_ms()
        row = self._count_attempt(user.id, policy, now)
        if row is None or not hmac.compare_digest(row.code_hash, self.digest(row.id, code)):
            return None
        used = OtpCode.update(used_at=now).where(
            (OtpCode.id == row.id) & OtpCode.used_at.is_null() & (OtpCode.expires_at > now)
            & (OtpCode.token_version == _current_version(user.id))).execute()
        return user if used == 1 else None

    def _count_attempt(self, user_id, policy, now):
        """The user's live code with one more attempt counted, or None (none live, or the
        day's failures spent). Under the user's lock: parallel tries count one by one, each
        seeing the failures before it."""
        with database.atomic():
            version = _lock_active(user_id)
            if version is None or failures_today(user_id, now) >= policy.max_failures_per_day:
                return None
            live = ((OtpCode.user == user_id) & OtpCode.used_at.is_null() & (OtpCode.expires_at > now)
                    & (OtpCode.attempts < policy.max_attempts) & (OtpCode.token_version == version))
            row = OtpCode.select().where(live).order_by(OtpCode.created_at.desc()).first()
            if row is None:
                return None
            counted = OtpCode.update(attempts=OtpCode.attempts + 1).where(live & (OtpCode.id == row.id)).execute()
        return row if counted == 1 else None


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
            version = _replace_live(MagicLink, user, policy.per_hour, now)
            if version is None:
                return None
            MagicLink.insert(id=new_id(), user=user.id, token_hash=hash_token(token), token_version=version,
                             expires_at=now + policy.expiry_minutes * MINUTE_MS, created_at=now).execute()
        return Mail(LINK_KIND, user.email, f"{self._prefix}?token={token}")

    def holder(self, token):
        """The active user whose live link carries ``token``, or None; consumes nothing."""
        row = _live_link(token, now_ms())
        return row.user if row is not None else None

    def redeem(self, token):
        """The active user whose live link carries ``token`` (now used), or None."""
        now = now_ms()
        row = _live_link(token, now)
        if row is None:
            return None
        used = MagicLink.update(used_at=now).where(
            (MagicLink.id == row.id) & MagicLink.used_at.is_null() & (MagicLink.expires_at > now)
            & (MagicLink.token_version == _current_version(row.user_id))).execute()
        return _active(row.user_id) if used == 1 else None


def _live_link(token, now):
    """The live link row carrying ``token``, with its user (active, at the link's version), or None."""
    return (MagicLink.select(MagicLink, User).join(User, on=(MagicLink.user == User.id))
            .where((MagicLink.token_hash == hash_token(token)) & MagicLink.used_at.is_null()
                   & (MagicLink.expires_at > now) & (User.is_active == True)  # noqa: E712
                   & (MagicLink.token_version == User.token_version))
            .first())


def _active(user_id):
    return User.get_or_none((User.id == user_id) & (User.is_active == True))  # noqa: E712


def purge_spent(now):
    """Delete the codes and links created over a day before ``now`` (long expired, and past
    the hourly and daily counts): ``{kind: count}``."""
    cutoff = now - DAY_MS
    with database.atomic():
        codes = OtpCode.delete().where(OtpCode.created_at < cutoff).execute()
        links = MagicLink.delete().where(MagicLink.created_at < cutoff).execute()
    return {"sign_in_codes_purged": codes, "sign_in_links_purged": links}
