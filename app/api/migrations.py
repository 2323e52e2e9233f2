"""``/admin/api/migrations/*``: SonicJS's migration status, validation and run, over ``MigrationRunner``.

The files are the DB binding's ``migrations_dir`` and the tracking table its
``migrations_table``, as ``d1 migrations list|apply`` use them, so the CLI and these routes
always agree. Reading the state needs ``settings.read``; applying needs
``settings.update`` (admins), as SonicJS runs them for admins only.

A migration entry keeps SonicJS's keys (``id``, ``name``, ``filename``, ``description``,
``applied``, ``appliedAt``, ``size``) and adds ``status``: ``applied``, ``pending``,
``changed`` (the file differs from what was applied) or ``missing`` (applied, file gone).
"""

from typing import Literal

import msgspec

from app.api.access import access
from app.api.describe import describe
from app.services.cache import invalidate_all
from app.services.migrations import apply_migrations, migration_issues, migration_state


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


class MigrationStatusResource:
    """``GET /admin/api/migrations/status``."""

    @access("settings.read")
    @describe("Every migration file and whether it is applied", response=MigrationsStatus)
    def on_get(self, req, resp):
        resp.media = {"success": True, "data": migration_state(req.context.env)}


class MigrationValidateResource:
    """``GET /admin/api/migrations/validate``."""

    @access("settings.read")
    @describe("Whether the database is exactly what the migration files say", response=MigrationsValidation)
    def on_get(self, req, resp):
        issues = migration_issues(req.context.env)
        resp.media = {"success": True, "data": {"valid": not issues, "issues": issues}}


class MigrationRunResource:
    """``POST /admin/api/migrations/run``: apply the pending files, each in its own transaction.

    A file that fails is rolled back and answered 409 with its name and the database's
    error; the files before it stay applied, as with ``d1 migrations apply``.
    """

    def __init__(self, cache):
        self._cache = cache

    @access("settings.update")
    @describe("Apply the pending migrations", response=MigrationsRun)
    def on_post(self, req, resp):
        try:
            done = apply_migrations(req.context.env)
        finally:
            # What a run changes may be cached by every worker: applied files (a role's
            # grants, settings), the files before a failed one, and even a run with none to
            # apply, which reinstalls the derived tables' triggers and recounts them.
            invalidate_all(self._cache)
        message = f"Applied {len(done)} migration(s)" if done else "No migrations to apply"
        resp.media = {"success": True, "message": message, "applied": done}


def register(routes):
    """Mount the migration routes."""
    routes.add("/admin/api/migrations/status", MigrationStatusResource())
    routes.add("/admin/api/migrations/validate", MigrationValidateResource())
    routes.add("/admin/api/migrations/run", MigrationRunResource(routes.services.cache))
