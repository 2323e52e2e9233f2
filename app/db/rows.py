"""Plain statements for hot paths, their SQL built once per shape.

Peewee builds a query's SQL anew every time it runs: for a create, compiling its handful
of statements (the collection, the slug check, the workflow, three INSERTs) costs several
times what the database spends running them; the same holds for the lookups every request
of a kind makes (a collection by name, the active webhooks after each write, the request
log's ``log_config``). The statements here are built once per shape and database
placeholder and then only bound to new values:

* ``insert_row`` keeps the text of each INSERT shape (table, columns) and converts the
  values through the model's own fields (``db_value``), so a JSON field or a foreign key
  given as an instance is written as ``save()`` would write it;
* ``insert_rows`` writes several rows in one transaction; on PostgreSQL, outside another
  transaction, it sends their INSERTs in ONE round trip (a multi-statement query is one
  transaction on the server: all rows or none; ``app.db.prepared.PreparedBatch``), instead
  of five (BEGIN, each INSERT, COMMIT), with a SELECT of what they made last if the
  caller wants one (a create's answer), and a statement before them if the caller needs
  one first (a create's lock on its collection);
* a value may be a ``Subquery``, which the INSERT reads itself: a create names its
  collection through one that finds it only while its schema is still the one the create
  validated against;
* ``fetch_one`` and ``fetch_models`` run fixed SELECTs written with ``{p}`` where the
  database's placeholder goes (``columns_of`` spells a model's columns for them);
  ``fetch_models`` reads rows into model instances with the fields' ``python_value``
  applied (``Model.raw``'s cursor wrapper), as a Peewee SELECT would.

On PostgreSQL the statements run as server-side prepared statements (``app.db.prepared``).
"""

import threading

import peewee

from app.db.database import is_postgres
from app.db.models import database
from app.db.prepared import PreparedBatch, PreparedSQL, prepared_sql

_lock = threading.Lock()
_statements = {}  # (key, placeholder) -> SQL


class Subquery:
    """A value an INSERT reads itself: the scalar SELECT ``template`` (``{p}`` where each of
    ``params`` goes), written in the value's place in parentheses; NULL when it finds no row."""

    __slots__ = ("template", "params")

    def __init__(self, template, params):
        self.template = template
        self.params = tuple(params)


def insert_row(model, values):
    """INSERT ``values`` (``{field name: Python value}``, or a ``Subquery``) into ``model``'s
    table, in the caller's transaction.

    Raises:
        peewee.IntegrityError: a constraint refused the row (a unique slug taken...).
    """
    database.execute_sql(*_insert(model, values))


def insert_rows(rows, then=None, first=None):
    """INSERT each ``(model, values)`` of ``rows``, in order, all in one transaction.

    Inside the caller's transaction they join it (a savepoint: a refused row undoes the
    others and leaves the caller's transaction usable, as a nested ``atomic()`` does).

    Args:
        rows: ``(model, values)`` pairs (``instance_row``); a value may be a ``Subquery``.
        then: ``(sql, params)`` of a SELECT that reads what the rows made (the answer of a
            create), or None. On PostgreSQL it is the batch's last statement: it sees the rows
            its own transaction wrote, and its rows come back in the same round trip.
            Elsewhere it runs once the rows are committed, as a separate statement.
        first: ``(sql, params)`` of a statement to run before the rows in their transaction
            (a lock they depend on, ``statement``), or None; its rows are not read.

    Returns:
        The rows of ``then`` (a list), or None without it.

    Raises:
        peewee.IntegrityError: a constraint refused a row; none of them was written.
    """
    statements = [_insert(model, values) for model, values in rows]
    if first is not None:
        statements.insert(0, first)
    if then is not None:
        then = (prepared_sql(then[0]), then[1])
    if is_postgres(database.obj) and not database.in_transaction():
        if then is not None:
            statements.append(then)
        batch = PreparedBatch(statements)
        cursor = database.execute_sql(batch, [param for _, params in statements for param in params])
        return None if then is None else cursor.fetchall()
    with database.atomic():
        for sql, params in statements:
            database.execute_sql(sql, params)
    return None if then is None else database.execute_sql(*then).fetchall()


def statement(template, params):
    """``(sql, params)`` of the fixed statement ``template`` (``{p}`` for each parameter) for
    the bound database, as ``insert_rows`` takes its ``first``."""
    return _sql(template, template.format), params


def _insert(model, values):
    """``(sql, params)`` of the INSERT of ``values`` into ``model``'s table."""
    fields = model._meta.fields
    names = tuple(values)
    reads = tuple((name, value.template) for name, value in values.items() if type(value) is Subquery)
    sql = _sql((model, names, reads), lambda p: _insert_sql(model, names, dict(reads), p))
    if not reads:
        return sql, [fields[name].db_value(values[name]) for name in names]
    params = []
    for name in names:
        value = values[name]
        if type(value) is Subquery:
            params.extend(value.params)
        else:
            params.append(fields[name].db_value(value))
    return sql, params


def instance_row(instance):
    """``(model, values)`` of a new model ``instance`` for ``insert_rows`` (its fields no longer dirty)."""
    instance._dirty.clear()
    return type(instance), instance.__data__


def columns_of(model, table=None):
    """``model``'s columns as a SELECT list, in field order (each ``"table"."column"`` with ``table``),
    for the fixed SELECTs ``fetch_models`` reads into instances."""
    prefix = f'"{table}".' if table else ""
    return ", ".join(f'{prefix}"{field.column_name}"' for field in model._meta.sorted_fields)


def fetch_one(template, params):
    """The first row (a tuple) of the SELECT ``template`` (``{p}`` for each parameter), or None."""
    return database.execute_sql(_sql(template, template.format), params).fetchone()


def fetch_models(model, template, params):
    """The rows of the SELECT ``template`` as ``model`` instances (columns named as the model's).

    The rows are read as ``model.raw(...)`` reads them (the same cursor wrapper), but the
    statement is run directly: Peewee would copy the SQL into a plain string on its way to
    the database, and PostgreSQL would then parse and plan it on every call instead of
    running it prepared.
    """
    sql = _sql(template, template.format)
    wrapper = peewee.ModelObjectCursorWrapper(database.execute_sql(sql, params), model, [], model)
    layout = _layouts.get((model, sql))
    if layout is not None:
        wrapper.__dict__.update(layout)
        wrapper.initialized = True
    rows = list(wrapper)
    if layout is None and wrapper.initialized:
        _keep_layout((model, sql), wrapper)
    return rows


# What a cursor wrapper works out from its first row's cursor (the columns, their fields and
# converters: about half of reading a row), kept per fixed statement, whose columns never change.
_layouts = {}
_PER_CURSOR = ("cursor", "count", "index", "initialized", "populated", "row_cache")


def _keep_layout(key, wrapper):
    layout = {name: value for name, value in vars(wrapper).items() if name not in _PER_CURSOR}
    with _lock:
        _layouts[key] = layout


def _sql(key, build):
    """The SQL of ``key`` for the bound database, built by ``build(p=placeholder)`` the first time."""
    placeholder = database.obj.param
    sql = _statements.get((key, placeholder))
    if sql is None:
        sql = PreparedSQL(build(p=placeholder))
        with _lock:
            _statements[(key, placeholder)] = sql
    return sql


def _insert_sql(model, names, reads, p):
    fields = model._meta.fields
    columns = ", ".join(f'"{fields[name].column_name}"' for name in names)
    values = ", ".join(f"({reads[name].format(p=p)})" if name in reads else p for name in names)
    return f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({values})'
