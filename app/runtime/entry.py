"""The fetch-style entry: env built once per worker process, injected into every request.

``Worker`` is the WSGI callable gunicorn serves. For each request it creates an
``ExecutionContext``, puts ``env`` and ``ctx`` into the WSGI environ (``workers.env`` is the
key Cloudflare's own Python WSGI adapter uses), calls the Falcon app, and runs the
``ctx.wait_until`` work when the server closes the response, after the body is sent.

The env is built lazily on the first request, so ``gunicorn worker:app`` builds it in each
worker after the fork, never in the master. The configuration is checked earlier, when the
server loads ``worker.app`` (``app.entrypoint.served_app``); should building the env or the
app still fail, the request gets the error envelope as JSON (503, with a request id the log
line carries, and ``Retry-After``), never the server's HTML page, and the next request tries
again.

Each request runs in a ``contextvars`` context of its own, from the app call to its
``wait_until`` work: what the app binds for the request (its database) stays with that
request, even when one process serves several envs from several threads.
"""

import collections
import contextvars
import logging
import threading
import time

import msgspec

from app.runtime.context import ExecutionContext, new_request_id

ENV_KEY = "workers.env"
CTX_KEY = "workers.ctx"
STARTUP_FAILED_STATUS = "503 Service Unavailable"
# What makes a build fail once the config was checked is mostly a binding that cannot be
# opened yet (a database server still starting): the wait asked of a client is that of an
# unreachable database (``app.api.errors``), and the next request builds the app again.
STARTUP_RETRY_AFTER_SECONDS = 5
# Apps kept for envs passed to fetch(env=...): a few (tests, an embedder's handful of
# sites), not one per env ever seen; the least recently used is dropped past this.
OTHER_APPS_KEPT = 8

log = logging.getLogger("sonicpy.entry")


class ClosingIterable:
    """Wraps a WSGI response body: it is read in ``context``, then ``on_close`` runs there.

    ``on_close`` runs once the server has sent the body and closes the response.
    """

    def __init__(self, body, on_close, context):
        self._body = body
        self._on_close = on_close
        self._context = context

    def __iter__(self):
        if isinstance(self._body, (list, tuple)):
            return iter(self._body)  # produced already (falcon's usual answer): nothing runs while read
        return self._streamed()

    def _streamed(self):
        chunks = iter(self._body)
        while True:
            try:
                # A streamed body is produced while it is read: in the request's context too.
                yield self._context.run(next, chunks)
            except StopIteration:
                return

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                self._context.run(close)
        finally:
            self._context.run(self._on_close)


class Worker:
    """A WSGI app over ``create_app(env)`` with per-request ``ctx`` and ``wait_until``.

    Args:
        make_env: builds the env (called once, on first use, in the serving process).
        make_app: ``make_app(env)`` returns the Falcon app.
        other_apps_kept: how many apps of other envs (``fetch(env=...)``) to keep built.
    """

    def __init__(self, make_env, make_app, other_apps_kept=OTHER_APPS_KEPT):
        self._make_env = make_env
        self._make_app = make_app
        self._lock = threading.Lock()
        self._env = None
        self._app = None
        self._other_apps = OtherApps(make_app, other_apps_kept)

    @property
    def env(self):
        """The env of this process, built on first use."""
        self._ensure()
        return self._env

    @property
    def falcon_app(self):
        """The Falcon app of this process, built on first use."""
        self._ensure()
        return self._app

    def _ensure(self):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    env = self._make_env()
                    self._app = self._make_app(env)
                    self._env = env

    def fetch(self, environ, start_response, env=None, ctx=None):
        """Serve one request with ``env`` (default: this process's) and ``ctx``.

        The request, the reading of its body and its ``wait_until`` work run in a copy of
        the caller's ``contextvars`` context made for this request alone.
        """
        ctx = ctx or ExecutionContext(request_id=new_request_id())
        context = contextvars.copy_context()
        return context.run(self._serve, environ, start_response, env, ctx, context)

    def _serve(self, environ, start_response, env, ctx, context):
        if env is None:
            started = time.perf_counter()
            try:
                env = self.env
            except Exception as ex:  # noqa: BLE001 - no app to map errors yet: answer here
                return startup_failure(start_response, ctx.request_id, ex, started)
            app = self._app
        elif env is self._env:
            app = self._app
        else:
            app = self._other_apps.get(env)
        environ[ENV_KEY] = env
        environ[CTX_KEY] = ctx
        try:
            body = app(environ, start_response)
        except BaseException:
            ctx.run_pending()
            raise
        return ClosingIterable(body, ctx.run_pending, context)

    def __call__(self, environ, start_response):
        return self.fetch(environ, start_response)


class OtherApps:
    """The apps built for envs other than the Worker's own: bounded, least recently used out.

    Each env's app is built once even when its first requests arrive together (building
    holds the lock: builds are rare, and a concurrent caller would wait for that app
    anyway). Dropping an app closes nothing: its env, and so its bindings, belong to the
    caller that passed it.

    Args:
        make_app: ``make_app(env)`` returns the Falcon app.
        size: how many apps to keep (at least 1).
    """

    def __init__(self, make_app, size):
        if size < 1:
            raise ValueError("the Worker must keep at least one app of another env")
        self._make_app = make_app
        self._size = size
        self._lock = threading.Lock()
        self._apps = collections.OrderedDict()

    def get(self, env):
        """The app of ``env``, built on first use; marks it most recently used."""
        with self._lock:
            app = self._apps.get(env)
            if app is None:
                app = self._make_app(env)
                self._apps[env] = app
                if len(self._apps) > self._size:
                    self._apps.popitem(last=False)
            else:
                self._apps.move_to_end(env)
            return app


def startup_failure(start_response, request_id, ex, started):
    """Answer a request the app could not be built for: the error envelope, cause logged.

    Same body, ``Retry-After`` and timing header as an unreachable database
    (``app.api.errors``), so clients see one shape; the cause (a ConfigError, a binding that
    cannot open) goes to the log with the request id only. ``started``: the
    ``time.perf_counter()`` of the request's arrival.
    """
    log.error("the app could not start (request %s)", request_id, exc_info=ex)
    details = {"request_id": request_id, "retry_after": STARTUP_RETRY_AFTER_SECONDS}
    body = msgspec.json.encode({"error": "Service temporarily unavailable", "details": details})
    start_response(STARTUP_FAILED_STATUS, [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Retry-After", str(STARTUP_RETRY_AFTER_SECONDS)),
        ("X-Request-ID", request_id),
        ("X-Response-Time", f"{(time.perf_counter() - started) * 1000:.2f}ms"),
    ])
    return [body]
