"""Opaque cursors for deep pages: keyset pagination on the sort keys + id.

A cursor is base64url of JSON ``{"v": 1, "s": [sort labels], "k": [key values of the
last row]}``; it is checked on the way back in (shape, types, and that it was issued for
the same sort), so a forged or stale cursor is a 400, never a 500. The page after a cursor
is found with range conditions on the leading sort key, which a sort index answers by
seeking straight to it: page 1,000 costs what page 1 does.
"""

import base64
import binascii

import msgspec
from peewee import SQL

from app.services.content.fields import TEXT, Field, fail
from app.services.content.filters import SortKey

MAX_CURSOR_LENGTH = 4096
ID_FIELD = Field("id", TEXT)
NULLABLE_SORT_COLUMNS = frozenset({"published_at", "version_number"})


def full_sort(sort):
    """The sort keys plus the id tie-breaker (in the last key's direction)."""
    return (*sort, SortKey(ID_FIELD, sort[-1].descending if sort else True))


def encode_cursor(sort, values):
    """An opaque cursor after a row whose full sort key values are ``values``."""
    payload = {"v": 1, "s": [key.label for key in sort], "k": list(values)}
    return base64.urlsafe_b64encode(msgspec.json.encode(payload)).rstrip(b"=").decode("ascii")


def decode_cursor(text, sort):
    """The key values of a cursor made for ``sort``; QueryError when forged or mismatched."""
    if len(text) > MAX_CURSOR_LENGTH:
        fail("cursor", "too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        fail("cursor", "not a cursor this API issued")
    if not isinstance(payload, dict) or payload.get("v") != 1 or not isinstance(payload.get("k"), list):
        fail("cursor", "not a cursor this API issued")
    if payload.get("s") != [key.label for key in sort]:
        fail("cursor", "was issued for another sort order; repeat the sort it came with")
    keys, values = full_sort(sort), payload["k"]
    if len(values) != len(keys):
        fail("cursor", "not a cursor this API issued")
    if not all(_plausible(key.field, value) for key, value in zip(keys, values)):
        fail("cursor", "not a cursor this API issued")
    return tuple(values)


def _plausible(field, value):
    """Whether ``value`` can be a sort value of ``field`` (bindable without error)."""
    if isinstance(value, bool):
        return field.is_data
    if isinstance(value, int):
        return field.kind != TEXT and -(2**63) <= value < 2**63
    if isinstance(value, str):
        return (field.kind == TEXT or field.is_data) and "\x00" not in value
    if value is None:
        return field.name != "id"
    return field.is_data and isinstance(value, (float, list, dict))


def keyset(sql, keys, values):
    """``(main, tail)`` conditions selecting the rows after a cursor.

    NULLs sort as the smallest value. ``main`` bounds the leading sort key with a range
    (``k0 <= v0`` going down, ``k0 >= v0`` going up) so the database seeks straight to
    the cursor through the sort index instead of walking every earlier row: a deep page
    costs what the first one does. Going down, the NULLs of a nullable leading key come
    after every value but lie outside that range: ``tail`` (or None) selects them, and is
    only read when ``main`` runs out within a page.
    """
    first, value, rest = keys[0], values[0], _after(sql, keys[1:], values[1:])
    target = sql.target(first.field)
    if value is None:
        if first.descending:
            return target.is_null() & rest, None
        return target.is_null(False) | (target.is_null() & rest), None
    literal = sql.literal(first.field, value)
    if first.descending:
        main = (target <= literal) & ((target < literal) | ((target == literal) & rest))
        return main, (target.is_null() if _nullable(first.field) else None)
    return (target >= literal) & ((target > literal) | ((target == literal) & rest)), None


def _nullable(field):
    return field.is_data or field.name in NULLABLE_SORT_COLUMNS


def _after(sql, keys, values):
    """Rows strictly after ``values`` in the order of ``keys`` (NULLs smallest)."""
    terms = []
    for i, (key, value) in enumerate(zip(keys, values)):
        step = _beyond(sql, key, value)
        if step is None:
            continue
        for prior, prior_value in zip(keys[:i], values[:i]):
            target = sql.target(prior.field)
            same = target.is_null() if prior_value is None else (target == sql.literal(prior.field, prior_value))
            step = same & step
        terms.append(step)
    if not terms:
        return SQL("1 = 0")
    combined = terms[0]
    for term in terms[1:]:
        combined = combined | term
    return combined


def _beyond(sql, key, value):
    target = sql.target(key.field)
    if key.descending:
        if value is None:
            return None  # NULLs come last going down: nothing is after them
        below = target < sql.literal(key.field, value)
        return (below | target.is_null()) if _nullable(key.field) else below
    if value is None:
        return target.is_null(False)
    return target > sql.literal(key.field, value)
