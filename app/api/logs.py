"""``GET /admin/api/logs``: system logs (request logs, workflow moves...), newest first; ``/{log_id}`` one.

Needs ``logs.read`` (admins and editors). Filters (``app.api.log_filters``): ``level`` and
``category`` (comma-separated lists), ``status`` (a status code), ``user`` (a user id),
``source``, ``since`` and ``until`` (epoch milliseconds, inclusive), ``start_date`` and
``end_date`` (ISO 8601 dates or date-times), ``search`` (text in the message or the URL);
``page`` and ``limit`` (1 to 100, default 50). The answer is the list envelope ``{data,
meta}``; filters that are not valid are a 400 naming each. ``GET /admin/api/logs/{log_id}``
answers one row in the same shape (404 for an id no row has). Export, settings and cleanup:
``log_export``, ``log_config``.
"""

from app.api.access import access
from app.api.describe import describe, paged
from app.api.log_filters import LOG_FILTERS, log_filters
from app.api.params import limit_param, page_param
from app.api.private import no_store
from app.api.schemas import Listed, One
from app.api.schemas_admin import LogEntry
from app.services.logs import get_log, list_logs, log_json
from app.services.pagination import pagination_meta

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


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
