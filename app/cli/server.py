"""``dev`` and ``serve``: run the Worker under gunicorn, as ``wrangler dev`` / a deployment would.

Both run gunicorn in a fresh process (``python -m gunicorn worker:app``) with the chosen
environment passed through ``$SONICPY_ENV``, ``$SONICPY_CONFIG`` and ``$SONICPY_PERSIST_TO``:
workers import the app after the fork, so ``--reload`` picks up code changes and no
database or socket is ever shared between processes.

Production shape: nginx in front (``deploy/nginx.conf``), ``serve`` behind it on loopback.
gunicorn's threaded workers read each request's header and body in the serving thread with
no time limit (gunicorn has no setting for one), so a few clients that trickle their bytes
would hold every thread of a worker. nginx reads each request whole under its own header
and body timeouts before passing it on; ``serve`` therefore listens on 127.0.0.1 unless told
otherwise, so that only the proxy reaches it. A worker class with an event loop (gevent)
was weighed and left out: SQLite, psycopg2 without a green driver, scrypt and image decoding
all block the loop, so one slow query or sign-in would stall every request of the worker.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from gunicorn.util import parse_address

from app.cli.clock import CronClock
from app.cli.collection_watch import CollectionWatcher
from app.cli.common import runtime_options
from app.cli.devsetup import prepare_local_state
from app.cli.startup import banner_lines, base_url, check_port, database_warnings, wait_until_listening
from app.runtime.bindings import BindingKind
from app.runtime.config import PROJECT_ROOT, ConfigError
from app.services.collection_sync import collections_dir
from app.services.metrics import MULTIPROC_ENV
from app.settings import settings_from_config


def _gunicorn_env(runtime):
    env = dict(os.environ)
    config = runtime.config  # validates bindings.toml before anything starts
    env["SONICPY_CONFIG"] = str(Path(config.path).resolve())
    if config.env_name:
        env["SONICPY_ENV"] = config.env_name
    else:
        env.pop("SONICPY_ENV", None)
    if runtime.persist_to:
        env["SONICPY_PERSIST_TO"] = str(Path(runtime.persist_to).resolve())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.setdefault(MULTIPROC_ENV, str(_fresh_metrics_dir(Path(config.state_dir))))
    return env


def _fresh_metrics_dir(state_dir):
    """An empty folder for the workers' metric files (a previous run's would be added up too)."""
    folder = state_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# What gunicorn can bound about a request: the request line and each header line to 8 KiB
# (as nginx's large_client_header_buffers in deploy/nginx.conf), at most 100 header lines.
REQUEST_LIMITS = ("--limit-request-line", "8190", "--limit-request-field_size", "8190",
                  "--limit-request-fields", "100")


# Access log lines: short and coloured while developing, JSON in production.
DEV_LOGGER = "app.runtime.access_log.DevAccessLogger"
JSON_LOGGER = "app.runtime.access_log.JsonAccessLogger"


def _gunicorn_command(bind, workers, threads, logger_class, extra=()):
    return [
        sys.executable, "-m", "gunicorn", "worker:app",
        "--bind", bind, "--workers", str(workers), "--threads", str(threads),
        "--timeout", "30", "--graceful-timeout", "10", *REQUEST_LIMITS,
        "--access-logfile", "-", "--logger-class", logger_class, *extra,
    ]


# A TCP port one can listen on (0 would be a port the system picks, no URL to print).
PORT = click.IntRange(1, 65535)


def gunicorn_address(ctx, param, value):
    """``--bind``'s check: gunicorn's own reading of the address, with a port in range.

    gunicorn reads a port past 65535 as a number and fails in its socket code with a
    traceback; a port that is not a number, with its own one-line message. Both are found
    here, before the database is opened and gunicorn started.
    """
    try:
        address = parse_address(value)
    except RuntimeError as ex:
        raise click.BadParameter(str(ex)) from None
    if isinstance(address, tuple) and not 1 <= address[1] <= 65535:
        raise click.BadParameter(f"port {address[1]} is not in the range 1<=x<=65535")
    return value


@click.command()
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=PORT, help="Port to listen on.")
@click.option("--reload/--no-reload", default=True, show_default=True,
              help="Restart on code changes; sync collection files when they change.")
@click.option("--crons/--no-crons", default=True, show_default=True, help="Run [triggers] crons on schedule.")
@runtime_options
def dev(runtime, ip, port, reload, crons):
    """Serve locally with the embedded defaults: migrate, sync collections, serve, run crons.

    Example: dev --port 8788
    """
    check_port(ip, port)
    env = _gunicorn_env(runtime)
    url = base_url(ip, port)
    prepare_local_state(runtime, click.echo, url=url)
    extra = ["--reload", "--reload-extra-file", str(runtime.config.path)] if reload else []
    command = _gunicorn_command(f"{ip}:{port}", 1, 4, DEV_LOGGER, extra)
    server = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)
    clock = CronClock(runtime, click.echo, quiet=True) if crons and runtime.config.crons else None
    watcher = _collection_watcher(runtime) if reload else None
    # A terminal's Ctrl-C reaches gunicorn too, but SIGTERM/SIGHUP sent to dev alone would
    # leave gunicorn serving with no parent: stop it ourselves on any of them.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    try:
        if wait_until_listening(server, ip, port):
            for line in banner_lines(runtime, url):
                click.echo(line)
        while server.poll() is None:
            for ticking in (clock, watcher):
                if ticking:
                    ticking.tick()
            time.sleep(1)
    except (KeyboardInterrupt, StopServing):
        server.terminate()
    finally:
        server.wait()
    sys.exit(server.returncode or 0)


def _collection_watcher(runtime):
    """A watcher on the DB binding's collections folder, or None when there is no DB binding."""
    if runtime.config.binding(BindingKind.D1, "DB") is None:
        return None
    return CollectionWatcher(runtime, collections_dir(runtime.config)[0], click.echo)


class StopServing(BaseException):
    """Raised by a termination signal so ``dev`` stops its gunicorn before exiting.

    A BaseException, as KeyboardInterrupt is: the signal may land anywhere, for example
    while the banner builds the app, and an ``except Exception`` there must not swallow it.
    """


def _raise_stop(signum, frame):
    raise StopServing(signal.Signals(signum).name)


@click.command()
@click.option("--bind", "-b", default="127.0.0.1:8000", show_default=True, callback=gunicorn_address,
              help="Address:port to listen on (loopback: the reverse proxy in front connects to it).")
@click.option("--workers", "-w", default=2, show_default=True, type=click.IntRange(min=1),
              help="Worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(min=1), help="Threads per worker.")
@runtime_options
def serve(runtime, bind, workers, threads):
    """Serve with gunicorn for production, behind nginx (deploy/nginx.conf); see README "Production".

    Run `d1 migrations apply` first, e.g. as the release step; serve warns (stderr) when it
    finds migrations pending or a recount of the derived tables owed, and starts all the same.
    """
    env = _gunicorn_env(runtime)
    try:
        settings_from_config(runtime.config)  # the JWT secret and every numeric setting
    except ConfigError as ex:
        raise click.ClickException(str(ex)) from None
    runtime.open_all()  # a bad binding value stops here, not in every worker
    for line in database_warnings(runtime):
        click.echo(line, err=True)
    runtime.env.close()  # gunicorn's workers connect after their fork
    command = _gunicorn_command(bind, workers, threads, JSON_LOGGER)
    os.chdir(PROJECT_ROOT)
    os.execve(sys.executable, command, env)
