"""A plugin for the tests of a busy local KV store: one route that writes to ``CACHE_KV``.

It is loaded by module path (``Settings.plugins``) and activated through the plugins API.
A failed write is not caught here, so the KV's error reaches the app's error handlers as a
plugin's own use of the binding would.
"""

from app.api.access import access
from app.services.plugins import PluginInfo, hookimpl

plugin_info = PluginInfo(name="kv-writer", display_name="KV writer", description="Writes one key to CACHE_KV")


class NoteResource:
    """``POST /plugins/kv-writer/note``: stores a note under ``kv-writer:note``."""

    def __init__(self, kv):
        self._kv = kv

    @access("plugins.manage")
    def on_post(self, req, resp):
        self._kv.put("kv-writer:note", "written")
        resp.media = {"stored": True}


@hookimpl
def register_routes(env):
    return [("/plugins/kv-writer/note", NoteResource(env.CACHE_KV))]
