"""The fields a content list may filter and sort on, and the error every bad parameter raises.

A field is a content column from an allow-list (``COLUMNS``, with SonicJS's camelCase
aliases) or ``data.<name>[.<name>...]`` where each name matches a strict identifier
pattern: names are never interpolated into SQL (columns are Peewee fields, JSON paths are
bound like values). As on SonicJS's own examples (``filter[category][equals]=blog``), a
bare name that is no column, alias or other key of the item means ``data.<name>``: the
columns win (``title`` is the column, ``data.title`` the data field), and a column the
caller may not use stays an unknown field rather than quietly becoming a data field.

Callers who cannot see drafts (anonymous, viewers) filter only on ``PUBLIC_COLUMNS``: the
columns of the public item. Workflow, review, scheduling and deletion columns would
otherwise answer questions about unpublished work ("which published items are due to be
unpublished tomorrow?"), so for them those names are unknown fields (400).
"""

import re
from dataclasses import dataclass

from app.db.models import Content

MAX_DATA_PATH = 5
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")

TEXT, INT, TIME = "text", "int", "time"
# What the columns of each kind hold on PostgreSQL (INTEGER, BIGINT): a value past them is
# refused with a 400 rather than sent to a database that would fail on it.
INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
SCORE = "score"  # a computed number: search relevance
COLUMNS = {
    "id": (Content.id, TEXT),
    "title": (Content.title, TEXT),
    "slug": (Content.slug, TEXT),
    "status": (Content.status, TEXT),
    "collection_id": (Content.collection, TEXT),
    "author_id": (Content.author, TEXT),
    "featured_image_id": (Content.featured_image, TEXT),
    "workflow_state_id": (Content.workflow_state, TEXT),
    "review_status": (Content.review_status, TEXT),
    "content_type": (Content.content_type, TEXT),
    "meta_title": (Content.meta_title, TEXT),
    "meta_description": (Content.meta_description, TEXT),
    "version_number": (Content.version_number, INT),
    "created_at": (Content.created_at, TIME),
    "updated_at": (Content.updated_at, TIME),
    "published_at": (Content.published_at, TIME),
    "deleted_at": (Content.deleted_at, TIME),
    "scheduled_publish_at": (Content.scheduled_publish_at, TIME),
    "scheduled_unpublish_at": (Content.scheduled_unpublish_at, TIME),
}
ALIASES = {
    "collectionId": "collection_id",
    "authorId": "author_id",
    "featuredImageId": "featured_image_id",
    # Keys of the item (``serialize.PUBLIC_KEYS``) whose object is a column's row.
    "featuredImage": "featured_image_id",
    "author": "author_id",
    "workflow_state": "workflow_state_id",
    "version": "version_number",
    # SonicJS's camelCase names of the item's times.
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "publishedAt": "published_at",
}
# The columns of the public item (app.services.content.serialize): what anyone may filter on.
PUBLIC_COLUMNS = frozenset({
    "id", "title", "slug", "status", "collection_id", "author_id", "featured_image_id", "meta_title",
    "meta_description", "version_number", "created_at", "updated_at", "published_at",
})
# Sort keys: public columns only, so the sort allow-list needs no per-caller variant.
# Names that are never read as bare data fields: every column of the content table (those
# outside ``COLUMNS`` stay unknown fields), the item's keys that name no column, and the
# search's own sort key.
RESERVED_NAMES = frozenset(Content._meta.columns) | {"collection", "data", "relevance"}
SORTABLE = ("id", "title", "slug", "status", "created_at", "updated_at", "published_at", "version_number")

class QueryError(Exception):
    """Invalid list parameters; ``problems`` is ``[{"parameter", "message"}]``."""

    def __init__(self, problems):
        super().__init__("; ".join(f"{p['parameter']}: {p['message']}" for p in problems))
        self.problems = problems


def fail(parameter, message):
    """Raise a QueryError about one parameter."""
    raise QueryError([{"parameter": parameter, "message": message}])


@dataclass(frozen=True)
class Field:
    """A filterable or sortable field: a column (``name``) or a data path (``path``)."""

    name: str
    kind: str  # TEXT, INT, TIME, or "data"
    path: tuple = ()

    @property
    def is_data(self):
        return self.kind == "data"


def is_bare_data_name(name):
    """Whether ``name`` is a bare data field name: an identifier naming no column, alias or item key
    (``RESERVED_NAMES``)."""
    return (name not in COLUMNS and name not in ALIASES and name not in RESERVED_NAMES
            and bool(IDENTIFIER.match(name)))


def resolve_field(name, parameter, columns=None):
    """The Field for a column name (or alias), ``data.<path>`` or a bare data name; QueryError otherwise.

    Args:
        name: the field as the client wrote it.
        parameter: the query parameter it came from (for the error).
        columns: the column names this caller may use (default: all of ``COLUMNS``).
    """
    if not isinstance(name, str) or not name:
        fail(parameter, "a field name is required")
    if name.startswith("data."):
        parts = tuple(name[len("data."):].split("."))
        if len(parts) > MAX_DATA_PATH or not all(IDENTIFIER.match(part) for part in parts):
            fail(parameter, f"invalid data field {name!r}: use data.<name> with letters, digits and _")
        return Field(name, "data", parts)
    allowed = COLUMNS.keys() if columns is None else columns
    column = ALIASES.get(name, name)
    if is_bare_data_name(name):
        return Field(f"data.{name}", "data", (name,))
    if column not in allowed:
        fail(parameter, f"unknown field {name!r}; filter on {', '.join(sorted(allowed))} or data.<field>")
    return Field(column, COLUMNS[column][1])
