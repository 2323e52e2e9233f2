"""System logs (``logs.read``): a filterable, paged table over ``system_logs``.

The filters and the query are those of ``GET /admin/api/logs`` (``app.services.logs``):
level, category, status code, user, a time range and text in the message or URL. The page
takes the user as an email address (or a user id) and the time range as UTC date-times from
the browser's ``datetime-local`` inputs; a value it cannot read is left out of the filter
and named on the page. Each row names its user by email address (one lookup for the page's
users), linked to the page filtered by that user.
"""

from datetime import UTC, datetime

from app.admin.pages import page_number
from app.api.access import access
from app.db.models import User
from app.services.logs import CATEGORIES, LEVELS, LogFilters, list_logs, log_json
from app.services.pagination import pagination_meta

PAGE_SIZE = 50
MAX_TEXT = 200
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def epoch_ms(text):
    """A ``datetime-local`` value read as UTC, in epoch milliseconds; None when it is not one."""
    if not text:
        return None
    for pattern in TIME_FORMATS:
        try:
            return int(datetime.strptime(text, pattern).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            continue
    return None


def user_id_of(text):
    """The id of the user with this email address or id; None when there is none."""
    if "@" in text:
        user = User.select(User.id).where(User.email == text.lower()).first()
    else:
        user = User.select(User.id).where(User.id == text).first()
    return user.id if user else None


def _status(text):
    return int(text) if text.isdecimal() and 100 <= int(text) <= 599 else None


def read_filters(req):
    """``(query, LogFilters, problems)``: what the form says, the filters, the values left out."""
    query = {name: (req.get_param(name) or "").strip()[:MAX_TEXT]
             for name in ("level", "category", "status", "user", "since", "until", "search")}
    values = {
        "level": query["level"] if query["level"] in LEVELS else None,
        "category": query["category"] if query["category"] in CATEGORIES else None,
        "status": _status(query["status"]),
        "since": epoch_ms(query["since"]),
        "until": epoch_ms(query["until"]),
    }
    problems = [name for name, value in values.items() if query[name] and value is None]
    if values["until"] is not None:
        values["until"] += 59_999  # the form's minute is inclusive: "until 10:05" keeps 10:05:30
    user = query["user"]
    # An unknown user matches no row (its text is used as the id) rather than every row.
    user_id = (user_id_of(user) or user) if user else None
    return query, LogFilters(user_id=user_id, search=query["search"] or None, **values), problems


def emails_of(user_ids):
    """``{user id: email}`` of the users among ``user_ids`` that exist (one query)."""
    wanted = {user_id for user_id in user_ids if user_id}
    if not wanted:
        return {}
    return dict(User.select(User.id, User.email).where(User.id.in_(sorted(wanted))).tuples())


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
            categories=CATEGORIES,
        )
