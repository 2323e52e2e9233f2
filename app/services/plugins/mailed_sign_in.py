"""What the ``otp-login`` and ``magic-link-auth`` plugins share: signing in with a mailed secret.

Both start inactive, mount their routes from ``app.api.passwordless`` and read their settings
on every request through the cached plugin state, so a change reaches every worker. They
differ only in their settings and the routes those settings drive.
"""

import msgspec

from app.services.plugins import PluginInfo, ReadsOwnSettings, hookimpl


def sign_in_plugin_info(name, display_name, description, settings_type):
    """The PluginInfo of a mailed sign-in plugin: a core security plugin of sonicpy's, whose
    defaults are those of ``settings_type``."""
    return PluginInfo(
        name=name, display_name=display_name, version="1.0.0", author="sonicpy", category="security",
        description=description, settings_schema=settings_type,
        default_settings=msgspec.to_builtins(settings_type()), is_core=True,
    )


class MailedSignIn(ReadsOwnSettings):
    """Base of a plugin object (one per app) that signs in with a secret mailed to the account.

    A subclass sets ``plugin_info`` (whose ``settings_schema`` is the msgspec Struct of its
    settings, and that Struct's ``policy()`` is what its routes apply) and defines
    ``build_routes``.
    """

    @hookimpl
    def startup(self, services):
        self.attach(services)

    @hookimpl
    def register_routes(self, settings, services):
        return self.build_routes(settings, services)

    def build_routes(self, settings, services):
        """The plugin's ``(path, resource)`` pairs, whose resources apply ``self.policy``.

        A subclass imports its routes' factory from ``app.api.passwordless`` inside this method:
        the resources live with the other API modules, which the services layer does not
        import when it loads.
        """
        raise NotImplementedError

    def policy(self):
        """The stored settings now, as the policy the routes apply (the defaults before ``startup``)."""
        return msgspec.convert(self.own_settings() or {}, self.plugin_info.settings_schema).policy()
