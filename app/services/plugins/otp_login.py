"""The ``otp-login`` plugin: sign in with a one-time code mailed to the account's address.

Inactive until an admin activates it. It mounts ``POST /auth/otp/request``, ``/auth/otp/resend``
and ``/auth/otp/verify`` (``app.api.passwordless``; 404 while inactive) and reads its settings
on every request through the cached plugin state, so a change reaches every worker. The
setting names are SonicJS's; the bounds are narrower where SonicJS's would weaken the code
(fewer than six digits).
"""

from typing import Annotated

import msgspec

from app.services.passwordless import CodePolicy
from app.services.plugins.mailed_sign_in import MailedSignIn, sign_in_plugin_info

NAME = "otp-login"


class OtpSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``otp-login``.

    Attributes:
        codeLength: digits of a code (6 to 8).
        codeExpiryMinutes: how long a code works (1 to 60).
        maxAttempts: tries a code allows, right or wrong, before it is dead (1 to 10).
        rateLimitPerHour: codes mailed to one account in any hour (1 to 20); past it the
            request is answered as usual and nothing is sent.
        maxFailuresPerDay: wrong tries one account's codes allow in any 24 hours, across
            every code it was sent (1 to 100); past it every code of that account is refused
            until the day is over, so asking for new codes buys no new guesses.
    """

    codeLength: Annotated[int, msgspec.Meta(ge=6, le=8)] = 6  # noqa: N815 (SonicJS's keys)
    codeExpiryMinutes: Annotated[int, msgspec.Meta(ge=1, le=60)] = 10  # noqa: N815
    maxAttempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3  # noqa: N815
    rateLimitPerHour: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5  # noqa: N815
    maxFailuresPerDay: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10  # noqa: N815 (sonicpy's own)

    def policy(self):
        """These settings as the CodePolicy the routes apply."""
        return CodePolicy(self.codeLength, self.codeExpiryMinutes, self.maxAttempts, self.rateLimitPerHour,
                          self.maxFailuresPerDay)


INFO = sign_in_plugin_info(
    NAME, "OTP Login", "Passwordless sign-in with a one-time code mailed to the account's address", OtpSettings)


class OtpLogin(MailedSignIn):
    """The plugin object (one per app): its routes, and its settings as a ``CodePolicy``."""

    plugin_info = INFO

    def build_routes(self, settings, services):
        """``/auth/otp/request``, ``/auth/otp/resend`` and ``/auth/otp/verify``."""
        from app.api.passwordless import otp_routes  # the resources live with the other API modules

        return otp_routes(settings, services, self.policy)
