"""``d1 time-travel info|restore|ship``: wrangler's Time Travel over the database's own change log.

``info`` prints the bookmark of the database now, or at ``--timestamp``; ``restore`` brings
the database back to a bookmark or a time in one transaction, prints the bookmark that
undoes it, and makes the running apps' cache stale. See ``app.db.time_travel`` for how the
history is kept and what limits a restore (the retention window, the last migration).
``ship`` sends the history to the binding's ``time_travel_bucket`` (as the cron handler
does), and ``restore --from-bucket`` rebuilds the database from there on another host.
"""

import json
import re
from datetime import UTC, datetime

import click

from app.cli.cache_refresh import refresh_cache
from app.cli.common import runtime_options
from app.cli.d1 import follow_schemas
from app.db import time_travel
from app.db.time_travel import Bookmark, TimeTravelError
from app.db.time_travel.history import LATEST_MS
from app.runtime.bindings import BindingKind

_UNIX_SECONDS = re.compile(r"\d+(\.\d+)?")


@click.group("time-travel")
def time_travel_group():
    """Find bookmarks of a database's past and restore it to one (within the retention window)."""


def parse_timestamp(text, param_hint="--timestamp"):
    """Epoch ms of ``text``: Unix seconds or an RFC 3339 time (a time without offset is UTC)."""
    text = text.strip()
    if _UNIX_SECONDS.fullmatch(text):
        at_ms = round(float(text) * 1000)
        if at_ms > LATEST_MS:
            raise click.BadParameter(f"{text!r} is past the year 9999 as Unix seconds (milliseconds given?)",
                                     param_hint=param_hint)
        return at_ms
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither Unix seconds nor an RFC 3339 time "
                                 "(e.g. 2025-10-01T00:00:00Z)", param_hint=param_hint) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _open(runtime, database):
    """``(binding table, Peewee database)`` of DATABASE in the selected environment."""
    table, d1 = runtime.database(database)
    try:
        time_travel.retention_days(table)
        if not time_travel.enabled(table):
            raise TimeTravelError(
                "time travel is off for this binding (time_travel = false): no history is kept. Set it to "
                "true and run `d1 migrations apply` to start keeping history from then on")
    except TimeTravelError as ex:
        raise click.ClickException(f"{table['binding']}: {ex}") from None
    return table, d1.db


def _history_bucket(runtime, table):
    """The opened R2 binding named by the binding's ``time_travel_bucket``; a clean error without one."""
    try:
        name = time_travel.bucket_binding(table)
    except TimeTravelError as ex:
        raise click.ClickException(f"{table['binding']}: {ex}") from None
    if name is None:
        raise click.ClickException(
            f"{table['binding']}: no time_travel_bucket is configured, so its history is not shipped anywhere: "
            "name an [[r2_buckets]] binding of its own in the database's table (time_travel_bucket = \"HISTORY\")")
    return runtime.binding(BindingKind.R2, name)[1]


def _bookmark(db, timestamp):
    return time_travel.bookmark_at(db, parse_timestamp(timestamp)) if timestamp else time_travel.current_bookmark(db)


@time_travel_group.command("info")
@click.argument("database")
@click.option("--timestamp", default=None,
              help="Unix seconds or an RFC 3339 time (e.g. 2025-10-01T00:00:00Z); default: now.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object only.")
@runtime_options
def info(runtime, database, timestamp, as_json):
    """Print the bookmark of DATABASE now, or as it was at --timestamp (after the last commit by then).

    Example: sonicpy d1 time-travel info DB --timestamp 2025-10-01T00:00:00Z
    """
    table, db = _open(runtime, database)
    try:
        bookmark = _bookmark(db, timestamp)
        history = time_travel.read_history(db)
    except TimeTravelError as ex:
        raise click.ClickException(str(ex)) from None
    details = {
        "bookmark": str(bookmark),
        "timestamp": time_travel.iso(bookmark.at_ms),
        "earliest": time_travel.iso(history.floor_at),
        "retention_days": time_travel.retention_days(table),
        # Virtual tables (SQLite's FTS and the like) take no triggers, so keep no history: say so.
        "untracked_tables": time_travel.untracked_tables(db, set(history.excluded)),
        # Logs record what happened: a restore leaves them as they are.
        "log_tables": time_travel.log_tables(db),
    }
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    click.echo("🚧 Time Traveling...")
    click.echo(f"⚠️ Timestamp '{timestamp}' corresponds with bookmark '{bookmark}'" if timestamp
               else f"⚠️ The current bookmark is '{bookmark}'")
    click.echo(f"   History reaches back to {details['earliest']} (retention {details['retention_days']} days).")
    if details["untracked_tables"]:
        click.echo(f"   Not restored (virtual tables, no history): {', '.join(details['untracked_tables'])}")
    if details["log_tables"]:
        click.echo(f"   Left as they are (logs): {', '.join(details['log_tables'])}")
    click.echo(f"⚡️ To restore to this specific bookmark, run:\n `sonicpy d1 time-travel restore {database} "
               f"--bookmark={bookmark}`")


@time_travel_group.command("restore")
@click.argument("database")
@click.option("--bookmark", default=None, help="A bookmark from `time-travel info` (or a previous restore).")
@click.option("--timestamp", default=None,
              help="Unix seconds or an RFC 3339 time to restore to: the state after the last commit by then.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object only (and do not ask).")
@click.option("--yes", "-y", "yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--from-bucket", "from_bucket", is_flag=True,
              help="Rebuild from the history shipped to time_travel_bucket (another host's); "
                   "default time: the latest shipped.")
@runtime_options
def restore(runtime, database, bookmark, timestamp, as_json, yes, from_bucket):
    """Restore DATABASE to --bookmark or --timestamp, in one transaction; print the undo bookmark.

    Every change after that point is undone (rows edited, deleted or added since);
    the restore itself can be undone with the bookmark it prints. Running apps' cached
    responses are made stale afterwards. With --from-bucket, the database (migrated to
    the same schema, e.g. on a new host) is rebuilt from the snapshot and changes shipped
    to its time_travel_bucket, replacing every row it holds.

    Example: sonicpy d1 time-travel restore DB --timestamp 2025-10-01T00:00:00Z
    """
    if from_bucket:
        _restore_from_bucket(runtime, database, bookmark, timestamp, as_json, yes)
        return
    if bool(bookmark) == bool(timestamp):
        raise click.UsageError("Provide either a timestamp or a bookmark - not both, not neither.")
    _, db = _open(runtime, database)
    try:
        target = Bookmark.parse(bookmark) if bookmark else _bookmark(db, timestamp)
        time_travel.check_restorable(db, target)  # a refusal comes before the question
    except TimeTravelError as ex:
        raise click.ClickException(str(ex)) from None
    if not as_json:
        click.echo(f"🚧 Restoring database {database} from bookmark {target}")
        click.echo(f"⚠️ This will overwrite all data in database {database} changed since "
                   f"{time_travel.iso(target.at_ms)}.")
        if not yes and not click.confirm("OK to proceed (y/N)", default=False, show_default=False):
            click.echo("Not restoring.")
            return
        click.echo("⚡️ Time travel in progress...")
    try:
        restored = time_travel.restore(db, target)
    except TimeTravelError as ex:
        raise click.ClickException(str(ex)) from None
    follow_schemas(db)  # the schemas restored may declare other field indexes
    refresh_cache(runtime)
    if as_json:
        click.echo(json.dumps({"bookmark": str(restored.bookmark), "previous_bookmark": str(restored.previous_bookmark),
                               "changes_undone": restored.undone}, indent=2))
        return
    click.echo(f"✅ Database {database} restored back to bookmark {restored.bookmark} "
               f"({restored.undone} change(s) undone)")
    click.echo(f"↩️ To undo this operation, you can restore to the previous bookmark: {restored.previous_bookmark}")


def _restore_from_bucket(runtime, database, bookmark, timestamp, as_json, yes):
    if bookmark:
        raise click.UsageError("--from-bucket restores to a --timestamp (or the latest shipped point), "
                               "not a bookmark")
    table, db = _open(runtime, database)
    bucket = _history_bucket(runtime, table)
    at_ms = parse_timestamp(timestamp) if timestamp else None
    if not as_json:
        click.echo(f"🚧 Rebuilding database {database} from {table['binding']}'s history in {bucket.binding} "
                   f"as of {time_travel.iso(at_ms) if at_ms else 'the latest point shipped'}")
        click.echo(f"⚠️ This will replace all data in database {database}.")
        if not yes and not click.confirm("OK to proceed (y/N)", default=False, show_default=False):
            click.echo("Not restoring.")
            return
    try:
        rebuilt = time_travel.restore_from_bucket(db, bucket, time_travel.prefix_for(table), at_ms)
    except TimeTravelError as ex:
        raise click.ClickException(str(ex)) from None
    follow_schemas(db)
    refresh_cache(runtime)
    details = {"bookmark": str(rebuilt.bookmark), "timestamp": time_travel.iso(rebuilt.bookmark.at_ms),
               "snapshot": time_travel.iso(rebuilt.snapshot_at), "changes_replayed": rebuilt.replayed}
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    click.echo(f"✅ Database {database} rebuilt as of {details['timestamp']} (bookmark {rebuilt.bookmark}) from the "
               f"snapshot of {details['snapshot']} and {rebuilt.replayed} change(s) shipped after it")


@time_travel_group.command("ship")
@click.argument("database")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object only.")
@runtime_options
def ship(runtime, database, as_json):
    """Ship DATABASE's history to its time_travel_bucket now, as the cron handler does every run.

    Writes a base snapshot when the bucket has none (or the last is older than
    time_travel_snapshot_hours), otherwise the changes made since the last shipment.

    Example: sonicpy d1 time-travel ship DB --env production
    """
    table, db = _open(runtime, database)
    bucket = _history_bucket(runtime, table)
    try:
        shipped = time_travel.ship_history(db, table, bucket)
        reach = time_travel.reach(bucket, time_travel.prefix_for(table))
    except TimeTravelError as ex:
        raise click.ClickException(str(ex)) from None
    details = {"snapshots_shipped": shipped.snapshots, "changes_shipped": shipped.changes,
               "folders_deleted": shipped.folders_deleted,
               "earliest": time_travel.iso(reach[0]), "latest": time_travel.iso(reach[1])}
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    what = "a base snapshot" if shipped.snapshots else f"{shipped.changes} change(s)"
    click.echo(f"✅ Shipped {what} of {database} to {bucket.binding}; it can rebuild the database as of any "
               f"time from {details['earliest']} to {details['latest']}")
