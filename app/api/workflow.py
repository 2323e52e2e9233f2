"""Workflow API: a content item's state, its moves and its history.

* ``GET  /api/content/{id}/workflow``: current state, review, allowed next moves for the caller.
* ``POST /api/content/{id}/workflow`` ``{action, comment?}``: submit, approve, reject,
  publish, unpublish, archive, restore-draft.
* ``POST /api/workflow/content/{id}/transition`` ``{to_state, comment?}``: the same move named
  by its target state (the path SonicJS designed but never mounted).
* ``GET  /api/content/{id}/history``: every workflow_history row, newest first, with users.

Assignments and analytics are in ``app.api.workflow_assignments``.

The two reads answer 404 to callers for whom ``GET /api/content/{id}`` is a 404 (the
public sees published items only; authors their own drafts too; editors and admins all).
Review notes and the history are editorial records, for those who take part in the
review: holders of ``content.review`` or ``content.publish``, admins, and the item's
author (the notes are addressed to them). Any other reader of a published item sees its
state and status with ``review: null``, and gets 403 for its history. The item's
assignment is shown to the same people and to its assignee (``assignment: null`` otherwise).

Who may move what is decided per move by ``app.services.content.workflow``: 409 when the
workflow has no such move from the current state, 403 when the caller may not make it.
"""

from typing import Annotated, Literal

import msgspec

from app.api.access import access
from app.api.describe import describe
from app.api.errors import forbidden, read_body
from app.api.schemas import Listed, One
from app.api.schemas_content import HistoryEntry, Moved, WorkflowView
from app.services.cache import Namespace, invalidate
from app.services.content import assignments, workflow
from app.services.content.query import Scope, is_visible
from app.services.content.states import find_state
from app.services.content.workflow import (
    NotAllowed,
    NotFound,
)
from app.services.pagination import whole_list_meta

MAX_ID_LENGTH = 128
Comment = Annotated[str, msgspec.Meta(max_length=2000)]
StateId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Action = Literal["submit", "approve", "reject", "publish", "unpublish", "archive", "restore-draft"]


class ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/content/{id}/workflow``."""

    action: Action
    comment: Comment | None = None


class StateBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/workflow/content/{id}/transition``."""

    to_state: StateId
    comment: Comment | None = None


def checked_id(value):
    """A path id as given, or NotFound when it is too long to be one."""
    if len(value) > MAX_ID_LENGTH:
        raise NotFound("Content not found")
    return value


def readable_content(req, content_id):
    """The live content ``content_id`` if the caller may read it (as GET /api/content/{id}); else NotFound."""
    content_id = checked_id(content_id)
    if not is_visible(Scope.of(req.context.user), content_id):
        raise NotFound("Content not found")
    return workflow.load_content(content_id)


def may_see_review(user, content):
    """Whether ``user`` may read the review notes and history of ``content``."""
    return workflow.is_overseer(user) or content.author_id == user.id


def content_changed(cache):
    """After a committed change: make cached content reads stale (a no-op without a cache)."""
    invalidate(cache, Namespace.CONTENT)


def state_view(content, user):
    """The workflow view of ``content`` for ``user``: state, review and allowed moves."""
    state_id = workflow.current_state(content)
    state = find_state(state_id)
    try:
        chosen = workflow.workflow_for(content.collection_id)
    except NotAllowed:
        chosen = None  # no active workflow: the item can be read but not moved
    return {
        "content_id": content.id,
        "state": {
            "id": state_id,
            "name": state.name if state else state_id,
            "color": state.color if state else None,
            "is_final": bool(state.is_final) if state else False,
        },
        "status": content.status,
        "version_number": content.version_number,
        "published_at": content.published_at,
        "workflow": {"id": chosen.id, "name": chosen.name} if chosen else None,
        "review": review_view(content) if may_see_review(user, content) else None,
        "assignment": _assignment_for(content, user),
        "scheduled_publish_at": content.scheduled_publish_at,
        "scheduled_unpublish_at": content.scheduled_unpublish_at,
        "transitions": workflow.next_steps(content, user, chosen) if chosen else [],
    }


def _assignment_for(content, user):
    """The item's assignment, for those who see the review and for the assignee; else None."""
    row = assignments.assignment_of(content.id)
    if row is None or not assignments.may_see(user, content, row):
        return None
    return assignment_view(row)


def assignment_view(row, now=None):
    """A content_assignments row (assignee and assigner joined) as the API returns it."""
    return {
        "content_id": row.content_id,
        "assignee": _person(row.assignee),
        "assigned_by": _person(row.assigned_by),
        "due_at": row.due_at,
        "overdue": assignments.is_overdue(row, now),
        "note": row.note,
        "assigned_at": row.assigned_at,
    }


def _person(user):
    return {"id": user.id, "username": user.username, "name": f"{user.first_name} {user.last_name}".strip()}


def review_view(content):
    """The review block of the state view: outcome, reviewer, time and notes."""
    return {
        "status": content.review_status,
        "reviewer_id": content.reviewer_id,
        "reviewed_at": content.reviewed_at,
        "notes": content.review_notes,
    }


def history_entry(row, show_email):
    """One workflow_history row as the API returns it."""
    metadata = row.metadata if isinstance(row.metadata, dict) else {}
    action = metadata.get("action") or ("create" if row.from_state_id is None else None)
    user = {
        "id": row.user.id,
        "username": row.user.username,
        "name": f"{row.user.first_name} {row.user.last_name}".strip(),
    }
    if show_email:
        user["email"] = row.user.email
    return {
        "id": row.id,
        "action": action,
        "from_state": row.from_state_id,
        "to_state": row.to_state_id,
        "comment": row.comment,
        "metadata": row.metadata,
        "created_at": row.created_at,
        "user": user,
    }


class ContentWorkflowResource:
    """``/api/content/{id}/workflow``: read the state, or make a move by action name."""

    def __init__(self, db, cache):
        self._db = db
        self._cache = cache

    @access("content.read")
    @describe("An item's workflow state and allowed moves", response=One[WorkflowView])
    def on_get(self, req, resp, id):
        content = readable_content(req, id)
        resp.media = {"data": state_view(content, req.context.user)}

    @access(authenticated=True)
    @describe("Make a workflow move by action", body=ActionBody, response=Moved)
    def on_post(self, req, resp, id):
        body = read_body(req, ActionBody)
        resp.media = _move(self._db, self._cache, req, checked_id(id), action=body.action, comment=body.comment)


class TransitionResource:
    """``/api/workflow/content/{id}/transition``: make a move by target state."""

    def __init__(self, db, cache):
        self._db = db
        self._cache = cache

    @access(authenticated=True)
    @describe("Make a workflow move by target state", body=StateBody, response=Moved)
    def on_post(self, req, resp, id):
        body = read_body(req, StateBody)
        resp.media = _move(self._db, self._cache, req, checked_id(id), to_state=body.to_state, comment=body.comment)


class HistoryResource:
    """``/api/content/{id}/history``: the full workflow history, newest first (reviewers, the author)."""

    @access("content.read")
    @describe("An item's workflow history, newest first", response=Listed[HistoryEntry])
    def on_get(self, req, resp, id):
        content = readable_content(req, id)
        if not may_see_review(req.context.user, content):
            raise forbidden("The workflow history is for reviewers and the item's author")
        show_email = req.context.user.can("users.read")
        entries = [history_entry(row, show_email) for row in workflow.history_of(content.id)]
        resp.media = {"data": entries, "meta": {"content_id": content.id, **whole_list_meta(len(entries))}}


def _move(db, cache, req, content_id, **how):
    user = req.context.user
    if not is_visible(Scope.of(user), content_id):
        raise NotFound("Content not found")  # as reading it answers: no state or allowed moves of hidden items
    result = workflow.transition(db, content_id, user, request_id=req.context.request_id, **how)
    content_changed(cache)
    return {
        "data": state_view(result.content, user),
        "meta": {
            "action": result.action,
            "from_state": result.from_state,
            "to_state": result.to_state,
            "history_id": result.history.id,
        },
    }


def register(routes):
    """Mount the workflow routes."""
    db = routes.env.DB.db
    cache = routes.services.cache
    routes.add("/api/content/{id}/workflow", ContentWorkflowResource(db, cache))
    routes.add("/api/workflow/content/{id}/transition", TransitionResource(db, cache))
    routes.add("/api/content/{id}/history", HistoryResource())
