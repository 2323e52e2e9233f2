"""``/admin/api/migrations/*``: SonicJS's migration status, validation and run, over ``MigrationRunner``.

The files are the DB binding's ``migrations_dir`` and the tracking table its
``migrations_table``, as ``d1 migrations list|apply`` use them, so the CLI and these routes
always agree. Reading the state needs ``settings.read``; applying needs
``settings.update`` (admins), as SonicJS runs them for admins only.

A migration entry keeps SonicJS's keys (``id``, ``name``, ``filename``, ``description``,
``applied``, ``appliedAt``, ``size``) and adds ``status``: ``applied``, ``pending``,
``changed`` (the file differs from what was applied) or ``missing`` (applied, file gone).
"""

from pathlib import Path
from typing import Literal

import falcon
import msgspec

from app.api.access import access
from app.api.describe import describe
from app.api.errors import APIError
from app.db import time_travel
from app.db.migrations import APPLIED, CHANGED, DEFAULT_TABLE, MISSING, PENDING, MigrationError, MigrationRunner


class MigrationEntry(msgspec.Struct):
    """One migration file, or a recorded one whose file is gone (``size`` null)."""

    id: str
    name: str
    filename: str
    description: str
    applied: bool
    appliedAt: str | None
    size: int | None
    status: Literal["applied", "pending", "changed", "missing"]


class MigrationsState(msgspec.Struct):
    """Every migration and the counts SonicJS's page shows."""

    totalMigrations: int
    appliedMigrations: int
    pendingMigrations: int
    lastApplied: str | None
    migrations: list[MigrationEntry]


class MigrationsStatus(msgspec.Struct):
    """``GET /admin/api/migrations/status``."""

    success: bool
    data: MigrationsState


class Validation(msgspec.Struct):
    """Whether the database is exactly what the files say; each difference as one sentence."""

    valid: bool
    issues: list[str]


class MigrationsValidation(msgspec.Struct):
    """``GET /admin/api/migrations/validate``."""

    success: bool
    data: Validation


class MigrationsRun(msgspec.Struct):
    """``POST /admin/api/migrations/run``: the files applied, by id (empty: nothing was pending)."""

    success: bool
    message: str
    applied: list[str]


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


def issues_of(runner):
    """What keeps the database from being exactly what the files say, one sentence each."""
    try:
        statuses = runner.list()
    except MigrationError as ex:  # the files themselves are wrong (a duplicate number)
        return [str(ex)]
    return [ISSUES[status.status].format(status.name) for status in statuses if status.status != APPLIED]


def _refusal(ex):
    details = {key: value for key, value in (("migration", ex.migration), ("cause", ex.cause and str(ex.cause)))
               if value}
    return APIError(falcon.HTTP_409, str(ex), details or None)


class MigrationStatusResource:
    """``GET /admin/api/migrations/status``."""

    @access("settings.read")
    @describe("Every migration file and whether it is applied", response=MigrationsStatus)
    def on_get(self, req, resp):
        try:
            resp.media = {"success": True, "data": state_of(runner_of(req.context.env))}
        except MigrationError as ex:
            raise _refusal(ex) from None


class MigrationValidateResource:
    """``GET /admin/api/migrations/validate``."""

    @access("settings.read")
    @describe("Whether the database is exactly what the migration files say", response=MigrationsValidation)
    def on_get(self, req, resp):
        issues = issues_of(runner_of(req.context.env))
        resp.media = {"success": True, "data": {"valid": not issues, "issues": issues}}


class MigrationRunResource:
    """``POST /admin/api/migrations/run``: apply the pending files, each in its own transaction.

    A file that fails is rolled back and answered 409 with its name and the database's
    error; the files before it stay applied, as with ``d1 migrations apply``.
    """

    @access("settings.update")
    @describe("Apply the pending migrations", response=MigrationsRun)
    def on_post(self, req, resp):
        try:
            done = runner_of(req.context.env).apply()
        except MigrationError as ex:
            raise _refusal(ex) from None
        message = f"Applied {len(done)} migration(s)" if done else "No migrations to apply"
        resp.media = {"success": True, "message": message, "applied": [migration_id(name) for name in done]}


def register(routes):
    """Mount the migration routes."""
    routes.add("/admin/api/migrations/status", MigrationStatusResource())
    routes.add("/admin/api/migrations/validate", MigrationValidateResource())
    routes.add("/admin/api/migrations/run", MigrationRunResource())
