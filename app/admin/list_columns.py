"""The columns of a collection's content list, and each item's values as people read them.

A collection's ``listFields`` (``collections.list_fields``) names the columns, in order: the
schema's top-level fields or the item's own columns (``LIST_COLUMNS``); without it, or when
the schema no longer knows any name it holds, the list shows ``DEFAULT_COLUMNS``, the
columns it always had. A name the schema lost is dropped, never an error.

Values are written for people: booleans Yes/No, the item's times and datetime fields as
``2026-01-31 09:00 UTC``, a choice by its label, a list joined with commas, long or rich
text as plain text cut to ``MAX_TEXT`` characters. References are shown by the titles of the
items they point at and media by file name, each kind looked up once for the whole page
(never a query per row), and only what the reader may see: a reference to an item the
reader may not read, or a file gone, shows its id.
"""

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from app.admin.blocks import declared_type, text_setting
from app.admin.choices import enum_labels
from app.admin.pages import format_time
from app.services.collection_schema import LIST_COLUMNS
from app.services.collections import shown_list_fields
from app.services.content.query import readable_titles
from app.services.content.validation import schema_properties
from app.services.media.library_queries import rows_by_id

DEFAULT_COLUMNS = ("title", "status", "author", "updated_at")
BUILT_IN_LABELS = {"title": "Title", "slug": "Slug", "status": "Status", "author": "Author",
                   "created_at": "Created", "updated_at": "Edited", "published_at": "Published"}
TIMES = frozenset({"created_at", "updated_at", "published_at"})
MEDIA_TYPES = frozenset({"media", "file"})
# Past this, a cell's text is cut (with "…"): a list row stays one line or two.
MAX_TEXT = 80
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Column:
    """One column: ``name`` as listFields says it, its header ``label``, and ``field``, the
    schema field's config (None for the item's own columns)."""

    name: str
    label: str
    field: dict | None = None


def columns_of(collection):
    """The columns of ``collection``'s list (``listFields``, else ``DEFAULT_COLUMNS``)."""
    properties = schema_properties(collection.schema) or {}
    columns = []
    for name in shown_list_fields(collection) or DEFAULT_COLUMNS:
        if name in BUILT_IN_LABELS:  # the item's own column, whatever the schema holds
            columns.append(Column(name, BUILT_IN_LABELS[name]))
        else:
            field = properties[name] if isinstance(properties.get(name), dict) else {}
            columns.append(Column(name, text_setting(field, "title") or name, field))
    return columns


def rows_of(columns, items, scope, can_see_media):
    """``[(item, [cell text, ...]), ...]``: each item with the text of each of ``columns``.

    Args:
        scope: the reader's ``Scope``: referenced items are named only where it may read them.
        can_see_media: whether the reader may see the media library (else files show their ids).
    """
    titles = _titles(_ids(columns, items, lambda field: declared_type(field) == "reference"), scope)
    media = _ids(columns, items, lambda field: declared_type(field) in MEDIA_TYPES) if can_see_media else set()
    names = _file_names(media)
    looked_up = {**titles, **names}
    return [(item, [cell_text(column, item, looked_up) for column in columns]) for item in items]


def cell_text(column, item, looked_up):
    """The text of ``column`` for ``item``; ``looked_up`` maps ids to the names they show as."""
    if column.field is None:
        if column.name == "author":
            return (item.get("author") or {}).get("name") or ""
        value = item.get(column.name)
        return format_time(value) if column.name in TIMES else _cut(str(value or ""))
    return field_text(column.field, (item.get("data") or {}).get(column.name) if isinstance(item.get("data"), dict)
                      else None, looked_up)


def field_text(field, value, looked_up):
    """A schema field's ``value`` as people read it (see the module docstring)."""
    if value is None or value == "":
        return ""
    kind = declared_type(field)
    if kind is None:
        return _cut(value) if isinstance(value, str) else _json_text(value)
    if isinstance(value, list):
        return _cut(", ".join(field_text({**field, "multiple": False}, one, looked_up) for one in value
                              if one is not None and one != ""))
    if kind in ("select", "radio", "multiselect") and field.get("enum") and isinstance(field["enum"], list):
        return _choice_label(field, value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if kind == "reference" or kind in MEDIA_TYPES:
        key = value.get("id") if isinstance(value, dict) else value
        return looked_up.get(key, str(key)) if isinstance(key, str) else _json_text(value)
    if kind == "datetime" and isinstance(value, str):
        return _datetime_text(value)
    if isinstance(value, dict):
        return _json_text(value)
    text = str(value)
    if kind in ("richtext", "quill", "tinymce", "mdxeditor"):
        text = html.unescape(_TAG.sub(" ", text))
    return _cut(text)


def _choice_label(field, value):
    labels = enum_labels(field)
    for index, option in enumerate(field["enum"]):
        # One value when JSON says so, never a boolean and a number (True is not 1 here).
        if option == value and isinstance(option, bool) == isinstance(value, bool) and index < len(labels):
            return _cut(labels[index])
    return _cut(value) if isinstance(value, str) else _json_text(value)


def _datetime_text(value):
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _cut(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except OverflowError:  # a valid offset time past the last UTC moment Python holds (year 9999)
        return _cut(value)


def _json_text(value):
    return _cut(msgspec.json.encode(value).decode())


def _cut(text):
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1].rstrip() + "…"


def _ids(columns, items, wanted):
    """The ids the ``wanted`` columns' values hold across ``items``.

    An id holding a NUL (written by a backup import or raw SQL) is left out: PostgreSQL
    refuses the whole query over it, and its cell shows it as it is.
    """
    ids = set()
    for column in columns:
        if column.field is None or not wanted(column.field):
            continue
        for item in items:
            data = item.get("data")
            value = data.get(column.name) if isinstance(data, dict) else None
            for one in value if isinstance(value, list) else [value]:
                key = one.get("id") if isinstance(one, dict) else one
                if isinstance(key, str) and key and "\x00" not in key:
                    ids.add(key)
    return sorted(ids)


def _titles(ids, scope):
    """``{id: title}`` of the items among ``ids`` that ``scope`` may read, in one query: the
    very rule of ``GET /api/content/{id}`` (a deactivated collection's items included)."""
    return readable_titles(scope, ids) if ids else {}


def _file_names(ids):
    """``{id: original file name}`` of the live media files among ``ids``, in one query."""
    if not ids:
        return {}
    return {media_id: row.original_name for media_id, row in rows_by_id(ids, live_only=True).items()}


UNCHANGED = object()  # a form without the "List columns" fieldset: the columns stay as stored


def column_choices(collection, chosen=UNCHANGED):
    """``[(name, label, ticked), ...]`` for the collection form's "List columns": the ticked
    columns first, in their order, then the item's own columns and the schema's fields.

    Args:
        collection: the collection edited (None for a new one: its schema is not saved
            yet, so only the item's own columns are offered).
        chosen: the names a refused form posted, shown ticked again; by default the stored list.
    """
    if chosen is UNCHANGED:
        chosen = shown_list_fields(collection) if collection is not None else None
    properties = (schema_properties(collection.schema) or {}) if collection is not None else {}
    labels = dict(BUILT_IN_LABELS)
    for name, field in properties.items():
        if name not in labels:
            labels[name] = (field.get("title") if isinstance(field, dict) else None) or name
    chosen = [name for name in chosen or () if name in labels]
    return ([(name, labels[name], True) for name in chosen]
            + [(name, label, False) for name, label in labels.items() if name not in chosen])


def posted_list_fields(form, stored_schema, schema, renamed=None):
    """The ``list_fields`` a collection form posted, for a save with ``schema``; ``UNCHANGED``
    when the form has no "List columns" fieldset (``list_fields_shown``).

    A ticked field that this very save renames (``renamed``: ``{old name: new name}``, from
    the field builder's rows) is listed by its new name, in its place. A ticked field that
    this very save removes (a field of ``stored_schema`` that ``schema`` lacks) is dropped,
    since the editor removed it in the same form. Neither touches a name of the item's own
    columns (``LIST_COLUMNS``), which the tick means; any other name is left for the service
    to check, which refuses what the schema does not know.
    """
    if form.get("list_fields_shown") is None:
        return UNCHANGED
    posted = form.get("list_fields")
    names = [posted] if isinstance(posted, str) else list(posted or ())
    renamed = {old: new for old, new in (renamed or {}).items() if old not in LIST_COLUMNS}
    names = [renamed.get(name, name) for name in names]
    removed = set(schema_properties(stored_schema) or {}) - set(schema_properties(schema) or {})
    removed -= LIST_COLUMNS  # a field named like the item's own column: that column stays
    return [name for name in names if name not in removed] or None
