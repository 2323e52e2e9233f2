"""``GET /admin/api/logs/export``: the logs the list's filters match, as a CSV or JSON download.

Needs ``logs.read``, as the list. ``format`` is ``csv`` (the default) or ``json``; anything
else is a 400. The rows are the list's (``log_json``), newest first, at most
``EXPORT_LIMIT``: ``X-Export-Truncated`` says ``true`` when more matched (and so does the
JSON's ``meta.truncated``). The file is named ``sonicpy-logs-<UTC time>.<format>``.

CSV has the JSON rows' keys as columns and ``data`` as JSON text. A text cell starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading ``'``:
a spreadsheet would run it as a formula, and a log row holds text anyone could send (a
URL, a user agent).
"""

import csv
import io
from datetime import UTC, datetime
from typing import Literal

import msgspec

from app.api.access import access
from app.api.describe import Header, Param, describe
from app.api.errors import invalid_param
from app.api.logs import LOG_FILTERS, log_filters
from app.api.private import NO_STORE
from app.api.schemas_admin import LogEntry, LogExport
from app.services.logs import export_logs, log_json

EXPORT_LIMIT = 10_000
FORMATS = ("csv", "json")
CSV_TYPE = "text/csv; charset=utf-8"
COLUMNS = tuple(field.encode_name for field in msgspec.structs.fields(LogEntry))
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
FORMAT = Param("format", Literal[FORMATS], "csv (the default) or json")
TRUNCATED = Header("X-Export-Truncated", f"true when more rows matched than the export holds ({EXPORT_LIMIT:,})",
                   Literal["true", "false"])
DISPOSITION = Header("Content-Disposition", 'attachment; filename="sonicpy-logs-<UTC time>.<format>"')


def export_format(req):
    """The ``format`` parameter (``csv`` when missing); 400 for another."""
    value = req.get_param("format") or "csv"
    if value not in FORMATS:
        raise invalid_param("format", "must be one of csv, json", allowed=list(FORMATS))
    return value


def spreadsheet_safe(text):
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = msgspec.json.encode(value).decode()
    return spreadsheet_safe(value) if isinstance(value, str) else value


def csv_text(entries):
    """``entries`` (``log_json`` rows) as CSV text, a header row first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows([_cell(entry[name]) for name in COLUMNS] for entry in entries)
    return out.getvalue()


def send_export(req, resp, filters):
    """Answer the export of the rows ``filters`` match, in the format ``req`` asks for.

    Raises:
        APIError: 400 for a format that is neither csv nor json.
    """
    chosen = export_format(req)
    rows, truncated = export_logs(filters, EXPORT_LIMIT)
    entries = [log_json(row) for row in rows]
    now = datetime.now(UTC)
    if chosen == "csv":
        resp.content_type = CSV_TYPE
        resp.text = csv_text(entries)
    else:
        exported_at = int(now.timestamp() * 1000)
        meta = {"count": len(entries), "limit": EXPORT_LIMIT, "truncated": truncated, "exported_at": exported_at}
        resp.media = {"data": entries, "meta": meta}
    resp.set_header("Content-Disposition", f'attachment; filename="sonicpy-logs-{now:%Y%m%dT%H%M%SZ}.{chosen}"')
    resp.set_header(TRUNCATED.name, "true" if truncated else "false")
    resp.cache_control = [NO_STORE]  # logs name people, addresses and what they did


class LogExportResource:
    """``GET /admin/api/logs/export``."""

    @access("logs.read")
    @describe(f"Download the logs the list's filters match, newest first (CSV or JSON, at most {EXPORT_LIMIT:,})",
              query=LOG_FILTERS + (FORMAT,), response=LogExport, alternatives=("text/csv",),
              headers={200: (DISPOSITION, TRUNCATED)})
    def on_get(self, req, resp):
        send_export(req, resp, log_filters(req))


def register(routes):
    """Mount ``/admin/api/logs/export``."""
    routes.add("/admin/api/logs/export", LogExportResource())
