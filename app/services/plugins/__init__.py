"""Plugins: pluggy hooks, the plugin registry, and the plugins built in.

A plugin is a Python module (or any object) holding functions marked ``@hookimpl`` whose
names are hook specifications of ``app.services.plugins.hookspecs``, and optionally a
``plugin_info = PluginInfo(...)`` describing it (display name, version, settings schema).
The app finds plugins in three places: the core plugins of ``app.services.plugins.core``,
the ``sonicpy.plugins`` entry point group of installed packages, and the module paths
named in ``PLUGINS`` (``[vars]`` of bindings.toml, comma-separated). Each has a row in
the ``plugins`` table; only an active plugin's hooks run and its routes answer.
"""

from dataclasses import dataclass, field

import pluggy

PROJECT = "sonicpy"
ENTRY_POINT_GROUP = "sonicpy.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookVeto(Exception):
    """Raised by a ``before_*`` hook to refuse the write; the client gets ``status`` and ``message``.

    Args:
        status: a 4xx HTTP status code (400, 403, 409, 422...).
        message: the envelope's ``error``.
        details: optional structured details for the envelope, in its shapes: a field's
            problem as ``[{"field": ..., "message": ...}]``, as the API's own refusals give it.

    Raises:
        ValueError: ``status`` is not a 4xx code: a plugin may refuse a request, not fail it.
    """

    def __init__(self, status, message, details=None):
        if not isinstance(status, int) or not 400 <= status < 500:
            raise ValueError(f"HookVeto status must be a 4xx code, not {status!r}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


class SettingError(ValueError):
    """Raised by a settings Struct's ``__post_init__`` to refuse one key's value: the 422
    names ``settings.<key>`` (as a wrong type does), so a settings form can mark that field.

    A plain ``ValueError`` there still refuses the settings, named only ``settings``.

    Args:
        key: the refused key, dotted below the settings object (``max_upload_bytes``, or
            ``ttl.content`` for the ``content`` key of the ``ttl`` object).
        message: the whole sentence the client reads; name the key in it, as it may be
            shown away from the field.
    """

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class PluginInfo:
    """What a plugin says about itself (module attribute ``plugin_info``).

    Attributes:
        name: the registry name (``my-plugin``); unique.
        display_name: shown in the admin.
        version, description, author, category: listed by the API.
        settings_schema: the plugin's settings: a ``msgspec.Struct`` type, a JSON-Schema-like
            dict (``{"type": "object", "properties": {...}, "required": [...]}``) or None
            (settings are any JSON object).
        default_settings: stored when the plugin is first registered.
        active_by_default: a new row starts active (core plugins) or inactive.
        is_core: a built-in plugin.
        required: the app relies on it: deactivating it is refused (409).
    """

    name: str
    display_name: str = ""
    version: str = "0.0.0"
    description: str = ""
    author: str = "unknown"
    category: str = "general"
    settings_schema: object = None
    default_settings: dict = field(default_factory=dict)
    active_by_default: bool = False
    is_core: bool = False
    required: bool = False


@dataclass(frozen=True)
class AdminPage:
    """A page a plugin adds to the admin (``register_admin_pages``), at
    ``/admin/plugins/<plugin name>/pages/<slug>``, inside the admin's layout.

    Attributes:
        slug: the page's last path segment: lowercase letters, digits and dashes.
        title: the page's title and its nav item's label.
        render: ``render(req) -> str``: the page's body, an HTML fragment put into the layout
            as it is. Escaping what it shows is the plugin's job (``markupsafe.escape``);
            the admin's Content-Security-Policy keeps inline scripts from running.
            ``req.context.user`` is the signed-in user.
        permission: what a user must hold to see the page and its nav item
            (``plugins.manage``, ``content.read``...).
        nav: whether the page has an item in the admin's nav.
    """

    slug: str
    title: str
    render: object
    permission: str = "plugins.manage"
    nav: bool = True


class ReadsOwnSettings:
    """Base of a plugin object that reads its own stored settings at run time.

    The settings come through the registry's cached plugin state, so every worker follows a
    change on its next request. The subclass's ``startup`` hook calls ``attach(services)``.
    """

    plugin_info: PluginInfo

    def __init__(self):
        self._registry = None

    def attach(self, services):
        """Remember the app's plugin registry (from the plugin's ``startup`` hook)."""
        self._registry = services.plugins

    def own_settings(self):
        """This plugin's stored settings now (a dict); None before ``attach``."""
        if self._registry is None:
            return None
        return self._registry.settings_of(self.plugin_info.name)

    def own_state(self):
        """This plugin's ``{"status", "settings"}`` now, or None (before ``attach``, or no row)."""
        if self._registry is None:
            return None
        return self._registry.states().get(self.plugin_info.name)


__all__ = ["ENTRY_POINT_GROUP", "AdminPage", "HookVeto", "PluginInfo", "ReadsOwnSettings", "SettingError", "hookimpl",
           "hookspec"]
