"""``d1 create|list|info|delete``: wrangler's database management, on SQLite and PostgreSQL.

* ``create NAME`` makes an empty SQLite file in the state folder, or with ``--url`` a
  database on a PostgreSQL server, and prints the ``[[d1_databases]]`` table to paste.
* ``list`` reads every environment of bindings.toml and reports each declared database:
  backend, size, tables and migration state. It opens nothing for writing and creates no
  file: a database not made yet is reported as such.
* ``info DB`` prints wrangler's fields for one binding of the selected environment.
* ``delete NAME`` asks first (``--yes`` for scripts) and refuses a database that a binding
  of the selected environment still uses unless ``--force``.
"""

import json
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import click
import peewee

from app.cli.common import runtime_options
from app.db import catalog, time_travel
from app.db.catalog import POSTGRES, SQLITE, CatalogError, Location
from app.db.migrations import MigrationError, MigrationRunner
from app.runtime.bindings import STATE_SUBDIR, BindingKind
from app.runtime.config import ConfigError, environment_names, load_config

UNKNOWN = "unknown"


def state_folder(config):
    """Where embedded backends of ``config`` keep their files (what bindings are opened with)."""
    return Path(config.state_dir) / STATE_SUBDIR


def locate_table(config, table):
    """The ``Location`` of binding ``table`` of ``config``; a clean CLI error when it has none."""
    try:
        return catalog.locate(table, state_folder(config), config.credentials)
    except CatalogError as ex:
        raise click.ClickException(f"{table['binding']} ({config.env_label}): {ex}") from None


def _fail(ex):
    raise click.ClickException(str(ex)) from None


def postgres_server_url(ctx, param, value):
    """``--url``'s check: only a PostgreSQL server URL, since the option names one.

    Anything else would be handed to the PostgreSQL driver anyway and fail as an unrelated
    connection error (a socket path, a refused port); a SQLite database needs no URL.
    """
    if value is None:
        return None
    scheme = urlparse(value).scheme
    if scheme not in ("postgres", "postgresql"):
        raise click.BadParameter(
            f"unsupported scheme {scheme or value!r}: use postgresql://user@host:5432/ "
            "(a SQLite database is made and found without --url)")
    return value


# ------------------------------------------------------------------------------ create

@click.command("create")
@click.argument("name")
@click.option("--binding", default="DB", show_default=True, help="Binding name for the printed table.")
@click.option("--url", "server_url", default=None, callback=postgres_server_url,
              help="A PostgreSQL server (postgresql://user@host:5432/): create the database there. "
                   "Leave the password out and set PGPASSWORD instead, to keep it out of shell history.")
@runtime_options
def create(runtime, name, binding, server_url):
    """Create database NAME and print the [[d1_databases]] table to add to bindings.toml.

    Without --url: an empty SQLite file in the state folder, named by a new database_id.
    With --url: CREATE DATABASE on that PostgreSQL server.

    Example: sonicpy d1 create sonicpy-staging --env staging
    """
    config = runtime.config
    try:
        if server_url:
            url = catalog.create_postgres(server_url, name)
            where, keys = f"on {catalog.mask_password(url)}", _postgres_keys(url)
        else:
            database_id, path = catalog.create_sqlite(state_folder(config), name)
            where, keys = f"in {path}", {"database_id": database_id}
    except CatalogError as ex:
        _fail(ex)
    click.echo(f"✅ Successfully created DB '{name}' {where}")
    click.echo("Created your new D1 database.\n")
    click.echo("Add it to bindings.toml:\n")
    prefix = f"env.{config.env_name}." if config.env_name else ""
    click.echo(f"[[{prefix}d1_databases]]")
    for key, value in {"binding": binding, "database_name": name, **keys}.items():
        click.echo(f"{key} = {json.dumps(value)}")
    if "database_url_env" in keys:
        click.echo(f"\nand set DATABASE_URL={catalog.mask_password(url)} (with the real password) "
                   "in the environment or in .dev.vars; the password never goes in bindings.toml.")


def _postgres_keys(url):
    """A URL with a password is named by a variable; one without goes into the file as is."""
    if catalog.mask_password(url) != url:
        return {"database_url_env": "DATABASE_URL"}
    return {"database_url": url}


# -------------------------------------------------------------------------------- list

def _environments(runtime):
    """``(label, Config or ConfigError)`` for the top level and each ``[env.NAME]``."""
    path = runtime.config.path
    try:
        names = environment_names(path)
    except ConfigError as ex:
        _fail(ex)
    for name in [None, *names]:
        try:
            yield name or "default", load_config(path, name, runtime.persist_to)
        except ConfigError as ex:
            yield name or "default", ex


def _migration_counts(location, table):
    """``{status: count}`` of the binding's migrations, read without writing anything."""
    db = catalog.open_readonly(location)
    try:
        runner = MigrationRunner(db, Path(table.get("migrations_dir", "migrations")),
                                 table.get("migrations_table", "d1_migrations"))
        return dict(Counter(status.status for status in runner.list()))
    except (MigrationError, peewee.PeeweeException) as ex:
        return {"error": str(ex).strip().splitlines()[0]}
    finally:
        db.close()


def describe(config, table):
    """One declared database: where it is, whether it exists, its size, tables and migrations."""
    row = {
        "environment": config.env_label, "binding": table["binding"],
        "database_name": table.get("database_name"), "database_id": table.get("database_id"),
        "backend": UNKNOWN, "location": None, "status": "ok",
        "size": None, "num_tables": None, "created_at": None, "migrations": None,
    }
    try:
        location = catalog.locate(table, state_folder(config), config.credentials)
        row.update(backend=location.backend, location=location.label)
        info = catalog.inspect(location)
    except CatalogError as ex:
        row["status"] = f"error: {ex}"
        return row
    if not info.exists:
        row["status"] = "not created"
        return row
    row.update(size=info.size, num_tables=len(info.tables), created_at=info.created_at)
    row["migrations"] = _migration_counts(location, table)
    return row


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@runtime_options
def list_command(runtime, as_json):
    """List the databases bindings.toml declares, in every environment.

    Each with its backend, size, number of tables and migration state. Creates nothing:
    a SQLite file or PostgreSQL database not made yet shows as "not created".

    Example: sonicpy d1 list --json
    """
    rows = []
    for label, config in _environments(runtime):
        if isinstance(config, ConfigError):
            rows.append({"environment": label, "status": f"error: {config}"})
            continue
        rows += [describe(config, table) for table in config.bindings.get(BindingKind.D1, [])]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("environment", "binding", "name", "backend", "size", "tables", "migrations", "location")
    _print_columns(header, [_list_cells(row) for row in rows])


def _list_cells(row):
    if "binding" not in row:
        return (row["environment"], "", "", "", "", "", row["status"], "")
    return (row["environment"], row["binding"], row["database_name"] or "", row["backend"],
            human_size(row["size"]), "" if row["num_tables"] is None else str(row["num_tables"]),
            migration_summary(row), row["location"] or "")


def migration_summary(row):
    """``15 applied, 2 pending`` / ``not created`` / the error, for one row of ``describe``."""
    if row["status"] != "ok":
        return row["status"]
    counts = row["migrations"] or {}
    if "error" in counts:
        return counts["error"]
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "none"


def human_size(size):
    """Bytes as wrangler prints them (decimal units: 1 kB = 1000 B); '' when unknown."""
    if size is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def _print_columns(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for cells in (header, *rows):
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip())


# -------------------------------------------------------------------------------- info


def _not_described(config, table, row):
    """``d1 info``'s one line for a database ``describe`` could not describe: why (the list's
    ``error:`` label left out, the line is one) and where it is, when that is known."""
    where = f" ({row['location']})" if row["location"] else ""
    hint = "; `d1 migrations apply` creates and migrates it" if row["status"] == "not created" else ""
    return f"{table['binding']} ({config.env_label}): {row['status'].removeprefix('error: ')}{where}{hint}"


def info_fields(config, table):
    """wrangler's ``d1 info`` fields for binding ``table``; what we cannot know is "unknown"."""
    row = describe(config, table)
    if row["status"] != "ok":
        raise click.ClickException(_not_described(config, table, row))
    return {
        "uuid": table.get("database_id") or UNKNOWN,
        "name": table.get("database_name") or table["binding"],
        "created_at": row["created_at"] or UNKNOWN,
        "num_tables": row["num_tables"],
        "database_size": row["size"],
        # No per-query analytics are kept (wrangler reads these from Cloudflare's); rows
        # written are counted by the time-travel log, when the database has one.
        "read_queries_24h": UNKNOWN,
        "write_queries_24h": UNKNOWN,
        "rows_read_24h": UNKNOWN,
        "rows_written_24h": _rows_written_24h(catalog.locate(table, state_folder(config), config.credentials)),
        "backend": row["backend"],
        "location": row["location"],
        "migrations": migration_summary(row),
    }


def _rows_written_24h(location):
    """Rows changed in the last 24 hours, from the time-travel log; "unknown" without one."""
    db = catalog.open_readonly(location)
    try:
        count = time_travel.rows_written_since(db, round(time.time() * 1000) - time_travel.DAY_MS)
    except peewee.PeeweeException:
        count = None
    finally:
        db.close()
    return UNKNOWN if count is None else count


@click.command("info")
@click.argument("database")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
@runtime_options
def info(runtime, database, as_json):
    """Show DATABASE's size, tables, creation time and migration state (read-only).

    DATABASE is a binding or database_name of the selected environment, or the name of a
    database `d1 create` made (before it is pasted into bindings.toml).

    Example: sonicpy d1 info DB --env production
    """
    try:
        table = runtime.config.d1_database(database)
    except ConfigError as ex:
        table = _created_table(runtime.config, database)
        if table is None:
            _fail(ex)
    fields = info_fields(runtime.config, table)
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    shown = {key: human_size(value) if key == "database_size" else value
             for key, value in fields.items() if key != "uuid"}
    _print_columns((table["binding"], fields["uuid"]), [(key, str(value)) for key, value in shown.items()])


def _created_table(config, name):
    """A ``[[d1_databases]]`` table for the database ``d1 create`` made as ``name``, or None."""
    for database_id, entry in catalog.registry(state_folder(config)).items():
        if entry.get("name") == name:
            return {"binding": name, "database_name": name, "database_id": database_id}
    return None


# ------------------------------------------------------------------------------ delete

def _find(runtime, name, server_url):
    """``(Location, where it was found)`` of the database called ``name``."""
    if server_url:
        return Location(POSTGRES, url=catalog.database_url_on(server_url, name)), "on the server"
    selected = runtime.config
    for label, config in [(selected.env_label, selected), *_environments(runtime)]:
        if isinstance(config, ConfigError):
            continue
        table = config.find(BindingKind.D1, name)
        if table is not None:
            return locate_table(config, table), f"binding {table['binding']} of environment {label}"
    for database_id, entry in catalog.registry(state_folder(selected)).items():
        if entry.get("name") == name:
            location = Location(SQLITE, path=state_folder(selected) / "d1" / f"{database_id}.sqlite")
            return location, "made by d1 create"
    raise click.ClickException(
        f"Couldn't find a D1 DB named '{name}' in {selected.path} (any environment) or among "
        "the databases `d1 create` made; for a PostgreSQL database not in bindings.toml, pass --url")


def _users(config, location):
    """The bindings of ``config`` whose database is ``location``'s."""
    users = []
    for table in config.bindings.get(BindingKind.D1, []):
        try:
            if catalog.locate(table, state_folder(config), config.credentials).key() == location.key():
                users.append(table["binding"])
        except CatalogError:
            continue
    return users


@click.command("delete")
@click.argument("name")
@click.option("--yes", "-y", "yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True,
              help="Delete even when a binding of the selected environment uses it; on PostgreSQL, "
                   "end the connections still open to it.")
@click.option("--url", "server_url", default=None, callback=postgres_server_url,
              help="The PostgreSQL server holding NAME, for a database not in bindings.toml.")
@runtime_options
def delete(runtime, name, yes, force, server_url):
    """Delete database NAME (binding, database_name, or a name `d1 create` made). Irreversible.

    Asks for confirmation unless --yes; refuses a database a binding of the selected
    environment still uses unless --force.

    Example: sonicpy d1 delete sonicpy-staging --yes
    """
    location, found = _find(runtime, name, server_url)
    try:
        exists = catalog.inspect(location).exists
    except CatalogError as ex:
        _fail(ex)
    if not exists:
        raise click.ClickException(f"'{name}' ({found}) does not exist: {location.label}")
    users = _users(runtime.config, location)
    if users and not force:
        raise click.ClickException(
            f"'{name}' is still used by binding {', '.join(users)} of environment "
            f"{runtime.config.env_label} ({runtime.config.path}): remove it from there first, "
            "or pass --force")
    click.echo(f"About to delete DB '{name}' ({found}: {location.label}).\n"
               "This action is irreversible and will permanently delete all data in the database.\n")
    if not yes and not click.confirm("Ok to proceed?", default=False):
        click.echo("Not deleting.")
        return
    click.echo("Deleting...")
    try:
        catalog.drop(location, force=force)
    except CatalogError as ex:
        _fail(ex)
    click.echo(f"Deleted '{name}' successfully.")


DATABASE_COMMANDS = (create, list_command, info, delete)
