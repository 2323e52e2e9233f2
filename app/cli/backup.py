"""``d1 export`` (SQL, wrangler's format), ``d1 backup`` (JSON) and ``d1 import`` (JSON).

``d1 export DB --output FILE`` writes what ``wrangler d1 export`` writes; ``d1 execute DB
--file FILE`` restores it (SQLite only: on PostgreSQL use pg_dump or the JSON backup).
``d1 backup DB --output FILE`` writes the JSON backup of users, collections, content and
media; ``d1 import DB FILE`` reads it back in one transaction, skipping rows already there.

Progress goes to stderr, one line per table, so ``--output -`` can stream the file itself
to stdout. Files are written beside their target then renamed (never half-written) with
mode 0600: both kinds hold password hashes.
"""

import os
import sys
import tempfile
from pathlib import Path

import click

from app.cli.cache_refresh import refresh_cache
from app.cli.common import location_options, runtime_options
from app.cli.d1 import follow_schemas
from app.cli.migrations import require_migrated
from app.services.backup import BackupError, encode_backup, export_backup
from app.services.backup_import import import_backup
from app.services.cache import Namespace
from app.services.sql_dump import DumpError, dump_statements

# What a JSON backup holds: the cache namespaces its rows feed.
IMPORTED_NAMESPACES = (Namespace.USERS, Namespace.COLLECTIONS, Namespace.CONTENT, Namespace.MEDIA)


def _progress(message):
    click.echo(message, err=True)


def _check_output(output):
    if output != "-" and Path(output).is_dir():
        raise click.BadParameter(f"{output} is a directory; give a file name", param_hint="--output")


def _write(output, chunks):
    """Write byte ``chunks`` to ``output`` ('-' = stdout) atomically, mode 0600."""
    if output == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dump_chunks(statements):
    """Statements joined by newlines, no trailing newline (as wrangler writes the file)."""
    first = True
    for statement in statements:
        yield statement.encode("utf-8") if first else b"\n" + statement.encode("utf-8")
        first = False


@click.command("export")
@click.argument("database")
@click.option("--output", required=True, help="File to write the SQL to ('-' for stdout).")
@click.option("--table", "tables", multiple=True, help="Export only this table (repeatable).")
@click.option("--no-schema", is_flag=True, help="Only the rows, no CREATE statements.")
@click.option("--no-data", is_flag=True, help="Only the CREATE statements, no rows.")
@location_options
@runtime_options
def export_command(runtime, database, output, tables, no_schema, no_data):
    """Export DATABASE as SQL in wrangler's d1 export format (SQLite databases).

    Restore it with `d1 execute DATABASE --file FILE` into an empty database. The file
    holds password hashes: keep it as secret as the database.
    """
    if no_schema and no_data:
        raise click.UsageError("--no-schema and --no-data together leave nothing to export.")
    _check_output(output)
    _, d1 = runtime.database(database)
    _progress(f"🌀 Exporting {database} to {output}...")
    counts = {}
    statements = dump_statements(d1.db, tables=tables, schema=not no_schema, data=not no_data,
                                 on_progress=lambda table, rows: _table_done(counts, table, rows))
    try:
        _write(output, _dump_chunks(statements))
    except DumpError as ex:
        raise click.ClickException(str(ex)) from None
    _progress(f"✅ Exported {len(counts)} table(s), {sum(counts.values())} row(s). Done!")


def _table_done(counts, table, rows):
    counts[table] = rows
    _progress(f"   {table}: {rows} row(s)")


@click.command("backup")
@click.argument("database")
@click.option("--output", required=True, help="File to write the JSON backup to ('-' for stdout).")
@runtime_options
def backup_command(runtime, database, output):
    """Write a JSON backup of DATABASE's users, collections, content and media.

    The shape is {version, timestamp, data: {users, collections, content, media}}; restore
    it with `d1 import DATABASE FILE`. It holds password hashes: keep it secret.
    """
    _check_output(output)
    _, d1 = runtime.database(database)
    _progress(f"🌀 Backing up {database} to {output}...")
    backup = export_backup(d1.db, on_progress=lambda table, rows: _progress(f"   {table}: {rows} row(s)"))
    _write(output, [encode_backup(backup)])
    _progress("✅ Backup written. Done!")


@click.command("import")
@click.argument("database")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@runtime_options
def import_command(runtime, database, file):
    """Import a JSON backup FILE (from `d1 backup`) into DATABASE, in one transaction.

    Rows already there (same id, or same email / username / collection name / file key /
    slug) are skipped, so importing twice changes nothing; an invalid file writes nothing, nor does
    one naming an author, uploader or collection that is in neither the file nor the
    database (an inviter, reviewer or featured image that is nowhere is imported as NULL,
    and counted), nor one whose live content data a declared field index cannot read (text
    that is not JSON, a NUL character) while a collection declares one, nor one bringing a
    field index while the database's own live content holds such data. After the commit,
    the imported collections' declared field indexes are created and running apps' cached
    users, collections, content and media go stale.
    """
    table, d1 = runtime.database(database)
    require_migrated(d1.db, table, runtime.config)
    _progress(f"🌀 Importing {file} into {database}...")
    try:
        report = import_backup(
            d1.db, Path(file).read_bytes(),
            on_progress=lambda table, inserted, skipped: _progress(
                f"   {table}: {inserted} inserted, {skipped} skipped"),
        )
    except BackupError as ex:
        raise click.ClickException(str(ex)) from None
    for reason in report.reasons:
        _progress(f"   skipped {reason}")
    for note in report.cleared:
        _progress(f"   cleared {note}")
    if any(report.inserted.values()):
        # After the import's commit: PostgreSQL cannot create an index in a transaction
        # whose content rows still wait for their deferred triggers.
        try:
            follow_schemas(d1.db)
        finally:  # the rows are committed whether or not the indexes could follow them
            refresh_cache(runtime, IMPORTED_NAMESPACES)
    click.echo(f"✅ Imported: {report.summary()}")


BACKUP_COMMANDS = (export_command, backup_command, import_command)
