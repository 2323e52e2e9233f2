"""What services raise when a request cannot be carried out (never HTTP errors).

Each area (content, workflow, media) subclasses ``ServiceError`` and sets ``kind`` on each
subclass to an ``ErrorKind``; ``app.api.errors`` maps every kind to its HTTP status in one
table, so services stay free of HTTP and no area needs an error handler of its own. A
subclass whose ``kind`` is not an ``ErrorKind`` fails when its module is imported, not when
a request first raises it.
"""

import re
from enum import StrEnum


class ErrorKind(StrEnum):
    """Why a service refused a request; decides the HTTP status (``app.api.errors``)."""

    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    INVALID = "invalid"
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"
    BAD_REQUEST = "bad_request"
    UNAVAILABLE = "unavailable"  # not now: come back after ``retry_after`` seconds


# Short names for ``kind = ...`` lines; each one is the ErrorKind member itself.
NOT_FOUND = ErrorKind.NOT_FOUND
FORBIDDEN = ErrorKind.FORBIDDEN
CONFLICT = ErrorKind.CONFLICT
INVALID = ErrorKind.INVALID
TOO_LARGE = ErrorKind.TOO_LARGE
UNSUPPORTED = ErrorKind.UNSUPPORTED
BAD_REQUEST = ErrorKind.BAD_REQUEST
UNAVAILABLE = ErrorKind.UNAVAILABLE


class ServiceError(Exception):
    """A request a service refuses; ``message`` and ``details`` are for the client.

    Attributes:
        kind: what went wrong (an ``ErrorKind``); decides the HTTP status.
        retry_after: whole seconds after which the request may work (``Retry-After``), or None.
    """

    kind = ErrorKind.BAD_REQUEST
    retry_after = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.kind, ErrorKind):
            raise TypeError(f"{cls.__qualname__}.kind must be an ErrorKind, not {cls.kind!r}")

    def __init__(self, message, details=None):
        super().__init__(message)
        self.message = message
        self.details = details


# What a msgspec refusal of a registered pattern says instead of quoting the regex
# ("Expected `str` matching regex '^[^@\\s]...'"), which tells a person nothing.
_PATTERN_WORDS = {}
_PATTERN_REFUSAL = re.compile(r"^Expected `str` matching regex (.+)$")


def pattern_in_words(pattern, words):
    """``pattern``, registered so that a msgspec refusal of it says ``words`` (such as "must
    be an email address") in the ``details`` of a 422."""
    _PATTERN_WORDS[repr(pattern)] = words  # msgspec quotes the pattern as its repr
    return pattern


_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(.+)`$")
_MISSING_FIELD = re.compile(r"^Object missing required field `(.+)`$")
_AT = re.compile(r" - at (?:`key` in )?`\$\.?(.*)`$")


def validation_detail(ex, prefix=""):
    """``{"field", "message"}`` of a msgspec ValidationError; ``prefix`` is where the value sat.

    msgspec says ``Expected `int`, got `str` - at `$.a.b[0]```; the detail says field
    ``a.b[0]``. Unknown and missing fields name the field itself, not its parent object.
    """
    message = str(ex)
    path = ""
    found = _AT.search(message)
    if found:
        is_key = "`key` in" in found.group(0)
        message, path = message[: found.start()], found.group(1)
        message = f"Invalid key: {message}" if is_key else message
    refused = _PATTERN_REFUSAL.match(message)
    if refused:
        message = _PATTERN_WORDS.get(refused.group(1), message)
    named = _UNKNOWN_FIELD.match(message) or _MISSING_FIELD.match(message)
    if named:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    if prefix:
        path = f"{prefix}.{path}" if path and not path.startswith("[") else f"{prefix}{path}"
    return {"field": path or None, "message": message}
