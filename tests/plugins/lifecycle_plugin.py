"""A plugin for the tests of the request, sign-out and lifecycle hooks.

Loaded by module path (``Settings.plugins``). ``CALLS`` records what its hooks saw, as
``(hook name, what it was about)``. Its routes fail on purpose: one raises (and then so
does its ``on_request_error`` hook), one answers a 503 itself.
"""

import falcon

from app.api.access import access
from app.services.plugins import HookVeto, PluginInfo, hookimpl

CALLS = []
REFUSED_PATH = "/plugins/lifecycle/refused"

plugin_info = PluginInfo(name="lifecycle", display_name="Lifecycle", version="0.1.0", author="tests")


@hookimpl
def before_request(req_info, ctx):
    CALLS.append(("before_request", (req_info.method, req_info.path, req_info.query, req_info.request_id)))
    if req_info.path == REFUSED_PATH:
        raise HookVeto(403, "The lifecycle plugin refuses this path", {"path": req_info.path})


@hookimpl
def on_request_error(record, error):
    CALLS.append(("on_request_error", (record.path, record.status, type(error).__name__ if error else None)))
    if record.path.endswith("/boom"):
        raise RuntimeError("the lifecycle plugin's error hook fails too")


@hookimpl
def after_auth_logout(user):
    CALLS.append(("after_auth_logout", user.id))


@hookimpl
def on_plugin_install(name):
    CALLS.append(("on_plugin_install", name))


@hookimpl
def on_plugin_uninstall(name):
    CALLS.append(("on_plugin_uninstall", name))


@hookimpl
def on_plugin_activate(name):
    CALLS.append(("on_plugin_activate", name))


@hookimpl
def on_plugin_deactivate(name):
    CALLS.append(("on_plugin_deactivate", name))


class Boom:
    """``GET /plugins/lifecycle/boom``: an error nothing handles."""

    @access(public=True)
    def on_get(self, req, resp):
        raise RuntimeError("the lifecycle plugin fails on purpose")


class Unavailable:
    """``GET /plugins/lifecycle/unavailable``: a 503 answered on purpose."""

    @access(public=True)
    def on_get(self, req, resp):
        resp.status = falcon.HTTP_503
        resp.media = {"error": "Down for a moment"}


@hookimpl
def register_routes():
    return [("/plugins/lifecycle/boom", Boom()), ("/plugins/lifecycle/unavailable", Unavailable())]
