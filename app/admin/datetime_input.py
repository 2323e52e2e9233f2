"""The content form's ``datetime`` control: a ``datetime-local`` input read and written in UTC.

A ``datetime-local`` input holds no time zone, and the browser's own zone is unknown to the
server (and differs between editors): the form shows every date-time in UTC, says so next to
the input, and saves what was typed as UTC (``...Z``). A stored value keeps its own spelling
(an offset, seconds, fractions) while the input shows the same instant: a browser rewrites
the value it was given (``09:00:00`` comes back as ``09:00``), so an unchanged save is
recognised by the instant posted, not by its text.
"""

import re
from datetime import UTC, datetime

# What a datetime-local input posts: a date and a time of day, without a zone.
_LOCAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,3})?)?")


def _instant(text):
    """``text`` as an aware UTC datetime (no zone read as UTC); None when it is no date-time."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        return None
    except OverflowError:
        # An instant in year 0 or 10000 once in UTC ("9999-12-31T23:00:00-02:00"), which the
        # API accepts: no datetime holds it, so it is shown in a text input and kept as typed.
        return None


def local_value(stored):
    """What a ``datetime-local`` input shows for ``stored``, in UTC, with its seconds and
    milliseconds only when not zero (as browsers write it); None when the input cannot show it
    (no date-time, a year before 1000, or a fraction finer than milliseconds): a text input shows
    it then, since a browser would empty the input and the save would remove the value."""
    moment = _instant(stored)
    if moment is None or moment.microsecond % 1000:
        return None
    text = moment.strftime("%Y-%m-%dT%H:%M")
    if moment.second or moment.microsecond:
        text += moment.strftime(":%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text if _LOCAL.fullmatch(text) else None


def posted_datetime(text, stored):
    """The value to store for a datetime control that posted ``text`` (trimmed, not empty).

    ``stored`` is kept when ``text`` names the same instant (an unchanged save); a date and
    time without a zone, as a ``datetime-local`` input posts it, is saved as UTC with seconds
    (``2026-01-31T09:00:00Z``); anything else is saved as typed, for the service to check.
    """
    moment = _instant(text)
    if moment is not None and moment == _instant(stored):
        return stored
    if moment is not None and _LOCAL.fullmatch(text):
        fraction = f".{moment.microsecond // 1000:03d}" if moment.microsecond else ""
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    return text
