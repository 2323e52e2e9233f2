"""The activity feed: what happened last, from what is already recorded.

Every content write and workflow move leaves a ``workflow_history`` row (type ``content``)
and every plugin activation, deactivation and settings change a ``plugin_activity_log``
row (type ``plugin``). ``activity(limit)`` merges the newest of both, each with who did it:
``user``, as SonicJS names them (the user's name, else the email, else ``System`` when no
account is known: none was recorded, or it is gone), and ``user_id``, the id recorded.

``activity`` also takes ``ActivityFilters`` (a type, an action, a user, a time range) and a
``before`` position, ``(timestamp, id)`` of the last entry of a page: the entries after it,
for the admin's activity page and its export. The order is ``created_at`` then ``id``, newest
first: ``id`` ends it so that no two entries compare equal and a position names one place.
Each table is read newest first from its ``created_at`` index, as far as ``limit`` entries,
and the two are merged, so a page costs about the same at any depth.
"""

from dataclasses import dataclass

from peewee import SQL, Case, Expression, NodeList, fn

from app.db.database import is_postgres
from app.db.models import Collection, Content, PluginActivity, User, WorkflowHistory, WorkflowState, database
from app.db.pg_json import PG_JSON_FUNCTION

NO_USER = "System"
TYPES = ("content", "plugin")
MOVED = "moved"  # a content entry's action when its metadata names none (as a non-empty string)


@dataclass(frozen=True)
class ActivityFilters:
    """Which entries to keep; None means no filter.

    Attributes:
        type: ``content`` or ``plugin``.
        action: the entry's ``action``, exactly.
        user_id: the id recorded for who did it.
        since, until: timestamp bounds in epoch milliseconds (inclusive).
    """

    type: str | None = None
    action: str | None = None
    user_id: str | None = None
    since: int | None = None
    until: int | None = None


EVERYTHING = ActivityFilters()


def _users(ids):
    """``{id: name}`` of the users ``ids`` that still exist: first and last name, else the email."""
    if not ids:
        return {}
    rows = User.select(User.id, User.first_name, User.last_name, User.email).where(User.id.in_(list(ids))).tuples()
    return {user_id: " ".join(part for part in (first, last) if part) or email
            for user_id, first, last, email in rows}


def _named_action():
    """SQL for a history row's ``metadata.action`` when it is a string, else NULL: the metadata
    may be other text than a JSON object (a row written by hand), which must not fail the
    query, and an action that is a number, null or an object names none."""
    metadata = WorkflowHistory.metadata
    if is_postgres(database):
        action = Expression(getattr(fn, PG_JSON_FUNCTION)(metadata), "->", "action")
        return Case(None, [(fn.jsonb_typeof(action) == "string", Expression(action, "#>>", SQL("'{}'")))], None)
    # Nested: json_type fails on text that is not JSON, and SQLite's AND may read both sides.
    is_text = Case(None, [(fn.json_type(metadata, "$.action") == "text", fn.json_extract(metadata, "$.action"))],
                   None)
    return Case(None, [(fn.json_valid(metadata), is_text)], None)


def _content_action():
    """SQL for a history row's entry's ``action``: its metadata's, else ``moved``. The label a
    row shows is read with it and the ``action`` filter compares it, so the two agree."""
    return fn.COALESCE(fn.NULLIF(_named_action(), ""), MOVED)


def _by_code_point(column):
    """``column`` ordered and compared by code point, as Python orders the merged entries
    (``position``): PostgreSQL's default collation may not (``a`` before ``B`` there)."""
    return NodeList((column, SQL('COLLATE "C"'))) if is_postgres(database) else column


def _newest_first(model):
    """The order of ``model``'s entries: newest first, ties by id."""
    return model.created_at.desc(), _by_code_point(model.id).desc()


def _page_conditions(model, filters, before):
    """What both tables filter alike: the user, the time range and the position ``before``."""
    if filters.user_id is not None:
        yield model.user_id == filters.user_id
    if filters.since is not None:
        yield model.created_at >= filters.since
    if filters.until is not None:
        yield model.created_at <= filters.until
    if before is not None:
        timestamp, entry_id = before
        # The first bound alone is the index's range; the second drops the tie's newer rows.
        yield model.created_at <= timestamp
        yield (model.created_at < timestamp) | (_by_code_point(model.id) < entry_id)


def _where(query, conditions):
    for condition in conditions:
        query = query.where(condition)
    return query


def content_activity(limit, filters=EVERYTHING, before=None):
    """The ``limit`` newest content writes and workflow moves ``filters`` keep (after
    ``before``), as entries without their user."""
    if filters.type not in (None, "content"):
        return []
    to_state = WorkflowState.alias()
    query = (
        WorkflowHistory.select(WorkflowHistory, Content.title, Content.collection.alias("collection_ref"),
                               to_state.name.alias("to_name"), _content_action().alias("entry_action"))
        .join(Content, on=WorkflowHistory.content == Content.id)
        .switch(WorkflowHistory)
        .join(to_state, on=WorkflowHistory.to_state == to_state.id)
    )
    conditions = list(_page_conditions(WorkflowHistory, filters, before))
    if filters.action is not None:
        conditions.append(_content_action() == filters.action)
    rows = (_where(query, conditions)
            .order_by(*_newest_first(WorkflowHistory)).limit(limit).objects())
    entries = []
    for row in rows:
        # A row written by hand may hold other JSON than an object, or none: it shows without.
        metadata = row.metadata if isinstance(row.metadata, dict) else {}
        # The item's own fields come last, so a metadata key of the same name (a hand-written
        # ``title`` or ``state``) cannot stand for the item's title or the state it moved to.
        details = {**metadata, "title": row.title, "collection_id": row.collection_ref,
                   "from_state": row.from_state_id, "to_state": row.to_state_id, "state": row.to_name}
        if row.comment:
            details["comment"] = row.comment
        entries.append({"id": row.id, "type": "content", "action": row.entry_action,
                        "resource_id": row.content_id, "details": details, "timestamp": row.created_at or 0,
                        "user_id": row.user_id})
    return entries


def plugin_activity(limit, filters=EVERYTHING, before=None):
    """The ``limit`` newest plugin changes ``filters`` keep (after ``before``), as entries
    without their user."""
    if filters.type not in (None, "plugin"):
        return []
    conditions = list(_page_conditions(PluginActivity, filters, before))
    if filters.action is not None:
        conditions.append(PluginActivity.action == filters.action)
    rows = (_where(PluginActivity.select(), conditions)
            .order_by(*_newest_first(PluginActivity)).limit(limit))
    return [{"id": row.id, "type": "plugin", "action": row.action, "resource_id": row.plugin_id,
             "details": row.details or {}, "timestamp": row.created_at, "user_id": row.user_id} for row in rows]


def position(entry):
    """An entry's place in the feed's order, ``(timestamp, id)``: a page's ``before``."""
    return entry["timestamp"], entry["id"]


def activity(limit, filters=EVERYTHING, before=None):
    """The ``limit`` newest entries of both logs ``filters`` keep, after the position ``before``
    (``position`` of the last entry of the page before; None: from the newest), each with its
    ``user`` (a name) and ``user_id``."""
    entries = sorted(content_activity(limit, filters, before) + plugin_activity(limit, filters, before),
                     key=position, reverse=True)[:limit]
    users = _users({entry["user_id"] for entry in entries if entry["user_id"]})
    for entry in entries:
        entry["user"] = users.get(entry["user_id"]) or NO_USER
    return entries


def live_items(entries):
    """``{content id: collection name}`` of the entries' content items that are live (not
    deleted) in an active collection: those whose edit page a row links (one query)."""
    ids = sorted({entry["resource_id"] for entry in entries if entry["type"] == "content"})
    if not ids:
        return {}
    rows = (Content.select(Content.id, Collection.name).join(Collection, on=Content.collection == Collection.id)
            .where(Content.id.in_(ids), Content.deleted_at.is_null(), Collection.is_active == True)  # noqa: E712
            .tuples())
    return dict(rows)
