"""The fetch-style entry: env built once per worker process, injected into every request.

``Worker`` is the WSGI callable gunicorn serves. For each request it creates an
``ExecutionContext``, puts ``env`` and ``ctx`` into the WSGI environ (``workers.env`` is the
key Cloudflare's own Python WSGI adapter uses), calls the Falcon app, and runs the
``ctx.wait_until`` work when the server closes the response, after the body is sent.

The env is built lazily on the first request, so ``gunicorn worker:app`` builds it in each
worker after the fork, never in the master. The configuration is checked earlier, when the
server loads ``worker.app`` (``app.entrypoint.served_app``); should building the env or the
app still fail, the request gets the error envelope as JSON (503, with a request id the log
line carries), never the server's HTML page, and the next request tries again.
"""

import logging
import threading
import uuid

import msgspec

from app.runtime.context import ExecutionContext

ENV_KEY = "workers.env"
CTX_KEY = "workers.ctx"
STARTUP_FAILED_STATUS = "503 Service Unavailable"

log = logging.getLogger("sonicpy.entry")


class ClosingIterable:
    """Wraps a WSGI response body so ``on_close`` runs after the server has sent it."""

    def __init__(self, body, on_close):
        self._body = body
        self._on_close = on_close

    def __iter__(self):
        return iter(self._body)

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


class Worker:
    """A WSGI app over ``create_app(env)`` with per-request ``ctx`` and ``wait_until``.

    Args:
        make_env: builds the env (called once, on first use, in the serving process).
        make_app: ``make_app(env)`` returns the Falcon app.
    """

    def __init__(self, make_env, make_app):
        self._make_env = make_env
        self._make_app = make_app
        self._lock = threading.Lock()
        self._env = None
        self._app = None
        self._other_apps = {}

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
        """Serve one request with ``env`` (default: this process's) and ``ctx``."""
        ctx = ctx or ExecutionContext(request_id=uuid.uuid4().hex)
        if env is None:
            try:
                env = self.env
            except Exception as ex:  # noqa: BLE001 - no app to map errors yet: answer here
                return startup_failure(start_response, ctx.request_id, ex)
            app = self._app
        else:
            # Another env (tests, embedding): its app is built once and kept, like ours.
            app = self._other_apps.get(env)
            if app is None:
                app = self._other_apps[env] = self._make_app(env)
        environ[ENV_KEY] = env
        environ[CTX_KEY] = ctx
        try:
            body = app(environ, start_response)
        except BaseException:
            ctx.run_pending()
            raise
        return ClosingIterable(body, ctx.run_pending)

    def __call__(self, environ, start_response):
        return self.fetch(environ, start_response)


def startup_failure(start_response, request_id, ex):
    """Answer a request the app could not be built for: the error envelope, cause logged.

    Same body as a binding outage (``app.api.errors``), so clients see one shape; the cause
    (a ConfigError, a binding that cannot open) goes to the log with the request id only.
    """
    log.error("the app could not start (request %s)", request_id, exc_info=ex)
    body = msgspec.json.encode({"error": "Service temporarily unavailable", "details": {"request_id": request_id}})
    start_response(STARTUP_FAILED_STATUS, [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Request-ID", request_id),
    ])
    return [body]
