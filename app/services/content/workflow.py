"""Content workflow: moving an item between the states of migration 0005.

A move is allowed when both of these say so:

* the workflow of the item's collection (falling back to the default workflow, the active
  one without a collection) has a ``workflow_transitions`` edge from the current state to
  the target state;
* the caller holds that edge's ``required_permission``, and the item is the caller's own
  unless the caller is an admin or a reviewer/publisher (``content.review``,
  ``content.publish``): authors move only their own content.

Each move is ONE transaction: the content row (``workflow_state_id``, ``status``,
``published_at``, the review columns, ``updated_at``, ``version_number``), a
``content_versions`` row, a ``workflow_history`` row and a ``system_logs`` row (category
``workflow``); a move into ``published`` or ``archived`` also ends the item's assignment
(``app.services.content.assignment_ends``). A move bumps ``version_number`` like an edit does, so that optimistic
concurrency covers it: a client that read version N and saves with ``version_number`` N
(or ``If-Match: "N"``) after someone published, rejected or archived the item gets a 409
instead of silently undoing or ignoring that move. The new version's snapshot records the
state the item moved to, so ``version_number`` always names the newest version row.
``PUT /api/content/{id}`` and ``POST /api/content`` call ``transition`` for a status
change inside their own transaction (``versioned=False``: the edit records the version;
``announced=False``: the write ``announce``s the move once it is complete, so the move's
hooks carry the row the whole write produced, its version, title and data, and follow the
write's own ``after_content_create`` or ``after_content_update``).
``transition`` is ``plan_move`` (every check, nothing written) then ``make_move`` (the
writes) on the locked row; a bulk action plans the moves of all its items before it makes
any (``app.services.content.bulk``).

``content.status`` stays the publication status that public reads filter on: the states
``published`` and ``archived`` set it to themselves, every other state (draft,
pending-review, approved, rejected) sets ``draft``; the fine-grained state lives in
``workflow_state_id`` (the same rule as ``app.services.content.history``). ``published_at``
is set when an item is first published and kept afterwards, as content writes do, so a
re-publication does not move an old item to the top of "newest first". Soft-deleted
content (``deleted_at`` set) is not found.

Services raise ``WorkflowError`` subclasses, never HTTP errors; the API maps them.
"""

from dataclasses import dataclass

from app.db.models import (
    Content,
    SystemLog,
    User,
    Workflow,
    WorkflowHistory,
    WorkflowState,
    WorkflowTransition,
    now_ms,
)
from app.services.content.assignment_ends import end_on_move
from app.services.content.history import (
    at_read_version,
    next_version,
    record_history,
    record_version,
    status_of_state,
)
from app.services.content.locks import lock_row
from app.services.errors import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, ServiceError
from app.services.logs import log_enabled
from app.services.plugins import hooks

DEFAULT_STATE = "draft"
LEGACY_DELETED_STATUS = "deleted"  # SonicJS's soft delete, in imported data

# What each action of POST /api/content/{id}/workflow asks for: its target state.
ACTIONS = {
    "submit": "pending-review",
    "approve": "approved",
    "reject": "rejected",
    "publish": "published",
    "unpublish": "draft",
    "archive": "archived",
    "restore-draft": "draft",
}
_ACTION_OF_STATE = {state: action for action, state in ACTIONS.items() if state != "draft"}

STATE_OF_STATUS = {"draft": "draft", "published": "published", "archived": "archived"}
REVIEW_OUTCOMES = ("approved", "rejected")
# Holders of these act on anyone's content; everyone else only on their own.
OVERSEER_PERMISSIONS = ("content.review", "content.publish")

# Only the columns a move reads: the data column can be large and is never needed here.
CONTENT_FIELDS = (
    Content.id, Content.collection, Content.title, Content.slug, Content.status, Content.author,
    Content.workflow_state, Content.published_at, Content.updated_at, Content.review_status,
    Content.reviewer, Content.reviewed_at, Content.review_notes, Content.scheduled_publish_at,
    Content.scheduled_unpublish_at, Content.deleted_at, Content.version_number,
)


class WorkflowError(ServiceError):
    """A workflow or scheduling request that cannot be carried out.

    Attributes:
        message: what went wrong, for the envelope's ``error`` (and a failed schedule).
        details: optional structured details for the envelope.
    """

    kind = CONFLICT


class NotFound(WorkflowError):
    """The content (or schedule) does not exist or is deleted."""

    kind = NOT_FOUND


class NotAllowed(WorkflowError):
    """The workflow has no such move from the current state (or the state changed meanwhile)."""


class Forbidden(WorkflowError):
    """The move exists but this caller may not make it."""

    kind = FORBIDDEN


class Invalid(WorkflowError):
    """A field of the request is invalid; ``details`` lists it as ``[{field, message}]``."""

    kind = INVALID

    def __init__(self, field, message):
        super().__init__(message, [{"field": field, "message": message}])


@dataclass(frozen=True)
class TransitionResult:
    """A completed move: the content as it is now (the whole row, ``data`` included, which its
    hooks are given), the history row written and when (``made_at``)."""

    content: Content
    history: WorkflowHistory
    action: str
    from_state: str
    to_state: str
    made_at: int


def load_content(content_id, lock=False):
    """The live content row ``content_id`` (workflow columns only); NotFound otherwise.

    ``lock``: inside a move's transaction, lock the row until it ends, so that concurrent
    moves and edits of one item take turns (PostgreSQL; SQLite's writers already do).
    """
    query = Content.select(*CONTENT_FIELDS).where(Content.id == content_id)
    content = (lock_row(query) if lock else query).first()
    if content is None or content.deleted_at is not None or content.status == LEGACY_DELETED_STATUS:
        raise NotFound("Content not found")
    return content


def current_states(content_ids):
    """``{id: current_state}`` of the items among ``content_ids`` that exist, in one query."""
    ids = list(content_ids)
    if not ids:
        return {}
    return {row.id: current_state(row) for row in Content.select().where(Content.id.in_(ids))}


def current_state(content):
    """The workflow state of ``content``.

    ``workflow_state_id`` holds it, unless the publication status says otherwise (a row
    published or unpublished by a direct status write): then the status wins, since it is
    what readers see.
    """
    state = content.workflow_state_id or DEFAULT_STATE
    implied = STATE_OF_STATUS.get(content.status)
    if implied is not None and status_of_state(state) != content.status:
        return implied
    return state


def action_for(from_state, to_state):
    """The action name of a move: ``unpublish`` and ``restore-draft`` both lead to draft."""
    if to_state == "draft":
        return "unpublish" if from_state == "published" else "restore-draft"
    return _ACTION_OF_STATE.get(to_state, to_state)


def workflow_for(collection_id):
    """The active workflow of the collection, else the active default one; NotAllowed if none."""
    workflow = (
        Workflow.select()
        .where((Workflow.is_active == 1) & ((Workflow.collection == collection_id) | Workflow.collection.is_null()))
        .order_by(Workflow.collection.is_null(), Workflow.created_at, Workflow.id)
        .first()
    )
    if workflow is None:
        raise NotAllowed("No active workflow applies to this content")
    return workflow


def transitions_from(workflow, state):
    """The edges of ``workflow`` leaving ``state``, each with its target WorkflowState joined."""
    return list(
        WorkflowTransition.select(WorkflowTransition, WorkflowState)
        .join(WorkflowState, on=(WorkflowTransition.to_state == WorkflowState.id))
        .where((WorkflowTransition.workflow == workflow.id) & (WorkflowTransition.from_state == state))
        .order_by(WorkflowTransition.to_state)
    )


def transitions_into(workflow, state):
    """The edges of ``workflow`` leading to ``state``, from any state."""
    return list(
        WorkflowTransition.select()
        .where((WorkflowTransition.workflow == workflow.id) & (WorkflowTransition.to_state == state))
        .order_by(WorkflowTransition.from_state)
    )


def is_overseer(user):
    """Whether ``user`` acts on anyone's content, not only their own (reviewers, publishers, admins)."""
    return user.is_admin or any(user.can(name) for name in OVERSEER_PERMISSIONS)


def refusal(edge, content, user):
    """Why ``user`` may not take ``edge`` on ``content`` (a message), or None when allowed."""
    permission = edge.required_permission
    if permission and not user.can(permission):
        return f"This transition requires the {permission} permission"
    if content.author_id != user.id and not is_overseer(user):
        return "You may only move your own content through the workflow"
    return None


def describe_edge(from_state, edge):
    """A transition as the API lists it."""
    return {
        "action": action_for(from_state, edge.to_state_id),
        "to_state": edge.to_state_id,
        "name": edge.to_state.name,
        "required_permission": edge.required_permission,
    }


def next_steps(content, user, workflow=None):
    """The moves ``user`` may make on ``content`` now (in ``workflow``, default: its own), as dicts."""
    state = current_state(content)
    edges = transitions_from(workflow or workflow_for(content.collection_id), state)
    return [describe_edge(state, edge) for edge in edges if refusal(edge, content, user) is None]


def transition(db, content_id, user, *, action=None, to_state=None, comment=None, source="api",
               metadata=None, request_id=None, versioned=True, announced=True):
    """Move content ``content_id`` by ``action`` (or to ``to_state``) as ``user``, in one transaction.

    Args:
        db: the Peewee database (a nested call becomes a savepoint).
        content_id: the content's id.
        user: the acting Principal.
        action: one of ``ACTIONS``; or give ``to_state`` (a workflow state id) instead.
        comment: the note recorded in the history (and as review notes when approving or
            rejecting; required to reject).
        source: where the move comes from (``api``, ``schedule``), kept in history and log.
        metadata: extra JSON kept in the history row.
        request_id: the request's id, for the log row.
        versioned: bump ``version_number`` and record a content version (False only for a
            caller that records the version of the same transaction itself: a PUT or POST
            that changes the status along with the fields).
        announced: run the move's hooks and end the assignment it ends (``announce``) now;
            False leaves both to the caller, whose write goes on in the same transaction.

    Returns:
        TransitionResult.

    Raises:
        NotFound, NotAllowed (no such move from this state), Forbidden (not this caller),
        Invalid (unknown action or state, rejection without a comment).
    """
    with db.atomic():
        content = load_content(content_id, lock=True)
        move = plan_move(content, user, _target_of(action, to_state), action=action, comment=comment)
        return make_move(move, user, comment=comment, source=source, metadata=metadata, request_id=request_id,
                         versioned=versioned, announced=announced)


@dataclass(frozen=True)
class Move:
    """A move checked and allowed, not yet made: ``plan_move``'s answer, for ``make_move``."""

    content: Content
    workflow: Workflow
    from_state: str
    to_state: str
    action: str


class WorkflowLookup:
    """The workflow of each collection and the edges leaving each state, each read once.

    A caller planning many moves (``app.services.content.bulk``) shares one, so a hundred
    items of one collection cost two queries, not two hundred.
    """

    def __init__(self):
        self._workflows = {}
        self._edges = {}
        self._edges_into = {}

    def workflow(self, collection_id):
        """``workflow_for(collection_id)``, read once."""
        if collection_id not in self._workflows:
            self._workflows[collection_id] = workflow_for(collection_id)
        return self._workflows[collection_id]

    def edges(self, workflow, state):
        """``transitions_from(workflow, state)``, read once."""
        key = (workflow.id, state)
        if key not in self._edges:
            self._edges[key] = transitions_from(workflow, state)
        return self._edges[key]

    def edges_into(self, workflow, state):
        """``transitions_into(workflow, state)``, read once."""
        key = (workflow.id, state)
        if key not in self._edges_into:
            self._edges_into[key] = transitions_into(workflow, state)
        return self._edges_into[key]


def plan_move(content, user, target, *, action=None, comment=None, lookup=None):
    """Check that ``user`` may move ``content`` (read inside the caller's transaction) to the
    state ``target`` (by ``action``, when given); writes nothing.

    Args:
        lookup: a ``WorkflowLookup`` shared by the moves of one transaction (default: a new one).

    Returns:
        Move.

    Raises:
        NotAllowed (no such move from this state), Forbidden (not this caller),
        Invalid (a rejection without a comment).
    """
    lookup = lookup or WorkflowLookup()
    from_state = current_state(content)
    name = action_for(from_state, target)
    workflow = lookup.workflow(content.collection_id)
    edges = lookup.edges(workflow, from_state)
    edge = next((e for e in edges if e.to_state_id == target and (action is None or name == action)), None)
    if edge is None:
        raise _no_move(from_state, target, action or name, edges)
    reason = refusal(edge, content, user)
    if reason:
        raise Forbidden(reason)
    if target == "rejected" and not (comment and comment.strip()):
        raise Invalid("comment", "A rejection needs a comment explaining it")
    return Move(content, workflow, from_state, target, name)


def check_may_enter(content, user, target, *, lookup=None):
    """Check that ``user`` could move ``content``, in ``target`` already, into ``target``:
    some edge of its workflow leads there and ``refusal`` lets ``user`` take it (from
    whichever state). Writes nothing.

    For a caller leaving an item where it is (a bulk action's ``unchanged`` items): being
    there already must not let a caller past the rules that would refuse the move itself.

    Args:
        lookup: a ``WorkflowLookup`` shared by the checks of one transaction (default: a new one).

    Raises:
        NotAllowed: no edge of the workflow leads to ``target`` (as ``plan_move`` says it).
        Forbidden: ``user`` may take none of them (the first one's reason).
    """
    lookup = lookup or WorkflowLookup()
    workflow = lookup.workflow(content.collection_id)
    reasons = [refusal(edge, content, user) for edge in lookup.edges_into(workflow, target)]
    if None in reasons:
        return
    if reasons:
        raise Forbidden(reasons[0])
    state = current_state(content)
    raise _no_move(state, target, action_for(state, target), lookup.edges(workflow, state))


def _no_move(from_state, target, action, edges):
    """The NotAllowed of a move to ``target`` that none of ``edges`` (those leaving ``from_state``) is."""
    return NotAllowed(
        f"Cannot {action} content in state {from_state}",
        {"from_state": from_state, "to_state": target, "allowed": [describe_edge(from_state, e) for e in edges]},
    )


def make_move(move, user, *, comment=None, source="api", metadata=None, request_id=None, versioned=True,
              announced=True):
    """Write the planned ``move``, inside the caller's transaction: the content row, its
    version (``versioned``), the history and log rows; then ``announce`` it (``announced``;
    False: the caller does, once its own write is done).

    Returns:
        TransitionResult.
    """
    content, from_state, target, name = move.content, move.from_state, move.to_state, move.action
    now = now_ms()
    _update_content(content, target, user, comment, now, versioned)
    moved = Content.get_by_id(content.id)
    if versioned:
        record_version(moved, user.id, now)
    history = record_history(content, from_state, target, user.id, comment,
                             {**(metadata or {}), "action": name, "source": source}, now, move.workflow.id)
    _write_log(content, name, from_state, target, user, comment, now, history, source, request_id)
    result = TransitionResult(moved, history, name, from_state, target, now)
    if announced:
        announce(result, user)
    return result


def announce(result, user, content=None):
    """What follows the move ``result`` inside its transaction: its ``after`` hooks
    (``hooks.after_workflow_move``, run once it commits), then the end of the assignment
    it ends (``assignment_ends.end_on_move``).

    Args:
        content: the item as the write that made the move left it (default: as the move
            did): a write that moved and edited it in one version announces the move after
            its edit, with the edited row, so that every event of the write carries the
            version (and title, slug and data) it produced.
    """
    content = result.content if content is None else content
    # The move's hooks first: the end of the assignment follows the publication that caused it.
    hooks.after_workflow_move(user, content, result.action, result.from_state, result.to_state)
    end_on_move(content, user, result.action, result.to_state, result.made_at)


def impose(db, content_id, user, target, action, *, comment=None, request_id=None, announced=True):
    """Move content to ``target`` whatever the workflow's edges say, in one transaction.

    For the review rule (``app.services.content.review``) only: a change by someone who
    cannot publish takes an approved or published item back to review or draft, moves no
    workflow edge offers, since nobody may choose them. Recorded like any move (history
    row with ``action``, log row, the ``after_content_workflow`` hooks and, out of
    ``published``, ``after_content_unpublish``); ``version_number`` is left to the edit that
    follows, if any (a restore from the trash has none). ``announced=False`` leaves the
    ``announce`` to the write the move is part of, once it is done: the edit's, with the
    row it numbered, or the restore's, after its own hooks.

    Returns:
        TransitionResult.
    """
    with db.atomic():
        content = load_content(content_id)
        from_state = current_state(content)
        now = now_ms()
        _update_content(content, target, user, comment, now, versioned=False)
        history = record_history(content, from_state, target, user.id, comment,
                                 {"action": action, "source": "review-rule"}, now)
        _write_log(content, action, from_state, target, user, comment, now, history, "review-rule", request_id)
        result = TransitionResult(Content.get_by_id(content_id), history, action, from_state, target, now)
        if announced:
            announce(result, user)
        return result


def history_of(content_id):
    """Every workflow_history row of ``content_id``, newest first, each with its ``user`` joined."""
    return list(
        WorkflowHistory.select(WorkflowHistory, User.id, User.email, User.username, User.first_name, User.last_name)
        .join(User, on=(WorkflowHistory.user == User.id))
        .where(WorkflowHistory.content == content_id)
        .order_by(WorkflowHistory.created_at.desc(), WorkflowHistory.id.desc())
    )


def _target_of(action, to_state):
    if action is not None:
        if action not in ACTIONS:
            raise Invalid("action", f"Unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        return ACTIONS[action]
    if to_state is None or WorkflowState.get_or_none(WorkflowState.id == to_state) is None:
        raise Invalid("to_state", f"Unknown workflow state {to_state!r}")
    return to_state


def _update_content(content, target, user, comment, now, versioned):
    changes = {
        Content.workflow_state: target,
        Content.status: status_of_state(target),
        Content.updated_at: now,
    }
    if versioned:
        # Numbered as edits are: rows imported without a version count as version 1.
        changes[Content.version_number] = next_version(content)
    if target == "published" and content.published_at is None:
        changes[Content.published_at] = now
    if target == "pending-review":
        # A new review round: the previous outcome no longer applies.
        changes.update({Content.review_status: "pending", Content.reviewer: None,
                        Content.reviewed_at: None, Content.review_notes: None})
    elif target in REVIEW_OUTCOMES:
        changes.update({Content.review_status: target, Content.reviewer: user.id,
                        Content.reviewed_at: now, Content.review_notes: comment})
    # Guarded by what was read: on PostgreSQL two concurrent moves can both read the old
    # state (SQLite's BEGIN IMMEDIATE serialises them); only the first one may win.
    changed = (
        Content.update(changes)
        .where((Content.id == content.id) & (Content.updated_at == content.updated_at)
               & (Content.status == content.status) & at_read_version(content))
        .execute()
    )
    if changed != 1:
        raise NotAllowed("The content changed while this transition ran; reload it and retry")


def _write_log(content, action, from_state, to_state, user, comment, now, history, source, request_id):
    if not log_enabled("workflow", "info"):
        return
    SystemLog.create(
        level="info",
        category="workflow",
        message=f"Content {action}: {content.title} ({from_state} -> {to_state})",
        data={
            "content_id": content.id, "collection_id": content.collection_id, "action": action,
            "from_state": from_state, "to_state": to_state, "history_id": history.id, "comment": comment,
            **({"schedule_id": history.metadata["schedule_id"]} if "schedule_id" in history.metadata else {}),
        },
        user=user.id,
        request_id=request_id,
        source=source,
        created_at=now,
    )
