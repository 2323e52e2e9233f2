"""``GET /admin/api/activity``: what happened last, SonicJS's activity feed.

SonicJS reads an ``activity_logs`` table nothing writes. Here the feed is what is already
recorded: every content write and workflow move (``workflow_history``, type ``content``)
and every plugin activation, deactivation and settings change (``plugin_activity_log``,
type ``plugin``), the newest first, ``limit`` of them (10 by default, 100 at most). Each
entry is SonicJS's ``{id, type, action, resource_id, details, timestamp, user}``: ``timestamp``
an ISO 8601 string as SonicJS sends it (like the feed's own), ``user`` a string, the user's
name, else email, else ``System`` (no account recorded, or it is gone); ``user_id`` adds the
id recorded, for a client that links to the account. It is a log: ``logs.read``.
"""

from typing import Any, Literal

import msgspec

from app.api.access import access
from app.api.describe import Param, describe
from app.api.health import iso_ms, iso_now
from app.api.params import limit_param
from app.services.activity import activity

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class Activity(msgspec.Struct):
    """One thing that happened: ``resource_id`` is the content item's or the plugin's id."""

    id: str
    type: Literal["content", "plugin"]
    action: str
    resource_id: str
    details: dict[str, Any]
    timestamp: str
    user: str
    user_id: str | None


class ActivityFeed(msgspec.Struct):
    """The newest entries first, how many, and when they were read."""

    data: list[Activity]
    count: int
    timestamp: str


def entry_json(entry):
    """An entry of ``app.services.activity`` as the feed (and the admin's export) shows it: its
    timestamp an ISO 8601 string in UTC."""
    return {**entry, "timestamp": iso_ms(entry["timestamp"])}


class ActivityResource:
    """``GET /admin/api/activity``."""

    @access("logs.read")
    @describe("What happened last: content writes, workflow moves, plugin changes", response=ActivityFeed,
              query=(Param("limit", int, f"how many, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),))
    def on_get(self, req, resp):
        entries = [entry_json(entry) for entry in activity(limit_param(req, DEFAULT_LIMIT, MAX_LIMIT))]
        resp.media = {"data": entries, "count": len(entries), "timestamp": iso_now()}
        resp.set_header("Cache-Control", "private, no-store")


def register(routes):
    """Mount the activity feed."""
    routes.add("/admin/api/activity", ActivityResource())
