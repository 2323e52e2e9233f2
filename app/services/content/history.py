"""What every content change records inside its transaction: versions and workflow history.

Shared by ``writes`` (edits) and ``workflow`` (moves between states), which both run
these helpers inside their own transaction. ``content.status`` is the publication status
public reads filter on (draft, published, archived) and ``workflow_state_id`` the
fine-grained state: the states ``published`` and ``archived`` have the status of the
same name, every other state (draft, pending-review, approved, rejected) has ``draft``.

Rows go in through ``rows.insert_row`` (SQL built once per shape): these inserts run in
every write's transaction, where time is spent holding the database's write lock. The
workflow is looked up through a fixed statement too (``rows.fetch_one``).
"""

import peewee

from app.db.models import Content, ContentVersion, WorkflowHistory, new_id, now_ms
from app.db.rows import fetch_one, insert_row

DEFAULT_WORKFLOW_ID = "default-workflow"


def status_of_state(state):
    """The publication status of a workflow state."""
    return state if state in ("published", "archived") else "draft"


def state_of(content):
    """The workflow state of ``content`` (its status's state when the column is empty)."""
    return content.workflow_state_id or content.status or "draft"


# The collection's own active workflow first, then a global one (no collection); ``{collection}``
# is the collection's id: a parameter, or a column of an outer query (``WORKFLOW_OF``).
WORKFLOW_OF = (
    'SELECT "id" FROM "workflows" WHERE "is_active" = 1 AND ("collection_id" = {collection} OR "collection_id" IS NULL)'
    ' ORDER BY "collection_id" IS NULL, "created_at", "id" LIMIT 1')
_WORKFLOW_OF_COLLECTION = WORKFLOW_OF.format(collection="{p}")


def workflow_id_for(collection_id):
    """The active workflow of the collection, else the default one (migration 0005)."""
    found = fetch_one(_WORKFLOW_OF_COLLECTION, (collection_id,))
    return found[0] if found else DEFAULT_WORKFLOW_ID


def snapshot(content):
    """What a content_versions row stores for ``content``."""
    return {
        "title": content.title,
        "slug": content.slug,
        "status": content.status,
        "workflow_state_id": content.workflow_state_id,
        "data": content.data,
        "meta_title": content.meta_title,
        "meta_description": content.meta_description,
        "featured_image_id": content.featured_image_id,
        "published_at": content.published_at,
    }


# The highest version an item has stored: what an item whose version_number is NULL
# numbers past (``next_version``).
_HIGHEST_VERSION = 'SELECT MAX("version") FROM "content_versions" WHERE "content_id" = {p}'


def next_version(content):
    """The ``version_number`` the next edit or move of ``content`` gives it.

    Call it in the write's transaction, the item's row locked (no other writer adds its
    versions meanwhile). An item whose ``version_number`` is NULL (a row written by hand
    with SQL) counts as version 1, so its next number is 2, unless it has stored versions
    beyond 1 (numbered before someone emptied the column): it then numbers past the highest
    of them, as the unique (content, version) pair requires.
    """
    if content.version_number is not None:
        return content.version_number + 1
    found = fetch_one(_HIGHEST_VERSION, (content.id,))
    highest = found[0] if found and found[0] is not None else 1
    return max(highest, 1) + 1


def at_read_version(content):
    """The condition an UPDATE of ``content`` matches while its ``version_number`` is still
    the one read into ``content`` (NULL included)."""
    read = content.version_number
    return Content.version_number.is_null() if read is None else Content.version_number == read


def record_version(content, user_id, now=None):
    """Insert the content_versions row of ``content.version_number`` (inside the caller's transaction)."""
    return _inserted(*version_row(content, user_id, now))


def version_row(content, user_id, now=None):
    """``(ContentVersion, values)``: the version row ``record_version`` inserts, for ``rows.insert_rows``."""
    return ContentVersion, {
        "id": new_id(), "content": content.id, "version": content.version_number, "data": snapshot(content),
        "author": user_id, "created_at": now or now_ms(),
    }


def record_creation(content, user_id, now, workflow_id):
    """Insert the first workflow_history row of a new item (``created``, version 1, in state draft).

    No earlier row can exist, so unlike ``record_history`` it reads nothing first.
    """
    return _inserted(*creation_row(content, user_id, now, workflow_id))


def creation_row(content, user_id, now, workflow_id):
    """``(WorkflowHistory, values)``: the entry ``record_creation`` inserts, for ``rows.insert_rows``."""
    return WorkflowHistory, _history_values(
        content, None, "draft", user_id, None, {"action": "created", "version": 1}, now, workflow_id,
    )


def record_history(content, from_state, to_state, user_id, comment=None, metadata=None, now=None, workflow_id=None):
    """Insert a workflow_history row for ``content`` (inside the caller's transaction).

    Args:
        content: the Content (its ``id`` and ``collection_id`` are used).
        from_state: the previous workflow state id (None for the creation entry).
        to_state: the new (or unchanged) workflow state id.
        user_id: who acted.
        comment: free text shown in the history.
        metadata: JSON-serialisable dict (``action``, ``version``...).
        workflow_id: default: the collection's workflow (``workflow_id_for``).

    Returns:
        The WorkflowHistory row. ``created_at`` is strictly increasing per item, so
        "newest first" is exact even for writes within the same millisecond.
    """
    now = now or now_ms()
    last = (
        WorkflowHistory.select(peewee.fn.MAX(WorkflowHistory.created_at))
        .where(WorkflowHistory.content == content.id)
        .scalar()
    )
    workflow_id = workflow_id or workflow_id_for(content.collection_id)
    return _inserted(WorkflowHistory, _history_values(
        content, from_state, to_state, user_id, comment, metadata, max(now, (last or 0) + 1), workflow_id,
    ))


def _history_values(content, from_state, to_state, user_id, comment, metadata, created_at, workflow_id):
    return {
        "id": new_id(), "content": content.id, "workflow": workflow_id, "from_state": from_state,
        "to_state": to_state, "user": user_id, "comment": comment, "metadata": metadata, "created_at": created_at,
    }


def _inserted(model, values):
    insert_row(model, values)
    return model(**values)
