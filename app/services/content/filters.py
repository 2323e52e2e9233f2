"""The filter and sort grammars of the content list, parsed into Conditions and SortKeys.

Two filter grammars are accepted and may be combined (everything is ANDed):

* SonicJS's ``where`` JSON: ``{"and": [{field, operator, value}, ...], "or": [...]}``;
  a condition may itself be an ``{"and"|"or": [...]}`` group (nesting is bounded). A
  condition's ``operator`` is required, a left-out ``value`` is null, and any other key is
  refused, so that a misspelt key never quietly changes the filter.
* ``filter[field][op]=value`` query parameters (``filter[field]=value`` means equals).

Fields are columns, ``data.<field>`` or a bare data name (``fields.py``); values are typed
in ``values.py``, which also tells whether a condition matches the items of a list;
the SQL is built in ``sql.py``, which also states how missing and null values and values
of mixed JSON types compare (the same way on SQLite and PostgreSQL).

Operators: equals, not_equals, gt, gte, lt, lte (and SonicJS's greater_than,
greater_than_equal, less_than, less_than_equal), like (every word, case-insensitive),
contains, in, not_in, all (SonicJS's: every listed value is contained, each a
case-insensitive ``LIKE %value%``), exists. Sort: ``sort=-published_at,title`` or SonicJS's
``[{"field", "order"}]`` JSON, on allow-listed columns or ``data.<field>``, ``asc``/``desc``
only. ``columns`` narrows the columns a caller may name (``fields.PUBLIC_COLUMNS`` for
callers who cannot see drafts).

Every problem raises ``QueryError`` naming the parameter and why (a 400 for the API).
"""

import re
from dataclasses import dataclass

import msgspec

from app.services.content.fields import SORTABLE, Field, fail, is_bare_data_name, resolve_field
from app.services.content.values import OPERATORS, coerce_value, element_filter

MAX_CONDITIONS = 50
# Conditions, words and values are each capped; the text as a whole is too, so that the
# product of the caps (50 conditions of 20 words...) is not all reachable at once.
MAX_WHERE_LENGTH = 4096
MAX_DEPTH = 4
MAX_SORT_KEYS = 5
FILTER_PARAM = re.compile(r"^filter\[([^\[\]]+)\](?:\[([^\[\]]+)\])?$")


@dataclass(frozen=True)
class Condition:
    """One ``field operator value`` test, with the parameter it came from.

    ``elements``: the field may hold a list, whose items the condition matches too
    (``values.element_filter``).
    """

    field: Field
    operator: str
    value: object
    parameter: str
    elements: bool = False


@dataclass(frozen=True)
class Group:
    """Conditions joined by ``and`` or ``or``."""

    kind: str
    items: tuple


@dataclass(frozen=True)
class SortKey:
    """One sort key: a field and ``asc``/``desc``."""

    field: Field
    descending: bool

    @property
    def label(self):
        return ("-" if self.descending else "") + self.field.name


def canonical_operator(op, parameter):
    """The canonical operator name for ``op`` (SonicJS names accepted)."""
    if not isinstance(op, str) or op not in OPERATORS:
        fail(parameter, f"unknown operator {op!r}; use one of {', '.join(sorted(set(OPERATORS.values())))}")
    return OPERATORS[op]


# ---------------------------------------------------------------- parsing


def decode_json_param(raw, parameter):
    """The JSON value of a query parameter's bytes; QueryError when it is no JSON.

    Past the interpreter's recursion limit (about a thousand open brackets) msgspec raises
    RecursionError rather than DecodeError: the client's fault all the same, so a 400.
    """
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as ex:
        fail(parameter, f"not valid JSON: {ex}")
    except RecursionError:
        fail(parameter, "nested too deeply")


def parse_where(text, schema=None, columns=None):
    """The Group of a ``where`` JSON parameter (None when empty)."""
    if not text:
        return None
    if len(text) > MAX_WHERE_LENGTH:
        fail("where", f"at most {MAX_WHERE_LENGTH} characters, not {len(text)}")
    tree = decode_json_param(text.encode() if isinstance(text, str) else text, "where")
    if tree == {}:
        return None
    return _parse_group(tree, "where", 0, [0], schema, columns)


def _parse_group(node, parameter, depth, counter, schema, columns):
    if depth > MAX_DEPTH:
        fail(parameter, f"groups nest at most {MAX_DEPTH} deep")
    if not isinstance(node, dict):
        fail(parameter, 'a group must be an object like {"and": [...]}')
    unknown = set(node) - {"and", "or"}
    if unknown:
        fail(parameter, f"unknown keys {sorted(unknown)}; a group has only 'and' and 'or'")
    parts = []
    for kind in ("and", "or"):
        if kind not in node:
            continue
        items = node[kind]
        if not isinstance(items, list):
            fail(f"{parameter}.{kind}", "must be a list of conditions")
        parsed = tuple(
            _parse_node(item, f"{parameter}.{kind}[{i}]", depth + 1, counter, schema, columns)
            for i, item in enumerate(items)
        )
        if parsed:
            parts.append(Group(kind, parsed))
    return Group("and", tuple(parts))


def _parse_node(node, parameter, depth, counter, schema, columns):
    if isinstance(node, dict) and set(node) & {"and", "or"} and "field" not in node:
        return _parse_group(node, parameter, depth, counter, schema, columns)
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        fail("where", f"at most {MAX_CONDITIONS} conditions")
    if not isinstance(node, dict):
        fail(parameter, "a condition must be an object {field, operator, value}")
    unknown = set(node) - {"field", "operator", "value"}
    if unknown:
        fail(parameter, f"unknown keys {sorted(unknown)} in a condition; it has only field, operator and value")
    if "operator" not in node:
        # Not read as equals: a condition that lost its operator (misspelt, say) would filter
        # by a test the client never asked for.
        fail(parameter, f"a condition needs an operator; use one of {', '.join(sorted(set(OPERATORS.values())))}")
    field = resolve_field(node.get("field"), parameter, columns)
    operator = canonical_operator(node["operator"], parameter)
    value = coerce_value(field, operator, node.get("value"), parameter, from_text=False, schema=schema)
    return Condition(field, operator, value, parameter, element_filter(field, operator, schema))


def is_data_filter(key):
    """Whether query parameter ``key`` is a filter on a data field (``filter[data.x]``, ``filter[x]``)."""
    match = FILTER_PARAM.match(key)
    return match is not None and (match.group(1).startswith("data.") or is_bare_data_name(match.group(1)))


def parse_filter_params(params, schema=None, columns=None):
    """Conditions from ``filter[field][op]=value`` parameters (a Group, or None)."""
    conditions = []
    for key in sorted(params):
        if not key.startswith("filter"):
            continue
        match = FILTER_PARAM.match(key)
        if not match:
            fail(key, "expected filter[field]=value or filter[field][operator]=value")
        field = resolve_field(match.group(1), key, columns)
        operator = canonical_operator(match.group(2) or "equals", key)
        values = params[key] if isinstance(params[key], list) else [params[key]]
        for raw in values:
            value = coerce_value(field, operator, raw, key, from_text=True, schema=schema)
            conditions.append(Condition(field, operator, value, key, element_filter(field, operator, schema)))
    if len(conditions) > MAX_CONDITIONS:
        fail("filter", f"at most {MAX_CONDITIONS} conditions")
    return Group("and", tuple(conditions)) if conditions else None


def sort_specs(text):
    """``[(name, descending)]`` as a sort parameter names them (``-published_at,title`` or
    SonicJS's ``[{"field","order"}]`` JSON), the names not yet resolved."""
    if not text:
        return []
    if text.lstrip().startswith("["):
        items = decode_json_param(text.encode(), "sort")
        specs = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or set(item) - {"field", "order"}:
                fail("sort", f'item {i} must be {{"field": ..., "order": "asc"|"desc"}}')
            order = str(item.get("order", "asc")).lower()
            if order not in ("asc", "desc"):
                fail("sort", f"item {i}: order must be asc or desc, not {item.get('order')!r}")
            specs.append((item.get("field"), order == "desc"))
    else:
        specs = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                fail("sort", "empty sort key")
            descending = part.startswith("-")
            specs.append((part.lstrip("-+"), descending))
    if len(specs) > MAX_SORT_KEYS:
        fail("sort", f"at most {MAX_SORT_KEYS} sort keys")
    return specs


def sort_keys(specs, columns=None):
    """The SortKeys of ``specs`` (``sort_specs``); a name that is no sortable field is a 400."""
    keys = []
    for name, descending in specs:
        field = resolve_field(name, "sort", columns)
        if not field.is_data and field.name not in SORTABLE:
            fail("sort", f"cannot sort by {name!r}; sort by {', '.join(SORTABLE)} or data.<field>")
        keys.append(SortKey(field, descending))
    return tuple(keys)
