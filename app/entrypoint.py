"""Builds the process's Worker from bindings.toml: what ``worker.py`` exposes.

The environment is chosen by ``$SONICPY_ENV`` (the CLI's ``serve --env`` sets it), the file by
``$SONICPY_CONFIG`` and the state folder by ``$SONICPY_PERSIST_TO``. Importing ``worker``
reads nothing, so the CLI (``python worker.py ...``) stays side-effect free. A server that
loads ``worker:app`` goes through ``served_app``, which checks the configuration and the
settings (JWT secret, numeric vars) right then: ``gunicorn worker:app`` with a missing
secret prints the reason and exits non-zero instead of booting workers that answer 500s.
It also sets up the process logs (``app.runtime.logs``: JSON outside the default env).
The env itself (bindings, connections) is still built lazily, after the fork.
"""

from gunicorn.errors import AppImportError

from app.app import create_app
from app.runtime.config import ConfigError, load_config
from app.runtime.entry import Worker
from app.runtime.env import build_env
from app.runtime.logs import configure_logging
from app.scheduled import run_scheduled
from app.settings import settings_from_config

__all__ = ["StartupError", "check_startup", "default_worker", "env_from_process", "run_scheduled", "served_app"]


class StartupError(AppImportError):
    """The served app cannot start as configured; the message says what to fix.

    A subclass of gunicorn's AppImportError: gunicorn prints just the message (no
    traceback) and halts with "App failed to load" (exit code 4).
    """


def env_from_process():
    """The Env named by ``$SONICPY_CONFIG``, ``$SONICPY_ENV`` and ``$SONICPY_PERSIST_TO``.

    ``load_config`` reads those variables itself, so the CLI and the served app agree.
    """
    return build_env(load_config())


def default_worker():
    """A Worker that builds its env from the process environment on first use."""
    return Worker(env_from_process, create_app)


def check_startup():
    """Read the process's config and settings as the served app will; ConfigError if unusable."""
    settings_from_config(load_config())


def served_app(worker):
    """``worker`` after ``check_startup``: what a server gets when it loads ``worker:app``.

    Raises:
        StartupError: the configuration or a setting is unusable (the ConfigError's message).
    """
    try:
        check_startup()
        configure_logging(load_config())
    except ConfigError as ex:
        raise StartupError(f"sonicpy cannot start: {ex}") from None
    return worker
