"""Proof of the user before an action whose result outlives the session that asks for it.

A session token is good until its session ends (``SESSION_MAX_AGE_SECONDS``), but an API
token may last far longer (``API_TOKEN_MAX_TTL_DAYS``): whoever holds a stolen cookie or
bearer token must not be able to turn it into one. Such an action needs proof that the
user is at the keyboard: a sign-in within ``RECENT_SIGN_IN_SECONDS`` (the session's
``auth_time``), or the current password sent with the request. The password is checked
under the sign-in rate limits, as ``POST /auth/change-password`` checks it, so a stolen
session cannot guess it either; a wrong one is the same 422 as there.
"""

import time

from app.api.errors import field_error, forbidden
from app.services.accounts import InvalidCredentials

PASSWORD_FIELD = "current_password"
PROOF_NEEDED = "Confirm your current password or sign in again"


class Reauthentication:
    """Checks that the caller of a session proved to be its user recently enough.

    Args:
        accounts: the app's Accounts (the password check).
        guard: the ``Guard`` of the sign-in rate limits.
        settings: Settings (``recent_sign_in_seconds``).
        clock: Unix seconds.
    """

    def __init__(self, accounts, guard, settings, clock=time.time):
        self._accounts = accounts
        self._guard = guard
        self._window = settings.recent_sign_in_seconds
        self._clock = clock

    def is_recent(self, caller):
        """Whether ``caller``'s session began with a sign-in within the window (a token
        without an ``auth_time`` claim tells no sign-in time: never recent)."""
        return caller.auth_time is not None and self._clock() < caller.auth_time + self._window

    def require(self, req, caller, password=None, action="do this"):
        """Return if ``caller`` signed in recently or ``password`` is theirs; raise otherwise.

        A password that is given is checked even after a recent sign-in: a wrong one is
        never ignored.

        Args:
            caller: the Principal of a password session.
            password: the current password from the request, or None.
            action: what the caller asked for, as the refusal says it ("create an API token").

        Raises:
            APIError: 403 with neither proof; 422 on ``current_password`` when the password
                is wrong; 429 (``Retry-After``) when the sign-in limits are reached.
        """
        if password:
            self._check_password(req, caller, password)
        elif not self.is_recent(caller):
            raise forbidden(PROOF_NEEDED, [{"field": PASSWORD_FIELD, "message": self._why(action)}])

    def _check_password(self, req, caller, password):
        # Counted before the KDF runs and given back when right, as a sign-in is.
        attempt = self._guard.acquire_login(req, caller.email)
        try:
            self._accounts.confirm_password(caller.id, password)
        except InvalidCredentials as ex:
            raise field_error(PASSWORD_FIELD, str(ex)) from None
        self._guard.refund(req, attempt)

    def _why(self, action):
        if self._window <= 0:
            return f"To {action}, enter your current password"
        return f"To {action}, enter your current password, or sign in again: your sign-in is more than " \
               f"{_duration(self._window)} old"


def _duration(seconds):
    """``600`` as "10 minutes", ``90`` as "90 seconds"."""
    if seconds % 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
