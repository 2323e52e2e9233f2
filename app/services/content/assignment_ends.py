"""The end of an assignment by what happens to its item: published, archived or trashed.

An assignment names who should act on an item next on its way to publication (review it,
publish it). Once a workflow move takes the item into ``published`` or ``archived``, or
the item goes to the trash, there is nothing left to act on: the assignment ends, in the
transaction of the move or the delete, as an unassignment does (its row deleted, a
``workflow_history`` row with action ``unassigned`` in the item's state now, whose
``metadata.ended_by`` names the move or ``deleted``; the ``after_content_assign`` hooks
once it commits). Moves between the review states (draft, pending-review, approved,
rejected) keep it: the assignee's part is still to come or under way. Taking the item
back to draft, or out of the trash, does not bring an ended assignment back.
Nor can anyone assign an item already published or archived (``assignments.NotAssignable``),
so no assignment is left waiting for an end that would not come; migration 0043 ended the
ones opened before that rule.

An item deleted for good takes its assignment with it (ON DELETE CASCADE), its history too,
so nothing is recorded; the hooks still hear of the end (``ended_by`` ``purged``). The
hooks of an end run after those of what ended it (the publication, the delete), so a
webhook receiver learns why before it learns that the assignment is over.

Kept apart from ``assignments`` so that the workflow and the content writes, which that
module builds on, can call it.
"""

from app.db.models import ContentAssignment
from app.services.content.history import record_history
from app.services.plugins import hooks

# The states whose arrival ends an item's assignment: the item is out of the workflow's work.
ENDING_STATES = ("published", "archived")
# ``ended_by`` of an assignment ended by the item going to the trash.
TRASHED = "deleted"
# ``ended_by`` of an assignment whose item was deleted for good.
PURGED = "purged"


def end_on_move(content, user, action, to_state, now):
    """End the assignment of ``content``, inside its move's transaction, when the move (by
    ``action``) took it into one of ``ENDING_STATES``. Returns the history row, or None."""
    if to_state not in ENDING_STATES:
        return None
    return end_assignment(content, user, to_state, action, now)


def end_assignment(content, user, state, ended_by, now):
    """Delete the assignment of ``content`` (if any) inside the caller's transaction, as
    ``user``, recording it in ``state`` (the item's state now).

    Args:
        ended_by: why it ends, kept in the history row's metadata (a move's action, or
            ``TRASHED``).

    Returns:
        The ``workflow_history`` row written, or None when the item had no assignment.
    """
    previous = ContentAssignment.get_or_none(ContentAssignment.content == content.id)
    if previous is None:
        return None
    ContentAssignment.delete().where(ContentAssignment.content == content.id).execute()
    metadata = {"action": "unassigned", "assignee_id": None, "due_at": None,
                "previous_assignee_id": previous.assignee_id, "ended_by": ended_by}
    history = record_history(content, state, state, user.id, None, metadata, now)
    _announce_end(user, content, previous.assignee_id, ended_by)
    return history


def assigned_to(content):
    """The id of the user ``content`` is assigned to, or None."""
    return (ContentAssignment.select(ContentAssignment.assignee)
            .where(ContentAssignment.content == content.id).scalar())


def end_on_purge(content, user, assignee_id):
    """Announce, once the caller's transaction commits, the end of the assignment to
    ``assignee_id`` (None: there was none) of ``content``, which that transaction deleted for
    good: the assignment and the history went with it by cascade, so nothing is written."""
    if assignee_id is not None:
        _announce_end(user, content, assignee_id, PURGED)


def _announce_end(user, content, previous_assignee_id, ended_by):
    """The ``after_content_assign`` hooks (and so the ``content.assigned`` webhook) of an end."""
    hooks.after("content_assign", user=user, content=content, assignee_id=None, due_at=None,
                previous_assignee_id=previous_assignee_id, ended_by=ended_by)
