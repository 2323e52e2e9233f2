"""Workflow assignments and analytics: the routes SonicJS's workflow plugin designed but never mounted.

* ``POST /api/workflow/content/{id}/assign`` ``{user_id, due_at?, note?}``: assign the item
  to ``user_id`` (``null``: to nobody), replacing its assignment; ``due_at`` is epoch ms, an
  ISO 8601 date-time with an offset, or a date (the end of that day, UTC), in the future.
  Reviewers, publishers and admins assign any item they can read, authors their own
  (403); the assignee must be an active user who can read the item (422). 404 for an item
  the caller cannot read, as its workflow view answers; 409 for someone assigned to an item
  published or archived (move it back to draft first).
* ``GET /api/workflow/assignments?assignee=me|all|<user id>&page=&limit=``: assignments of
  live items the caller can read, soonest due first (no due date last). Another user's or
  everyone's (``all``) are for reviewers, publishers and admins (403 otherwise).
* ``GET /api/workflow/analytics?days=``: items per workflow state per collection, moves per
  day, median review time and open assignments (``content.publish``, as the other
  figures about unpublished work); see ``app.services.content.analytics``.
"""

from typing import Annotated

import msgspec

from app.api.access import access
from app.api.describe import PAGED, Param, describe
from app.api.errors import forbidden, read_body
from app.api.params import limit_param, page_param
from app.api.schemas import Listed, One
from app.api.schemas_workflow import Assigned, AssignmentEntry, WorkflowAnalytics
from app.api.workflow import Comment, assignment_view, checked_id
from app.services.content import analytics, assignments
from app.services.content.query import Scope, is_visible
from app.services.content.workflow import NotFound, current_state, is_overseer
from app.services.pagination import pagination_meta

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
DueText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799_999)]
ASSIGNEE = Param("assignee", str, "me (the default), all, or a user id: whose assignments")
DAYS = Param("days", int, f"the window of the moves and review time, in days (1 to {analytics.MAX_DAYS}; "
                          f"{analytics.DEFAULT_DAYS} by default)")


class AssignBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/workflow/content/{id}/assign``: ``user_id`` null unassigns."""

    user_id: UserId | None
    due_at: DueText | EpochMs | None = None
    note: Comment | None = None


class AssignResource:
    """``/api/workflow/content/{id}/assign``."""

    def __init__(self, db, roles):
        self._db = db
        self._roles = roles

    @access("content.read")
    @describe("Assign an item to a user (or to nobody)", body=AssignBody, response=Assigned)
    def on_post(self, req, resp, id):
        body = read_body(req, AssignBody)
        user = req.context.user
        content_id = checked_id(id)
        if not is_visible(Scope.of(user), content_id):
            raise NotFound("Content not found")
        result = assignments.assign(self._db, content_id, user, self._roles, assignee_id=body.user_id,
                                    due_at=body.due_at, note=body.note)
        action = None if result.history_id is None else ("assigned" if result.assignment else "unassigned")
        resp.media = {
            "data": assignment_view(result.assignment) if result.assignment else None,
            "meta": {"content_id": result.content.id, "action": action, "history_id": result.history_id},
        }


class AssignmentsResource:
    """``/api/workflow/assignments``."""

    @access("content.read")
    @describe("List assignments, soonest due first", query=(ASSIGNEE, *PAGED), response=Listed[AssignmentEntry])
    def on_get(self, req, resp):
        user = req.context.user
        assignee = whose(req.get_param("assignee") or "me", user)
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total = assignments.list_assignments(Scope.of(user), assignee, page, limit)
        resp.media = {"data": [assignment_entry(row) for row in rows], "meta": pagination_meta(total, limit, page)}


def whose(assignee, user):
    """The assignee id to list for ``assignee`` (None: everyone's); 403 for others' to non-overseers."""
    if assignee == "me" or assignee == user.id:
        return user.id
    if not is_overseer(user):
        raise forbidden("Only reviewers and publishers list other people's assignments")
    return None if assignee == "all" else assignee


def assignment_entry(row):
    """A listed assignment: the assignment with its item as it is now."""
    content = row.content
    return {
        **assignment_view(row),
        "content": {
            "id": content.id, "title": content.title, "slug": content.slug, "status": content.status,
            "state": current_state(content),
            "collection": {"id": content.collection.id, "name": content.collection.name,
                           "display_name": content.collection.display_name},
        },
    }


class AnalyticsResource:
    """``/api/workflow/analytics``."""

    @access("content.publish")
    @describe("Workflow figures: states, moves per day, review time, assignments", query=(DAYS,),
              response=One[WorkflowAnalytics])
    def on_get(self, req, resp):
        days = req.get_param_as_int("days", min_value=1, max_value=analytics.MAX_DAYS, default=analytics.DEFAULT_DAYS)
        resp.media = {"data": analytics.workflow_analytics(days)}


def register(routes):
    """Mount the assignment and analytics routes."""
    routes.add("/api/workflow/content/{id}/assign", AssignResource(routes.env.DB.db, routes.services.roles))
    routes.add("/api/workflow/assignments", AssignmentsResource())
    routes.add("/api/workflow/analytics", AnalyticsResource())
