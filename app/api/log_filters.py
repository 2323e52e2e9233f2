"""The filters of the system log routes, read one way wherever they come from.

``GET /admin/api/logs``, its export, the admin's logs page (and its export) and ``POST
/admin/logs/search`` take the same filters, from the query string or from a body (the page
and the search through ``app.admin.logs``, which finds the user by email address too and
reads ``since``/``until`` as the older names of the dates):

* ``level``, ``category``: one value or several, comma-separated (``level=error,warn``)
  or repeated; a row matches any of them. Each must be one of the known values; spaces
  around one and empty items are ignored (``warn, error,``), as the OpenAPI pattern says.
* ``status``: a status code; ``user``: a user id; ``source``: the row's source, exactly
  (``request-logs`` for the request log); ``search``: text in the message or the URL.
* ``since``, ``until``: epoch milliseconds, inclusive.
* ``start_date``, ``end_date``: an ISO 8601 date (``2026-01-31``) or date-time
  (``2026-01-31T09:30``, seconds and a fraction of up to 9 digits optional, then ``Z`` or
  an offset such as ``+02:00``, or `` 02:00``, a ``+`` a query string left unencoded;
  without one, UTC). Both ends are inclusive at the precision written: the
  start is the instant it names (a date: that day's 00:00), and the end holds the whole of
  its last unit: a date that whole day, ``09:30`` the minute up to 09:30:59.999,
  ``09:30:15`` that second, a fraction its last digit (``.5`` up to .599, ``.500`` that
  millisecond). A start after the end is refused, both named.

The other filters take one value: given several times, the last non-empty one
(``last_given``: ``?status=404&status=`` filters on 404, as does ``status=404&status=%20``),
on every route above.

Whitespace around a number, a date, the user, the source or the search text is ignored
(which the OpenAPI document's patterns leave unsaid). Every filter given applies. The dates and
``since``/``until`` bound the same column, ``created_at`` (epoch milliseconds, indexed), so
each pair becomes one bound, the narrower.

``read_log_filters`` answers the filters and the problems, one ``{parameter, message}``
for each value it could not read: the API refuses them all in one 400, the admin's page
names them and leaves them out.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec

from app.api.describe import Param
from app.api.errors import INVALID_PARAMETERS, bad_request
from app.services.logs import CATEGORIES, LEVELS, LogFilters

MAX_TIME_MS = 2**53
_TIME = Annotated[int, msgspec.Meta(ge=0, le=MAX_TIME_MS)]
# The API's ISO 8601 subset (RFC 3339's, the seconds and the zone optional): ASCII digits,
# each field within its range here, since fromisoformat's own ranges vary with the Python
# version (3.11 reads an offset's minutes 99 as 1:39, newer versions take hour 24); it only
# checks the calendar (February 30th). A space before the offset is a "+" that a query string
# did not encode (a "+" there is a space): no other reading of it is possible in that place.
# A fraction only follows seconds: ISO 8601 reads "10:30.5" as a decimal minute.
_HOUR, _SIXTY = "(?:[01][0-9]|2[0-3])", "[0-5][0-9]"
_DATE_TIME = re.compile(
    r"(?P<date>[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))"
    rf"(?:[Tt ](?P<minute>{_HOUR}:{_SIXTY})(?:(?P<second>:{_SIXTY})(?P<fraction>\.[0-9]{{1,9}})?)?"
    rf"(?P<zone>[Zz]|[+ -]{_HOUR}:{_SIXTY})?)?")
# The same grammar as the OpenAPI document's pattern: JSON Schema's regexes name no groups.
DATE_PATTERN = "^" + re.sub(r"\(\?(?:P<\w+>|:)", "(", _DATE_TIME.pattern) + "$"
_ONE_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _list_of(allowed):
    """A comma-separated list's type, its pattern taking what ``_choices`` takes: spaces around
    an item and empty items (``warn, error,``), each item allowed once its spaces are off."""
    item = f" *(({'|'.join(allowed)}) *)?"  # one way to read each item: the pattern cannot backtrack badly
    return Annotated[str, msgspec.Meta(pattern=f"^{item}(,{item})*$")]


_DATE = Annotated[str, msgspec.Meta(pattern=DATE_PATTERN)]
LOG_FILTERS = (
    Param("level", _list_of(LEVELS), "one level or several, comma-separated (or repeated)"),
    Param("category", _list_of(CATEGORIES), "one category or several, comma-separated (or repeated)"),
    Param("status", Annotated[int, msgspec.Meta(ge=100, le=599)], "a status code"),
    Param("user", str, "a user id"),
    Param("source", str, "the row's source, exactly (request-logs: the request log)"),
    Param("since", _TIME, "epoch milliseconds, inclusive"),
    Param("until", _TIME, "epoch milliseconds, inclusive"),
    Param("start_date", _DATE, "an ISO 8601 date or date-time (UTC unless it names a zone), inclusive"),
    Param("end_date", _DATE, "an ISO 8601 date or date-time (UTC unless it names a zone), inclusive at the "
                             "precision written: a date holds that whole day, a minute that whole minute"),
    Param("search", str, "text in the message or the URL"),
)


class Refused(ValueError):
    """A value a filter cannot take; its message completes "<parameter> ...", ``extra`` says more."""

    def __init__(self, message, **extra):
        super().__init__(message)
        self.extra = extra


def _choices(allowed):
    def parse(texts):
        chosen = {name.strip(" ") for text in texts for name in text.split(",")} - {""}
        if not chosen:
            return None
        if not chosen <= set(allowed):
            raise Refused(f"must be one of {', '.join(allowed)} (comma-separated)", allowed=list(allowed))
        return tuple(name for name in allowed if name in chosen)

    return parse


def _integer(low, high):
    def parse(texts):
        text = last_given(texts)
        if text is None:
            return None
        if not re.fullmatch(r"-?[0-9]{1,20}", text.strip()):
            raise Refused("must be an integer")
        value = int(text)
        if value < low:
            raise Refused(f"must be at least {low}")
        if value > high:
            raise Refused(f"may not exceed {high}")
        return value

    return parse


def last_given(texts):
    """The value of a single-valued filter given ``texts`` (every value sent, in order): the
    last one that is not empty nor only whitespace, or None.

    A parameter given twice means its last value, but an empty one does not undo the one
    before it (``?status=404&status=`` filters on 404): a form sends its empty inputs too,
    and a link built by appending to another may end with an empty copy. Whitespace alone is
    as empty, since every filter's value is read trimmed (``status=404&status=%20`` is 404).
    The API's list and export and the admin's page and search all pick through this.
    """
    given = [text for text in texts if text and text.strip()]
    return given[-1] if given else None


def _text(texts):
    """The last value, trimmed; None when nothing is left."""
    text = last_given(texts)
    return (text.strip() or None) if text is not None else None


def instant_ms(text, end=False):
    """An ISO 8601 date or date-time as epoch milliseconds: its first millisecond, or with
    ``end`` the last of its last unit (a date's 23:59:59.999, a minute's :59.999, ``.5``'s
    .599). UTC unless it names a zone.

    Raises:
        Refused: ``text`` is not such a date, names no day on the calendar, or is outside
            the years 0001 to 9999 once read as UTC.
    """
    found = _DATE_TIME.fullmatch(text.strip())
    if found is None:
        raise Refused("must be an ISO 8601 date (2026-01-31) or date-time (2026-01-31T09:30:00Z)")
    zone = (found["zone"] or "").upper().replace("Z", "+00:00").replace(" ", "+")
    # RFC 3339 senders (.NET, Java, Go) write up to 9 fraction digits: datetime holds 6.
    fraction = (found["fraction"] + "00000")[:7] if found["fraction"] else ""
    try:
        moment = datetime.fromisoformat(
            found["date"] + (f"T{found['minute']}{found['second'] or ''}{fraction}{zone}" if found["minute"] else ""))
    except ValueError:
        raise Refused("names no day on the calendar (a day the month lacks: 2026-02-30)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        # An offset may carry the first or last day of the calendar past year 1 or 9999 in
        # UTC, where no datetime holds it: the page writes the range back as UTC date-times.
        moment.astimezone(UTC)
    except OverflowError:
        raise Refused("is outside the years 0001 to 9999 in UTC") from None
    first = (moment - _EPOCH) // _ONE_MS
    return first + _last_unit_ms(found) - 1 if end else first


def _last_unit_ms(found):
    """How many milliseconds the last unit written holds: a day, a minute, a second, or the
    fraction's last digit (``.5`` a tenth of a second, ``.50`` a hundredth; from the third
    digit on, the millisecond ``created_at`` is stored to)."""
    if found["fraction"]:
        return 10 ** max(0, 3 - (len(found["fraction"]) - 1))
    if found["second"]:
        return 1_000
    return 60_000 if found["minute"] else 86_400_000


def _date(end):
    def parse(texts):
        text = last_given(texts)
        return None if text is None or not text.strip() else instant_ms(text, end=end)

    return parse


# name -> how its raw texts (every value given) become the filter's value
_PARSERS = {
    "level": _choices(LEVELS),
    "category": _choices(CATEGORIES),
    "status": _integer(100, 599),
    "user": _text,
    "source": _text,
    "since": _integer(0, MAX_TIME_MS),
    "until": _integer(0, MAX_TIME_MS),
    "start_date": _date(end=False),
    "end_date": _date(end=True),
    "search": _text,
}


def read_log_filters(values):
    """``(LogFilters, problems)`` of raw text values; a value with a problem is left out.

    Args:
        values: ``(name) -> [str, ...]``: every value given for ``name``, in order (none
            when it is absent; an empty one counts as absent).

    Returns:
        The filters, and a ``{parameter, message, ...}`` per value that could not be read.
    """
    read, problems = {}, []
    for name, parse in _PARSERS.items():
        try:
            read[name] = parse(values(name))
        except Refused as ex:
            problems.append({"parameter": name, "message": str(ex), **ex.extra})
            read[name] = None
    start, end = read.pop("start_date"), read.pop("end_date")
    if start is not None and end is not None and start > end:
        # Either may be the one mistyped: both are named, and both left out.
        problems += [{"parameter": "start_date", "message": "must not be after end_date"},
                     {"parameter": "end_date", "message": "must not be before start_date"}]
        start = end = None
    read["since"] = _narrower(max, read["since"], start)
    read["until"] = _narrower(min, read["until"], end)
    read["user_id"] = read.pop("user")
    return LogFilters(**read), problems


def _narrower(pick, *bounds):
    given = [bound for bound in bounds if bound is not None]
    return pick(given) if given else None


def query_values(req):
    """``read_log_filters``'s ``values`` of a query string: every value of each parameter."""
    return lambda name: req.get_param_as_list(name) or []


def log_filters(req):
    """The filters of the query string.

    Raises:
        APIError: 400 naming every parameter whose value is not valid.
    """
    filters, problems = read_log_filters(query_values(req))
    if problems:
        raise bad_request(INVALID_PARAMETERS, problems)
    return filters
