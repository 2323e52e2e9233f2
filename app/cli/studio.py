"""``d1 studio DB``: browse a database read-only in the browser, on loopback.

SQLite databases are served by Datasette, a well-kept browser for SQLite files: tables,
rows with filters and facets, read-only SQL, JSON for every page. It opens the file in
SQLite's read-only mode (``mode=ro``), which still sees what the running app writes to the
WAL; ``--immutable`` would be faster but would ignore the WAL and show stale rows while
``dev`` is running, so it is only used for a file nothing writes (``--immutable``).

PostgreSQL has no such tool in Python worth bundling; the command prints how to open the
database read-only with ``psql`` or pgweb instead of starting a viewer of its own.
"""

import importlib.util
import signal
import subprocess
import sys

import click

from app.cli.common import runtime_options
from app.cli.databases import locate_table
from app.cli.startup import check_port
from app.db import catalog
from app.db.catalog import SQLITE, CatalogError
from app.runtime.config import ConfigError

HOST = "127.0.0.1"
DEFAULT_PORT = 4983  # drizzle-kit studio's port, so habits carry over


def datasette_command(path, port, immutable):
    """The argv that serves ``path`` read-only on loopback ``port``."""
    mode = ["--immutable", str(path)] if immutable else [str(path)]
    return [sys.executable, "-m", "datasette", "serve", *mode, "--host", HOST, "--port", str(port)]


def postgres_advice(location, port):
    """What to run to browse a PostgreSQL database read-only (the password is never printed)."""
    url = location.label
    return (
        f"{location.name} is a PostgreSQL database; browse it read-only with psql:\n\n"
        f"  PGOPTIONS='-c default_transaction_read_only=on' psql '{url}'\n\n"
        "or in the browser with pgweb (https://github.com/sosedoff/pgweb), on loopback:\n\n"
        f"  pgweb --url '{url}' --readonly --bind {HOST} --listen {port}\n\n"
        + ("Put the password back in the URL or set PGPASSWORD: it is not printed.\n" if "***" in url else "")
    )


def _serve(argv):
    """Run the viewer until Ctrl-C (or SIGTERM, passed on to it); return its exit code."""
    proc = subprocess.Popen(argv)
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:  # the viewer got the same Ctrl-C: let it finish
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("studio")
@click.argument("database")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535),
              help="Port on 127.0.0.1 to serve on.")
@click.option("--immutable", is_flag=True,
              help="Treat the file as unchanging (faster; only for a file nothing writes to).")
@runtime_options
def studio(runtime, database, port, immutable):
    """Browse DATABASE read-only in the browser, on 127.0.0.1, until Ctrl-C.

    SQLite: starts Datasette on the database file and prints its URL. PostgreSQL: prints
    the psql and pgweb commands that open it read-only.

    Example: sonicpy d1 studio DB --port 4983
    """
    try:
        table = runtime.config.d1_database(database)
    except ConfigError as ex:
        raise click.ClickException(str(ex)) from None
    location = locate_table(runtime.config, table)
    if location.backend != SQLITE:
        click.echo(postgres_advice(location, port))
        return
    try:
        exists = catalog.inspect(location).exists
    except CatalogError as ex:
        raise click.ClickException(str(ex)) from None
    if not exists:
        raise click.ClickException(f"{location.path} does not exist yet: `d1 migrations apply {database}` creates it")
    if importlib.util.find_spec("datasette") is None:
        raise click.ClickException("Datasette is not installed: pip install datasette")
    check_port(HOST, port)  # else the URL printed next would be another server's
    click.echo(f"🔎 {table['binding']} read-only in Datasette: http://{HOST}:{port}/{location.path.stem}")
    click.echo("   Ctrl-C to stop.", nl=True)
    sys.stdout.flush()
    sys.exit(_serve(datasette_command(location.path, port, immutable)))
