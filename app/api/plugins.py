"""``/admin/api/plugins``: list plugins, read one, change its settings, activate, deactivate.

All of it needs ``plugins.manage`` (admins). Settings are validated against the plugin's
own schema (``PluginInfo.settings_schema``) and merged into what is stored: a PATCH names
only the keys it changes. SonicJS's admin posts to ``POST /admin/plugins/{name}/settings``
(a JSON object of the settings, ``Content-Type: application/json``: an HTML form could be
posted there from any site); it has the same effect as the PATCH.
Every change reaches every worker on its next request (see ``app.services.plugins.registry``).
``GET /admin/api/plugins/{name}`` also lists the hooks the plugin implements and the routes it
mounts, with their access rules (the ``plugin_hooks`` and ``plugin_routes`` rows).
``POST /admin/api/plugins/{name}/uninstall`` deletes an inactive, non-core plugin's row and
everything stored with it (``PluginRegistry.uninstall``).
"""

import msgspec

from app.api.access import access, responders, rule_of
from app.api.describe import describe, paged
from app.api.errors import read_body
from app.api.params import limit_param, page_param
from app.api.schemas import Listed, One, SuccessOf
from app.api.schemas_admin import PluginDetail, PluginInfo, PluginUninstalled
from app.services.pagination import pagination_meta
from app.services.plugins.registrations import RouteEntry, dotted_name

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


class SettingsPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /admin/api/plugins/{name}``: the settings keys to change."""

    settings: dict


class PluginsResource:
    """``GET /admin/api/plugins``: every plugin row, paged, in the list envelope."""

    def __init__(self, registry):
        self._registry = registry

    @access("plugins.manage")
    @describe("List plugins", query=paged(DEFAULT_LIMIT, MAX_LIMIT), response=Listed[PluginInfo])
    def on_get(self, req, resp):
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        plugins = self._registry.list()
        resp.media = {
            "data": plugins[(page - 1) * limit: page * limit],
            "meta": pagination_meta(len(plugins), limit, page),
        }


class PluginResource:
    """``GET`` and ``PATCH /admin/api/plugins/{name}``."""

    def __init__(self, registry):
        self._registry = registry

    @access("plugins.manage")
    @describe("One plugin", response=One[PluginDetail])
    def on_get(self, req, resp, name):
        resp.media = {"data": self._registry.get(name)}

    @access("plugins.manage")
    @describe("Change some of a plugin's settings", body=SettingsPatch, response=One[PluginDetail])
    def on_patch(self, req, resp, name):
        body = read_body(req, SettingsPatch)
        resp.media = {"data": self._registry.update_settings(name, body.settings, req.context.user.id)}


class PluginSwitchResource:
    """``POST /admin/api/plugins/{name}/activate`` or ``/deactivate``."""

    def __init__(self, registry, active):
        self._registry = registry
        self._active = active

    @access("plugins.manage")
    @describe("Activate or deactivate a plugin", response=One[PluginDetail])
    def on_post(self, req, resp, name):
        resp.media = {"data": self._registry.set_active(name, self._active, req.context.user.id)}


class PluginUninstallResource:
    """``POST /admin/api/plugins/{name}/uninstall``."""

    def __init__(self, registry):
        self._registry = registry

    @access("plugins.manage")
    @describe(
        "Uninstall a plugin", response=One[PluginUninstalled],
        description="Deletes an inactive, non-core plugin's row with its settings, activity, hooks and routes, "
                    "in one transaction (409 for a core plugin or an active one). A plugin whose code the app "
                    "still loads starts over at once as on its first load: `reinstalled` is its new row.",
    )
    def on_post(self, req, resp, name):
        reinstalled = self._registry.uninstall(name, req.context.user.id)
        resp.media = {"data": {"name": name, "reinstalled": reinstalled}}


class SonicSettingsResource:
    """``POST /admin/plugins/{name}/settings``: SonicJS's settings form; the body is the settings."""

    def __init__(self, registry):
        self._registry = registry

    @access("plugins.manage")
    @describe("Change a plugin's settings (SonicJS's form)", body=dict, response=SuccessOf[PluginDetail])
    def on_post(self, req, resp, name):
        settings = read_body(req, dict)
        plugin = self._registry.update_settings(name, settings, req.context.user.id)
        resp.media = {"success": True, "data": plugin}


def route_entries(template, resource, suffix=None):
    """A ``RouteEntry`` per method a plugin's route answers, with its ``@access`` rule."""
    entries = []
    for method, responder in responders(resource, suffix):
        rule = rule_of(responder)
        if rule is None:
            continue  # the app refuses to start with it (check_routes): nothing to record
        kind = "public" if rule.public else "authenticated" if rule.authenticated else rule.permission
        entries.append(RouteEntry(template, method, dotted_name(responder), kind))
    return entries


def register(routes):
    """Mount the plugin administration routes."""
    registry = routes.services.plugins
    routes.add("/admin/api/plugins", PluginsResource(registry))
    routes.add("/admin/api/plugins/{name}", PluginResource(registry))
    routes.add("/admin/api/plugins/{name}/activate", PluginSwitchResource(registry, active=True))
    routes.add("/admin/api/plugins/{name}/deactivate", PluginSwitchResource(registry, active=False))
    routes.add("/admin/api/plugins/{name}/uninstall", PluginUninstallResource(registry))
    routes.add("/admin/plugins/{name}/settings", SonicSettingsResource(registry))
