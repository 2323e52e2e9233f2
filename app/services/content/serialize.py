"""The columns a content read selects (content + author + collection + featured image, ONE
query) and the item shape the API returns.

The item follows SonicJS's ``{id, title, slug, status, collectionId, data, created_at,
updated_at}`` and adds ``published_at``, ``version_number``, the SEO fields, and the joined
``author {id, name, email?}`` (``name``: first and last name, else, to callers who may
see unpublished content, the username),
``collection {id, name, display_name}`` and
``featuredImage {id, url, thumbnail_url, alt, width, height, mime_type} | null`` (a
soft-deleted image reads as null). Callers who may see unpublished content also get
``workflow_state_id`` and ``deleted_at``; authors' emails are shown only to callers who may
read users (``users.read``), never to the public.

Rows come straight from the database cursor, not through Peewee's per-column conversion:
both databases already return ``str`` for the text columns and ``int`` for the integer
ones, so only the JSON ``data`` is decoded. A value of another type (SQLite stores what a
hand-written INSERT gives it) still gets the field's own conversion (``convert_row``), so a
row reads exactly as Peewee would have read it. ``items_from_rows`` turns a page's rows
into items in one pass; ``item_from_row(convert_row(row))`` is the same in two steps.
"""

import msgspec
import peewee
from peewee import JOIN

from app.db.models import Collection, Content, JSONField, Media, User
from app.services.display_names import display_name

# (key in the row, selected expression), in SELECT order.
COLUMNS = (
    ("id", Content.id),
    ("title", Content.title),
    ("slug", Content.slug),
    ("status", Content.status),
    ("collection_id", Content.collection),
    ("data", Content.data),
    ("created_at", Content.created_at),
    ("updated_at", Content.updated_at),
    ("published_at", Content.published_at),
    ("version_number", Content.version_number),
    ("meta_title", Content.meta_title),
    ("meta_description", Content.meta_description),
    ("workflow_state_id", Content.workflow_state),
    ("deleted_at", Content.deleted_at),
    ("author_id", Content.author),
    ("author_first_name", User.first_name),
    ("author_last_name", User.last_name),
    ("author_username", User.username),
    ("author_email", User.email),
    ("collection_name", Collection.name),
    ("collection_display_name", Collection.display_name),
    ("media_id", Media.id),
    ("media_url", Media.public_url),
    ("media_thumbnail_url", Media.thumbnail_url),
    ("media_alt", Media.alt),
    ("media_width", Media.width),
    ("media_height", Media.height),
    ("media_mime_type", Media.mime_type),
)
# item_from_row unpacks a row in this order.
INDEX = {name: i for i, (name, _) in enumerate(COLUMNS)}
DATA = INDEX["data"]

PUBLIC_KEYS = (
    "id", "title", "slug", "status", "collectionId", "data", "created_at", "updated_at", "published_at",
    "version_number", "meta_title", "meta_description", "author", "collection", "featuredImage",
)
PRIVATE_KEYS = ("workflow_state_id", "deleted_at")
ITEM_KEYS = PUBLIC_KEYS + PRIVATE_KEYS


def joined_select(*extra):
    """SELECT of COLUMNS (+ ``extra`` expressions) FROM content with its three joins."""
    return (
        Content.select(*(expr for _, expr in COLUMNS), *extra)
        .join(User, on=(Content.author == User.id))
        .switch(Content)
        .join(Collection, on=(Content.collection == Collection.id))
        .switch(Content)
        .join(Media, JOIN.LEFT_OUTER, on=((Content.featured_image == Media.id) & Media.deleted_at.is_null()))
    )


def _expected_type(field):
    """The Python type a column of ``field`` needs no conversion for (None: always convert)."""
    if isinstance(field, peewee.ForeignKeyField):
        field = field.rel_field
    if type(field) in (peewee.TextField, peewee.CharField):
        return str
    if type(field) in (peewee.IntegerField, peewee.BigIntegerField):
        return int
    return None


def column_converters(expressions, start=0):
    """``(index, type, python_value)`` of the selected ``expressions`` that are plain fields
    (JSON ones excepted: ``convert_row`` decodes ``data`` itself). Other expressions (a
    CASE, a SUBSTR of the title) are read as they come: Peewee leaves them so, or converts
    them to the type the database already returns.

    Args:
        expressions: selected expressions, the first at row index ``start``.
    """
    converters = []
    for index, expression in enumerate(expressions, start):
        field = expression.unwrap() if isinstance(expression, peewee.Alias) else expression
        if isinstance(field, peewee.Field) and not isinstance(field, JSONField):
            converters.append((index, _expected_type(field), field.python_value))
    return tuple(converters)


_CONVERTERS = column_converters([expression for _, expression in COLUMNS])
WIDTH = len(COLUMNS)
# Type patterns of rows (COLUMNS, then any extra columns) whose COLUMNS were seen to need
# no conversion but ``data``'s (a page's rows share a few): such a row skips the checks.
_PLAIN_ROWS = set()
_MAX_PLAIN_ROWS = 4096
_decode = msgspec.json.decode
_data_value = Content.data.python_value


def convert_row(row, extra=()):
    """A cursor row of ``joined_select`` with the values Peewee's conversion gives.

    Args:
        row: the database's tuple: COLUMNS, then the extra expressions selected.
        extra: ``column_converters`` of the extra expressions (indexes from WIDTH on).
    """
    values = list(row)
    values[DATA] = Content.data.python_value(values[DATA])
    pattern = tuple(map(type, row))  # the extra columns' types too: one key for items_from_rows
    if pattern not in _PLAIN_ROWS and _convert(values, _CONVERTERS) and len(_PLAIN_ROWS) < _MAX_PLAIN_ROWS:
        _PLAIN_ROWS.add(pattern)
    if extra:
        _convert(values, extra)
    return values


def _convert(values, converters):
    """Convert ``values`` in place where Peewee would change them; True when none needed it."""
    plain = True
    for index, expected, python_value in converters:
        value = values[index]
        if value is not None and (expected is None or type(value) is not expected):
            values[index] = python_value(value)
            plain = False
    return plain


def item_from_row(row, scope, fields=None):
    """The API item of one ``joined_select`` row (converted: ``convert_row``) for a caller of ``scope``."""
    item = _item(row, row[DATA], scope.show_email, not scope.public_shape)
    if fields:
        item = {key: item[key] for key in item if key in fields or key == "id"}
    return item


def items_from_rows(rows, scope, fields=None):
    """The API items of cursor rows of ``joined_select``: ``item_from_row(convert_row(row), ...)``
    of each, in one pass (a page's rows mostly need nothing but their ``data`` decoded)."""
    show_email, private = scope.show_email, not scope.public_shape
    items = []
    for row in rows:
        if tuple(map(type, row)) in _PLAIN_ROWS:
            data = row[DATA]
            data = _decoded(data) if type(data) is str else _data_value(data)
        else:
            row = convert_row(row)
            data = row[DATA]
        items.append(_item(row, data, show_email, private))
    if fields:
        items = [{key: item[key] for key in item if key in fields or key == "id"} for item in items]
    return items


def _decoded(text):
    """``data`` as ``JSONField.python_value`` reads a str: its JSON, or the text itself when it is not JSON."""
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return text


def _item(row, data, show_email, private):
    """The item of a converted row, with ``data`` already decoded."""
    (content_id, title, slug, status, collection_id, _data, created_at, updated_at, published_at, version_number,
     meta_title, meta_description, workflow_state_id, deleted_at, author_id, first_name, last_name, username, email,
     collection_name, collection_display_name, media_id, media_url, media_thumbnail_url, media_alt, media_width,
     media_height, media_mime_type) = row[:WIDTH]
    # Never the email here, nor to the public the username (unless chosen, it is the email's
    # local part): those who may read unpublished content see it where the names are missing.
    name = display_name(first_name, last_name, username if private else None)
    author = {"id": author_id, "name": name, "email": email} if show_email else {"id": author_id, "name": name}
    item = {
        "id": content_id,
        "title": title,
        "slug": slug,
        "status": status,
        "collectionId": collection_id,
        "data": data,
        "created_at": created_at,
        "updated_at": updated_at,
        "published_at": published_at,
        "version_number": version_number,
        "meta_title": meta_title,
        "meta_description": meta_description,
        "author": author,
        "collection": {"id": collection_id, "name": collection_name, "display_name": collection_display_name},
        "featuredImage": None if media_id is None else {
            "id": media_id, "url": media_url, "thumbnail_url": media_thumbnail_url, "alt": media_alt,
            "width": media_width, "height": media_height, "mime_type": media_mime_type,
        },
    }
    if private:
        item["workflow_state_id"] = workflow_state_id
        item["deleted_at"] = deleted_at
    return item
