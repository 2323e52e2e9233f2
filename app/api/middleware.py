"""Middleware for concerns every request shares: its context, its database connection, its plugins.

Every request, a cached hit included, passes through all of it, so each step costs next to
nothing when it has nothing to do: the request id is 16 random bytes, the access line is
built only when the logger keeps it (and, served, handed to the process log's batching
handler as its parts: ``app.runtime.logs``), and the ``after_request`` hooks run as one
``wait_until`` task after the response.
"""

import logging
import os
import threading
import time

from app.api.authentication import client_ip
from app.api.errors import not_found
from app.api.timing import elapsed_ms, response_time
from app.runtime.context import ExecutionContext, new_request_id
from app.runtime.entry import CTX_KEY, ENV_KEY
from app.runtime.logs import ACCESS_LOGGER, sole_handler
from app.services.logs import RequestInfo, RequestRecord, redact_query
from app.services.metrics import start_query_clock
from app.services.plugins import hooks

access_log = logging.getLogger(ACCESS_LOGGER)
ACCESS_FORMAT = "%s %s %s %dms (request %s)"
_access_template = [(None, {})]  # (process id, attributes of an access record LogRecord made there)

# What a ``before_request`` veto never reaches, so that a plugin refusing too much cannot lock
# the admins out: the health checks, CORS preflights (OPTIONS), signing in and out (with the
# admin's static files its page loads), and the plugin administration, where it is switched off.
HOOK_EXEMPT_PATHS = frozenset({"/health", "/api/health", "/api/system/health", "/api/system/ping",
                               "/admin/login", "/admin/logout", "/admin/api/plugins", "/admin/plugins"})
HOOK_EXEMPT_PREFIXES = ("/auth/", "/admin/static/", "/admin/api/plugins/", "/admin/plugins/")


def exempt_from_before_request(method, path):
    """Whether a request of ``method`` to ``path`` skips the ``before_request`` hooks."""
    return method == "OPTIONS" or path in HOOK_EXEMPT_PATHS or path.startswith(HOOK_EXEMPT_PREFIXES)


class RequestContextMiddleware:
    """Puts ``env``, ``ctx``, a request id, a start time and the database's clock on ``req.context``;
    answers ``X-Request-ID`` and ``X-Response-Time``.

    The entry (``Worker``) injects ``env`` and ``ctx`` into the WSGI environ; an app called
    directly (as WebTest does in unit tests) falls back to the env it was built with.
    """

    def __init__(self, env):
        self._env = env

    def process_request(self, req, resp):
        context = req.context
        environ = req.env
        ctx = environ.get(CTX_KEY)
        if ctx is None:
            ctx = ExecutionContext(request_id=new_request_id())
            # No server-side close() hook without the Worker wrapper: run the work when the
            # response is processed, still after the responder.
            context.run_wait_until_inline = True
        context.env = environ.get(ENV_KEY, self._env)
        context.ctx = ctx
        context.request_id = ctx.request_id
        context.started = time.perf_counter()
        context.query_seconds = start_query_clock()
        context.user = None

    def process_response(self, req, resp, resource, req_succeeded):
        context = req.context
        request_id = getattr(context, "request_id", None)
        if request_id:
            resp.set_header("X-Request-ID", request_id)
            resp.set_header("X-Response-Time", response_time(context))
        if access_log.isEnabledFor(logging.INFO):
            log_access(req, resp, request_id, context)
        if getattr(context, "run_wait_until_inline", False):
            context.ctx.run_pending()


def log_access(req, resp, request_id, context):
    """Write the ``sonicpy.access`` line of a finished request (method, path, status, duration, id).

    When the process log's handler alone receives the line (``sole_handler``: no other
    handler or filter, as a served app is configured), the line is handed to it as its
    parts: the same line, without a LogRecord. Otherwise the record goes to the logger's
    handlers directly (``Logger.handle``, filters included), made by ``access_record``:
    ``Logger.info`` would look up the caller's frame and ``LogRecord`` the process, thread
    and file names for every line.
    """
    duration_ms = int(elapsed_ms(context))
    method, path, status = req.method, req.path, resp.status_code
    args = (method, path, status, duration_ms, request_id)
    fields = {"request_id": request_id, "method": method, "path": path, "status": status, "duration_ms": duration_ms}
    handler = sole_handler(access_log)
    if handler is not None:
        handler.write_fields(ACCESS_LOGGER, ACCESS_FORMAT % args, fields)
    else:
        access_log.handle(access_record(args, fields))


def access_record(args, extra):
    """A ``sonicpy.access`` LogRecord of ``ACCESS_FORMAT % args`` with ``extra``'s attributes, made now.

    What is the same for every access line (names, level, process) is copied from one
    record ``LogRecord`` itself made in this process; only the time and thread are new.
    """
    pid = os.getpid()
    template = _access_template[0]
    if template[0] != pid:  # first line in this process (a forked worker included)
        made = logging.LogRecord(access_log.name, logging.INFO, __file__, 0, ACCESS_FORMAT, (), None, "log_access")
        template = _access_template[0] = (pid, made.__dict__)
    record = logging.LogRecord.__new__(logging.LogRecord)
    attributes = record.__dict__
    attributes.update(template[1])
    created = time.time()
    attributes["created"] = created
    attributes["msecs"] = int((created - int(created)) * 1000) + 0.0
    attributes["relativeCreated"] = template[1]["relativeCreated"] + (created - template[1]["created"]) * 1000
    attributes["thread"] = threading.get_ident()
    attributes["threadName"] = threading.current_thread().name
    attributes["args"] = args
    attributes.update(extra)
    return record


class PluginMiddleware:
    """Binds the app's plugin hooks to the request and runs its ``before_request`` hooks; a
    route of an inactive plugin answers 404; each finished request goes to the
    ``after_request`` hooks (request logs), and one that answered a 5xx to the
    ``on_request_error`` hooks, after its response.

    ``before_request`` costs one kept answer while no active plugin implements it
    (``HookRunner.running``): the request's ``RequestInfo`` is built only for one that does.
    It never runs for the requests ``exempt_from_before_request`` names.

    Args:
        registry: the app's PluginRegistry (``Services.plugins``).
        settings: the app's Settings (``trusted_proxy_count`` for the client's address).
    """

    def __init__(self, registry, settings):
        self._registry = registry
        self._proxies = settings.trusted_proxy_count

    def process_request(self, req, resp):
        runner = self._registry.hooks
        ctx = req.context.ctx
        hooks.bind_context(runner, ctx)
        # The exemption first: ``running`` may read the plugin state (the database), which
        # the health checks and preflights must not need.
        if not exempt_from_before_request(req.method, req.path) and runner.running("before_request"):
            info = RequestInfo(req.method, req.path, redact_query(req.query_string), client_ip(req, self._proxies),
                               req.user_agent, req.context.request_id)
            runner.before("request", ctx=ctx, req_info=info)  # a HookVeto answers its 4xx

    def process_resource(self, req, resp, resource, params):
        owner = self._registry.route_owner(resource) if resource is not None else None
        if owner is not None and not self._registry.is_active(owner):
            raise not_found()

    def process_response(self, req, resp, resource, req_succeeded):
        context = req.context
        if getattr(context, "started", None) is None:
            return
        user = context.user
        record = RequestRecord(
            req.method, req.path, redact_query(req.query_string), resp.status_code,
            int(elapsed_ms(context)), user.id if user is not None else None,
            client_ip(req, self._proxies), req.user_agent, context.request_id,
        )
        # After the response: whatever the hooks do (or fail at, a database that is down
        # included) never changes or delays it.
        ctx = context.ctx
        scope = hooks.current_scope()
        error = getattr(context, "error", None) if record.status >= 500 else None
        ctx.wait_until(self._after_response, ctx, record, error,
                       scope if scope is not None and scope.ctx is ctx else None)

    def _after_response(self, ctx, record, error, scope):
        try:
            runner = self._registry.hooks
            runner.after("request", ctx=ctx, record=record)
            if record.status >= 500:
                runner.notify("on_request_error", ctx=ctx, record=record, error=error)
        finally:
            if scope is not None:
                # The plugin state this request read is not reused past it (after its hooks).
                scope.memo.clear()
