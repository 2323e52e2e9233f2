"""Plain statements for the write path, their SQL built once per shape.

Peewee builds a query's SQL anew every time it runs: for a create, compiling its handful
of statements (the collection, the slug check, the workflow, three INSERTs, the response's
read) costs several times what the database spends running them. The statements here are
built once per shape and database placeholder and then only bound to new values:

* ``insert_row`` keeps the text of each INSERT shape (table, columns) and converts the
  values through the model's own fields (``db_value``), so a JSON field or a foreign key
  given as an instance is written as ``save()`` would write it;
* ``fetch_one`` and ``fetch_models`` run fixed SELECTs written with ``{p}`` where the
  database's placeholder goes; ``fetch_models`` reads rows into model instances with the
  fields' ``python_value`` applied (``Model.raw``), as a Peewee SELECT would;
* ``created_item`` reads the item a create answers with (``query.get_item``'s answer, for
  an item without a featured image) through one fixed SELECT.
"""

import threading

from app.db.models import Collection, Content, User, database
from app.services.content.serialize import COLUMNS, INDEX, item_from_row

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


# ---------------------------------------------------------------- the item a create answers

# The API item's columns (serialize.COLUMNS) for one content row, joined with its author and
# collection as the item read joins them; the featured image's columns are left NULL (an item
# with an image is read by ``query.get_item``, whose LEFT JOIN tests the image's deletion).
_ALIASES = {Content: "c", User: "u", Collection: "col"}
_ITEM_COLUMNS = ", ".join(
    f'{_ALIASES[expr.model]}."{expr.column_name}"' if expr.model in _ALIASES else "NULL" for _, expr in COLUMNS)
_CREATED_ITEM = (
    f'SELECT {_ITEM_COLUMNS}, c."featured_image_id", col."is_active" FROM "content" AS c'
    ' JOIN "users" AS u ON u."id" = c."author_id" JOIN "collections" AS col ON col."id" = c."collection_id"'
    ' WHERE c."id" = {p}')
_CONVERTERS = tuple(expr.python_value for _, expr in COLUMNS)


def created_item(scope, content_id):
    """The API item of ``content_id`` for ``scope``: what ``query.get_item`` answers, read without compiling.

    Returns:
        ``(True, item or None)``, or ``(False, None)`` when the item has a featured image
        (then ``get_item`` reads it).
    """
    row = fetch_one(_CREATED_ITEM, (content_id,))
    if row is None:
        return True, None
    *columns, image_id, collection_active = row
    if image_id is not None:
        return False, None
    columns = tuple(value if value is None else convert(value) for convert, value in zip(_CONVERTERS, columns))
    if not _visible(scope, columns, collection_active):
        return True, None
    return True, item_from_row(columns, scope)


def _visible(scope, columns, collection_active):
    """``query.get_item``'s visibility for one row: what a caller of ``scope`` sees of a single item."""
    if scope.see_all:
        return True
    if collection_active is not None and not collection_active:
        return False  # a deactivated collection's content is withdrawn from all but its managers
    live = columns[INDEX["deleted_at"]] is None
    published = columns[INDEX["status"]] == "published"
    if scope.see_own:
        # Authors read their own items whatever their status, deleted ones included.
        own = columns[INDEX["author_id"]] == scope.user_id
        return (published or own) and (live or own)
    return published and live
