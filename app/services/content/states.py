"""Workflow states (``workflow_states``): the name, colour and finality shown for an item's state."""

from app.db.models import WorkflowState


def find_state(state_id):
    """The workflow state ``state_id``, or None (an item may name a state since removed)."""
    return WorkflowState.get_or_none(WorkflowState.id == state_id)
