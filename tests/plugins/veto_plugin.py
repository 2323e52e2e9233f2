"""A plugin whose ``before_request`` hook refuses every request it is asked about.

Loaded by module path (``Settings.plugins``) by the test that an overzealous plugin cannot lock
the admins out (``tests/test_plugin_lifecycle.py``).
"""

from app.services.plugins import HookVeto, PluginInfo, hookimpl

plugin_info = PluginInfo(name="veto-all", display_name="Veto all", version="0.1.0", author="tests")


@hookimpl
def before_request(req_info):
    raise HookVeto(403, "The veto-all plugin refuses every request")
