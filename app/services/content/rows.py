"""Plain statements for the write path, their SQL built once per shape.

Peewee builds a query's SQL anew every time it runs: for a create, compiling its handful
of statements (the collection, the slug check, the workflow, three INSERTs) costs several
times what the database spends running them. The statements here are built once per shape
and database placeholder and then only bound to new values:

* ``insert_row`` keeps the text of each INSERT shape (table, columns) and converts the
  values through the model's own fields (``db_value``), so a JSON field or a foreign key
  given as an instance is written as ``save()`` would write it;
* ``fetch_one`` and ``fetch_models`` run fixed SELECTs written with ``{p}`` where the
  database's placeholder goes; ``fetch_models`` reads rows into model instances with the
  fields' ``python_value`` applied (``Model.raw``), as a Peewee SELECT would;
"""

import threading

from app.db.models import database

_lock = threading.Lock()
_statements = {}  # (key, placeholder) -> SQL


def insert_row(model, values):
    """INSERT ``values`` (``{field name: Python value}``) into ``model``'s table, in the caller's transaction.

    Raises:
        peewee.IntegrityError: a constraint refused the row (a unique slug taken...).
    """
    fields = model._meta.fields
    names = tuple(values)
    sql = _sql((model, names), lambda p: _insert_sql(model, names, p))
    database.execute_sql(sql, [fields[name].db_value(values[name]) for name in names])


def insert_instance(instance):
    """INSERT a new model ``instance`` with its defaults applied, as ``save(force_insert=True)`` would."""
    insert_row(type(instance), instance.__data__)
    instance._dirty.clear()


def fetch_one(template, params):
    """The first row (a tuple) of the SELECT ``template`` (``{p}`` for each parameter), or None."""
    return database.execute_sql(_sql(template, template.format), params).fetchone()


def fetch_models(model, template, params):
    """The rows of the SELECT ``template`` as ``model`` instances (columns named as the model's)."""
    return list(model.raw(_sql(template, template.format), *params))


def _sql(key, build):
    """The SQL of ``key`` for the bound database, built by ``build(p=placeholder)`` the first time."""
    placeholder = database.obj.param
    sql = _statements.get((key, placeholder))
    if sql is None:
        sql = build(p=placeholder)
        with _lock:
            _statements[(key, placeholder)] = sql
    return sql


def _insert_sql(model, names, p):
    fields = model._meta.fields
    columns = ", ".join(f'"{fields[name].column_name}"' for name in names)
    values = ", ".join([p] * len(names))
    return f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({values})'
