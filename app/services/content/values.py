"""Typing filter values: query-string text and ``where`` JSON into what SQL compares.

Values from query strings are text: they are typed by the collection schema when the
collection is known, else ``true``/``false``/``null``/numbers are read as such and a value
in double quotes stays a string. ``where`` JSON values keep their JSON type. Timestamp
columns take epoch ms or ISO dates; a date without a time means the whole day (``lte
2025-12-31`` includes that day, ``gt 2025-12-31`` starts the next).

A data field may hold a list (tags, a multiselect): ``element_filter`` tells which
conditions match its items too (``sql.py``), unless the schema declares the field a type
holding one value. A query-string value of a multiselect field is typed by its ``enum`` as
a select's is, of an array field by the type its ``items`` declare.

Refused with a 400 rather than silently matching nothing (or everything): a NUL
character anywhere in a value (``where`` JSON may hold ``\\u0000``), an empty item
in a comma-separated list (``in=``, ``not_in=a,,b``), and a range operator on a data
field whose type the schema does not declare, given anything but a number or an ISO
date / date-time (``filter[data.views][gt]=abc`` compares text with numbers).
"""

import json
import math
import re
from datetime import UTC, date, datetime, time

from app.db.models import DAY_MS
from app.services.content.fields import INT, INT32_RANGE, INT64_RANGE, TEXT, TIME, fail
from app.services.content.validation import MULTIPLE_TYPES, STRING_TYPES, schema_field_config

MAX_IN_VALUES = 100
# Each word of like and each value of all is one LIKE over the row: a few are a search, a
# hundred are a denial of service (and, chained, overflow SQLite's parser stack).
MAX_MATCH_TERMS = 20

OPERATORS = {
    "equals": "equals", "eq": "equals",
    "not_equals": "not_equals", "ne": "not_equals", "neq": "not_equals",
    "gt": "gt", "greater_than": "gt",
    "gte": "gte", "greater_than_equal": "gte",
    "lt": "lt", "less_than": "lt",
    "lte": "lte", "less_than_equal": "lte",
    "like": "like", "contains": "contains",
    "in": "in", "not_in": "not_in", "nin": "not_in",
    "all": "all",
    "exists": "exists",
}
LIST_OPERATORS = ("in", "not_in", "all")
# The operators that match a list's items when the field holds a list (``element_filter``).
ELEMENT_OPERATORS = frozenset({"equals", "not_equals", "in", "not_in", "all", "like", "contains"})
RANGE_SQL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# A query-string value of these is taken as written: the text types validation knows, and
# the types whose values are strings of a form (dates, ids, options). The type-change guard
# reads the same set as the types holding strings (``app.services.type_changes``), but for
# select and radio, whose enum may list numbers or booleans.
STRING_FIELD_TYPES = STRING_TYPES | {
    "slug", "email", "url", "date", "datetime", "select", "radio", "reference", "media", "file",
}
NUMBER_FIELD_TYPES = frozenset({"number", "integer"})
CHOICE_FIELD_TYPES = frozenset({"select", "radio"})
BOOLEAN_FIELD_TYPES = frozenset({"boolean", "checkbox"})
# The types whose value is a list of items (besides a ``multiple`` field).
LIST_FIELD_TYPES = frozenset({"multiselect", "array"})
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\Z")
_INTEGER = re.compile(r"-?[0-9]+")


def json_kind(value):
    """The JSON type name of a decoded value: boolean, number, string, array, object (None for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def holds_nul(value):
    """Whether a decoded JSON value holds a NUL character anywhere (keys included)."""
    pending = [value]
    while pending:  # a loop, not recursion: a deep document must not overflow the stack
        value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            return True
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def element_filter(field, operator, schema=None):
    """Whether a condition on ``field`` with ``operator`` also matches the items of a list value.

    True for a data field unless the schema declares it a type holding one value (text,
    number, boolean, date, a select or reference without ``multiple``), or declares it
    ``indexed`` without a list type (``json``, or none): validation keeps lists out of the
    first, and the owner of the second asked for its index; the conditions of both stay
    the plain comparisons their field index and value counts answer.
    """
    if not field.is_data or operator not in ELEMENT_OPERATORS:
        return False
    config = _field_config(schema, field) or {}
    declared = config.get("type")
    lists = declared in LIST_FIELD_TYPES or (config.get("multiple") is True and declared in MULTIPLE_TYPES)
    if config.get("indexed") is True:
        return lists
    single = STRING_FIELD_TYPES | NUMBER_FIELD_TYPES | BOOLEAN_FIELD_TYPES
    return declared not in single or lists


def element_candidates(text):
    """The JSON values a list item may equal to match text ``text`` of ``all``: the string
    itself, and the number or boolean it writes, if any (``"2"`` matches ``2`` and ``"2"``)."""
    values = [text]
    if text in ("true", "false"):
        values.append(text == "true")
    elif _NUMBER.match(text) and not (_INTEGER.fullmatch(text) and not _fits_int64(text)):
        # Digits past 64 bits are text only, as for equals: as a double they would match
        # another number on SQLite and none on PostgreSQL.
        number = int(text) if _INTEGER.fullmatch(text) else float(text)
        if math.isfinite(number):
            values.append(number)
    return tuple(values)


def coerce_value(field, operator, raw, parameter, *, from_text, schema=None):
    """The value of a condition, typed for ``field`` and checked for ``operator``."""
    if holds_nul(raw):
        # An escaped \u0000 in JSON decodes to one; PostgreSQL cannot even compare it.
        fail(parameter, "NUL characters are not allowed")
    if operator == "exists":
        return _flag(raw, parameter)
    if operator in LIST_OPERATORS:
        items = _list_items(operator, raw, parameter)
        if operator == "all":
            _at_most_terms(items, operator, "values", parameter)
            return tuple(_text(field, operator, item, parameter) for item in items)
        text = from_text or isinstance(raw, str)
        return tuple(_scalar(field, "equals", item, parameter, text, schema) for item in items)
    if operator in ("like", "contains"):
        text = _text(field, operator, raw, parameter)
        if operator == "like":
            _at_most_terms(text.split(), operator, "words", parameter)
        return text
    value = _scalar(field, operator, raw, parameter, from_text, schema)
    if operator in RANGE_SQL:
        if value is None:
            fail(parameter, f"{operator} needs a value")
        if field.is_data and (_field_config(schema, field) or {}).get("type") is None and not _orderable(value):
            fail(parameter, f"{operator} on {field.name} needs a number or an ISO date, not {_as_json(raw)}")
    return value


def _as_json(raw):
    """``raw`` as the request spells it: JSON (``true``, ``"abc"``), not Python (``True``)."""
    return json.dumps(raw, ensure_ascii=False, default=str)


def _list_items(operator, raw, parameter):
    """The items of an in / not_in / all value: a JSON list, or comma-separated text."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        fail(parameter, f"{operator} needs a list or comma-separated values")
    if isinstance(raw, str) and any(item == "" for item in items):
        fail(parameter, f"{operator} has an empty value: separate non-empty values with single commas")
    if len(items) > MAX_IN_VALUES:
        fail(parameter, f"{operator} takes at most {MAX_IN_VALUES} values")
    return items


def _at_most_terms(terms, operator, what, parameter):
    if len(terms) > MAX_MATCH_TERMS:
        fail(parameter, f"{operator} takes at most {MAX_MATCH_TERMS} {what}, not {len(terms)}")


def _text(field, operator, raw, parameter):
    """The non-empty text a like / contains / all value matches."""
    if field.kind in (INT, TIME):
        fail(parameter, f"{operator} applies to text fields, not {field.name}")
    if isinstance(raw, (bool, list, dict)) or raw is None or str(raw) == "":
        fail(parameter, f"{operator} needs non-empty text values")
    return str(raw)


def _orderable(value):
    """A number, or an ISO date or date-time (which compare in order as text)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if not isinstance(value, str):
        return False
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(value)
            return True
        except ValueError:
            continue
    return False


def _scalar(field, operator, raw, parameter, from_text, schema):
    if isinstance(raw, (list, dict)):
        fail(parameter, "the value must be a single string, number or boolean")
    if isinstance(raw, int) and not isinstance(raw, bool) and not INT64_RANGE[0] <= raw <= INT64_RANGE[1]:
        fail(parameter, "the number is out of range")
    if field.kind == TIME:
        return _timestamp(raw, operator, parameter)
    if field.kind == INT:
        return _integer(raw, parameter)
    if field.kind == TEXT:
        if raw is None or (from_text and raw == "null"):
            return None
        if isinstance(raw, bool):
            fail(parameter, f"{field.name} is text, not a boolean")
        return str(raw)
    if isinstance(raw, float) and not math.isfinite(raw):
        fail(parameter, "numbers must be finite")
    if not from_text:
        return raw
    config = _field_config(schema, field)
    declared = config.get("type") if config else None
    if declared == "array":  # a filter on a list compares its items: typed as they are declared
        items = config.get("items")
        config = items if isinstance(items, dict) else None
        declared = config.get("type") if config else None
    if declared in CHOICE_FIELD_TYPES | {"multiselect"} and isinstance(config.get("enum"), list):
        return _choice_text(raw, parameter, config["enum"])
    return _typed_text(raw, parameter, declared, operator)


def _field_config(schema, field):
    return None if schema is None else schema_field_config(schema, ".".join(field.path))


def _choice_text(raw, parameter, enum):
    """A query-string value of a choice field: the text as sent when the enum lists it;
    else, when the enum lists numbers (or booleans) and the text writes one, that number
    (or boolean), as validation stores them: ``2`` names the option ``2``, and ``gte 1.5``
    compares with the numbers; else the text."""
    if raw in enum:
        return raw
    if raw in ("true", "false") and any(isinstance(option, bool) for option in enum):
        return raw == "true"
    if _NUMBER.match(raw) and any(isinstance(option, int | float) and not isinstance(option, bool)
                                  for option in enum):
        return _typed_text(raw, parameter, "number", None)
    return raw


def _typed_text(raw, parameter, declared, operator):
    """A query-string value typed by the schema's field type, or by its look (``operator``:
    the filter's, None for a choice's option)."""
    # Typed by its look only, digits past any number a field holds are the text they read as
    # (a card or order number stored as text), as the quoted value is; but a range needs a number.
    as_text = declared is None and operator not in RANGE_SQL
    if declared in STRING_FIELD_TYPES:
        return raw
    if declared in NUMBER_FIELD_TYPES or (declared is None and _NUMBER.match(raw)):
        if not _NUMBER.match(raw):
            fail(parameter, f"{raw!r} is not a number")
        if _INTEGER.fullmatch(raw):
            return raw if as_text and not _fits_int64(raw) else _int64(raw, parameter)
        number = float(raw)
        if not math.isfinite(number):
            if as_text:
                return raw
            fail(parameter, "the number is out of range")
        return number
    if declared in BOOLEAN_FIELD_TYPES or (declared is None and raw in ("true", "false")):
        if raw not in ("true", "false"):
            fail(parameter, f"{raw!r} is not true or false")
        return raw == "true"
    if declared is None and raw == "null":
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw


def _int64(text, parameter):
    """The integer ``text`` writes (digits, maybe a minus); out of range past 64 bits, as a
    ``where`` value is."""
    if not _fits_int64(text):
        fail(parameter, "the number is out of range")
    return int(text)


def _fits_int64(text):
    # Its length decides first: int() refuses text of over 4,300 digits with a ValueError.
    return len(text.lstrip("-").lstrip("0")) <= 19 and INT64_RANGE[0] <= int(text) <= INT64_RANGE[1]


def _flag(raw, parameter):
    if raw in (None, "", True, "true", "1", 1):
        return True
    if raw in (False, "false", "0", 0):
        return False
    fail(parameter, "exists takes true or false")


def _integer(raw, parameter):
    if raw is None or raw == "null":
        return None
    if isinstance(raw, bool):
        fail(parameter, "expected an integer")
    if isinstance(raw, str) and _INTEGER.fullmatch(raw):
        raw = _int64(raw, parameter)
    if not isinstance(raw, int):
        fail(parameter, f"expected an integer, not {raw!r}")
    if not INT32_RANGE[0] <= raw <= INT32_RANGE[1]:  # version_number is an INTEGER column
        fail(parameter, "the number is out of range")
    return raw


def _timestamp(raw, operator, parameter):
    """Epoch ms from ms or an ISO date/date-time; a bare date covers its whole day (UTC)."""
    if raw is None or raw == "null":
        return None
    if isinstance(raw, bool):
        fail(parameter, "expected epoch milliseconds or an ISO date")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _INTEGER.fullmatch(raw):
        return _int64(raw, parameter)
    if isinstance(raw, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                start = _ms(datetime.combine(date.fromisoformat(raw), time(), UTC))
                # "up to 2025-12-31" includes that day; "after 2025-12-31" starts the next.
                return start + DAY_MS - 1 if operator in ("lte", "gt") else start
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return _ms(moment)
        except ValueError:
            pass
    fail(parameter, f"expected epoch milliseconds or an ISO date, not {raw!r}")


def _ms(moment):
    return int(moment.timestamp() * 1000)
