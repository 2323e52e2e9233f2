"""``/admin/api/logs/config`` and ``/admin/api/logs/cleanup``: each category's logging settings, and retention now.

Reading the settings needs ``logs.read``, as the logs; changing them and cleaning up need
``settings.update`` (admins): both change what every later reader of the logs will find,
and SonicJS lets only admins clean up.

``PUT /admin/api/logs/config/{category}`` (``POST`` too, SonicJS's method) changes the
fields its body names (``enabled``, ``level``, ``retention_days``, ``max_size_mb``) and
keeps the others; a body naming none is a 400, an unknown category a 404 and a value out
of range a 422 naming the field. Retention is at least a day: a row of 0 would delete every
row of its category at each cron run. The change applies to the next row every worker
writes (nothing caches ``log_config``: ``app.services.log_config``).

``POST /admin/api/logs/cleanup`` deletes now what the cron handler would: every row older
than its category's retention, in one transaction, and answers the count per category.
"""

from typing import Annotated, Literal

import msgspec

from app.api.access import access
from app.api.describe import describe
from app.api.errors import nothing_to_update, read_body
from app.api.private import no_store
from app.api.schemas import One, SuccessOf
from app.api.schemas_admin import LogCategoryConfig, LogCleanup
from app.services import log_config
from app.services.logs import LEVELS

MAX_RETENTION_DAYS = 36_500  # a century; also keeps the purge's cutoff far inside a BIGINT
MAX_SIZE_MB = 1_000_000
WRITE_PERMISSION = "settings.update"


class LogConfigChange(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``PUT /admin/api/logs/config/{category}``: any of the editable fields."""

    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    level: Literal[LEVELS] | msgspec.UnsetType = msgspec.UNSET
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=MAX_RETENTION_DAYS)] | msgspec.UnsetType = msgspec.UNSET
    max_size_mb: Annotated[int, msgspec.Meta(ge=1, le=MAX_SIZE_MB)] | msgspec.UnsetType = msgspec.UNSET


def changes_of(body):
    """``{column: value}`` of the fields ``body`` (a ``LogConfigChange``) names."""
    return {name: getattr(body, name) for name in log_config.EDITABLE if getattr(body, name) is not msgspec.UNSET}


class LogConfigResource:
    """``GET /admin/api/logs/config``."""

    @access("logs.read")
    @describe("Every log category's settings", response=One[list[LogCategoryConfig]])
    @no_store
    def on_get(self, req, resp):
        resp.media = {"data": log_config.all_configs()}


class LogCategoryConfigResource:
    """``PUT`` (or ``POST``) ``/admin/api/logs/config/{category}``."""

    @access(WRITE_PERMISSION)
    @describe("Change a log category's settings (the fields the body names)", body=LogConfigChange,
              response=One[LogCategoryConfig])
    @no_store
    def on_put(self, req, resp, category):
        log_config.require_category(category)  # an unknown category is a 404 whatever the body says
        changes = changes_of(read_body(req, LogConfigChange))
        if not changes:
            raise nothing_to_update()
        resp.media = {"data": log_config.update_config(category, changes)}

    on_post = on_put


class LogCleanupResource:
    """``POST /admin/api/logs/cleanup``."""

    @access(WRITE_PERMISSION)
    @describe("Apply every category's retention now", response=SuccessOf[LogCleanup])
    def on_post(self, req, resp):
        deleted = log_config.apply_retention()
        resp.media = {"success": True, "data": {"deleted": deleted, "total": sum(deleted.values())}}


def register(routes):
    """Mount the log settings and cleanup routes."""
    routes.add("/admin/api/logs/config", LogConfigResource())
    routes.add("/admin/api/logs/config/{category}", LogCategoryConfigResource())
    routes.add("/admin/api/logs/cleanup", LogCleanupResource())
