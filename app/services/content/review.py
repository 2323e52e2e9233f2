"""The review rule: a change by someone who cannot publish never changes what the public sees.

Only holders of ``content.publish`` (and admins) decide what is live. Everyone else who
may edit an item (its author) may still change it, but:

* an edit (``PUT``, or restoring an old version) to an item that is ``approved`` or
  ``published`` first takes it back to ``pending-review``: a published item leaves the
  public site until a reviewer approves and a publisher publishes the new text, and an
  approval does not carry over to text nobody approved;
* restoring a soft-deleted item that was ``approved``, ``published`` or ``archived``
  brings it back as a ``draft``: the restorer could not have put it in that state;
* an edit cancels the item's pending publish schedules: a publisher scheduled the text
  they saw, not the text that replaced it (``withdraw_scheduled_publication``).

Each such move is a workflow_history and system_logs row (actions ``edited-for-review``
and ``restored-as-draft``) in the transaction of the change that caused it. The moves
are not ``workflow_transitions`` edges, so no one can make them by hand.
"""

from app.services.content import scheduling, workflow

# States whose content a reviewer or publisher vouched for.
REVIEWED_STATES = ("approved", "published")
# States a restorer without content.publish may not bring back.
PUBLISHER_STATES = ("approved", "published", "archived")
REVIEW_STATE = "pending-review"
RESTORE_STATE = "draft"


def may_publish(user):
    """Whether ``user`` decides what is live (``content.publish`` or admin)."""
    return user.is_admin or user.can("content.publish")


def before_edit(db, content, user, request_id=None):
    """Before ``user`` edits ``content`` (the row the write loaded): send reviewed content
    back to review if needed.

    The move is not announced: the edit that follows numbers the row, and then announces
    it (``workflow.announce``) with the row it wrote, so the move's events carry the
    version the edit made.

    Returns:
        The move's ``workflow.TransitionResult`` when the item was moved (the caller must
        reload it before writing, and announce the move after), else None.
    """
    if may_publish(user):
        return None
    withdraw_scheduled_publication(content, user)
    state = workflow.current_state(content)
    if state not in REVIEWED_STATES:
        return None
    return workflow.impose(db, content.id, user, REVIEW_STATE, "edited-for-review",
                           comment=f"Edited while {state}: needs review again", request_id=request_id,
                           announced=False)


def withdraw_scheduled_publication(content, user):
    """Cancel ``content``'s pending publish schedules when ``user``, who cannot publish, edits it.

    Returns:
        How many were cancelled (each says why in its ``error_message``).
    """
    if may_publish(user):
        return 0
    return scheduling.withdraw_publications(
        content.id,
        f"Cancelled: edited by a user who cannot publish (role {user.role}); schedule it again once reviewed",
    )


def after_restore(db, content, user, request_id=None):
    """After ``user`` restored ``content`` (the row the restore loaded) from the trash: a
    draft again if needed.

    The move is not announced: the restore announces it after its own hooks
    (``workflow.announce``), with the row as the whole write left it.

    Returns:
        The move's ``workflow.TransitionResult`` when the item was moved, else None.
    """
    if may_publish(user):
        return None
    state = workflow.current_state(content)
    if state not in PUBLISHER_STATES:
        return None
    return workflow.impose(db, content.id, user, RESTORE_STATE, "restored-as-draft",
                           comment=f"Restored from {state} by someone who cannot publish", request_id=request_id,
                           announced=False)
