"""Time travel: restore a DB binding's database to any point of its recent history.

The design, on SQLite and PostgreSQL alike:

* Migration 0018 adds ``d1_changes``, a change log, and ``d1_time_travel``, one row that
  describes it. Triggers on every tracked table log each INSERT, UPDATE and DELETE: the
  row's key and, before an UPDATE or DELETE, the whole row. History therefore costs one
  log row per row written, whatever the size of the database, and has the granularity of
  single changes (any millisecond can be named).
* The history lives in the database itself, so it is as safe as the database and travels
  with its backups.
* The migration runner removes the triggers before it applies migrations and installs
  them again after (``arm``), for the schema as it then is; that moment is the earliest a
  restore can reach, so a restore never crosses a schema change.
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
    current_bookmark,
    disarm,
    iso,
    purge,
    read_history,
    restore,
    rows_written_since,
)
from app.db.time_travel.triggers import untracked as untracked_tables

DEFAULT_RETENTION_DAYS = 30
RETENTION_KEY = "time_travel_retention_days"
ENABLED_KEY = "time_travel"


def enabled(binding):
    """Whether a ``[[d1_databases]]`` table keeps history (``time_travel``, default true).

    Raises:
        TimeTravelError: the value is not a boolean.
    """
    value = binding.get(ENABLED_KEY, True)
    if not isinstance(value, bool):
        raise TimeTravelError(f"{ENABLED_KEY} must be true or false (got {value!r})")
    return value


def retention_days(binding):
    """The retention window of a ``[[d1_databases]]`` table, in days (default 30).

    Raises:
        TimeTravelError: the value is not a whole number of days, at least 1.
    """
    value = binding.get(RETENTION_KEY, DEFAULT_RETENTION_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TimeTravelError(f"{RETENTION_KEY} must be a whole number of days, at least 1 (got {value!r})")
    return value


def purge_expired_history(event, env):
    """Cron job: delete DB's changes older than its retention window."""
    return {"changes_purged": purge(env.DB.db, retention_days(env.DB.config), event.scheduled_time)}


__all__ = [
    "DAY_MS", "DEFAULT_RETENTION_DAYS", "RETENTION_KEY", "Bookmark", "History", "Restored",
    "TimeTravelError", "arm", "bookmark_at", "check_armed", "current_bookmark", "disarm", "iso",
    "purge", "purge_expired_history", "read_history", "restore", "retention_days", "rows_written_since",
    "untracked_tables",
]
