"""``GET /admin/api/logs/export``: the logs the list's filters match, as a CSV or JSON download.

Needs ``logs.read``, as the list. The rows are the list's (``log_json``); the format, the row
limit, ``X-Export-Truncated`` and the CSV's cells are every export's (``app.api.exports``).
The file is named ``sonicpy-logs-<UTC time>.<format>``; the CSV has the JSON rows' keys as
columns and ``data`` as JSON text.
"""

import msgspec

from app.api.access import access
from app.api.describe import Header, describe
from app.api.exports import EXPORT_LIMIT, FORMAT, TRUNCATED, send_export
from app.api.logs import LOG_FILTERS, log_filters
from app.api.schemas_admin import LogEntry, LogExport
from app.services.logs import export_logs, log_json

COLUMNS = tuple(field.encode_name for field in msgspec.structs.fields(LogEntry))
DISPOSITION = Header("Content-Disposition", 'attachment; filename="sonicpy-logs-<UTC time>.<format>"')


def _csv_rows(entries):
    return [COLUMNS, *([entry[name] for name in COLUMNS] for entry in entries)]


def send_log_export(req, resp, filters):
    """Answer the export of the rows ``filters`` match, in the format ``req`` asks for.

    Raises:
        APIError: 400 for a format that is neither csv nor json.
    """

    def read(limit):
        rows, truncated = export_logs(filters, limit)
        return [log_json(row) for row in rows], truncated

    send_export(req, resp, read, _csv_rows, "sonicpy-logs")


class LogExportResource:
    """``GET /admin/api/logs/export``."""

    @access("logs.read")
    @describe(f"Download the logs the list's filters match, newest first (CSV or JSON, at most {EXPORT_LIMIT:,})",
              query=LOG_FILTERS + (FORMAT,), response=LogExport, alternatives=("text/csv",),
              headers={200: (DISPOSITION, TRUNCATED)})
    def on_get(self, req, resp):
        send_log_export(req, resp, log_filters(req))


def register(routes):
    """Mount ``/admin/api/logs/export``."""
    routes.add("/admin/api/logs/export", LogExportResource())
