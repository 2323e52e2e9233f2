"""``d1 migrations create|list|apply``: wrangler's migration commands over ``MigrationRunner``.

Output and exit codes follow wrangler where it has them ("✅ No migrations to apply!",
"✅ Successfully created Migration '...'!"; ``list`` exits 0 with migrations pending), and
are stricter where scripts need it: ``list --check`` exits 1 while anything is pending (or
changed, or the derived objects an apply installs are missing or out of date), so a release
step can gate on it, and a failing ``apply`` prints the file, statement and database error and
exits 1, without a traceback.
"""

import sys

import click
import peewee

from app.cli.cache_refresh import refresh_cache
from app.cli.common import location_options, resolve_database, runtime_options
from app.db import time_travel
from app.db.migrations import APPLIED, CHANGED, DEFAULT_TABLE, MISSING, PENDING, MigrationError, MigrationRunner
from app.db.time_travel import TimeTravelError

_STATUS_LABELS = {
    APPLIED: "✅ applied",
    PENDING: "🕒 pending",
    CHANGED: "❌ changed since applied",
    MISSING: "⚠️ applied, file missing",
}


@click.group()
def migrations():
    """Create, list and apply the numbered SQL migrations of a DB binding.

    The files live in the binding's migrations_dir (default ./migrations); applied ones are
    recorded in its migrations_table (default d1_migrations) with a checksum.
    """


def _runner(runtime, database):
    """The MigrationRunner for DATABASE (binding or database_name) of the selected env."""
    binding, d1, migrations_dir, table = resolve_database(runtime, database)
    try:
        return MigrationRunner(d1.db, migrations_dir, table, keep_history=time_travel.enabled(binding))
    except (MigrationError, TimeTravelError) as ex:
        raise click.ClickException(str(ex)) from None


def require_migrated(db, table, config):
    """Stop with one line when the database of binding ``table`` was never migrated.

    Its tables do not exist yet: a command working on the app's tables would otherwise fail
    on each one it names (``scheduled``: a traceback per job), or blame the data it was
    given (``d1 import``: a backup's column "unknown" to a table that is not there). Only
    the tracking table is looked for, not the migration files, which a command run from
    another folder (system cron) may not find.
    """
    try:
        migrated = db.table_exists(table.get("migrations_table", DEFAULT_TABLE))
    except peewee.PeeweeException as ex:
        _fail(ex)
    if not migrated:
        name = table["binding"]
        env_option = f" --env {config.env_name}" if config.env_name else ""
        raise click.ClickException(
            f"{name} ({config.env_label}) has no tables yet, no migration having been applied: "
            f"run `d1 migrations apply {name}{env_option}` first")


def _fail(ex):
    """A clean one-message exit (code 1) for runner and database errors."""
    if isinstance(ex, MigrationError):
        raise click.ClickException(str(ex)) from None
    raise click.ClickException(f"database error: {str(ex).strip()}") from None


@migrations.command("create")
@click.argument("database")
@click.argument("name")
@runtime_options
def create(runtime, database, name):
    """Create the next migration file, NNNN_NAME.sql, for DATABASE.

    NNNN is the highest number in the folder plus one; spaces in NAME become underscores.
    """
    runner = _runner(runtime, database)
    try:
        path = runner.create(name)
    except MigrationError as ex:
        _fail(ex)
    click.echo(f"✅ Successfully created Migration '{path.name}'!")
    click.echo("")
    click.echo("The migration is available for editing here")
    click.echo(str(path))


@migrations.command("list")
@click.argument("database")
@click.option("--check", is_flag=True,
              help="Exit 1 while any migration is pending or changed since applied, or the derived objects "
                   "(search index, triggers) are missing or out of date, or a recount of the derived tables "
                   "is owed (for release gating).")
@location_options
@runtime_options
def list_migrations(runtime, database, check):
    """List DATABASE's migrations with their status (read-only).

    Exits 0 with migrations pending, as wrangler does; with ``--check``, exits 1 while any
    migration is pending or was changed after being applied, while the derived objects an
    apply installs (search index, triggers on content) are missing or out of date (a
    database loaded from an SQL dump has none: no migration is pending there), or while the
    recount an apply owes the derived tables (counts, search vectors) is unpaid (PostgreSQL).
    """
    runner = _runner(runtime, database)
    try:
        statuses = runner.list()
    except (MigrationError, peewee.PeeweeException) as ex:
        _fail(ex)
    _print_statuses(statuses)
    waiting = [s for s in statuses if s.status in (PENDING, CHANGED)]
    if not waiting:
        click.echo("✅ No migrations to apply!")
    else:
        click.echo(f"{sum(s.status == PENDING for s in statuses)} migration(s) to apply, "
                   f"{sum(s.status == CHANGED for s in statuses)} changed since applied.")
    outdated = _read(runner.outdated_objects)
    if outdated:
        click.echo(f"⚠️  {database}: {outdated_warning(outdated)}: run `d1 migrations apply`, which installs them.")
    owed = _read(runner.owed_refill)
    if owed is not None:
        click.echo(f"⚠️  The derived tables owe a recount ({owed}): totals, search or public media may be "
                   "incomplete until `d1 migrations apply` runs it.")
    if check and (waiting or outdated or owed is not None):
        sys.exit(1)


def outdated_warning(names):
    """What it means that the derived objects ``names`` are missing or out of date (no command)."""
    return (f"derived objects missing or out of date: {', '.join(names)}; until they are installed,"
            " search may fail and totals and public media may miss content writes"
            " (a database loaded from an SQL dump has none of them)")


def _read(question):
    """``question()`` (a read of the runner's database); a database error exits with its message."""
    try:
        return question()
    except peewee.PeeweeException as ex:
        _fail(ex)


def _print_statuses(statuses):
    """A two-column table: file name and status."""
    if not statuses:
        click.echo("No migration files.")
        return
    width = max(len("Name"), *(len(s.name) for s in statuses))
    click.echo(f"{'Name'.ljust(width)}  Status")
    click.echo(f"{'-' * width}  {'-' * 24}")
    for status in statuses:
        label = _STATUS_LABELS.get(status.status, status.status)
        applied_at = f"  ({status.applied_at})" if status.applied_at and status.status != PENDING else ""
        click.echo(f"{status.name.ljust(width)}  {label}{applied_at}")


@migrations.command("apply")
@click.argument("database")
@click.option("--accept-changed", is_flag=True,
              help="Escape hatch: record the new checksum of applied files that were edited "
                   "(e.g. a comment fix) instead of refusing. Their SQL is not run again.")
@location_options
@runtime_options
def apply(runtime, database, accept_changed):
    """Apply DATABASE's pending migrations in order, each file in one transaction.

    Stops at the first failure (that file is rolled back, earlier ones stay applied) and
    exits 1 with the file, the statement and the database error.
    """
    runner = _runner(runtime, database)
    try:
        applied = runner.apply(on_progress=_print_progress, accept_changed=accept_changed)
    except (MigrationError, peewee.PeeweeException) as ex:
        # The files before the failed one stay applied, and may have changed what apps cache.
        refresh_cache(runtime)
        _fail(ex)
    # A migration may change rows running apps cache (a role's grants, settings, content),
    # and a run with none to apply still reinstalls the derived tables' triggers and
    # recounts them: cached answers are made stale, as after any other command that writes.
    refresh_cache(runtime)
    if not applied:
        click.echo("✅ No migrations to apply!")
        return
    click.echo(f"✅ Applied {len(applied)} migration(s).")


def _print_progress(event):
    """'Applying 0001_x.sql ... ok (12 statements)' on one line per file."""
    if event.stage == "start":
        click.echo(f"Applying {event.name} ... ", nl=False)
    elif event.stage == "done":
        click.echo(f"ok ({event.statements} statements)")
    elif event.stage == "skipped":
        click.echo("skipped (already applied by another process)")
    elif event.stage == "failed":
        click.echo("failed")
