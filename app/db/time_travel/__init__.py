"""Time travel: restore a DB binding's database to any point of its recent history.

The design, on SQLite and PostgreSQL alike:

* Migration 0018 adds ``d1_changes``, a change log, and ``d1_time_travel``, one row that
  describes it. Triggers on every tracked table log each INSERT, UPDATE and DELETE: the
  row's key and, before an UPDATE or DELETE, the whole row. History therefore costs one
  log row per row written, whatever the size of the database, and has the granularity of
  single changes (any millisecond can be named).
* The history lives in the database itself, so it is as safe as the database and travels
  with its backups. With ``time_travel_bucket`` naming an R2 binding, the cron handler
  also ships it there (``shipping``: a base snapshot a day plus the changes since, with
  the rows they wrote), so another host can rebuild the database at a point of the
  retention window after this one is lost.
* The migration runner removes the triggers before it applies migrations and installs
  them again after (``arm``), for the schema as it then is; that moment is the earliest a
  restore can reach, so a restore never crosses a schema change. Migrations that only
  create or drop indexes, triggers and views run with the triggers in place (they change
  no tracked table and write no row), and ``arm`` finds them current: the history, and
  the points a restore can reach, go on across them.
* Each change also names its transaction (``tx``, migration 0033), so a point chosen by
  time keeps the transactions committed by then, never part of one
  (``transactions``; on SQLite sonicpy's connections mark where transactions start,
  ``app.db.tx_marks``).
* ``restore`` undoes the changes after a bookmark, newest first, in one transaction, and
  returns the bookmark that undoes the restore itself.
* ``purge`` (run by the cron handler) deletes changes older than the retention window,
  ``time_travel_retention_days`` of the binding (default 30).
* ``time_travel = false`` on the binding turns it off: the migration runner then removes
  the triggers instead of installing them, so writes log nothing (on SQLite the triggers
  cost a content create about a third of its time, most of it under the write lock), and
  ``d1 time-travel`` refuses. Turning it on again arms at the next migrations apply, the
  earliest point a restore can then reach.
"""

from app.db.time_travel.history import (
    DAY_MS,
    Bookmark,
    History,
    Restored,
    TimeTravelError,
    arm,
    bookmark_at,
    check_armed,
    check_restorable,
    current_bookmark,
    disarm,
    iso,
    purge,
    read_history,
    restore,
    rows_written_since,
)
from app.db.time_travel.shipping import Rebuilt, Shipped, prefix_for, reach, restore_from_bucket, ship
from app.db.time_travel.triggers import log_tables
from app.db.time_travel.triggers import untracked as untracked_tables
from app.runtime.binding_values import shown, whole_number

DEFAULT_RETENTION_DAYS = 30
RETENTION_KEY = "time_travel_retention_days"
ENABLED_KEY = "time_travel"
BUCKET_KEY = "time_travel_bucket"
SNAPSHOT_HOURS_KEY = "time_travel_snapshot_hours"
DEFAULT_SNAPSHOT_HOURS = 24
# `media sweep` deletes every object of the media bucket that no media row names.
MEDIA_BUCKET = "MEDIA_BUCKET"


def enabled(binding):
    """Whether a ``[[d1_databases]]`` table keeps history (``time_travel``, default true).

    Raises:
        TimeTravelError: the value is not a boolean.
    """
    value = binding.get(ENABLED_KEY, True)
    if not isinstance(value, bool):
        raise TimeTravelError(f"{ENABLED_KEY} must be true or false, not {shown(value)}")
    return value


def retention_days(binding):
    """The retention window of a ``[[d1_databases]]`` table, in days (default 30).

    Raises:
        TimeTravelError: the value is not a whole number of days, at least 1.
    """
    return _whole_number(binding, RETENTION_KEY, DEFAULT_RETENTION_DAYS, "days")


def _whole_number(binding, key, default, unit):
    """``binding[key]`` (``default`` when absent), a whole number of ``unit``, at least 1."""
    return whole_number(binding, key, default, least=1, unit=unit, error=TimeTravelError)


def bucket_binding(binding):
    """The R2 binding name history is shipped to (``time_travel_bucket``), or None.

    Raises:
        TimeTravelError: not a binding name, or the media bucket (its sweep would delete
            the shipped history).
    """
    value = binding.get(BUCKET_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TimeTravelError(f"{BUCKET_KEY} must name an [[r2_buckets]] binding, not {shown(value)}")
    if value == MEDIA_BUCKET:
        raise TimeTravelError(f"{BUCKET_KEY} cannot be {MEDIA_BUCKET}: `media sweep` deletes the objects no media "
                              "row names. Declare a bucket of its own ([[r2_buckets]] binding = \"HISTORY_BUCKET\")")
    return value


def snapshot_hours(binding):
    """Hours between base snapshots shipped to the bucket (``time_travel_snapshot_hours``, default 24).

    Raises:
        TimeTravelError: the value is not a whole number of hours, at least 1.
    """
    return _whole_number(binding, SNAPSHOT_HOURS_KEY, DEFAULT_SNAPSHOT_HOURS, "hours")


def ship_history(db, binding, bucket):
    """Ship DB's history to ``bucket`` as ``binding`` (its ``[[d1_databases]]`` table) configures."""
    return ship(db, bucket, prefix_for(binding), retention_days(binding), snapshot_hours(binding))


def ship_history_to_bucket(event, env):
    """Cron job: ship DB's history to its ``time_travel_bucket``, when one is configured."""
    config = env.DB.config
    name = bucket_binding(config)
    if name is None or not enabled(config):
        return {"history_snapshots_shipped": 0, "history_changes_shipped": 0}
    shipped = ship_history(env.DB.db, config, getattr(env, name))
    return {"history_snapshots_shipped": shipped.snapshots, "history_changes_shipped": shipped.changes,
            "history_folders_deleted": shipped.folders_deleted}


def purge_expired_history(event, env):
    """Cron job: delete DB's changes older than its retention window."""
    return {"changes_purged": purge(env.DB.db, retention_days(env.DB.config), event.scheduled_time)}


__all__ = [
    "BUCKET_KEY", "DAY_MS", "DEFAULT_RETENTION_DAYS", "RETENTION_KEY", "SNAPSHOT_HOURS_KEY", "Bookmark", "History",
    "Rebuilt", "Restored", "Shipped", "bucket_binding", "prefix_for", "reach", "restore_from_bucket", "ship",
    "ship_history", "ship_history_to_bucket", "snapshot_hours",
    "TimeTravelError", "arm", "bookmark_at", "check_armed", "check_restorable", "current_bookmark", "disarm", "iso",
    "purge", "purge_expired_history", "read_history", "restore", "retention_days", "rows_written_since",
    "untracked_tables", "log_tables",
]
