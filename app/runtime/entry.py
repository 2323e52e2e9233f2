"""The fetch-style entry: env built once per worker process, injected into every request.

``Worker`` is the WSGI callable gunicorn serves. For each request it creates an
``ExecutionContext``, puts ``env`` and ``ctx`` into the WSGI environ (``workers.env`` is the
key Cloudflare's own Python WSGI adapter uses), calls the Falcon app, and runs the
``ctx.wait_until`` work when the server closes the response, after the body is sent.

The env is built lazily on the first request, so ``gunicorn worker:app`` builds it in each
worker after the fork, never in the master.
"""

import threading
import uuid

from app.runtime.context import ExecutionContext

ENV_KEY = "workers.env"
CTX_KEY = "workers.ctx"


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
        if env is None:
            env = self.env
            app = self._app
        else:
            app = self._make_app(env)
        ctx = ctx or ExecutionContext(request_id=uuid.uuid4().hex)
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
