"""``GET /admin/api/logs``: system logs (request logs, workflow moves...), newest first; ``/{log_id}`` one.

Needs ``logs.read`` (admins and editors). Filters: ``level``, ``category``, ``status``
(a status code), ``user`` (a user id), ``since`` and ``until`` (epoch milliseconds,
inclusive), ``search`` (text in the message or the URL); ``page`` and ``limit`` (1 to 100,
default 50). The answer is the list envelope ``{data, meta}``; a filter that is not valid
is a 400 naming it. ``GET /admin/api/logs/{log_id}`` answers one row in the same shape
(404 for an id no row has). Export, settings and cleanup: ``log_export``, ``log_config``.
"""

from typing import Annotated, Literal

import msgspec

from app.api.access import access
from app.api.describe import Param, describe, paged
from app.api.errors import invalid_param
from app.api.params import limit_param, page_param
from app.api.private import no_store
from app.api.schemas import Listed, One
from app.api.schemas_admin import LogEntry
from app.services.logs import CATEGORIES, LEVELS, LogFilters, get_log, list_logs, log_json
from app.services.pagination import pagination_meta

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MAX_TIME_MS = 2**53
_TIME = Annotated[int, msgspec.Meta(ge=0, le=MAX_TIME_MS)]
LOG_FILTERS = (
    Param("level", Literal[tuple(LEVELS)]),
    Param("category", Literal[tuple(CATEGORIES)]),
    Param("status", Annotated[int, msgspec.Meta(ge=100, le=599)], "a status code"),
    Param("user", str, "a user id"),
    Param("since", _TIME, "epoch milliseconds, inclusive"),
    Param("until", _TIME, "epoch milliseconds, inclusive"),
    Param("search", str, "text in the message or the URL"),
)


def _choice(req, name, allowed):
    value = req.get_param(name)
    if value is not None and value not in allowed:
        raise invalid_param(name, f"must be one of {', '.join(allowed)}", allowed=list(allowed))
    return value


def log_filters(req):
    """The filters of the query string (400 for a bad value)."""
    return LogFilters(
        level=_choice(req, "level", LEVELS),
        category=_choice(req, "category", CATEGORIES),
        status=req.get_param_as_int("status", min_value=100, max_value=599),
        user_id=req.get_param("user") or None,
        since=req.get_param_as_int("since", min_value=0, max_value=MAX_TIME_MS),
        until=req.get_param_as_int("until", min_value=0, max_value=MAX_TIME_MS),
        search=(req.get_param("search") or "").strip() or None,
    )


class LogsResource:
    """``GET /admin/api/logs``."""

    @access("logs.read")
    @describe("System logs, newest first", query=paged(DEFAULT_LIMIT, MAX_LIMIT) + LOG_FILTERS,
              response=Listed[LogEntry])
    @no_store  # logs name people, addresses and what they did: no shared cache keeps them
    def on_get(self, req, resp):
        filters = log_filters(req)
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total = list_logs(filters, page, limit)
        resp.media = {"data": [log_json(row) for row in rows], "meta": pagination_meta(total, limit, page)}


class LogResource:
    """``GET /admin/api/logs/{log_id}``: one row, as the list shows it."""

    @access("logs.read")
    @describe("One system log entry", response=One[LogEntry])
    @no_store
    def on_get(self, req, resp, log_id):
        resp.media = {"data": log_json(get_log(log_id))}


def register(routes):
    """Mount ``/admin/api/logs`` and ``/admin/api/logs/{log_id}``."""
    routes.add("/admin/api/logs", LogsResource())
    routes.add("/admin/api/logs/{log_id}", LogResource())
