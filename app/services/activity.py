"""The activity feed: what happened last, from what is already recorded.

Every content write and workflow move leaves a ``workflow_history`` row (type ``content``)
and every plugin activation, deactivation and settings change a ``plugin_activity_log``
row (type ``plugin``). ``activity(limit)`` merges the newest of both, each with who did it:
``user``, as SonicJS names them (the user's name, else the email, else ``System`` when no
account is known: none was recorded, or it is gone), and ``user_id``, the id recorded.
"""

from app.db.models import Content, PluginActivity, User, WorkflowHistory, WorkflowState

NO_USER = "System"


def _users(ids):
    """``{id: name}`` of the users ``ids`` that still exist: first and last name, else the email."""
    if not ids:
        return {}
    rows = User.select(User.id, User.first_name, User.last_name, User.email).where(User.id.in_(list(ids))).tuples()
    return {user_id: " ".join(part for part in (first, last) if part) or email
            for user_id, first, last, email in rows}


def content_activity(limit):
    """The ``limit`` newest content writes and workflow moves, as entries without their user."""
    to_state = WorkflowState.alias()
    rows = (
        WorkflowHistory.select(WorkflowHistory, Content.title, Content.collection.alias("collection_ref"),
                               to_state.name.alias("to_name"))
        .join(Content, on=WorkflowHistory.content == Content.id)
        .switch(WorkflowHistory)
        .join(to_state, on=WorkflowHistory.to_state == to_state.id)
        .order_by(WorkflowHistory.created_at.desc())
        .limit(limit)
        .objects()
    )
    entries = []
    for row in rows:
        # A row written by hand may hold other JSON than an object, or none: it shows without.
        metadata = row.metadata if isinstance(row.metadata, dict) else {}
        details = {"title": row.title, "collection_id": row.collection_ref, "from_state": row.from_state_id,
                   "to_state": row.to_state_id, "state": row.to_name, **metadata}
        if row.comment:
            details["comment"] = row.comment
        entries.append({"id": row.id, "type": "content", "action": metadata.get("action") or "moved",
                        "resource_id": row.content_id, "details": details, "timestamp": row.created_at or 0,
                        "user_id": row.user_id})
    return entries


def plugin_activity(limit):
    """The ``limit`` newest plugin changes, as entries without their user."""
    rows = PluginActivity.select().order_by(PluginActivity.created_at.desc()).limit(limit)
    return [{"id": row.id, "type": "plugin", "action": row.action, "resource_id": row.plugin_id,
             "details": row.details or {}, "timestamp": row.created_at, "user_id": row.user_id} for row in rows]


def activity(limit):
    """The ``limit`` newest entries of both logs, each with its ``user`` (a name) and ``user_id``."""
    entries = sorted(content_activity(limit) + plugin_activity(limit), key=lambda entry: entry["timestamp"],
                     reverse=True)[:limit]
    users = _users({entry["user_id"] for entry in entries if entry["user_id"]})
    for entry in entries:
        entry["user"] = users.get(entry["user_id"]) or NO_USER
    return entries

