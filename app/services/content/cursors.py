"""Opaque cursors for deep pages: keyset pagination on the sort terms + id.

Each sort key becomes one or more sort terms, the SQL values rows are ordered by:

* a column is one term (``title`` compares its first ``sql.SORT_TEXT_LENGTH`` characters);
* ``data.<field>`` is three: the rank of its JSON type (no value first, then booleans,
  numbers, strings, arrays, objects), its number (booleans as 0/1) and the first
  characters of its string. Rows of one type are thus ordered by their value, arrays and
  objects by id only, and both databases order mixed types the same way.

A cursor is base64url of JSON ``{"v": 2, "s": [sort labels], "k": [term values of the last
row]}``. Every term value is a bounded scalar, so a cursor stays short whatever the data
(a long text would otherwise make the next URL too long for the server to accept). It is
checked on the way back in (shape, types, NUL characters, and that it was issued for the
same sort), so a forged or stale cursor is a 400, never a 500. The page after a cursor is
found with range conditions on the leading term, which a sort index answers by seeking
straight to it: page 1,000 costs what page 1 does.
"""

import base64
import binascii
import functools
import math
import sys
from dataclasses import dataclass

import msgspec
from peewee import SQL

from app.services.content.fields import INT, INT32_RANGE, INT64_RANGE, SCORE, TEXT, Field, fail
from app.services.content.filters import SortKey
from app.services.content.sql import SORT_TEXT_LENGTH, TYPE_RANKS

CURSOR_VERSION = 2
MAX_CURSOR_LENGTH = 4096
ID_FIELD = Field("id", TEXT)
NULLABLE_SORT_COLUMNS = frozenset({"published_at", "version_number"})
DATA_PARTS = ("rank", "number", "text")


@dataclass(frozen=True)
class Term:
    """One ORDER BY term: ``part`` of a sort key's ``field`` (``column``, or a data part)."""

    field: Field
    part: str
    descending: bool

    @property
    def nullable(self):
        return self.field.is_data or self.field.name in NULLABLE_SORT_COLUMNS


def full_sort(sort):
    """The sort keys plus the id tie-breaker (in the last key's direction)."""
    return (*sort, SortKey(ID_FIELD, sort[-1].descending if sort else True))


@functools.lru_cache(maxsize=1024)
def sort_terms(sort):
    """The terms of ``full_sort(sort)``, in ORDER BY order."""
    terms = []
    for key in full_sort(sort):
        parts = DATA_PARTS if key.field.is_data else ("column",)
        terms += [Term(key.field, part, key.descending) for part in parts]
    return tuple(terms)


def encode_cursor(sort, values):
    """An opaque cursor after a row whose term values (``sort_terms(sort)``) are ``values``."""
    payload = {"v": CURSOR_VERSION, "s": [key.label for key in sort], "k": list(values)}
    return base64.urlsafe_b64encode(msgspec.json.encode(payload)).rstrip(b"=").decode("ascii")


def decode_cursor(text, sort):
    """The term values of a cursor made for ``sort``; QueryError when forged or mismatched."""
    if len(text) > MAX_CURSOR_LENGTH:
        fail("cursor", "too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        fail("cursor", "not a cursor this API issued")
    except RecursionError:  # msgspec's answer to JSON nested past the recursion limit
        fail("cursor", "not a cursor this API issued: nested too deeply")
    if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION or not isinstance(payload.get("k"), list):
        fail("cursor", "not a cursor this API issued")
    if payload.get("s") != [key.label for key in sort]:
        fail("cursor", "was issued for another sort order; repeat the sort it came with")
    terms, values = sort_terms(sort), payload["k"]
    if len(values) != len(terms):
        fail("cursor", "not a cursor this API issued")
    if any(isinstance(value, str) and "\x00" in value for value in values):
        fail("cursor", "NUL characters are not allowed")
    if not all(_plausible(term, value) for term, value in zip(terms, values)):
        fail("cursor", "not a cursor this API issued")
    return tuple(values)


def _plausible(term, value):
    """Whether ``value`` can be the value of ``term`` (bindable without error)."""
    if value is None:
        return term.nullable
    if term.part == "rank":
        return value in TYPE_RANKS.values() and not isinstance(value, bool)
    if term.part == "number":
        # Any size a double holds: PostgreSQL reads JSON numbers exactly (SQLite as 64-bit
        # floats); no stored number is larger, as bodies holding one are refused.
        if isinstance(value, float):
            return math.isfinite(value)
        return isinstance(value, int) and -sys.float_info.max <= value <= sys.float_info.max
    if term.part == "text":
        return isinstance(value, str) and len(value) <= SORT_TEXT_LENGTH
    if term.field.kind == SCORE:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(value, bool):
        return False
    if term.field.kind == TEXT:
        return isinstance(value, str)
    low, high = INT32_RANGE if term.field.kind == INT else INT64_RANGE
    return isinstance(value, int) and low <= value <= high


def keyset(sql, terms, values):
    """``(main, tail)`` conditions selecting the rows after a cursor.

    NULLs sort as the smallest value. ``main`` bounds the leading term with a range
    (``t0 <= v0`` going down, ``t0 >= v0`` going up) so the database seeks straight to
    the cursor through the sort index instead of walking every earlier row: a deep page
    costs what the first one does. Going down, the NULLs of a nullable leading term come
    after every value but lie outside that range: ``tail`` (or None) selects them, and is
    only read when ``main`` runs out within a page.
    """
    first, value, rest = terms[0], values[0], _after(sql, terms[1:], values[1:])
    target = sql.term(first)
    if value is None:
        if first.descending:
            return target.is_null() & rest, None
        return target.is_null(False) | (target.is_null() & rest), None
    literal = sql.term_literal(first, value)
    if first.descending:
        main = (target <= literal) & ((target < literal) | ((target == literal) & rest))
        return main, (target.is_null() if first.nullable else None)
    return (target >= literal) & ((target > literal) | ((target == literal) & rest)), None


def _after(sql, terms, values):
    """Rows strictly after ``values`` in the order of ``terms`` (NULLs smallest)."""
    alternatives = []
    for i, (term, value) in enumerate(zip(terms, values)):
        step = _beyond(sql, term, value)
        if step is None:
            continue
        for prior, prior_value in zip(terms[:i], values[:i]):
            target = sql.term(prior)
            same = target.is_null() if prior_value is None else (target == sql.term_literal(prior, prior_value))
            step = same & step
        alternatives.append(step)
    if not alternatives:
        return SQL("1 = 0")
    combined = alternatives[0]
    for alternative in alternatives[1:]:
        combined = combined | alternative
    return combined


def _beyond(sql, term, value):
    target = sql.term(term)
    if term.descending:
        if value is None:
            return None  # NULLs come last going down: nothing is after them
        below = target < sql.term_literal(term, value)
        return (below | target.is_null()) if term.nullable else below
    if value is None:
        return target.is_null(False)
    return target > sql.term_literal(term, value)
