"""CSV and JSON downloads: the rules the logs' and the forms' exports share (the users
list's CSV, ``app.admin.users_export``, takes its cells, row limit and truncation header
from here too).

``format`` is ``csv`` (the default) or ``json``; anything else is a 400. A download holds at
most ``EXPORT_LIMIT`` rows, newest first: ``X-Export-Truncated`` says ``true`` when more
matched (and so does the JSON's ``meta.truncated``). It is never stored by a cache: both
hold what people sent.

A CSV cell reads as the JSON value does: None is empty, a boolean ``true`` or ``false``, an
object or a list its JSON text. A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a
carriage return, a line feed or a NUL is written with a leading ``'``: a spreadsheet would
run it as a formula, and an export holds text anyone could send (a URL, a user agent, what a
visitor typed).
"""

import csv
import io
import re
from datetime import UTC, datetime
from typing import Literal

import msgspec

from app.api.describe import Header, Param
from app.api.errors import invalid_param
from app.api.private import NO_STORE

EXPORT_LIMIT = 10_000
FORMATS = ("csv", "json")
CSV_TYPE = "text/csv; charset=utf-8"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
FORMAT = Param("format", Literal[FORMATS], "csv (the default) or json")
TRUNCATED = Header("X-Export-Truncated", f"true when more rows matched than the export holds ({EXPORT_LIMIT:,})",
                   Literal["true", "false"])
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def export_format(req):
    """The ``format`` parameter (``csv`` when missing); 400 for another."""
    value = req.get_param("format") or "csv"
    if value not in FORMATS:
        raise invalid_param("format", "must be one of csv, json", allowed=list(FORMATS))
    return value


def spreadsheet_safe(text):
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value):
    """``value`` (as the JSON export shows it) as a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        value = msgspec.json.encode(value).decode()
    return spreadsheet_safe(value) if isinstance(value, str) else value


def csv_text(rows):
    """``rows`` (lists of values, the header row first) as CSV text, each value a ``cell``."""
    out = io.StringIO()
    csv.writer(out).writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()


def send_export(req, resp, read, csv_rows, name):
    """Answer a download in the format ``req`` asks for.

    Args:
        req: the request (its ``format`` parameter).
        resp: the response to fill.
        read: ``read(limit)`` gives ``(entries, truncated)``: at most ``limit`` rows as the JSON
            shows them, and whether more matched.
        csv_rows: ``csv_rows(entries)`` gives the CSV's rows of values, the header row first.
        name: the file's name before ``-<UTC time>.<format>``; only ``[A-Za-z0-9._-]`` of it
            reaches the header, whatever a stored name holds.

    Raises:
        APIError: 400 for a format that is neither csv nor json (before anything is read).
    """
    chosen = export_format(req)
    entries, truncated = read(EXPORT_LIMIT)
    now = datetime.now(UTC)
    if chosen == "csv":
        resp.content_type = CSV_TYPE
        resp.text = csv_text(csv_rows(entries))
    else:
        meta = {"count": len(entries), "limit": EXPORT_LIMIT, "truncated": truncated,
                "exported_at": int(now.timestamp() * 1000)}
        resp.media = {"data": entries, "meta": meta}
    send_as_file(resp, f"{name}-{now:%Y%m%dT%H%M%SZ}.{chosen}", truncated)


def send_as_file(resp, filename, truncated):
    """Make ``resp`` the download ``filename`` (only ``[A-Za-z0-9._-]`` of it reaches the
    header), saying whether rows were left out (``truncated``), never stored by a cache."""
    filename = _UNSAFE_IN_FILENAME.sub("_", filename)
    resp.set_header("Content-Disposition", f'attachment; filename="{filename}"')
    resp.set_header(TRUNCATED.name, "true" if truncated else "false")
    resp.cache_control = [NO_STORE]
