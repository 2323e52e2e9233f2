"""The ``plugin_hooks`` and ``plugin_routes`` tables: what each loaded plugin implements and mounts.

The code is the truth (pluggy's hook implementations, the routes a plugin's
``register_routes`` returned); the tables are its record, for the API and for whoever reads
the database. A worker writes them the first time it reads the registry: rows a plugin no
longer has are deleted, new ones inserted, changed ones updated, all in one transaction,
and nothing is written when they already agree (every worker after the first). Each row's
``is_active`` follows its plugin's status, set in the same transaction as the status.

A hook row: ``hook_name``, ``handler_name`` (the function's dotted path) and ``priority``
(lower runs first: 0 for ``tryfirst``, 20 for ``trylast``, else 10). A route row: ``path``
(the URI template), ``method``, ``handler_name`` (the responder's dotted path) and
``middleware``, a JSON array holding the access rule (``access:public``,
``access:authenticated`` or ``access:<permission>``).
"""

from dataclasses import dataclass

from app.db.models import PluginHook, PluginRoute, database, now_ms

ACCESS_PREFIX = "access:"
PRIORITY_FIRST, PRIORITY_DEFAULT, PRIORITY_LAST = 0, 10, 20
INSERT_CHUNK = 100  # rows per INSERT: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class HookEntry:
    """One hook implementation of a plugin."""

    hook_name: str
    handler_name: str
    priority: int = PRIORITY_DEFAULT


@dataclass(frozen=True)
class RouteEntry:
    """One method of one route a plugin mounts, with its access rule (``public``, ``authenticated``
    or a permission name)."""

    path: str
    method: str
    handler_name: str
    access: str


def dotted_name(function):
    """``module.Qualified.name`` of a function or bound method."""
    function = getattr(function, "__func__", function)
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


def hook_entries(manager, plugin_name):
    """The HookEntry of every hook ``plugin_name`` implements in the pluggy ``manager``, sorted."""
    plugin = manager.get_plugin(plugin_name)
    entries = []
    for caller in manager.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin_name == plugin_name:
                priority = PRIORITY_FIRST if impl.tryfirst else PRIORITY_LAST if impl.trylast else PRIORITY_DEFAULT
                entries.append(HookEntry(caller.name, dotted_name(impl.function), priority))
    return sorted(entries, key=lambda entry: (entry.hook_name, entry.handler_name))


def sync(plugin_ids, hooks, routes, active_ids):
    """Make the tables say what the code says, for the plugins in ``plugin_ids``.

    Args:
        plugin_ids: ids of the plugin rows whose registrations are written (the loaded ones).
        hooks: ``{plugin id: [HookEntry]}``.
        routes: ``{plugin id: [RouteEntry]}``, or None to leave ``plugin_routes`` as it is
            (a process that mounted no routes, such as the cron handler, knows none).
        active_ids: ids of the active plugins.
    """
    plugin_ids = list(plugin_ids)
    if not plugin_ids:
        return
    with database.atomic():
        _sync_table(PluginHook, plugin_ids, active_ids, (PluginHook.hook_name, PluginHook.handler_name),
                    {pid: {(e.hook_name, e.handler_name): {"priority": e.priority} for e in hooks.get(pid, ())}
                     for pid in plugin_ids})
        if routes is not None:
            _sync_table(PluginRoute, plugin_ids, active_ids, (PluginRoute.path, PluginRoute.method),
                        {pid: {(e.path, e.method): {"handler_name": e.handler_name,
                                                    "middleware": [ACCESS_PREFIX + e.access]}
                               for e in routes.get(pid, ())} for pid in plugin_ids})


def _sync_table(model, plugin_ids, active_ids, key_fields, wanted):
    """Delete, insert and update ``model``'s rows so they hold ``wanted`` (``{pid: {key: values}}``)."""
    have = {}
    for row in model.select().where(model.plugin.in_(plugin_ids)):
        have[(row.plugin_id, *(getattr(row, field.name) for field in key_fields))] = row
    want = {(pid, *key): values for pid, by_key in wanted.items() for key, values in by_key.items()}
    gone = [row.id for key, row in have.items() if key not in want]
    if gone:
        model.delete().where(model.id.in_(gone)).execute()
    now = now_ms()
    new_rows = []
    for key, values in want.items():
        pid, *parts = key
        columns = {**values, "is_active": pid in active_ids}
        row = have.get(key)
        if row is None:
            fields = {field.name: part for field, part in zip(key_fields, parts)}
            new_rows.append({"plugin": pid, "created_at": now, **fields, **columns})
        elif any(getattr(row, name) != value for name, value in columns.items()):
            model.update(**columns).where(model.id == row.id).execute()
    # One statement per chunk, not per row: a fresh database gets every core plugin's rows at
    # its first worker's first request. Ignored on conflict: another worker may be writing them.
    for start in range(0, len(new_rows), INSERT_CHUNK):
        model.insert_many(new_rows[start:start + INSERT_CHUNK]).on_conflict_ignore().execute()


def set_active(plugin_id, active):
    """Mark every hook and route row of ``plugin_id`` active or not (call inside the status change's
    transaction)."""
    PluginHook.update(is_active=active).where(PluginHook.plugin == plugin_id).execute()
    PluginRoute.update(is_active=active).where(PluginRoute.plugin == plugin_id).execute()


def hooks_of(plugin_id):
    """The hook rows of ``plugin_id`` as the API shows them, by hook name."""
    rows = PluginHook.select().where(PluginHook.plugin == plugin_id).order_by(PluginHook.hook_name,
                                                                              PluginHook.handler_name)
    return [{"hook_name": row.hook_name, "handler_name": row.handler_name, "priority": row.priority,
             "is_active": bool(row.is_active)} for row in rows]


def routes_of(plugin_id):
    """The route rows of ``plugin_id`` as the API shows them (``access`` read back from ``middleware``)."""
    rows = PluginRoute.select().where(PluginRoute.plugin == plugin_id).order_by(PluginRoute.path, PluginRoute.method)
    return [{"path": row.path, "method": row.method, "handler_name": row.handler_name,
             "access": _access(row.middleware), "is_active": bool(row.is_active)} for row in rows]


def _access(middleware):
    for item in middleware or ():
        if isinstance(item, str) and item.startswith(ACCESS_PREFIX):
            return item[len(ACCESS_PREFIX):]
    return None
