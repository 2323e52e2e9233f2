"""Content read SQL compiled once per shape and reused with new values.

Compiling the content list's page query (27 columns, three joins, its WHERE and ORDER BY)
with Peewee costs more than running it, and so does building its Peewee expressions. Two
lists of the same *shape* (scope kind, statuses, sort, which filters with which operators
and value types...) differ only in the values bound as parameters: another offset,
collection, filter value, search text or cursor. Every value that may change between two
requests of one shape is a ``Slot`` (``Binder``): a bound parameter that records where it
lands in the compiled parameters. A read makes its slots first, in the same order for
every request of a shape, and builds the Peewee query only in the ``build`` callback, which
runs only when the shape has no stored statement (expressions that make slots as they are
built, such as filters and a cursor's conditions, are built each time, in that same order).
The first request of a shape compiles and stores a ``Statement`` (the SQL, its parameters,
and each slot's positions with the converter Peewee applied to it); later ones only fill
their values into a copy of those parameters. The SQL and parameters are exactly those a
fresh compile gives (tests compare them).

The key of a shape is built by the caller (``query.py``) from everything that changes the
SQL text; the values abstracted out of it must all be slots. A statement whose values do
not land as plain parameters (Peewee inlined one) is never stored, and a stored statement
is only reused with as many values as it was compiled with. The store holds at most
``MAX_STATEMENTS`` shapes per process (the oldest go first).
"""

import threading
from dataclasses import dataclass, replace

from peewee import Value

from app.db.models import database
from app.db.prepared import prepared_sql

MAX_STATEMENTS = 512

_statements = {}
_lock = threading.Lock()
_stats = {"compiled": 0, "reused": 0}
# The slot positions of the compile in progress on this thread (Peewee's Context has slots).
_compiling = threading.local()


class Slot(Value):
    """A bound value whose positions in the compiled parameters are recorded."""

    def __init__(self, value, index):
        super().__init__(value, unpack=False)
        self.index = index

    def __sql__(self, ctx):
        places = getattr(_compiling, "places", None)
        if places is None:
            return ctx.value(self.value, None)
        # Peewee converts the value with the context's converter (the compared field's
        # db_value): the same conversion is applied to the next request's value.
        position, converter = len(ctx._values), ctx.state.converter
        ctx.value(self.value, None)
        # Exactly one parameter added, else the value was inlined: not reusable.
        places.append((ctx, self.index, position if len(ctx._values) == position + 1 else None, converter))
        return ctx


class Binder:
    """Makes the Slots of one request, in order; ``values`` are what they hold."""

    __slots__ = ("values",)

    def __init__(self):
        self.values = []

    def __call__(self, value):
        slot = Slot(value, len(self.values))
        self.values.append(value)
        return slot


@dataclass(frozen=True)
class Statement:
    """Compiled SQL, its parameters, and where each slot's value goes in them."""

    sql: str
    params: tuple
    places: tuple  # (slot index, parameter position, converter or None)
    slots: int

    def params_for(self, values):
        """The parameters of this SQL for slot ``values``."""
        params = list(self.params)
        for index, position, converter in self.places:
            value = values[index]
            params[position] = converter(value) if converter is not None else value
        return params


def prepared(key, values, build):
    """``(sql, params)`` of the statement of shape ``key`` for slot ``values``.

    Args:
        key: the shape (hashable); None compiles afresh and stores nothing.
        values: the request's slot values (``Binder.values``), made in the same order
            for every request of the shape.
        build: returns the Peewee query; called only when the shape is not stored yet.
    """
    statement = _statements.get(key) if key is not None else None
    if statement is not None and statement.slots == len(values):
        _stats["reused"] += 1
        return statement.sql, statement.params_for(values)
    query, places, ctx = build(), [], database.get_sql_context()
    _compiling.places = places
    try:
        sql, params = ctx.sql(query).query()
    finally:
        _compiling.places = None
    _stats["compiled"] += 1
    # Peewee compiles some parts in a scratch context too (to test an IN list for
    # emptiness): only the places in the query's own context count.
    places = tuple(place[1:] for place in places if place[0] is ctx)
    statement = Statement(sql, tuple(params), places, len(values))
    reusable = all(position is not None for _, position, _ in statement.places)
    if key is not None and reusable and statement.params_for(values) == params:
        _store(key, _without_values(statement))
    return sql, params


def _without_values(statement):
    """``statement`` keeping none of this request's values: every request fills its slots,
    and a stored value would only hold memory (a search's matching ids are up to 2,000)."""
    filled = {position for _, position, _ in statement.places}
    params = tuple(None if position in filled else param for position, param in enumerate(statement.params))
    return replace(statement, params=params)


def _store(key, statement):
    with _lock:
        if len(_statements) >= MAX_STATEMENTS:
            del _statements[next(iter(_statements))]
        _statements[key] = statement


def execute(key, values, build):
    """Run the statement of shape ``key`` (see ``prepared``); the database cursor.

    On PostgreSQL each connection runs it as a server-side prepared statement, parsed and
    planned once instead of on every request, a search's excepted (``app.db.prepared``);
    sqlite3 keeps its own prepared statements.
    """
    sql, params = prepared(key, values, build)
    return database.execute_sql(prepared_sql(sql), params)


def clear():
    """Forget every stored statement (tests; the shapes are the same for any database content)."""
    with _lock:
        _statements.clear()
        _stats.update(compiled=0, reused=0)


def stats():
    """``{"compiled", "reused", "stored"}`` counts since the last ``clear()``."""
    return {**_stats, "stored": len(_statements)}
