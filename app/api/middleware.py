"""Middleware for concerns every request shares: its context, its database connection, its plugins."""

import logging
import time
import uuid

from app.api.authentication import client_ip
from app.api.errors import not_found
from app.runtime.context import ExecutionContext
from app.runtime.entry import CTX_KEY, ENV_KEY
from app.services.logs import RequestRecord
from app.services.plugins import hooks

access_log = logging.getLogger("sonicpy.access")


class RequestContextMiddleware:
    """Puts ``env``, ``ctx``, a request id and a start time on ``req.context``.

    The entry (``Worker``) injects ``env`` and ``ctx`` into the WSGI environ; an app called
    directly (as WebTest does in unit tests) falls back to the env it was built with.
    """

    def __init__(self, env):
        self._env = env

    def process_request(self, req, resp):
        ctx = req.env.get(CTX_KEY)
        if ctx is None:
            ctx = ExecutionContext(request_id=uuid.uuid4().hex)
            # No server-side close() hook without the Worker wrapper: run the work when the
            # response is processed, still after the responder.
            req.context.run_wait_until_inline = True
        req.context.env = req.env.get(ENV_KEY, self._env)
        req.context.ctx = ctx
        req.context.request_id = ctx.request_id
        req.context.started = time.perf_counter()
        req.context.user = None

    def process_response(self, req, resp, resource, req_succeeded):
        request_id = getattr(req.context, "request_id", None)
        if request_id:
            resp.set_header("X-Request-ID", request_id)
        if access_log.isEnabledFor(logging.INFO):
            duration_ms = int((time.perf_counter() - req.context.started) * 1000)
            access_log.info("%s %s %s %dms (request %s)", req.method, req.path, resp.status_code, duration_ms,
                            request_id, extra={"request_id": request_id, "method": req.method, "path": req.path,
                                               "status": resp.status_code, "duration_ms": duration_ms})
        if getattr(req.context, "run_wait_until_inline", False):
            req.context.ctx.run_pending()


class PluginMiddleware:
    """Binds the app's plugin hooks to the request; a route of an inactive plugin answers 404;
    each finished request goes to the ``after_request`` hooks (request logs) after its response.

    Args:
        registry: the app's PluginRegistry (``Services.plugins``).
        settings: the app's Settings (``trusted_proxy_count`` for the client's address).
    """

    def __init__(self, registry, settings):
        self._registry = registry
        self._proxies = settings.trusted_proxy_count

    def process_request(self, req, resp):
        hooks.bind_context(self._registry.hooks, req.context.ctx)

    def process_resource(self, req, resp, resource, params):
        owner = self._registry.route_owner(resource) if resource is not None else None
        if owner is not None and not self._registry.is_active(owner):
            raise not_found()

    def process_response(self, req, resp, resource, req_succeeded):
        started = getattr(req.context, "started", None)
        if started is None:
            return
        user = getattr(req.context, "user", None)
        record = RequestRecord(
            method=req.method, path=req.path, query=req.query_string, status=resp.status_code,
            duration_ms=int((time.perf_counter() - started) * 1000), user_id=getattr(user, "id", None),
            ip=client_ip(req, self._proxies), user_agent=req.user_agent, request_id=req.context.request_id,
        )
        # After the response: whatever the hooks do (or fail at, a database that is down
        # included) never changes or delays it.
        ctx = req.context.ctx
        ctx.wait_until(self._registry.hooks.after, "request", ctx=ctx, record=record)
        scope = hooks.current_scope()
        if scope is not None and scope.ctx is ctx:
            # The plugin state this request read is not reused past it (last, after its hooks).
            ctx.wait_until(scope.memo.clear)
