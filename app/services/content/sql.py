"""Peewee expressions for parsed filters, search and sort keys, per database dialect.

``data.<field>`` is ``json_extract(data, ?)`` on SQLite and ``CAST(data AS jsonb) #> ?``
on PostgreSQL (where ``data`` is TEXT holding JSON), compared with ``CAST(? AS jsonb)`` so
numbers compare as numbers there too. Every value and JSON path is a bound parameter.
``not_equals`` and ``not_in`` keep rows where the field is absent (SQL's ``!=`` would drop
them, which nobody asking "not X" expects). LIKE patterns escape ``%``, ``_`` and ``\\``.

``search=`` matches the title and the string VALUES of ``data`` at any depth, never its
keys or JSON punctuation (matching the raw JSON text, ``search=title`` found every item
whose schema has a title field): ``json_tree`` on SQLite, ``jsonb_path_query(...,
'strict $.**')`` on PostgreSQL, both in an ``EXISTS`` correlated with the row.
"""

import msgspec
from peewee import SQL, Cast, EnclosedNodeList, Expression, NodeList, Value, fn

from app.db.database import is_postgres
from app.db.models import Content, database
from app.services.content.fields import COLUMNS, INT, TIME
from app.services.content.filters import Group
from app.services.content.values import RANGE_SQL


def builder():
    """A SqlBuilder for the database the models are bound to."""
    return SqlBuilder(is_postgres(database.obj))



def balanced(parts, combine):
    """``parts`` joined by ``combine`` as a balanced tree: nesting grows with log2 of their
    number, never linearly (a left-deep chain of many terms overflows SQLite's parser)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return combine(balanced(parts[:middle], combine), balanced(parts[middle:], combine))

class SqlBuilder:
    """Builds Peewee expressions for one database dialect (SQLite or PostgreSQL)."""

    def __init__(self, postgres):
        self.postgres = postgres

    def target(self, field, as_text=False):
        """The SQL expression of ``field`` (JSON text form for LIKE when ``as_text``)."""
        if not field.is_data:
            return COLUMNS[field.name][0]
        if self.postgres:
            op = "#>>" if as_text else "#>"
            return Expression(Cast(Content.data, "jsonb"), op, Value(list(field.path), unpack=False))
        return fn.json_extract(Content.data, "$." + ".".join(field.path)).coerce(False)

    def literal(self, field, value):
        """A bound value comparable with ``target(field)``."""
        if field.is_data and self.postgres:
            return Cast(Value(msgspec.json.encode(value).decode()), "jsonb")
        if field.is_data and isinstance(value, bool):
            return Value(int(value))  # json_extract gives 1/0 for true/false
        if field.is_data and isinstance(value, (dict, list)):
            return Value(msgspec.json.encode(value).decode())  # json_extract gives objects as JSON text
        return Value(value)

    def group(self, group):
        """The expression of a Group (None when it holds nothing)."""
        parts = [self.group(item) if isinstance(item, Group) else self.condition(item) for item in group.items]
        parts = [part for part in parts if part is not None]
        if not parts:
            return None
        return balanced(parts, (lambda a, b: a & b) if group.kind == "and" else (lambda a, b: a | b))

    def condition(self, cond):
        """The expression of one Condition."""
        field, op, value = cond.field, cond.operator, cond.value
        if op == "exists":
            return self._exists(field) if value else ~self._exists(field)
        if op in ("like", "contains", "all"):
            target = self.target(field, as_text=True)
            words = value.split() if op == "like" else ([value] if op == "contains" else list(value))
            return balanced([self.like(target, word) for word in words or [value]], lambda a, b: a & b)
        target = self.target(field)
        if op == "equals":
            return target.is_null() if value is None else Expression(target, "=", self.literal(field, value))
        if op == "not_equals":
            if value is None:
                return target.is_null(False)
            return Expression(target, "!=", self.literal(field, value)) | target.is_null()
        if op in RANGE_SQL:
            return Expression(target, RANGE_SQL[op], self.literal(field, value))
        listed = [v for v in value if v is not None]
        matches = Expression(target, "IN", EnclosedNodeList([self.literal(field, v) for v in listed])) if listed else None
        if None in value:
            matches = target.is_null() if matches is None else (matches | target.is_null())
        if op == "in":
            return matches
        return ~matches | target.is_null() if None not in value else ~matches

    def _exists(self, field):
        if field.kind in (INT, TIME):
            return COLUMNS[field.name][0].is_null(False)
        target = self.target(field, as_text=True)
        return target.is_null(False) & Expression(target, "!=", Value(""))

    def like(self, target, text):
        """``target LIKE %text%`` (ILIKE on PostgreSQL) with %, _ and \\ escaped."""
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        op = SQL("ILIKE" if self.postgres else "LIKE")
        return NodeList((target, op, Value(f"%{escaped}%"), SQL("ESCAPE '\\'")))

    def search(self, text):
        """``search=``: the title or a string value of ``data`` contains ``text`` (case-insensitive)."""
        return self.like(Content.title, text) | self._data_value_like(text)

    def _data_value_like(self, text):
        """EXISTS a string anywhere in ``data`` (not a key) containing ``text``."""
        if self.postgres:
            values = NodeList((
                SQL("SELECT 1 FROM jsonb_path_query(CAST("), Content.data,
                SQL(" AS jsonb), 'strict $.**') AS found(value) WHERE jsonb_typeof(found.value) = 'string' AND"),
                self.like(SQL("(found.value #>> '{}')"), text),
            ))
        else:
            values = NodeList((
                SQL("SELECT 1 FROM json_tree("), Content.data, SQL(") AS found WHERE found.type = 'text' AND"),
                self.like(SQL("found.value"), text),
            ))
        return NodeList((SQL("EXISTS"), EnclosedNodeList((values,))))

    def order(self, key):
        """The ORDER BY term of a SortKey; NULLs sort as the smallest value on both databases."""
        target = self.target(key.field)
        if not self.postgres:
            return target.desc() if key.descending else target.asc()
        return target.desc(nulls="LAST") if key.descending else target.asc(nulls="FIRST")
