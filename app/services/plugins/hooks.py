"""Calling hooks from the services: ``hooks.before(...)`` and ``hooks.after(...)``.

The services stay free of plugin plumbing: a write calls, in one line,
``hooks.before("content_update", user=user, content=content, fields=fields)`` before its
transaction and ``hooks.after("content_update", user=user, content=updated)`` after it.
The hooks of the app serving the request are found through a context variable the
request middleware binds (``bind_context``), as the models find their database; code
outside a request (CLI, cron) uses the app built last in the process, or no hooks at all.

Isolation, per implementation (each plugin's function is called on its own, so one
failing plugin never stops the others):

* a ``before`` hook may raise ``HookVeto``: it propagates and the write does not happen;
  any other exception is logged with the request id and the write goes on. Inside the
  write's transaction each one runs in a savepoint of its own, so SQL of the hook that
  fails (which leaves a PostgreSQL transaction aborted) is undone alone and the write's
  own statements still run;
* an ``after`` hook runs once the outermost transaction has committed (Peewee's
  ``after_commit``), never for a write rolled back; whatever it raises is logged with the
  request id and swallowed, so the write and its response stand.

Only the hooks of active plugins run (``HookRunner(is_active=...)``). Which ones are active
is asked on every hook call, so a request keeps the answer in its scope's ``memo``
(``request_memo``): a request with many hook calls reads the plugin state once.

Every request reaches at least ``after_request``, so a call costs little: each hook's
implementations and the arguments each one takes are looked up once per hook name and
kept until a plugin is registered or unregistered (``PluginManager.changes``), and a hook
no plugin implements returns at once. ``before_request``, asked at the start of every
request, goes through ``HookRunner.running`` first: whether an active plugin implements it
is kept with the plugin state it was worked out from.
"""

import contextlib
import contextvars
import functools
import logging

import pluggy

from app.db.models import database
from app.services.plugins import HookVeto

log = logging.getLogger("sonicpy.plugins")

_current = contextvars.ContextVar("sonicpy.hooks", default=None)
_process_default = [None]


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, counting the registrations that change which implementations a hook has.

    Attributes:
        changes: how many times a plugin was registered or unregistered; a HookRunner looks
            the implementations up again when it moves.
    """

    changes = 0

    def register(self, plugin, name=None):
        """Register ``plugin`` (pluggy's ``register``) and count the change."""
        try:
            return super().register(plugin, name)
        finally:
            self.changes += 1

    def unregister(self, plugin=None, name=None):
        """Unregister a plugin (pluggy's ``unregister``) and count the change."""
        try:
            return super().unregister(plugin, name)
        finally:
            self.changes += 1


class HookRunner:
    """Calls the implementations of one app's plugin manager, each isolated.

    Args:
        manager: the plugin manager holding the specs and plugins: a ``PluginManager``
            (its implementations are kept per hook name until it ``changes``) or any
            ``pluggy.PluginManager`` (looked up on every call).
        is_active: ``is_active(plugin_name)``: whether that plugin's hooks run now.
        state: ``state()``: the object ``is_active`` answers from, the same one until the
            plugins' state changes (``running`` keeps its answers with it); None: none kept.
    """

    def __init__(self, manager, is_active, state=None):
        self.manager = manager
        self._is_active = is_active
        self._state = state
        self._kept = {}  # hook name -> (manager changes, ((impl, argument names), ...))
        self._running = {}  # hook name -> (manager changes, state object, whether an active plugin implements it)

    def before(self, name, ctx=None, **kwargs):
        """Run the ``before_<name>`` hooks; a ``HookVeto`` propagates, other errors are logged."""
        hook_name = "before_" + name
        calls = self._calls(hook_name)
        if calls:
            kwargs["ctx"] = ctx
            self._call(hook_name, calls, kwargs, True)

    def after(self, name, ctx=None, **kwargs):
        """Run the ``after_<name>`` hooks once the current transaction commits; errors are logged."""
        self.notify("after_" + name, ctx, **kwargs)

    def notify(self, hook_name, ctx=None, about=None, **kwargs):
        """Run the ``hook_name`` hooks once the current transaction commits; errors are logged.

        Args:
            about: a plugin name whose implementation runs even while it is inactive (a
                plugin hears of its own deactivation); the others run when active.
        """
        calls = self._calls(hook_name)
        if not calls:
            return
        kwargs["ctx"] = ctx
        call = functools.partial(self._call, hook_name, None, kwargs, False, about)
        db = database.obj
        if db is not None and db.in_transaction():
            # Looked up again once committed: a plugin registered meanwhile is called too.
            db.after_commit(call)
        else:
            call()

    def running(self, hook_name):
        """Whether an active plugin implements ``hook_name``: the test a hook of every request
        makes before anything else.

        False at once when no plugin implements it. Otherwise the answer is kept with the
        plugin state object it was worked out from (``state()``, shared between requests
        until an activation changes it), so it is worked out again only after a change.
        """
        calls = self._calls(hook_name)
        if not calls:
            return False
        changes = getattr(self.manager, "changes", None)
        state = self._state() if self._state is not None else None
        kept = self._running.get(hook_name)
        if state is not None and kept is not None and kept[0] == changes and kept[1] is state:
            return kept[2]
        answer = any(self._is_active(impl.plugin_name) for impl, _names in calls)
        if state is not None:
            self._running[hook_name] = (changes, state, answer)
        return answer

    def implementations(self, hook_name):
        """The hook implementations of ``hook_name`` in pluggy's calling order (last registered first)."""
        return [impl for impl, _names in self._calls(hook_name)]

    def _calls(self, hook_name):
        """``((impl, argument names), ...)`` of ``hook_name`` in calling order, kept while the plugins stay.

        Raises:
            AttributeError: no such hook spec.
        """
        changes = getattr(self.manager, "changes", None)
        kept = self._kept.get(hook_name)
        if kept is not None and kept[0] == changes:
            return kept[1]
        caller = getattr(self.manager.hook, hook_name)
        calls = tuple((impl, tuple(impl.argnames)) for impl in reversed(caller.get_hookimpls()))
        if changes is not None:
            self._kept[hook_name] = (changes, calls)
        return calls

    def _call(self, hook_name, calls, kwargs, vetoable, about=None):
        """Call each active implementation in ``calls`` (None: looked up now) with its arguments of
        ``kwargs``; plugin ``about``'s whether active or not."""
        for impl, names in self._calls(hook_name) if calls is None else calls:
            if impl.plugin_name != about and not self._is_active(impl.plugin_name):
                continue
            try:
                with _savepoint() if vetoable else contextlib.nullcontext():
                    # Positionally, in the implementation's argument order, as pluggy itself calls it.
                    impl.function(*map(kwargs.get, names))
            except HookVeto:
                if vetoable:
                    raise
                log.error("plugin %s: %s raised HookVeto after the write; ignored (request %s)",
                          impl.plugin_name, hook_name, _request_id(kwargs.get("ctx")))
            except Exception:
                log.exception("plugin %s: hook %s failed (request %s)", impl.plugin_name, hook_name,
                              _request_id(kwargs.get("ctx")))


def _savepoint():
    """A savepoint when a transaction is open (a ``before`` hook inside the write's), else nothing."""
    db = database.obj
    if db is not None and db.in_transaction():
        return db.atomic()
    return contextlib.nullcontext()


class HookScope:
    """The hooks and the execution context of one request (or of the process, ctx None).

    Attributes:
        memo: what the request has read once and reuses (the plugin state), keyed by its
            owner; emptied when the request's after-response work is done.
    """

    def __init__(self, runner, ctx=None):
        self.runner = runner
        self.ctx = ctx
        self.memo = {}


def set_process_default(runner):
    """The hooks code outside any request uses (``create_app`` sets its app's); None: no hooks."""
    _process_default[0] = HookScope(runner) if runner is not None else None


def bind_context(runner, ctx):
    """Use ``runner``'s hooks, with ``ctx``, in the current context (a request). Returns a token."""
    return _current.set(HookScope(runner, ctx))


def reset_context(token):
    """Undo ``bind_context``."""
    _current.reset(token)


def current_scope():
    """The HookScope of this context, else the process default, else None."""
    return _current.get() or _process_default[0]


def request_memo():
    """The current request's ``HookScope.memo``, or None outside a request (cron, CLI)."""
    scope = _current.get()
    return scope.memo if scope is not None and scope.ctx is not None else None


def current_ctx():
    """The execution context of the current request, or None outside one."""
    scope = current_scope()
    return scope.ctx if scope is not None else None


def before(name, **kwargs):
    """Run ``before_<name>`` hooks of the current app (a ``HookVeto`` propagates)."""
    scope = current_scope()
    if scope is not None:
        scope.runner.before(name, ctx=scope.ctx, **kwargs)


def before_running(name):
    """Whether an active plugin of the current app implements ``before_<name>``."""
    scope = current_scope()
    return scope is not None and scope.runner.running("before_" + name)


def after(name, **kwargs):
    """Run ``after_<name>`` hooks of the current app once the write commits (errors logged)."""
    scope = current_scope()
    if scope is not None:
        scope.runner.after(name, ctx=scope.ctx, **kwargs)


def after_workflow_move(user, content, action, from_state, to_state):
    """Run the hooks of a workflow move: ``after_content_workflow``, and the publication it makes.

    A move into ``published`` is also an ``after_content_publish``; a move out of it an
    ``after_content_unpublish``.
    """
    after("content_workflow", user=user, content=content, action=action, from_state=from_state, to_state=to_state)
    if to_state == "published" and from_state != "published":
        after("content_publish", user=user, content=content)
    elif from_state == "published" and to_state != "published":
        after("content_unpublish", user=user, content=content)


def _request_id(ctx):
    return getattr(ctx, "request_id", None)
