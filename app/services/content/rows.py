"""Plain INSERTs for the write path, their SQL built once per table and column list.

Peewee builds an INSERT's SQL anew for every ``save()``: for a create that writes three
rows, that costs more Python time than the database spends writing them, and on SQLite it
is spent holding the write lock. ``insert_row`` keeps the text of each shape (table,
columns, the database's placeholder) and only converts the values, through the model's
own fields (``db_value``), so a JSON field or a foreign key given as an instance is
written as ``save()`` would write it.
"""

import threading

from app.db.models import database

_lock = threading.Lock()
_statements = {}  # (model, column names, placeholder) -> SQL


def insert_row(model, values):
    """INSERT ``values`` (``{field name: Python value}``) into ``model``'s table, in the caller's transaction.

    Raises:
        peewee.IntegrityError: a constraint refused the row (a unique slug taken...).
    """
    fields = model._meta.fields
    names = tuple(values)
    placeholder = database.obj.param
    sql = _statements.get((model, names, placeholder))
    if sql is None:
        sql = _insert_sql(model, names, placeholder)
        with _lock:
            _statements[(model, names, placeholder)] = sql
    database.execute_sql(sql, [fields[name].db_value(values[name]) for name in names])


def insert_instance(instance):
    """INSERT a new model ``instance`` with its defaults applied, as ``save(force_insert=True)`` would."""
    insert_row(type(instance), instance.__data__)
    instance._dirty.clear()


def _insert_sql(model, names, placeholder):
    fields = model._meta.fields
    columns = ", ".join(f'"{fields[name].column_name}"' for name in names)
    values = ", ".join([placeholder] * len(names))
    return f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({values})'
