"""The ``magic-link-auth`` plugin: sign in with a one-time link mailed to the account's address.

Inactive until an admin activates it. It mounts ``POST /auth/magic-link/request`` and
``GET``/``POST /auth/magic-link/verify`` (``app.api.passwordless``; 404 while inactive) and
reads its settings on every request through the cached plugin state. The links start with
``PUBLIC_BASE_URL``, as the password-reset and invitation links do.
"""

from typing import Annotated

import msgspec

from app.services.passwordless import LinkPolicy
from app.services.plugins import PluginInfo, ReadsOwnSettings, hookimpl

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


INFO = PluginInfo(
    name=NAME, display_name="Magic Link Authentication", version="1.0.0", author="sonicpy", category="security",
    description="Passwordless sign-in with a one-time link mailed to the account's address",
    settings_schema=MagicLinkSettings, default_settings=msgspec.to_builtins(MagicLinkSettings()), is_core=True,
)


class MagicLinkAuth(ReadsOwnSettings):
    """The plugin object (one per app): its routes, and its settings as a ``LinkPolicy``."""

    plugin_info = INFO

    @hookimpl
    def startup(self, services):
        self.attach(services)

    @hookimpl
    def register_routes(self, settings, services):
        from app.api.passwordless import magic_link_routes  # the resources live with the other API modules

        return magic_link_routes(settings, services, self.policy)

    def policy(self):
        """The stored settings now, as a LinkPolicy (the defaults before ``startup``)."""
        stored = msgspec.convert(self.own_settings() or {}, MagicLinkSettings)
        return LinkPolicy(stored.linkExpiryMinutes, stored.rateLimitPerHour)
