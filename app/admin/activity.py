"""The activity page (``logs.read``), SonicJS's ``/admin/activity-logs``: who did what, newest first.

The entries are ``GET /admin/api/activity``'s (``app.services.activity``): content writes and
workflow moves, plugin activations, deactivations and settings changes. The page filters
them by ``type`` (content or plugin), ``action`` (exactly, such as ``updated``), ``user`` (an
email address or a user id) and a UTC time range (``start_date``/``end_date``, read as the
logs page reads them, ``app.api.log_filters.instant_ms``), and pages by position: "Older"
links to the entries after the page's last one (``before``, its timestamp and id), so a
page costs the same at any depth. A value it cannot read answers 400, naming it, with the
list filtered by the rest (a ``before`` it cannot read: the list from the newest).

Each row links its user's page for a viewer who may see users, and its content item's edit
page while the item is live in an active collection. ``/admin/activity-logs/export`` answers
the entries the filters select as a CSV (or JSON) download, at most ``EXPORT_LIMIT`` of
them, through the export rules every export shares (``app.api.exports``); it refuses a
filter it cannot read rather than export more than asked for.
"""

import re

import falcon

from app.admin.logs import export_links, query_link, range_inputs
from app.api.access import access
from app.api.activity import entry_json
from app.api.errors import INVALID_PARAMETERS, bad_request
from app.api.exports import EXPORT_LIMIT, send_export
from app.api.log_filters import Refused, instant_ms, last_given, query_values
from app.services.activity import NO_USER, TYPES, ActivityFilters, activity, live_items, position
from app.services.logs import typed_email, user_id_of

PATH = "/admin/activity-logs"
PAGE_SIZE = 50
MAX_TEXT = 200
FILTER_NAMES = ("type", "action", "user", "start_date", "end_date")
_ACTION = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# A row's time and id: any id a row can hold (TEXT: a hand-written one may hold a newline, or
# be long), so that the Older link after any entry reads back; a time that fits the column.
_BEFORE = re.compile(r"(?P<timestamp>-?[0-9]{1,19}):(?P<id>.+)", re.DOTALL)
_TIMESTAMPS = range(-(2**63), 2**63)  # a BIGINT's
CSV_COLUMNS = ("timestamp", "type", "action", "user", "user_id", "resource_id", "title", "details")


def _type(text):
    if text not in TYPES:
        raise Refused(f"must be one of {', '.join(TYPES)}", allowed=list(TYPES))
    return text


def _action(text):
    if not _ACTION.fullmatch(text):
        raise Refused("must be an action's name: up to 64 letters, digits, '_', '.', ':' or '-'")
    return text


def _user(text):
    """A user id as typed, or the id of the user with this email address (which must exist)."""
    if typed_email(text) is None:
        return text  # an id matches the entries recorded with it, its account gone or not
    found = user_id_of(text)
    if found is None:
        raise Refused("names no user (an email address or a user id)")
    return found


_PARSERS = {
    "type": _type,
    "action": _action,
    "user": _user,
    "start_date": instant_ms,
    "end_date": lambda text: instant_ms(text, end=True),
}


def page_query(given):
    """``{name: text}`` of the page's filters, each its last non-empty value, trimmed and bounded.

    Args:
        given: ``(name) -> [str, ...]``: every value sent for ``name``, in order.
    """
    return {name: (last_given(given(name)) or "").strip()[:MAX_TEXT] for name in FILTER_NAMES}


def read_filters(query):
    """``(ActivityFilters, problems)`` of a ``page_query``: a ``{parameter, message}`` per value
    that could not be read, which is left out of the filters."""
    read, problems = {}, []
    for name, parse in _PARSERS.items():
        try:
            read[name] = parse(query[name]) if query[name] else None
        except Refused as ex:
            problems.append({"parameter": name, "message": str(ex), **ex.extra})
            read[name] = None
    if read["start_date"] is not None and read["end_date"] is not None and read["start_date"] > read["end_date"]:
        problems += [{"parameter": "start_date", "message": "must not be after end_date"},
                     {"parameter": "end_date", "message": "must not be before start_date"}]
        read["start_date"] = read["end_date"] = None
    return ActivityFilters(type=read["type"], action=read["action"], user_id=read["user"],
                           since=read["start_date"], until=read["end_date"]), problems


def read_before(text):
    """The position ``before`` names (``<timestamp>:<id>``, ``before_param`` writes it), or
    None for none. Raises Refused for another text."""
    if not text:
        return None
    found = _BEFORE.fullmatch(text)
    if found is None or int(found["timestamp"]) not in _TIMESTAMPS:
        raise Refused("must be the position an Older link names")
    return int(found["timestamp"]), found["id"]


def before_param(entry):
    """The ``before`` of the page after ``entry``."""
    timestamp, entry_id = position(entry)
    return f"{timestamp}:{entry_id}"


def _row(entry, items, links_users):
    """What the table shows of ``entry``: its links, where it has them."""
    known_user = entry["user_id"] and entry["user"] != NO_USER
    title = entry["details"].get("title") if entry["type"] == "content" else None
    collection = items.get(entry["resource_id"]) if entry["type"] == "content" else None
    return {
        **entry,
        "user_href": f"/admin/users/{entry['user_id']}" if known_user and links_users else None,
        "resource": title or entry["resource_id"],
        "resource_href": f"/admin/content/{collection}/{entry['resource_id']}" if collection else None,
    }


class ActivityPage:
    """``GET /admin/activity-logs``."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("logs.read")
    def on_get(self, req, resp):
        query = page_query(query_values(req))
        filters, problems = read_filters(query)
        before_text = req.get_param("before") or ""
        try:
            before = read_before(before_text)
        except Refused as ex:
            problems.append({"parameter": "before", "message": str(ex)})
            before = None
        entries = activity(PAGE_SIZE + 1, filters, before)
        page, older = entries[:PAGE_SIZE], len(entries) > PAGE_SIZE
        items = live_items(page)
        links_users = req.context.user.can("users.read")
        left_out = [problem["parameter"] for problem in problems]
        self._renderer.page(
            req, resp, "activity_logs.html", status=falcon.HTTP_400 if problems else falcon.HTTP_200,
            entries=[_row(entry, items, links_users) for entry in page], query=query, problems=problems,
            types=TYPES, **range_inputs(filters),
            older=query_link(PATH, query, left_out, before=before_param(page[-1])) if older else None,
            newest=query_link(PATH, query, left_out) if before is not None else None,
            exports=export_links(query, left_out, f"{PATH}/export"),
            export_limit=EXPORT_LIMIT,
        )


def _csv_rows(entries):
    """The CSV's rows: ``CSV_COLUMNS``, then each entry's, its content item's title apart."""

    def values(entry):
        title = entry["details"].get("title") if entry["type"] == "content" else None
        return {**entry, "title": title}

    return [CSV_COLUMNS, *([values(entry)[name] for name in CSV_COLUMNS] for entry in entries)]


class ActivityExport:
    """``GET /admin/activity-logs/export``: the entries the page's filters select, newest first,
    as a download (``format`` csv, the default, or json; at most ``EXPORT_LIMIT``).

    Raises:
        APIError: 400 naming each filter that cannot be read (the admin's error page for a
            browser), and for a format that is neither csv nor json.
    """

    @access("logs.read")
    def on_get(self, req, resp):
        filters, problems = read_filters(page_query(query_values(req)))
        if problems:
            raise bad_request(INVALID_PARAMETERS, problems)

        def read(limit):
            entries = activity(limit + 1, filters)
            return [entry_json(entry) for entry in entries[:limit]], len(entries) > limit

        send_export(req, resp, read, _csv_rows, "sonicpy-activity")


def register(routes, renderer):
    """Mount the activity page and its export."""
    routes.add_page(PATH, ActivityPage(renderer))
    routes.add_page(f"{PATH}/export", ActivityExport())
