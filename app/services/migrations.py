"""The migrations of an env's DB binding, as the admin API reads and applies them.

The files are the binding's ``migrations_dir`` and the tracking table its
``migrations_table``, run by the same ``MigrationRunner`` as ``d1 migrations list|apply``,
so the CLI and the API always agree.
"""

from pathlib import Path

from app.db import time_travel
from app.db.migrations import APPLIED, CHANGED, DEFAULT_TABLE, MISSING, PENDING, MigrationError, MigrationRunner
from app.services.errors import CONFLICT, ServiceError


def runner_of(env):
    """The ``MigrationRunner`` of ``env``'s DB binding, as ``d1 migrations`` builds it."""
    table = env.DB.config
    return MigrationRunner(env.DB.db, Path(table.get("migrations_dir", "migrations")),
                           table.get("migrations_table", DEFAULT_TABLE), keep_history=time_travel.enabled(table))


def migration_id(filename):
    """The number a migration file starts with (``0007`` of ``0007_media.sql``)."""
    return filename.partition("_")[0]


def describe_file(runner, filename):
    """``(name, description, size)`` of a migration file: its name in words, its first comment line
    (``-- Migration 0001: initial schema`` gives ``initial schema``) and its size; ``size`` None when gone."""
    stem = Path(filename).stem.partition("_")[2] or Path(filename).stem
    name = stem.replace("_", " ")
    path = runner.migrations_dir / filename
    if not path.is_file():
        return name, "", None
    with path.open(encoding="utf-8", errors="replace") as lines:
        first = lines.readline().strip()
    description = first[2:].strip() if first.startswith("--") else ""
    return name, description.partition(": ")[2] or description, path.stat().st_size


def state_of(runner):
    """The ``MigrationsState`` body of ``runner``'s files and tracking table."""
    entries = []
    for status in runner.list():
        name, description, size = describe_file(runner, status.name)
        entries.append({
            "id": migration_id(status.name), "name": name, "filename": status.name, "description": description,
            "applied": status.status != PENDING, "appliedAt": status.applied_at, "size": size,
            "status": status.status,
        })
    applied = [entry for entry in entries if entry["applied"]]
    return {
        "totalMigrations": len(entries), "appliedMigrations": len(applied),
        "pendingMigrations": len(entries) - len(applied),
        "lastApplied": applied[-1]["filename"] if applied else None, "migrations": entries,
    }


ISSUES = {
    PENDING: "{} is not applied",
    CHANGED: "{} was changed after it was applied",
    MISSING: "{} was applied but its file is gone",
}


OUTDATED_ISSUE = ("the derived objects {} are missing or out of date (search may fail, totals and public media "
                  "may miss content writes): running the migrations installs them, with none pending too")


def issues_of(runner):
    """What keeps the database from being exactly what the files say, one sentence each; and
    derived objects (search index, triggers) an apply would install: a database loaded from
    an SQL dump has none, with every file applied."""
    try:
        statuses = runner.list()
    except MigrationError as ex:  # the files themselves are wrong (a duplicate number)
        return [str(ex)]
    issues = [ISSUES[status.status].format(status.name) for status in statuses if status.status != APPLIED]
    outdated = runner.outdated_objects()
    return issues + ([OUTDATED_ISSUE.format(", ".join(outdated))] if outdated else [])


class MigrationFailed(ServiceError):
    """A migration file could not be read or applied (409): the message names it."""

    kind = CONFLICT

    @classmethod
    def of(cls, ex):
        """The refusal of the MigrationError ``ex``, with the file and the database's error."""
        details = {key: value for key, value in (("migration", ex.migration), ("cause", ex.cause and str(ex.cause)))
                   if value}
        return cls(str(ex), details or None)


def migration_state(env):
    """The state of ``env``'s migrations (``state_of``); MigrationFailed when the files are wrong."""
    try:
        return state_of(runner_of(env))
    except MigrationError as ex:
        raise MigrationFailed.of(ex) from None


def migration_issues(env):
    """``issues_of`` ``env``'s migrations."""
    return issues_of(runner_of(env))


def apply_migrations(env):
    """Apply ``env``'s pending migrations; the ids applied. MigrationFailed names the file that failed."""
    try:
        return [migration_id(name) for name in runner_of(env).apply()]
    except MigrationError as ex:
        raise MigrationFailed.of(ex) from None
