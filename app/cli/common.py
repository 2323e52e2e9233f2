"""What every CLI command shares: ``--env``, ``--config``, ``--persist-to`` and the loaded runtime.

Wrangler accepts its global flags after the subcommand (``wrangler d1 execute DB --env
production``); so do we: ``runtime_options`` adds them to each command, and the command
receives a ``Runtime`` that loads bindings.toml and opens the bindings only when asked.
A configuration error becomes a one-line message and exit code 1, never a traceback.
"""

import functools
from pathlib import Path

import click

from app.runtime.bindings import BINDING_TYPES, BindingKind
from app.runtime.config import ConfigError, load_config
from app.runtime.env import Env, open_binding


class Runtime:
    """The configuration and env selected by a command's options, loaded lazily.

    A command that works on one binding opens only that one (``binding``, ``database``),
    found by its ``BindingKind``: ``d1 migrations apply`` in a release step must not need
    the bucket's credentials.
    """

    def __init__(self, config_path=None, env_name=None, persist_to=None):
        self.config_path = config_path
        self.env_name = env_name
        self.persist_to = persist_to
        self._config = None
        self._env = None
        self._opened = {}

    @property
    def config(self):
        """The resolved Config; a ConfigError becomes a clean CLI error."""
        if self._config is None:
            try:
                self._config = load_config(self.config_path, self.env_name, self.persist_to)
            except ConfigError as ex:
                raise click.ClickException(str(ex)) from None
        return self._config

    @property
    def env(self):
        """The Env with every binding opened."""
        if self._env is None:
            tables = self.config.bindings.items()
            bindings = {t["binding"]: self.open_table(kind, t) for kind, group in tables for t in group}
            self._env = Env(self.config, bindings)
        return self._env

    def open_all(self):
        """Open every binding (no I/O: clients connect on first use); return the Env.

        A value that cannot be used (unset credential variable, bad URL) fails here, once,
        as a clean CLI error.
        """
        return self.env

    def open_table(self, kind, table):
        """Open the binding ``table`` of ``kind`` (a ``BindingKind``) once, without the others."""
        name = table["binding"]
        if name not in self._opened:
            self._opened[name] = _opening(open_binding, self.config, kind, table)
        return self._opened[name]

    def binding(self, kind, name):
        """``(table, opened binding)`` of ``kind`` named ``name`` by its binding or alias
        (``database_name``, ``bucket_name``), or a clean error listing the others."""
        table = self.config.find(kind, name)
        if table is None:
            label = BINDING_TYPES[kind].label
            known = ", ".join(t["binding"] for t in self.config.bindings.get(kind, [])) or "none"
            raise click.ClickException(
                f"no {label} binding named '{name}' in {self.config.path} "
                f"(environment {self.config.env_label}); {label} bindings: {known}"
            )
        return table, self.open_table(kind, table)

    def database(self, name):
        """``(binding table, D1Database)`` named by binding or database_name, as wrangler does."""
        try:
            table = self.config.d1_database(name)
        except ConfigError as ex:
            raise click.ClickException(str(ex)) from None
        return table, self.open_table(BindingKind.D1, table)


def _opening(opener, *args):
    """Run ``opener``; a binding that cannot be opened (missing credential variable,
    unwritable state folder) becomes a one-line CLI error instead of a traceback."""
    try:
        return opener(*args)
    except (ConfigError, OSError) as ex:
        raise click.ClickException(str(ex)) from None


def resolve_database(runtime, name):
    """``(table, d1, migrations_dir, migrations_table)`` for the D1 database ``name``."""
    table, d1 = runtime.database(name)
    migrations_dir = Path(table.get("migrations_dir", "migrations"))
    return table, d1, migrations_dir, table.get("migrations_table", "d1_migrations")


def runtime_options(command):
    """Add ``--env/-e``, ``--config/-c`` and ``--persist-to``; pass ``runtime`` as first argument."""

    @click.option("--persist-to", "persist_to", type=click.Path(file_okay=False), default=None,
                  help="Folder for local state (default: .wrangler/state beside the config).")
    @click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), default=None,
                  help="Path to bindings.toml (default: ./bindings.toml or $SONICPY_CONFIG).")
    @click.option("--env", "-e", "env_name", default=None,
                  help="Environment of bindings.toml to use (default: top level or $SONICPY_ENV).")
    @functools.wraps(command)
    def wrapper(*args, config_path, env_name, persist_to, **kwargs):
        runtime = Runtime(config_path, env_name, persist_to)
        return command(runtime, *args, **kwargs)

    return wrapper


REMOTE_REFUSED = (
    "--remote: sonicpy has no remote account to reach; every binding is the one bindings.toml "
    "declares for the selected environment. For the deployed database, bucket or namespace, "
    "run the command with --env production (or that environment's name) on a host that reaches it."
)


def _refuse_remote(ctx, param, value):
    if value:
        raise click.UsageError(REMOTE_REFUSED, ctx)


def location_options(command):
    """Accept wrangler's ``--local`` (a no-op: local is the only place) and refuse ``--remote``.

    Scripts written for wrangler pass ``--local`` to d1, kv and r2 commands; here the
    selected environment's bindings are always the ones used, so ``--local`` changes
    nothing, and ``--remote`` stops with a message saying what to use instead.
    """
    command = click.option("--remote", is_flag=True, expose_value=False, callback=_refuse_remote,
                           help="Refused: there is no remote here (use --env for the deployed environment).")(command)
    return click.option("--local", is_flag=True, expose_value=False,
                        help="Accepted for wrangler's scripts; changes nothing (bindings.toml decides).")(command)
