"""The ``core-auth`` core plugin: self-registration switched on or off at run time.

Its row is SonicJS's (migration 0006), with SonicJS's settings shape:
``{"registration": {"enabled": bool, "defaultRole": role}}``. ``enabled: false`` closes
``POST /auth/register`` in every worker on its next request (the accounts service asks
through the cached plugin state); ``REGISTRATION_ENABLED = false`` in the deployment's
vars closes it whatever the row says, so deployments that set it keep their behaviour.
``defaultRole`` is kept so SonicJS's settings form validates, but a self-registered
account is always the least privileged role: anyone may register, so a higher default
would hand out privileges to strangers.

It cannot be deactivated (409): sign-in and accounts are the app's own routes, and the
only thing deactivating could change is the registration switch, which its settings own.
"""

from typing import Literal

import msgspec

from app.services.plugins import PluginInfo, ReadsOwnSettings, hookimpl

NAME = "core-auth"


class Registration(msgspec.Struct, forbid_unknown_fields=True):
    """``registration`` of core-auth's settings."""

    enabled: bool = True
    defaultRole: Literal["admin", "editor", "author", "viewer"] = "viewer"  # noqa: N815 (SonicJS's key)


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``core-auth``."""

    registration: Registration = msgspec.field(default_factory=Registration)


INFO = PluginInfo(
    name=NAME, display_name="Authentication System", version="1.0.0", author="SonicJS Team", category="security",
    description="Core authentication and user management system",
    settings_schema=AuthSettings, default_settings=msgspec.to_builtins(AuthSettings()),
    active_by_default=True, is_core=True, required=True,
)


def registration_enabled(settings):
    """Whether stored ``settings`` leave registration open (anything but ``enabled: false`` does)."""
    registration = settings.get("registration") if isinstance(settings, dict) else None
    return not (isinstance(registration, dict) and registration.get("enabled") is False)


class CoreAuth(ReadsOwnSettings):
    """The plugin object (one per app): it gives the accounts service its registration switch."""

    plugin_info = INFO

    @hookimpl
    def startup(self, services):
        self.attach(services)
        services.accounts.registration_source = self.registration_enabled

    def registration_enabled(self):
        """Whether the stored settings leave self-registration open now."""
        return registration_enabled(self.own_settings())
