"""The Worker: ``app`` for gunicorn, the fetch-style handler, and ``scheduled`` for cron.

    gunicorn worker:app                  # serves bindings.toml's default environment
    SONICPY_ENV=production gunicorn worker:app
    python worker.py --help              # the wrangler-shaped CLI

Importing this module reads nothing. ``app`` is resolved when a server asks for it, and that
is when the configuration is checked: a missing or short ``JWT_SECRET`` outside the default
environment, or a non-numeric numeric var, makes ``gunicorn worker:app`` exit with the
reason instead of serving 500s (``app.entrypoint.served_app``).
"""

import sys

try:
    from app.entrypoint import default_worker, run_scheduled, served_app
except ModuleNotFoundError as missing:
    if __name__ != "__main__":
        raise
    # `python worker.py` with a Python that lacks the dependencies: one line, no traceback.
    sys.exit(f"sonicpy: {missing.name!r} is not installed for {sys.executable}; "
             "run scripts/sonicpy ... (it installs into .venv first) or scripts/dev")

worker = default_worker()


def __getattr__(name):
    # PEP 562: module attributes not defined above. ``app`` (the WSGI callable, which builds
    # its env on the first request in each worker process) is checked once, then kept.
    if name == "app":
        globals()["app"] = served_app(worker)
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fetch(environ, start_response, env=None, ctx=None):
    """Serve one request with ``env`` and ``ctx`` (defaults: this process's env, a new ctx)."""
    return worker.fetch(environ, start_response, env, ctx)


def scheduled(event, env, ctx):
    """Handle a cron trigger: due scheduled content, log retention (see app.scheduled)."""
    return run_scheduled(event, env, ctx)


if __name__ == "__main__":
    from app.cli import main

    main()
