"""Scheduling API: publish, unpublish or archive content at a given time (permission content.publish).

* ``POST   /api/content/{id}/schedule`` ``{action, scheduled_at, timezone?}``: 201 with the schedule.
  ``scheduled_at`` is an ISO 8601 date-time with an offset, a local date-time with
  ``timezone`` (an IANA name), or epoch milliseconds; it is stored as epoch ms UTC.
* ``GET    /api/schedules?status=&content_id=&action=&page=&limit=``: soonest first, paginated.
* ``GET    /api/schedules/{schedule_id}``.
* ``DELETE /api/schedules/{schedule_id}``: cancel a pending schedule (409 otherwise).

The cron trigger runs due schedules (``app.services.content.scheduling.run_scheduled_content``),
each with the rights its maker holds then: one made with an API token records the token, and
runs only while it is neither revoked nor expired, with its permissions.
"""

from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import falcon
import msgspec

from app.api.access import access
from app.api.describe import PAGED, Param, describe
from app.api.errors import invalid_param, read_body
from app.api.params import limit_param, page_param
from app.api.schemas import Listed, One
from app.api.schemas_content import Schedule
from app.api.workflow import checked_id, content_changed
from app.services.content import scheduling
from app.services.content.workflow import NotFound
from app.services.pagination import pagination_meta

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
TimeText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# Epoch ms up to the end of year 9999: larger integers would overflow the BIGINT column.
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799_999)]
ZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
SCHEDULE_FILTERS = (
    Param("status", Literal[scheduling.STATUSES], "only schedules in this status"),
    Param("content_id", Annotated[str, msgspec.Meta(max_length=128)], "only this item's schedules"),
    Param("action", Literal[scheduling.SCHEDULE_ACTIONS], "only this action"),
)


class ScheduleBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/content/{id}/schedule``."""

    action: Literal["publish", "unpublish", "archive"]
    scheduled_at: TimeText | EpochMs
    timezone: ZoneName | None = None


def _iso(ms, zone_name="UTC"):
    if ms is None:
        return None
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (KeyError, ValueError, OSError):
        zone = UTC
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone).isoformat()
    except (OverflowError, ValueError):  # a row stored before times were bounded: past year 9999 there
        return None


def schedule_view(row):
    """A scheduled_content row (with content and user joined) as the API returns it."""
    return {
        "id": row.id,
        "content_id": row.content_id,
        "action": row.action,
        "scheduled_at": row.scheduled_at,
        "scheduled_at_iso": _iso(row.scheduled_at),
        "local_time": _iso(row.scheduled_at, row.timezone),
        "timezone": row.timezone,
        "status": row.status,
        "executed_at": row.executed_at,
        "error_message": row.error_message,
        "created_at": row.created_at,
        "user": {"id": row.user.id, "email": row.user.email, "username": row.user.username},
        "content": {"id": row.content.id, "title": row.content.title, "slug": row.content.slug,
                    "status": row.content.status},
    }


def _choice(req, name, allowed):
    value = req.get_param(name)
    if value is not None and value not in allowed:
        raise invalid_param(name, f"must be one of {', '.join(allowed)}", allowed=list(allowed))
    return value


def _content_filter(req):
    value = req.get_param("content_id")
    if value is not None and len(value) > 128:
        raise invalid_param("content_id", "must be at most 128 characters")
    return value


class ContentScheduleResource:
    """``/api/content/{id}/schedule``."""

    def __init__(self, db, cache):
        self._db = db
        self._cache = cache

    @access("content.publish")
    @describe("Schedule a publish, unpublish or archive", body=ScheduleBody, status=201, response=One[Schedule])
    def on_post(self, req, resp, id):
        body = read_body(req, ScheduleBody)
        row = scheduling.create_schedule(
            self._db, checked_id(id), req.context.user, body.action, body.scheduled_at, body.timezone
        )
        content_changed(self._cache)
        resp.status = falcon.HTTP_201
        resp.media = {"data": schedule_view(row)}


class SchedulesResource:
    """``/api/schedules`` and ``/api/schedules/{schedule_id}``."""

    def __init__(self, db, cache):
        self._db = db
        self._cache = cache

    @access("content.publish")
    @describe("List schedules, soonest first", query=PAGED + SCHEDULE_FILTERS, response=Listed[Schedule])
    def on_get(self, req, resp):
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total = scheduling.list_schedules(
            status=_choice(req, "status", scheduling.STATUSES),
            content_id=_content_filter(req),
            action=_choice(req, "action", scheduling.SCHEDULE_ACTIONS),
            page=page,
            limit=limit,
        )
        resp.media = {"data": [schedule_view(row) for row in rows], "meta": pagination_meta(total, limit, page)}

    @access("content.publish")
    @describe("One schedule", response=One[Schedule])
    def on_get_item(self, req, resp, schedule_id):
        resp.media = {"data": schedule_view(scheduling.get_schedule(_schedule_id(schedule_id)))}

    @access("content.publish")
    @describe("Cancel a pending schedule", response=One[Schedule])
    def on_delete_item(self, req, resp, schedule_id):
        row = scheduling.cancel_schedule(self._db, _schedule_id(schedule_id))
        content_changed(self._cache)
        resp.media = {"data": schedule_view(row)}


def _schedule_id(value):
    try:
        return checked_id(value)
    except NotFound:
        raise NotFound("Schedule not found") from None


def register(routes):
    """Mount the scheduling routes."""
    db = routes.env.DB.db
    cache = routes.services.cache
    routes.add("/api/content/{id}/schedule", ContentScheduleResource(db, cache))
    schedules = SchedulesResource(db, cache)
    routes.add("/api/schedules", schedules)
    routes.add("/api/schedules/{schedule_id}", schedules, suffix="item")
