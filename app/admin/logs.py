"""System logs (``logs.read``): a filterable, paged table over ``system_logs``.

The filters and the query are those of ``GET /admin/api/logs`` (``app.api.log_filters``):
levels, categories, status code, user, source, a time range and text in the message or URL.
The page takes the levels and categories from multiple selects, the user as an email address
(or a user id) and the time range as ``start_date``/``end_date`` (the browser's
``datetime-local`` inputs, read as UTC, or ISO dates; ``since``/``until``, their names in
older links, stand for them); a value it cannot read is left out of the filter and named
on the page. The form shows what is applied, not the text sent: the levels and categories
read, and the range as UTC date-times its inputs can hold (``range_inputs``). Each row names
its user by email address (one lookup for the page's users), linked to the page filtered by
that user, and its time links to the row's own page.

The list links to the export of what it shows (``/admin/logs/export``, CSV or JSON, the
same file as ``GET /admin/api/logs/export``, which refuses a filter it cannot read) and,
for holders of ``settings.update`` (admins), offers a button applying every category's
retention now. The settings of each category are ``app.admin.log_config``'s page.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from app.admin.pages import page_number, redirect
from app.api.access import access
from app.api.errors import INVALID_PARAMETERS, bad_request
from app.api.exports import EXPORT_LIMIT, FORMATS
from app.api.log_config import WRITE_PERMISSION
from app.api.log_export import send_log_export
from app.api.log_filters import last_given, query_values, read_log_filters
from app.services.log_config import apply_retention
from app.services.logs import CATEGORIES, LEVELS, emails_of, get_log, list_logs, log_json, user_id_of
from app.services.pagination import pagination_meta

PAGE_SIZE = 50
MAX_TEXT = 200
FILTER_NAMES = ("level", "category", "status", "user", "source", "start_date", "end_date", "search")
LISTS = ("level", "category")  # a multiple select sends each value chosen: kept as one comma-separated value
OLDER_NAMES = {"since": "start_date", "until": "end_date"}  # the page's range in links made before
_EPOCH = datetime(1970, 1, 1)  # naive: an input names UTC without saying so
# A datetime-local input's units, coarsest first: milliseconds, isoformat's timespec, the
# input's step in seconds (None: its own, 60).
_UNITS = ((60_000, "minutes", None), (1_000, "seconds", "1"), (1, "milliseconds", "0.001"))


def _text_of(name, texts):
    """The page's text of ``name`` given ``texts``: a list's values comma-joined, else the one
    the API would take (``last_given``); trimmed, bounded."""
    text = ",".join(texts) if name in LISTS else (last_given(texts) or "")
    return text.strip()[:MAX_TEXT]


def page_query(given):
    """``{name: text}`` of the page's filters, ``since``/``until`` standing for the range's names.

    Args:
        given: ``(name) -> [str, ...]``: every value sent for ``name`` (by a query string or a
            form), in order; a name not listed here is not asked for.
    """
    query = {name: _text_of(name, given(name)) for name in FILTER_NAMES}
    for older, name in OLDER_NAMES.items():
        query[name] = query[name] or _text_of(older, given(older))
    return query


def filters_of(query):
    """``(LogFilters, problems)`` of a ``page_query``: the user found by email address or id."""
    user = query["user"]
    # An unknown user matches no row (its text is used as the id) rather than every row.
    user_id = (user_id_of(user) or user) if user else None
    values = {**query, "user": user_id}
    return read_log_filters(lambda name: [values[name]] if values.get(name) else [])


def read_filters(req):
    """``(query, LogFilters, problems)``: what the form says, the filters, the names of the values left out."""
    query = page_query(query_values(req))
    filters, problems = filters_of(query)
    return query, filters, [problem["parameter"] for problem in problems]


def _local_input(first_ms, unit):
    """``{value, step}`` of a ``datetime-local`` input naming the UTC ``unit`` that starts at ``first_ms``."""
    _, timespec, step = unit
    return {"value": (_EPOCH + timedelta(milliseconds=first_ms)).isoformat(timespec=timespec), "step": step}


def _coarsest_unit(ms):
    """The coarsest input unit that starts at ``ms``."""
    return next(unit for unit in _UNITS if ms % unit[0] == 0)


def _start_input(first_ms):
    return _local_input(first_ms, _coarsest_unit(first_ms))


def _end_input(last_ms):
    unit = _coarsest_unit(last_ms + 1)  # the coarsest unit that ends at last_ms
    return _local_input(last_ms + 1 - unit[0], unit)


def range_inputs(filters):
    """``{start_date, end_date}``: the range applied as the form's ``datetime-local`` inputs
    show it (``{value, step}``, UTC; an empty value for an open side).

    An input cannot hold a date alone, a zone or an offset, and a browser blanks such a value
    (which Apply would then drop): each bound is written back as the UTC minute, second or
    millisecond it names, the coarsest that says the same. An end is the last millisecond of
    its unit, so it is written as that unit (a date's end 23:59:59.999 as ``T23:59``), which
    the end's rule reads back as the same bound.
    """
    open_side = {"value": "", "step": None}
    return {
        "start_date": open_side if filters.since is None else _start_input(filters.since),
        "end_date": open_side if filters.until is None else _end_input(filters.until),
    }


def query_link(path, query, left_out=(), **more):
    """``path`` with the filters of a page's ``query`` (less those named in ``left_out``) and ``more``."""
    kept = {name: value for name, value in query.items() if value and name not in left_out}
    return f"{path}?{urlencode({**kept, **more})}"


def export_links(query, left_out=(), path="/admin/logs/export"):
    """``{format: URL}`` of the export at ``path`` of what the page's filters (``query``)
    select: the filters named in ``left_out``, which the page could not read, are not in it
    (the export refuses them), so the file holds the rows the page lists."""
    return {chosen: query_link(path, query, left_out, format=chosen) for chosen in FORMATS}


def _cleaned(req):
    """The row count a cleanup redirected with (``?cleaned=N``), or None."""
    raw = req.get_param("cleaned") or ""
    return int(raw) if raw.isdecimal() and len(raw) < 16 else None


class LogsPage:
    """``GET /admin/logs``."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("logs.read")
    def on_get(self, req, resp):
        query, filters, problems = read_filters(req)
        page = page_number(req)
        rows, total = list_logs(filters, page, PAGE_SIZE)
        logs = [log_json(row) for row in rows]
        self._renderer.page(
            req, resp, "logs.html", logs=logs, emails=emails_of(entry["user_id"] for entry in logs),
            meta=pagination_meta(total, PAGE_SIZE, page), query=query, problems=problems, levels=LEVELS,
            chosen_levels=filters.level or (), chosen_categories=filters.category or (), **range_inputs(filters),
            categories=CATEGORIES, exports=export_links(query, problems), export_limit=EXPORT_LIMIT,
            cleaned=_cleaned(req), can_clean=req.context.user.can(WRITE_PERMISSION),
        )


class LogPage:
    """``GET /admin/logs/{log_id}``: one row, every field the API shows (404 page for no such row)."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("logs.read")
    def on_get(self, req, resp, log_id):
        entry = log_json(get_log(log_id))
        email = emails_of([entry["user_id"]]).get(entry["user_id"])
        self._renderer.page(req, resp, "log.html", entry=entry, email=email)


class LogsExport:
    """``GET /admin/logs/export``: the page's filters, read as the page reads them, as a download.

    A filter it cannot read is refused, as the API's export refuses it, rather than left out
    as the page does: a file holding more rows than asked for would pass unnoticed. The
    page's own links leave such filters out (``export_links``).

    Raises:
        APIError: 400 naming each filter that cannot be read (the admin's error page for a
            browser).
    """

    @access("logs.read")
    def on_get(self, req, resp):
        filters, problems = filters_of(page_query(query_values(req)))
        if problems:
            raise bad_request(INVALID_PARAMETERS, problems)
        send_log_export(req, resp, filters)


class LogsCleanupAction:
    """``POST /admin/logs/cleanup``: every category's retention applied now; back to the list,
    which says how many rows went."""

    @access(WRITE_PERMISSION)
    def on_post(self, req, resp):
        redirect(resp, f"/admin/logs?cleaned={sum(apply_retention().values())}")
