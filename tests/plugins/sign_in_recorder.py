"""A plugin for the tests: it records the account of every ``after_auth_login`` hook it sees.

Loaded by module path (``Settings.plugins``) and activated through the plugins API, as an
outside plugin would be.
"""

from app.services.plugins import PluginInfo, hookimpl

SIGNED_IN = []

plugin_info = PluginInfo(name="sign-in-recorder", display_name="Sign-in recorder",
                         description="Records each sign-in's account")


@hookimpl
def after_auth_login(user):
    SIGNED_IN.append(user.email)
