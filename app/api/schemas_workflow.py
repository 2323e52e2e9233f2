"""Response bodies of workflow assignments and analytics (see ``app.api.schemas``)."""

from app.api.schemas import Closed, Ms
from app.api.schemas_content import Assignment, CollectionRef


class AssignMeta(Closed):
    """What an assignment request did: ``action`` and ``history_id`` null when nothing changed."""

    content_id: str
    action: str | None
    history_id: str | None


class Assigned(Closed):
    """``{data: the assignment now (null: unassigned), meta}``."""

    data: Assignment | None
    meta: AssignMeta


class AssignedItem(Closed):
    """The item of an assignment, as it is now."""

    id: str
    title: str
    slug: str
    status: str
    state: str
    collection: CollectionRef


class AssignmentEntry(Assignment):
    """An assignment in a list, with its item."""

    content: AssignedItem


class CollectionStates(Closed):
    """A collection's live items per workflow state."""

    collection_id: str
    collection: str
    states: dict[str, int]
    total: int


class DayMoves(Closed):
    """The workflow moves of one UTC day (``YYYY-MM-DD``)."""

    date: str
    moves: int


class ReviewTime(Closed):
    """Median ms from first submission to publication of the items published in the window."""

    median_ms: int | None
    items: int
    published_unreviewed: int


class OpenAssignments(Closed):
    """Assignments of live items, and those past their due date."""

    open: int
    overdue: int


class WorkflowAnalytics(Closed):
    """Where content is, how much it moved per day since ``since``, review time, assignments."""

    days: int
    since: Ms
    states: list[CollectionStates]
    moves: list[DayMoves]
    review_time: ReviewTime
    assignments: OpenAssignments
