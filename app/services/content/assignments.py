"""Assignments: who should act on an item next (review it, publish it), with an optional due
date and note.

An item has at most one assignment (``content_assignments``, migration 0037). Assigning
replaces the previous one; assigning nobody removes it. Each change is ONE transaction: the
item's row locked (so it cannot be deleted meanwhile), the assignment row written or
deleted, and a ``workflow_history`` row in the item's current state (action ``assigned``
or ``unassigned``; the note as its comment). The ``after_content_assign`` hooks run once it
commits. Assigning nobody to an unassigned item, or the same assignee with the same due
date and note again, changes nothing and records nothing (no history row, no hook, no
webhook).

Who may assign: reviewers and publishers (``content.review``, ``content.publish``) and
admins on any item; an author (``content.update``) on their own items only, as for
workflow moves, and only while the item is unassigned or assigned to the author: an author
cannot replace or remove the assignment someone else holds. The assignee must be an active
user who can read the item as it is now: as only an item not yet published can be
assigned, one who may read drafts; keeping an assignment unchanged checks that no longer.
A due date must be in the future, unless it is the assignment's own, kept.

An item done with (``published`` or ``archived``) is not assigned (``NotAssignable``, a
409): an assignment asks someone to carry the item towards publication, so it is moved back
to draft or a review state first. Unassigning it stays allowed.

An assignment stays until someone assigns the item to someone else or to nobody, or the
item is done with: a move into ``published`` or ``archived``, or the trash, ends it in the
same transaction (``app.services.content.assignment_ends``). Moves between the review
states keep it, so the assignee's list shows each item with the state it is in now. An
assignment is overdue once its ``due_at`` has passed.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import peewee

from app.db.models import Collection, Content, ContentAssignment, User, now_ms
from app.services.content.assignment_ends import ENDING_STATES
from app.services.content.history import record_history
from app.services.content.query import Scope, is_visible, visibility
from app.services.content.workflow import (
    LEGACY_DELETED_STATUS,
    Forbidden,
    Invalid,
    WorkflowError,
    current_state,
    is_overseer,
    load_content,
)
from app.services.identity import ROLES, Principal
from app.services.plugins import hooks

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_DUE = datetime(9999, 12, 30, tzinfo=UTC)
LATEST_DUE_MS = (LATEST_DUE - EPOCH) // timedelta(milliseconds=1)
MAX_NOTE_LENGTH = 2000
MAX_CHOICES = 200


@dataclass(frozen=True)
class AssignResult:
    """A change of an item's assignment: the assignment now (None: unassigned) and whether
    anything was written (``history_id`` of the row recorded, else None)."""

    content: Content
    assignment: ContentAssignment | None
    history_id: str | None


class NotAssignable(WorkflowError):
    """The item is done with (published or archived): it is moved back to draft or a review
    state before anyone is assigned to it. ``details``: ``{content_id, state}``."""

    def __init__(self, content, state):
        super().__init__(
            f"The item is {state}: move it back to draft (or a review state) before assigning it, "
            "since an assignment asks someone to carry an item towards publication",
            {"content_id": content.id, "state": state})


def check_assignable(content):
    """NotAssignable when ``content`` is in one of the states that end an assignment."""
    state = current_state(content)
    if state in ENDING_STATES:
        raise NotAssignable(content, state)


def may_assign(user, content, assignment=None):
    """Whether ``user`` may change the assignment of ``content``, whose assignment is
    ``assignment`` (a ContentAssignment, None when unassigned)."""
    if is_overseer(user):
        return True
    own_item = content.author_id == user.id and user.can("content.update")
    return own_item and (assignment is None or assignment.assignee_id == user.id)


def check_may_assign(user, content, assignment=None):
    """Forbidden unless ``user`` may change the assignment of ``content`` (``may_assign``)."""
    if may_assign(user, content, assignment):
        return
    if not is_overseer(user) and content.author_id == user.id and user.can("content.update"):
        raise Forbidden("Only reviewers and publishers change an assignment someone else holds")
    raise Forbidden("Only reviewers and publishers assign other people's items; authors assign their own")


def may_see(user, content, assignment):
    """Whether ``user`` may see ``assignment`` of ``content``: those who see its review (reviewers,
    publishers, admins, its author) and the assignee."""
    return is_overseer(user) or content.author_id == user.id or assignment.assignee_id == user.id


def assignee_choices(content, roles, limit=MAX_CHOICES):
    """Active users who may be assigned ``content`` as it is now, by name (at most ``limit``).

    By role: a published item for every role with ``content.read``, anything else for the
    roles that read every item (``content.publish``, admins) and its author. ``assign``
    checks the one chosen again, item by item.
    """
    readers = [role for role in ROLES if "content.read" in roles.of(role)]
    if content.status != "published":
        readers = [role for role in readers if role == "admin" or "content.publish" in roles.of(role)]
    return list(
        User.select(User.id, User.username, User.first_name, User.last_name, User.role)
        .where((User.is_active == True) & (User.role.in_(readers) | (User.id == content.author_id)))  # noqa: E712
        .order_by(User.first_name, User.last_name, User.username)
        .limit(limit)
    )


def parse_due(value, now=None):
    """Epoch milliseconds of a due date, or None.

    Args:
        value: None; epoch milliseconds (int); an ISO 8601 date-time with a UTC offset
            (``2026-05-01T17:00:00+02:00``, ``...Z``); or a date (``2026-05-01``), meaning
            the end of that day in UTC.

    Raises:
        Invalid (field ``due_at``): not one of those, not in the future, or after 9999-12-30.
    """
    when = due_ms(value)
    if when is not None:
        check_future(when, now)
    return when


def due_ms(value):
    """``parse_due`` without the check that the date is in the future."""
    if value is None:
        return None
    when = value if isinstance(value, int) else _due_of_text(value)
    if when > LATEST_DUE_MS:
        raise Invalid("due_at", f"due_at must be before {LATEST_DUE.date().isoformat()}")
    return when


def check_future(when, now=None):
    """Invalid (field ``due_at``) unless epoch ms ``when`` is in the future."""
    if when <= (now if now is not None else now_ms()):
        raise Invalid("due_at", "due_at must be in the future")


def _due_of_text(text):
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(23, 59, 59, 999000), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("due_at", "due_at must be a date, an ISO 8601 date-time with an offset, or epoch ms") from None
    if moment.tzinfo is None:
        raise Invalid("due_at", "due_at has no UTC offset: add one (Z for UTC) or give a date")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def assignee_of(user_id, content, roles):
    """The active user ``user_id`` if they can read ``content``; Invalid (field ``user_id``) otherwise."""
    user = (User.select(User.id, User.email, User.role, User.is_active)
            .where(User.id == user_id).first()) if len(user_id) <= 128 else None
    if user is None or not user.is_active:
        raise Invalid("user_id", "The assignee must be an active user")
    principal = Principal(id=user.id, email=user.email, role=user.role, permissions=roles.of(user.role))
    if not principal.can("content.read") or not is_visible(Scope.of(principal), content.id):
        raise Invalid("user_id", "The assignee cannot read this item")
    return user


def assign(db, content_id, user, roles, *, assignee_id, due_at=None, note=None, now=None):
    """Assign ``content_id`` to ``assignee_id`` (None: to nobody) as ``user``, in one transaction.

    Args:
        roles: the app's ``RolePermissions`` (what the assignee's role may read).
        due_at: the due date as ``parse_due`` takes it.
        note: free text for the assignee (at most ``MAX_NOTE_LENGTH`` characters).

    Returns:
        AssignResult.

    Raises:
        NotFound (no such live item), Forbidden (``check_may_assign``), NotAssignable
        (someone assigned to an item done with), Invalid (a bad assignee, due date or note;
        a due date or note without an assignee).
    """
    now = now if now is not None else now_ms()
    due = due_ms(due_at)
    note = (note or "").strip() or None
    if assignee_id is None and (due is not None or note is not None):
        raise Invalid("due_at" if due is not None else "note", "Only an assignment has a due date or a note")
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        raise Invalid("note", f"note must be at most {MAX_NOTE_LENGTH} characters")
    with db.atomic():
        content = load_content(content_id, lock=True)
        previous = ContentAssignment.get_or_none(ContentAssignment.content == content.id)
        check_may_assign(user, content, previous)
        if assignee_id is not None:
            check_assignable(content)
        if previous is not None and (previous.assignee_id, previous.due_at, previous.note) == (assignee_id, due, note):
            return AssignResult(content, assignment_of(content.id), None)  # the same again: nothing changes
        if due is not None and not (previous is not None and previous.due_at == due):
            check_future(due, now)
        assignee = assignee_of(assignee_id, content, roles) if assignee_id is not None else None
        if assignee is None and previous is None:
            return AssignResult(content, None, None)
        if previous is not None:
            ContentAssignment.delete().where(ContentAssignment.content == content.id).execute()
        if assignee is not None:
            ContentAssignment.insert(content=content.id, assignee=assignee.id, assigned_by=user.id, due_at=due,
                                     note=note, assigned_at=now).execute()
        state = current_state(content)
        metadata = {
            "action": "assigned" if assignee else "unassigned",
            "assignee_id": assignee.id if assignee else None,
            "due_at": due,
            "previous_assignee_id": previous.assignee_id if previous else None,
        }
        history = record_history(content, state, state, user.id, note, metadata, now)
        assignment = assignment_of(content.id)
        whole = Content.get_by_id(content.id)  # its hooks get the item with its data, as a move's do
    hooks.after("content_assign", user=user, content=whole, assignee_id=metadata["assignee_id"], due_at=due,
                previous_assignee_id=metadata["previous_assignee_id"], ended_by=None)
    return AssignResult(content, assignment, history.id)


def _with_users():
    assigner = User.alias("assigner")
    query = (
        ContentAssignment.select(ContentAssignment, User.id, User.username, User.first_name, User.last_name, User.role,
                                 assigner.id, assigner.username, assigner.first_name, assigner.last_name)
        .join(User, on=(ContentAssignment.assignee == User.id))
        .switch(ContentAssignment)
        .join(assigner, on=(ContentAssignment.assigned_by == assigner.id), attr="assigned_by")
    )
    return query, assigner


def assignment_of(content_id):
    """The assignment of ``content_id`` with its assignee and assigner joined, or None."""
    query, _ = _with_users()
    return query.where(ContentAssignment.content == content_id).first()


def list_assignments(scope, assignee_id=None, page=1, limit=20, now=None):
    """The assignments of live items ``scope`` may read, soonest due first (no due date last).

    Args:
        assignee_id: only this user's (None: everyone's).

    Returns:
        ``(rows, total)``: each row a ContentAssignment with ``content`` (and its
        ``collection``), ``assignee`` and ``assigned_by`` joined.
    """
    where = (visibility(scope, None if (scope.see_all or scope.see_own) else ("published",))
             & (Content.status != LEGACY_DELETED_STATUS))
    if assignee_id is not None:
        where &= ContentAssignment.assignee == assignee_id
    query, _ = _with_users()
    query = (
        query.select_extend(Content.id, Content.title, Content.slug, Content.status, Content.workflow_state,
                            Content.collection, Content.author, Collection.id, Collection.name,
                            Collection.display_name)
        .switch(ContentAssignment)
        .join(Content, on=(ContentAssignment.content == Content.id))
        .join(Collection, on=(Content.collection == Collection.id))
        .where(where)
    )
    total = query.count()
    rows = list(
        query.order_by(ContentAssignment.due_at.is_null(), ContentAssignment.due_at, ContentAssignment.assigned_at,
                       ContentAssignment.content)
        .paginate(page, limit)
    )
    return rows, total


def is_overdue(assignment, now=None):
    """Whether ``assignment``'s due date has passed."""
    return assignment.due_at is not None and assignment.due_at <= (now if now is not None else now_ms())


def open_counts(now=None):
    """``(open, overdue)``: the assignments of live items, and those past their due date (one query)."""
    now = now if now is not None else now_ms()
    overdue = peewee.fn.SUM(peewee.Case(None, [(ContentAssignment.due_at <= now, 1)], 0))
    row = (
        ContentAssignment.select(peewee.fn.COUNT(ContentAssignment.content), overdue)
        .join(Content, on=(ContentAssignment.content == Content.id))
        .where(Content.deleted_at.is_null() & (Content.status != LEGACY_DELETED_STATUS))
        .tuples()
        .get()
    )
    return row[0] or 0, row[1] or 0
