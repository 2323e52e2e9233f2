"""``d1`` commands: execute SQL against a DB binding, as ``wrangler d1 execute`` does.

Running apps cache public reads in CACHE_KV (``app.services.cache``); a CLI command that
writes the database behind their back bumps the cache generations afterwards
(``refresh_cache``), so the next read through any worker sees the change. ``execute``
bumps every namespace when a statement changed the database (it cannot tell which
tables mattered); reads only leave the cache alone.

SQL run from a file, or that changed the database, may leave it without the derived
objects the migrations install (search index, triggers on content, their functions): a
``d1 export`` dump loaded into a new database has every migration recorded as applied and
none of them. ``execute`` then says so on stderr, naming them and ``d1 migrations apply``
(stdout, ``--json``'s included, stays the result alone).
"""

import json
import re
import sys
from pathlib import Path

import click

from app.cli.cache_refresh import refresh_cache
from app.cli.common import location_options, runtime_options
from app.cli.migrations import migrations, outdated_warning
from app.db import content_media, derived
from app.db.database import is_postgres
from app.db.models import bind_models
from app.db.schema_turns import take_schema_turn
from app.db.splitter import SeveralTransactions, split_statements, without_transaction_pair
from app.runtime.d1 import D1Error
from app.services.field_indexes import UnreadableData, sync_field_indexes

# SQL that may add or rekey media rows (the word, in any case; media_pending_objects is another word).
_NAMES_MEDIA = re.compile(r"\bmedia\b", re.IGNORECASE)
# The `: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_UNIQUE)` a D1 error message ends with.
_SQLITE_CODE = re.compile(r": SQLITE_[A-Z_]+(?: \(extended: SQLITE_[A-Z_]+\))?$")


@click.group()
def d1():
    """Work with D1-style databases (DB bindings)."""


d1.add_command(migrations)


def _read_sql(command, file):
    if bool(command) == bool(file):
        raise click.UsageError("Provide exactly one of --command or --file.")
    if command:
        return command
    data = Path(file).read_bytes()
    if data.startswith(b"SQLite format 3\x00"):
        raise click.ClickException(f"{file} is a binary SQLite database file instead of an SQL text file.")
    return data.decode("utf-8")


def _run_sql(runtime, database, command, file):
    """``(results, D1Database, sql)`` of ``execute``'s SQL; ClickException for whatever refuses it."""
    sql = _read_sql(command, file)
    _, db = runtime.database(database)
    if file is not None:
        # A file is loaded as wrangler imports one: a statement may be longer than a query's
        # limit (a row of ``d1 export`` is one INSERT, as long as the row).
        db.statement_limit = None
    try:
        statements = [db.prepare(s) for s in without_transaction_pair(split_statements(sql))]
    except SeveralTransactions as ex:
        raise click.ClickException(str(ex)) from None
    if not statements:
        raise click.ClickException("No SQL statements detected.")
    try:
        return db.batch(statements), db, sql
    except D1Error as ex:
        raise click.ClickException(d1_error_text(db, ex)) from None


def d1_error_text(db, ex):
    """What the operator reads of D1 error ``ex``: on PostgreSQL, without the SQLite code.

    The binding names every error by an SQLite result code, whatever the backend, as Workers
    code matches on those; printed after a PostgreSQL server's message, the name would send
    the operator looking for an SQLite problem.
    """
    if is_postgres(db.db):
        return _SQLITE_CODE.sub("", str(ex))
    return str(ex)


def _jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        # wrangler prints BLOBs as the string "[1, 2, 3]".
        return "[" + ", ".join(str(b) for b in bytes(value)) + "]"
    return value


def _rows_for_json(results):
    return [{k: _jsonable(v) for k, v in row.items()} for row in results]


@d1.command("execute")
@click.argument("database")
@click.option("--command", "command", default=None, help="SQL to run.")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False), default=None, help="File of SQL to run.")
@click.option("--json", "as_json", is_flag=True, help="Print wrangler's JSON result shape only.")
@location_options
@runtime_options
def execute(runtime, database, command, file, as_json):
    """Run SQL (--command or --file) against DATABASE (binding or database_name) in one transaction."""
    try:
        results, db, sql = _run_sql(runtime, database, command, file)
    except click.ClickException as ex:
        if as_json:  # wrangler's shape for every failure, not only the database's
            click.echo(json.dumps({"error": {"text": ex.message}}))
            sys.exit(1)
        raise
    changed = any((result["meta"] or {}).get("changed_db") for result in results)
    try:
        if changed:
            follow_schemas(db.db)
    finally:  # the SQL is committed whether or not the indexes could follow it
        if changed:
            follow_media(db.db, sql)
            refresh_cache(runtime)
        if changed or file is not None:  # a file's DDL alone (DROP TRIGGER) changes no row
            warn_outdated(runtime, database, db.db)
    if as_json:
        payload = [
            {"results": _rows_for_json(r["results"]), "success": True, "meta": {"duration": r["meta"]["duration"]}}
            for r in results
        ]
        click.echo(json.dumps(payload, indent=2))
        return
    for result in results:
        if result["results"]:
            _print_table(result["results"])
    click.echo(f"🚣 {len(results)} command(s) executed successfully.")


def warn_outdated(runtime, database, db):
    """Say on stderr which derived objects ``db`` lacks or holds of an earlier version
    (``derived.outdated_objects``), and the command that installs them; nothing when none."""
    outdated = derived.outdated_objects(db)
    if outdated:
        env_option = f" --env {runtime.config.env_name}" if runtime.config.env_name else ""
        click.echo(f"⚠️  {database}: {outdated_warning(outdated)}: run `d1 migrations apply {database}{env_option}`,"
                   " which installs them.", err=True)


def follow_schemas(db):
    """Create and drop the declared field indexes and count the indexed fields' values, as a
    collections write does, for schemas changed by hand; nothing on a database that is not
    sonicpy's (D1 runs any SQL), or one migrated before the value counts.

    Raises:
        click.ClickException: an index to create could not read some items' data; what
            ran before stays, without the indexes.
    """
    if db.table_exists(derived.FIELDS_TABLE):
        bind_models(db)
        try:
            with db.atomic():
                take_schema_turn(db)
                sync_field_indexes(db)
        except UnreadableData as ex:
            raise click.ClickException(f"{ex.problem}; the field indexes were not changed: fix or delete those"
                                       " items (or their data)") from None


def follow_media(db, sql):
    """Recompute which files content names (``content_media``) when ``sql`` names the media
    table: a file it adds may be one content already names, which the triggers on content
    saw missing when they ran. It reads every content row, so other SQL leaves it alone."""
    if _NAMES_MEDIA.search(sql):
        content_media.rebuild(db)


def _print_table(rows):
    columns = list(rows[0])
    cells = [[str(_jsonable(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo(" | ".join(c.ljust(w) for c, w in zip(columns, widths)))
    click.echo("-+-".join("-" * w for w in widths))
    for row in cells:
        click.echo(" | ".join(v.ljust(w) for v, w in zip(row, widths)))
