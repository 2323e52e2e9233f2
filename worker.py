"""The Worker: ``app`` for gunicorn, the fetch-style handler, and ``scheduled`` for cron.

    gunicorn worker:app                  # serves bindings.toml's default environment
    SONICPY_ENV=production gunicorn worker:app
    python worker.py --help              # the wrangler-shaped CLI
"""

from app.entrypoint import default_worker, run_scheduled

worker = default_worker()
app = worker  # the WSGI callable; builds its env on the first request, in each worker process


def fetch(environ, start_response, env=None, ctx=None):
    """Serve one request with ``env`` and ``ctx`` (defaults: this process's env, a new ctx)."""
    return worker.fetch(environ, start_response, env, ctx)


def scheduled(event, env, ctx):
    """Handle a cron trigger: due scheduled content, log retention (see app.scheduled)."""
    return run_scheduled(event, env, ctx)


if __name__ == "__main__":
    from app.cli import main

    main()
