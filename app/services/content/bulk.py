"""Bulk actions: one action on up to 100 items, all or nothing.

The actions are those of the single-item routes, with their rules:

* ``publish``, ``draft``, ``archive``: the workflow move to the state ``published``,
  ``draft`` or ``archived``, as ``POST /api/workflow/content/{id}/transition`` makes it
  (``workflow.plan_move`` and ``workflow.make_move``): 404 for an item the caller cannot
  read, 409 when the item's workflow has no such move from its state, 403 when the caller
  may not make it. An item already in that state is left as it is (no write, no history)
  and reported as unchanged, once the caller passed the checks of some move of its workflow
  into that state (``workflow.check_may_enter``: 403 or 409 otherwise, as the move would);
* ``delete``: the soft delete of ``DELETE /api/content/{id}`` (``writes.check_trashable``
  and ``writes.trash``): ``content.delete`` for the whole request, then per item the
  ownership rule (403, or 404 when the caller cannot read it) and the
  ``before_content_delete`` hooks, whose veto is the item's refusal.

An unknown id, or one of an item in the trash, is a 404 for every action; so is one of an
item of another collection when the action is asked for one collection only (``collection_id``:
the admin's list acts on its own collection's items, as its single-item pages do).

All or nothing: in ONE transaction every item is locked (in id order, so two bulk actions
never wait on each other in a cycle) and checked before anything is written; a single
refusal raises ``BulkRefused`` naming each refused item with the error its single route
would raise, and the transaction ends with nothing changed. Otherwise every write follows
in the same transaction, and the ``after`` hooks (webhooks among them) run once it commits.
"""

from collections import Counter
from dataclasses import dataclass

from app.db.models import Collection, Content, database
from app.services.content import workflow, writes
from app.services.content.errors import ContentConflict, ContentForbidden, ContentInvalid, ContentNotFound
from app.services.content.locks import lock_row
from app.services.content.query import Scope, visible_ids
from app.services.errors import ServiceError
from app.services.plugins import HookVeto

MAX_ITEMS = 100
MAX_ID_LENGTH = 128
# Each move's target workflow state.
MOVES = {"publish": "published", "draft": "draft", "archive": "archived"}
DELETE = "delete"
ACTIONS = (*MOVES, DELETE)
DELETE_PERMISSION = "content.delete"


class BulkRefused(ContentConflict):
    """Items refused the action, so nothing was changed.

    Attributes:
        refusals: ``[(id, error)]`` in the order the ids were given; each error is what the
            item's single route raises (a ``ServiceError``, or a plugin's ``HookVeto``).
    """

    def __init__(self, refusals):
        count = len(refusals)
        super().__init__(f"Nothing was changed: {count} item{'' if count == 1 else 's'} refused the action")
        self.refusals = refusals


@dataclass(frozen=True)
class BulkResult:
    """A bulk action carried out.

    Attributes:
        action: the action.
        changed: the ids of the items it changed, in the order given.
        unchanged: the ids of the items already in the state asked for (nothing written).
    """

    action: str
    changed: tuple
    unchanged: tuple


def check_request(action, ids):
    """Refuse an unknown action, or ids that are not 1 to ``MAX_ITEMS`` distinct ids (ContentInvalid)."""
    problems = []
    if action not in ACTIONS:
        problems.append({"field": "action", "message": f"must be one of {', '.join(ACTIONS)}"})
    if not 1 <= len(ids) <= MAX_ITEMS:
        problems.append({"field": "ids", "message": f"must hold 1 to {MAX_ITEMS} ids"})
    else:  # each id is looked at only within the bound
        problems += _id_problems(ids)
    if problems:
        raise ContentInvalid("Validation failed", problems)


def _id_problems(ids):
    problems = [
        {"field": f"ids[{index}]", "message": f"must be an id of 1 to {MAX_ID_LENGTH} characters"}
        for index, content_id in enumerate(ids)
        if not isinstance(content_id, str) or not 0 < len(content_id) <= MAX_ID_LENGTH or "\x00" in content_id
    ]
    if problems:
        return problems
    repeated = [content_id for content_id, count in Counter(ids).items() if count > 1]
    if repeated:
        problems.append({"field": "ids", "message": "must be distinct; given more than once: " + ", ".join(repeated)})
    return problems


def apply(user, action, ids, *, collection_id=None, source="api", request_id=None):
    """Carry out ``action`` on the items ``ids`` as ``user``, all of them or none.

    Args:
        user: the acting Principal.
        action: one of ``ACTIONS``.
        ids: the items' ids (1 to ``MAX_ITEMS``, distinct).
        collection_id: when given, the items must be of this collection (others are refused: 404).
        source: where the request comes from (``api``, ``admin``), kept in the moves' history and log.
        request_id: the request's id, for the log rows.

    Returns:
        BulkResult.

    Raises:
        ContentInvalid: a bad action or list of ids.
        ContentForbidden: ``delete`` without ``content.delete``.
        BulkRefused: some items refused; nothing was written.
    """
    ids = list(ids)
    check_request(action, ids)
    if action == DELETE and not user.can(DELETE_PERMISSION):
        raise ContentForbidden(f"Moving content to the trash requires the {DELETE_PERMISSION} permission")
    with database.atomic():
        rows = _locked(ids)
        planned, refusals = _plan(user, action, ids, rows, collection_id)
        if refusals:
            raise BulkRefused(refusals)
        for write in planned.values():
            if write is not None:
                write(user, source, request_id)
    changed = tuple(content_id for content_id, write in planned.items() if write is not None)
    unchanged = tuple(content_id for content_id, write in planned.items() if write is None)
    return BulkResult(action, changed, unchanged)


def _locked(ids):
    """``{id: Content with its Collection}`` of the rows ``ids`` name, locked until the transaction ends."""
    query = (
        Content.select(Content, Collection)
        .join(Collection, on=(Content.collection == Collection.id))
        .where(Content.id.in_(ids))
        .order_by(Content.id)
    )
    return {content.id: content for content in lock_row(query)}


def _plan(user, action, ids, rows, collection_id=None):
    """``({id: write, or None for an item left as it is}, [(id, error)])``: every item checked, nothing written."""
    planned, refusals = {}, []
    lookup, visible = workflow.WorkflowLookup(), None
    if action in MOVES:
        visible = visible_ids(Scope.of(user), [content_id for content_id in ids if content_id in rows])
    for content_id in ids:
        content = rows.get(content_id)
        try:
            if content is None or content.deleted_at is not None:
                raise ContentNotFound("Content not found")
            if collection_id is not None and content.collection_id != collection_id:
                raise ContentNotFound("Content not found")  # as the collection's own pages answer
            if action == DELETE:
                planned[content_id] = _planned_delete(user, content)
            else:
                planned[content_id] = _planned_move(user, content, MOVES[action], content_id in visible, lookup)
        except (ServiceError, HookVeto) as ex:
            refusals.append((content_id, ex))
    return planned, refusals


def _planned_move(user, content, target, visible, lookup):
    """The write moving ``content`` to ``target`` once every item passed, or None when it is there already."""
    if not visible or content.status == workflow.LEGACY_DELETED_STATUS:
        raise ContentNotFound("Content not found")  # as reading it answers: hidden items stay hidden
    if workflow.current_state(content) == target:
        workflow.check_may_enter(content, user, target, lookup=lookup)
        return None
    move = workflow.plan_move(content, user, target, lookup=lookup)

    def write(user, source, request_id):
        workflow.make_move(move, user, source=source, request_id=request_id)

    return write


def _planned_delete(user, content):
    """The write moving ``content`` to the trash once every item passed (its checks and
    ``before`` hooks run now)."""
    writes.check_trashable(user, content)

    def write(user, _source, _request_id):
        writes.trash(user, content)

    return write
