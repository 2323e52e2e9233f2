"""Builds the process's Worker from bindings.toml: what ``worker.py`` exposes.

The environment is chosen by ``$SONICPY_ENV`` (the CLI's ``serve --env`` sets it), the file by
``$SONICPY_CONFIG`` and the state folder by ``$SONICPY_PERSIST_TO``; nothing is read until
the first request, so importing ``worker`` has no side effect.
"""

from app.app import create_app
from app.runtime.config import load_config
from app.runtime.entry import Worker
from app.runtime.env import build_env
from app.scheduled import run_scheduled

__all__ = ["default_worker", "env_from_process", "run_scheduled"]


def env_from_process():
    """The Env named by ``$SONICPY_CONFIG``, ``$SONICPY_ENV`` and ``$SONICPY_PERSIST_TO``.

    ``load_config`` reads those variables itself, so the CLI and the served app agree.
    """
    return build_env(load_config())


def default_worker():
    """A Worker that builds its env from the process environment on first use."""
    return Worker(env_from_process, create_app)
