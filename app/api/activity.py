"""``GET /admin/api/activity``: what happened last, SonicJS's activity feed.

SonicJS reads an ``activity_logs`` table nothing writes. Here the feed is what is already
recorded: every content write and workflow move (``workflow_history``, type ``content``)
and every plugin activation, deactivation and settings change (``plugin_activity_log``,
type ``plugin``), the newest first, ``limit`` of them (10 by default, 100 at most). Each
entry is ``{id, type, action, resource_id, details, timestamp, user}``; ``user`` is
``{id, email, username}``, or null once the account is gone. It is a log: ``logs.read``.
"""

from typing import Any, Literal

import msgspec

from app.api.access import access
from app.api.describe import Param, describe
from app.api.params import limit_param
from app.api.schemas import Ms
from app.db.models import Content, PluginActivity, User, WorkflowHistory, WorkflowState, now_ms

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class ActivityUser(msgspec.Struct):
    """Who did it."""

    id: str
    email: str
    username: str


class Activity(msgspec.Struct):
    """One thing that happened: ``resource_id`` is the content item's or the plugin's id."""

    id: str
    type: Literal["content", "plugin"]
    action: str
    resource_id: str
    details: dict[str, Any]
    timestamp: Ms
    user: ActivityUser | None


class ActivityFeed(msgspec.Struct):
    """The newest entries first, how many, and when they were read."""

    data: list[Activity]
    count: int
    timestamp: Ms


def _users(ids):
    """``{id: ActivityUser dict}`` of the users ``ids`` that still exist."""
    if not ids:
        return {}
    rows = User.select(User.id, User.email, User.username).where(User.id.in_(list(ids))).tuples()
    return {user_id: {"id": user_id, "email": email, "username": username} for user_id, email, username in rows}


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
        metadata = row.metadata or {}
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
    """The ``limit`` newest entries of both logs, each with its user."""
    entries = sorted(content_activity(limit) + plugin_activity(limit), key=lambda entry: entry["timestamp"],
                     reverse=True)[:limit]
    users = _users({entry["user_id"] for entry in entries if entry["user_id"]})
    for entry in entries:
        entry["user"] = users.get(entry.pop("user_id"))
    return entries


class ActivityResource:
    """``GET /admin/api/activity``."""

    @access("logs.read")
    @describe("What happened last: content writes, workflow moves, plugin changes", response=ActivityFeed,
              query=(Param("limit", int, f"how many, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),))
    def on_get(self, req, resp):
        entries = activity(limit_param(req, DEFAULT_LIMIT, MAX_LIMIT))
        resp.media = {"data": entries, "count": len(entries), "timestamp": now_ms()}
        resp.set_header("Cache-Control", "private, no-store")


def register(routes):
    """Mount the activity feed."""
    routes.add("/admin/api/activity", ActivityResource())
