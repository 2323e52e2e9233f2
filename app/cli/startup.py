"""What ``dev`` and ``serve`` say around starting gunicorn: a port in use or a database the
migrations left unfinished before, the banner after the bind.

A port that is taken is found here, before migrations and gunicorn: one line naming a
free port to use instead, not gunicorn retrying for five seconds. The banner waits until
gunicorn listens, so what it promises (the URL) holds when it is printed. ``serve`` does not
migrate (a release step does): it warns when that step is owed (``database_warnings``).
"""

import errno
import os
import socket
import time
from pathlib import Path

import click
import falcon.inspect
import peewee

from app.app import create_app
from app.cli.migrations import outdated_warning
from app.db.migrations import CHANGED, DEFAULT_TABLE, PENDING, MigrationError, MigrationRunner
from app.runtime.bindings import BindingKind
from app.runtime.config import ConfigError

PORTS_TRIED = 20  # how far past a taken port to look for a free one to suggest
ADMIN_PATH = "/admin"
DOCS_PATH = "/docs"
HEALTH_PATH = "/health"


def base_url(ip, port):
    """``http://ip:port`` (an IPv6 address in brackets)."""
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}"


def database_warnings(runtime):
    """One line per DB binding whose database is not what ``d1 migrations apply`` leaves: files
    pending or changed since applied, derived objects (search index, triggers) missing or out of
    date (a database loaded from an SQL dump, where no migration is pending), or a recount of
    the derived tables owed (an apply killed between its install and its recount, on
    PostgreSQL: until it is paid, search may find nothing, totals and public media may be
    wrong). Each line names the command that fixes it. A database that cannot be read now is
    said so: the server starts all the same.
    """
    lines = []
    env_option = f" --env {runtime.config.env_name}" if runtime.config.env_name else ""
    for table in runtime.config.bindings.get(BindingKind.D1, []):
        name = table["binding"]
        runner = MigrationRunner(runtime.env.bindings[name].db, Path(table.get("migrations_dir", "migrations")),
                                 table.get("migrations_table", DEFAULT_TABLE))
        try:
            owed, statuses, outdated = runner.owed_refill(), runner.list(), runner.outdated_objects()
        except (MigrationError, peewee.PeeweeException) as ex:
            lines.append(f"⚠️  {name}: its migrations could not be checked: {str(ex).strip()}")
            continue
        fix = f"run `python worker.py d1 migrations apply {name}{env_option}`"
        waiting = sum(status.status == PENDING for status in statuses)
        changed = [status.name for status in statuses if status.status == CHANGED]
        if waiting:
            lines.append(f"⚠️  {name}: {waiting} migration(s) not applied: {fix}.")
        if changed:
            lines.append(f"⚠️  {name}: applied migration(s) changed since: {', '.join(changed)}"
                         f" (`d1 migrations list {name}{env_option}` says more).")
        if outdated:
            lines.append(f"⚠️  {name}: {outdated_warning(outdated)}: {fix}.")
        if owed is not None:
            lines.append(f"⚠️  {name}: the derived tables owe a recount ({owed}): totals, search or public media"
                         f" may be incomplete until it runs: {fix}.")
    return lines


def _bind_error(ip, port):
    """The OSError binding ``ip:port`` raises now, or None when it is free."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As gunicorn binds: a port whose old connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError as ex:
            return ex
    return None


def check_port(ip, port):
    """Stop ``dev`` (or ``d1 studio``) with one line when ``ip:port`` cannot be listened on.

    Raises:
        click.ClickException: the port is in use (naming a free one to try), or the
            address cannot be used at all.
    """
    error = _bind_error(ip, port)
    if error is None:
        return
    if error.errno == errno.EADDRINUSE:
        candidates = range(port + 1, min(port + 1 + PORTS_TRIED, 65536))
        free = next((p for p in candidates if _bind_error(ip, p) is None), None)
        hint = f"; try --port {free}" if free else ""
        raise click.ClickException(f"port {port} is in use{hint}")
    raise click.ClickException(f"cannot listen on {ip}:{port}: {error.strerror}")


def wait_until_listening(process, ip, port, timeout=60.0):
    """Wait until ``ip:port`` accepts connections; False when ``process`` exited first.

    gunicorn's master binds before it starts workers: from then on connections queue, so
    the URL works. A wildcard address (``0.0.0.0``, ``::``) is reached on loopback.
    """
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(ip, ip)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return process.poll() is None


def served_paths(env):
    """The route templates the app built for ``env`` serves (none when it cannot be built here)."""
    try:
        app = create_app(env)
    except ConfigError:
        return set()
    return {route.path for route in falcon.inspect.inspect_routes(app)}


def _short(text):
    # Paths below the working folder read better relative to it.
    return text.replace(f"{Path.cwd()}{os.sep}", "")


def banner_lines(runtime, url):
    """The banner: URL and environment, each binding's backend, then the admin, API docs and health URLs."""
    config, env = runtime.config, runtime.env
    lines = [f"⎔ Serving {config.name} ({config.env_label} environment) at {url}"]
    types = env.binding_types()
    width = max((len(name) for name in types), default=0)
    label_width = max((len(binding_type.label) for binding_type in types.values()), default=0)
    for name, binding_type in types.items():
        described = _short(binding_type.describe(env.bindings[name]))
        lines.append(f"   {name:<{width}}  {binding_type.label:<{label_width}}  {described}")
    served = served_paths(env)
    for label, path in (("Admin", ADMIN_PATH), ("API docs", DOCS_PATH), ("Health", HEALTH_PATH)):
        if path in served:
            lines.append(f"   {label}: {url}{path}")
    lines.append("   Ctrl-C to stop")
    return lines
