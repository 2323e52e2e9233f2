"""The plugin registry: which plugins exist, which are active, and their settings.

Plugins come from the core list (``app.services.plugins.core``), the ``sonicpy.plugins``
entry point group and the ``PLUGINS`` setting (module paths); ``load_manager`` registers
them with one ``hooks.PluginManager`` (pluggy's, counting registrations). Their state lives
in the ``plugins`` table: a plugin the app loads gets its row (inactive unless it is active
by default) the first time the registry is read, and rows without a loaded module
(SonicJS's own) are listed and can be switched too.

State is read through the three-tier cache under the ``plugins`` namespace, so each
worker sees an activation, a deactivation or new settings on its next request without a
restart: every change bumps the namespace's generation in CACHE_KV after its commit.

The lifecycle hooks (``on_plugin_install``, ``on_plugin_uninstall``, ``on_plugin_activate``,
``on_plugin_deactivate``) run after the change commits, on the plugin it is about and on
every active plugin. Uninstalling deletes what is stored about a plugin; its code, when
still loaded, installs it again at once (``uninstall``).
"""

import functools
import importlib
import importlib.metadata
import logging

from app.db.database import locked
from app.db.models import Plugin, PluginActivity, PluginAsset, PluginHook, PluginRoute, database, now_ms
from app.runtime.config import import_plugin_module
from app.services.cache import Namespace, invalidate
from app.services.errors import CONFLICT, NOT_FOUND, ServiceError
from app.services.plugins import ENTRY_POINT_GROUP, PROJECT, PluginInfo, hooks, hookspecs, registrations
from app.services.plugins.hooks import HookRunner
from app.services.plugins.settings_schema import declares_no_settings, same_json, validate_settings

log = logging.getLogger("sonicpy.plugins")

ACTIVE = "active"
INACTIVE = "inactive"


class PluginRequired(ServiceError):
    """A plugin the app relies on cannot be deactivated."""

    kind = CONFLICT

    def __init__(self, name):
        super().__init__(f"The plugin {name} is required and cannot be deactivated", {"name": name})


class PluginNotUninstallable(ServiceError):
    """A core plugin, or one still active, cannot be uninstalled."""

    kind = CONFLICT

    def __init__(self, name, message):
        super().__init__(message, {"name": name})


class PluginNotFound(ServiceError):
    """No plugin has that name."""

    kind = NOT_FOUND

    def __init__(self, name):
        super().__init__("Plugin not found", {"name": name})


def info_of(plugin, fallback_name):
    """The ``PluginInfo`` of a plugin object (its ``plugin_info``, else one named ``fallback_name``)."""
    info = getattr(plugin, "plugin_info", None)
    return info if isinstance(info, PluginInfo) else PluginInfo(name=fallback_name)


def import_plugin(path):
    """The module at dotted ``path`` (a ConfigError naming PLUGINS and it when it cannot be imported)."""
    return import_plugin_module(path)


@functools.cache
def entry_point_plugins():
    """``(name, object)`` of every installed ``sonicpy.plugins`` entry point that loads.

    Read once per process: listing the entry points reads every installed distribution's
    metadata (a few ms, again for each app a process makes), and a package installed later
    needs a restart anyway to import its code afresh."""
    found = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.append((entry.name, entry.load()))
        except Exception:
            log.exception("plugin entry point %s could not be loaded; skipped", entry.name)
    return tuple(found)


def load_manager(core_plugins, module_paths=()):
    """A ``hooks.PluginManager`` with the hook specs and every plugin; ``{name: PluginInfo}`` beside it.

    Args:
        core_plugins: the built-in plugin modules.
        module_paths: dotted paths of further plugin modules (the ``PLUGINS`` setting).
    """
    manager = hooks.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    infos = {}
    candidates = [(None, plugin) for plugin in core_plugins]
    candidates += entry_point_plugins()
    candidates += [(None, import_plugin(path)) for path in module_paths]
    for fallback, plugin in candidates:
        info = info_of(plugin, fallback or getattr(plugin, "__name__", repr(plugin)))
        if info.name in infos:
            continue  # the same plugin named twice (entry point and PLUGINS)
        manager.register(plugin, name=info.name)
        infos[info.name] = info
    return manager, infos


class PluginRegistry:
    """The app's plugins: the pluggy manager, their rows, activation and settings.

    Args:
        manager: the PluginManager (``load_manager``).
        infos: ``{name: PluginInfo}`` of the loaded plugins.
        cache: the app's ThreeTierCache, or None (state read from the database every time).

    Attributes:
        hooks: the HookRunner running the active plugins' hooks.
    """

    def __init__(self, manager, infos, cache=None):
        self.manager = manager
        self.infos = infos
        self._cache = cache
        self._rows_ensured = False
        self._left_off = None  # the states a try to activate required plugins left them off in
        self._all_required_on = None  # the states last found holding every required plugin active
        self._route_owners = {}
        self._mounted_routes = None  # {plugin name: [RouteEntry]} once mount_routes ran
        self.hooks = HookRunner(manager, self.is_active, self.states)

    # ------------------------------------------------------------ state

    def states(self):
        """``{name: {"status", "settings"}}`` of every row, cached across workers.

        Every hook call and plugin route asks, so a request reads it once (its hook
        scope's memo); the cache decodes it once and shares it between requests while its
        generation holds (``ThreeTierCache.get_or_load_shared``): callers must not change it.
        """
        memo = hooks.request_memo()
        states = memo.get(self) if memo is not None else None
        if states is not None:
            return states
        states = self._read_states()
        if memo is not None:
            memo[self] = states
        return states

    def _read_states(self):
        self._ensure_rows()
        states = self._cached_states()
        if states is self._all_required_on:
            # The cache hands every request the same decoded states while its generation
            # holds: checked once, not on every request of the hot path.
            return states
        if not self._required_off(states):
            self._left_off, self._all_required_on = None, states
            return states
        if states != self._left_off:
            # Written behind the running workers' back (`d1 execute`, a time-travel restore:
            # each bumps the cache generations after its commit, so the states are read
            # anew): the rows are brought in line with the code again, as on a first read.
            self._rows_ensured = False
            self._ensure_rows()
            states = self._cached_states()
            # Still off: a row the code cannot make active (renamed by hand, so its id keeps
            # a new row out), or states cached before another worker's fix. Tried once per
            # state read: the same state again is no reason for the writes of another try.
            self._left_off = states if self._required_off(states) else None
            if self._left_off is not None:
                log.warning("required plugins still off after a try to activate them (a row renamed by "
                            "hand, or another worker's fix not seen yet): %s",
                            ", ".join(self._required_names_off(states)))
        return states

    def _cached_states(self):
        if self._cache is None:
            return _load_states()
        return self._cache.get_or_load_shared(Namespace.PLUGINS, ("states",), _load_states)

    def _required_off(self, states):
        """Whether ``states`` holds a loaded required plugin inactive, or without its row.

        A look at the decoded states alone: no query while every required plugin is active.
        """
        return next(self._required_names_off(states), None) is not None

    def _required_names_off(self, states):
        """The names of the loaded required plugins ``states`` holds inactive or without a row."""
        return (name for name, info in self.infos.items()
                if info.required and states.get(name, {}).get("status") != ACTIVE)

    def is_active(self, name):
        """Whether plugin ``name`` is active now."""
        state = self.states().get(name)
        return state is not None and state["status"] == ACTIVE

    def settings_of(self, name):
        """The stored settings of plugin ``name`` (an empty dict when none)."""
        state = self.states().get(name)
        return dict(state["settings"] or {}) if state else {}

    # ------------------------------------------------------------ rows

    def list(self):
        """Every plugin row as the API shows it, core first, then by name."""
        self._ensure_rows()
        rows = Plugin.select().order_by(Plugin.is_core.desc(), Plugin.name)
        return [self.describe(row) for row in rows]

    def get(self, name):
        """The row of plugin ``name`` as the API shows it, with its hooks and routes; PluginNotFound otherwise."""
        return self._shown(self._row(name))

    def _shown(self, row):
        """Plugin ``row`` as the API shows it (``get``)."""
        hooks, routes = registrations.hooks_of(row.id), registrations.routes_of(row.id)
        return {**self.describe(row), "hooks": hooks, "routes": routes, "state": self._state_of(row.name)}

    def _state_of(self, name):
        """What a loaded plugin reports about itself (its ``state()`` method), else None."""
        plugin = self.manager.get_plugin(name) if name in self.infos else None
        state = getattr(plugin, "state", None)
        return state() if callable(state) else None

    def describe(self, row):
        """A plugin row as a dict, with whether this app has its code loaded."""
        info = self.infos.get(row.name)
        return {
            "id": row.id, "name": row.name, "display_name": row.display_name, "description": row.description,
            "version": row.version, "author": row.author, "category": row.category, "icon": row.icon,
            "status": row.status, "is_core": bool(row.is_core), "settings": row.settings or {},
            "loaded": info is not None, "has_settings_schema": bool(info and info.settings_schema is not None),
            "can_deactivate": not (info is not None and info.required),
            "installed_at": row.installed_at, "activated_at": row.activated_at, "last_updated": row.last_updated,
        }

    def set_active(self, name, active, user_id=None):
        """Activate or deactivate plugin ``name``; every worker sees it on its next request.

        The row is read locked inside the write's transaction: of two activations at the
        same time, the second sees the first's and its lifecycle hook runs once; one racing
        an uninstall finds the row gone (PluginNotFound) and changes nothing.

        Raises:
            PluginNotFound; PluginRequired when deactivating a plugin the app relies on.
        """
        info = self.infos.get(name)
        if not active and info is not None and info.required:
            raise PluginRequired(name)
        self._ensure_rows()
        now = now_ms()
        status = ACTIVE if active else INACTIVE
        with database.atomic():
            row = locked(Plugin.select().where(Plugin.name == name)).get_or_none()
            if row is None:
                raise PluginNotFound(name)
            switched = row.status != status
            changes = {Plugin.status: status, Plugin.updated_at: now, Plugin.last_updated: now}
            if active:
                changes[Plugin.activated_at] = now
            if not Plugin.update(changes).where(Plugin.id == row.id).execute():
                raise PluginNotFound(name)  # deleted since it was read: nothing else is written
            registrations.set_active(row.id, active)
            PluginActivity.create(plugin=row.id, action="activate" if active else "deactivate", user_id=user_id)
        self._changed()
        if switched:
            self._lifecycle("on_plugin_activate" if active else "on_plugin_deactivate", name)
        return self.get(name)

    def uninstall(self, name, user_id=None):
        """Delete plugin ``name``'s row with its settings, activity, hooks, routes and assets rows.

        One transaction. A plugin whose code the app still loads gets a new row in it at
        once, as on its first load (inactive, default settings): its code is what installs
        it, so uninstalling it from the admin starts it over; its ``on_plugin_uninstall``
        and then its ``on_plugin_install`` hooks run after the commit.

        Returns:
            The new row as ``get`` shows it, or None when the plugin's code is not loaded.

        Raises:
            PluginNotFound; PluginNotUninstallable for a core plugin or an active one.
        """
        self._ensure_rows()
        info = self.infos.get(name)
        with database.atomic():
            row = locked(Plugin.select().where(Plugin.name == name)).get_or_none()
            if row is None:
                raise PluginNotFound(name)
            if row.is_core or (info is not None and info.is_core):
                raise PluginNotUninstallable(name, f"The plugin {name} is a core plugin and cannot be uninstalled")
            if row.status == ACTIVE:
                raise PluginNotUninstallable(name, f"Deactivate the plugin {name} before uninstalling it")
            for model in (PluginActivity, PluginHook, PluginRoute, PluginAsset):
                model.delete().where(model.plugin == row.id).execute()
            Plugin.delete().where(Plugin.id == row.id).execute()
            if info is not None:
                _insert_row(info, now_ms())
                self._sync_registrations()
        self._changed()
        log.info("plugin %s uninstalled by %s", name, user_id)
        self._lifecycle("on_plugin_uninstall", name)
        if info is None:
            return None
        self._lifecycle("on_plugin_install", name)
        return self.get(name)

    def _lifecycle(self, hook_name, name):
        """Tell plugin ``name`` itself, and every active plugin, of a change made to it."""
        self.hooks.notify(hook_name, ctx=hooks.current_ctx(), about=name, name=name)

    def update_settings(self, name, changes, user_id=None):
        """Merge ``changes`` into plugin ``name``'s settings, validated against its schema.

        The row is read locked inside the write's transaction, so a save made at the same
        time merges into the settings this one wrote (or this one into its), never both
        into the settings they started from.

        Args:
            changes: the keys to set; or a function of the settings as they are now (read
                from the locked row) returning them, or None to change nothing, for a change
                that depends on them (adding an id to a list: two adds at once keep both).

        A plugin whose schema declares no settings takes none: a change is refused, and the
        settings a database stored for it are kept, not judged.

        Raises:
            PluginNotFound, InvalidSettings.
        """
        self._ensure_rows()
        info = self.infos.get(name)
        schema = info.settings_schema if info else None
        now = now_ms()
        with database.atomic():
            row = locked(Plugin.select().where(Plugin.name == name)).get_or_none()
            if row is None:
                raise PluginNotFound(name)
            if callable(changes):
                changes = changes(dict(row.settings or {}))
                if changes is None:
                    return self.get(name)
            stored = dict(row.settings or {})
            if declares_no_settings(schema) and isinstance(changes, dict):
                # Nothing can be set (the changes are judged alone), and what a database
                # stored for it before (SonicJS's settings of the plugin) is kept as it is,
                # never blocking the save: sent back unchanged, as a settings form sends the
                # whole object it read, those keys are no change.
                sent = {key: value for key, value in changes.items()
                        if key not in stored or not same_json(stored[key], value)}
                settings = merged = {**stored, **validate_settings(schema, sent)}
            else:
                merged = {**stored, **changes} if isinstance(changes, dict) else changes
                settings = validate_settings(schema, merged)
            Plugin.update({Plugin.settings: settings, Plugin.updated_at: now, Plugin.last_updated: now}).where(
                Plugin.id == row.id).execute()
            PluginActivity.create(plugin=row.id, action="settings", user_id=user_id, details={"keys": sorted(merged)})
            # Read in the transaction: the answer is what this save wrote, not a save that
            # commits after it (which would otherwise show through a read made after the commit).
            written = Plugin.get_by_id(row.id)
        self._changed()
        return self._shown(written)

    def _changed(self):
        """After a committed change of the state: every worker reads it anew, this request too."""
        invalidate(self._cache, Namespace.PLUGINS)
        memo = hooks.request_memo()
        if memo is not None:
            memo.pop(self, None)

    def _row(self, name):
        self._ensure_rows()
        row = Plugin.get_or_none(Plugin.name == name)
        if row is None:
            raise PluginNotFound(name)
        return row

    def _ensure_rows(self):
        """Insert the rows of loaded plugins that have none (once per registry; safe in parallel)."""
        if self._rows_ensured:
            return
        now = now_ms()
        inserted = [info.name for info in self.infos.values() if _insert_row(info, now)]
        reactivated = self._activate_required(now)
        self._sync_registrations()
        self._rows_ensured = True
        if inserted or reactivated:
            self._changed()
        for name in inserted:
            self._lifecycle("on_plugin_install", name)
        for name in reactivated:
            self._lifecycle("on_plugin_activate", name)

    def _activate_required(self, now):
        """Activate the rows of loaded required plugins that are not active; their names.

        A database may hold such a row inactive: deactivated before the plugin became
        required (or by SonicJS), or switched off while the app runs by a write that goes
        around ``set_active`` (`d1 execute`, a time-travel restore; ``_read_states`` sees it
        when the cache generation changes). The app relies on these plugins, and
        ``set_active`` refuses to deactivate them, so they are made active here, the one
        place where the rows are brought in line with the code, each with an activity row
        saying why. One transaction over the locked rows: of two workers doing it at once,
        the second finds nothing left to do.
        """
        required = [info.name for info in self.infos.values() if info.required]
        if not required:
            return []
        with database.atomic():
            rows = list(locked(Plugin.select(Plugin.id, Plugin.name).where(
                Plugin.name.in_(required), Plugin.status != ACTIVE)))
            if rows:
                Plugin.update({Plugin.status: ACTIVE, Plugin.activated_at: now, Plugin.updated_at: now,
                               Plugin.last_updated: now}).where(Plugin.id.in_([row.id for row in rows])).execute()
                for row in rows:
                    PluginActivity.create(plugin=row.id, action="activate", user_id=None,
                                          details={"reason": "required"})
        for row in rows:
            log.warning("plugin %s is required and was inactive: activated", row.name)
        return [row.name for row in rows]

    def _sync_registrations(self):
        """Write the loaded plugins' hooks (and routes, once mounted) to their tables."""
        rows = list(Plugin.select(Plugin.id, Plugin.name, Plugin.status).where(Plugin.name.in_(list(self.infos))))
        ids = {row.name: row.id for row in rows}
        active = {row.id for row in rows if row.status == ACTIVE}
        hooks = {ids[name]: registrations.hook_entries(self.manager, name) for name in ids}
        routes = None
        if self._mounted_routes is not None:
            routes = {ids[name]: entries for name, entries in self._mounted_routes.items() if name in ids}
        registrations.sync(ids.values(), hooks, routes, active)

    # ------------------------------------------------------------ routes

    def mount_routes(self, routes):
        """Add every loaded plugin's routes to ``routes`` (an ``app.api.routes.Routes``)."""
        from app.api.plugins import route_entries  # reads the responders' @access rules

        mounted = {name: [] for name in self.infos}
        for impl in self.hooks.implementations("register_routes"):
            args = {"env": routes.env, "settings": routes.settings, "services": routes.services}
            for route in impl.function(**{name: args[name] for name in impl.argnames}) or ():
                template, resource, *suffix = route
                routes.add(template, resource, suffix[0] if suffix else None)
                self._route_owners[id(resource)] = impl.plugin_name
                mounted[impl.plugin_name] += route_entries(template, resource, suffix[0] if suffix else None)
        self._mounted_routes = mounted
        self._rows_ensured = False  # the routes reach plugin_routes on the next read

    def route_owner(self, resource):
        """The name of the plugin whose route ``resource`` serves, or None for the app's own."""
        return self._route_owners.get(id(resource))

    def start(self, env, settings, services):
        """Call every loaded plugin's ``startup`` hook (errors logged, never raised)."""
        args = {"env": env, "settings": settings, "services": services}
        for impl in self.hooks.implementations("startup"):
            try:
                impl.function(**{name: args[name] for name in impl.argnames})
            except Exception:
                log.exception("plugin %s: startup failed", impl.plugin_name)


def _insert_row(info, now):
    """Insert the row of a loaded plugin as it starts; whether it was inserted (not there yet)."""
    return Plugin.insert(
        id=info.name, name=info.name, display_name=info.display_name or info.name,
        description=info.description, version=info.version, author=info.author,
        category=info.category, status=ACTIVE if info.active_by_default else INACTIVE,
        is_core=info.is_core, settings=info.default_settings, permissions=[], dependencies=[],
        installed_at=now, activated_at=now if info.active_by_default else None,
        last_updated=now, created_at=now, updated_at=now,
    ).on_conflict_ignore().as_rowcount().execute() > 0


def _load_states():
    rows = Plugin.select(Plugin.name, Plugin.status, Plugin.settings)
    return {row.name: {"status": row.status, "settings": row.settings or {}} for row in rows}
