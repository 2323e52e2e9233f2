"""The ``magic-link-auth`` plugin: sign in with a one-time link mailed to the account's address.

Inactive until an admin activates it. It mounts ``POST /auth/magic-link/request`` and
``GET``/``POST /auth/magic-link/verify`` (``app.api.passwordless``; 404 while inactive) and
reads its settings on every request through the cached plugin state. The links start with
``PUBLIC_BASE_URL``, as the password-reset and invitation links do.
"""

from typing import Annotated

import msgspec

from app.services.passwordless import LinkPolicy
from app.services.plugins.mailed_sign_in import MailedSignIn, sign_in_plugin_info

NAME = "magic-link-auth"


class MagicLinkSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``magic-link-auth``.

    Attributes:
        linkExpiryMinutes: how long a link works (1 to 60).
        rateLimitPerHour: links mailed to one account in any hour (1 to 20); past it the
            request is answered as usual and nothing is sent.
    """

    linkExpiryMinutes: Annotated[int, msgspec.Meta(ge=1, le=60)] = 15  # noqa: N815 (SonicJS's keys)
    rateLimitPerHour: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5  # noqa: N815

    def policy(self):
        """These settings as the LinkPolicy the routes apply."""
        return LinkPolicy(self.linkExpiryMinutes, self.rateLimitPerHour)


INFO = sign_in_plugin_info(
    NAME, "Magic Link Authentication", "Passwordless sign-in with a one-time link mailed to the account's address",
    MagicLinkSettings)


class MagicLinkAuth(MailedSignIn):
    """The plugin object (one per app): its routes, and its settings as a ``LinkPolicy``."""

    plugin_info = INFO

    def build_routes(self, settings, services):
        """``/auth/magic-link/request`` and ``/auth/magic-link/verify``."""
        from app.api.passwordless import magic_link_routes  # the resources live with the other API modules

        return magic_link_routes(settings, services, self.policy)
