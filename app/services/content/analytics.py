"""Workflow analytics: where the content is, how much it moves, how long review takes.

Each figure is one aggregate query, the same SQL on SQLite and PostgreSQL, whatever the
amount of content: the database counts, Python only shapes the answer.

* ``states``: live items per collection and workflow state. The state is the one
  ``workflow.current_state`` gives: ``workflow_state_id``, unless the publication status
  says otherwise (the status wins, as readers see it).
* ``moves``: state changes recorded in ``workflow_history`` (rows whose ``from_state_id``
  differs from ``to_state_id``: moves, never edits, assignments or trash) per UTC day of
  the last ``days`` days, today included; days without moves count 0.
* ``review_time``: for the items published within those days (each at its first
  publication there), the median time from the item's first submission (move into
  ``pending-review``) since its previous publication, if any, to that publication, in ms;
  items published without such a submission (a republished item taken back to draft and
  published again unreviewed, included) are counted apart (``published_unreviewed``).
  The median of an even count is the mean of the two middle values, rounded down. Its two
  statements read in one transaction, so they count the same items.
* ``assignments``: assignments of live items, and those past their due date.
"""

from datetime import UTC, datetime, timedelta

from app.db.database import read_snapshot
from app.db.models import DAY_MS, database
from app.services.content import assignments

MAX_DAYS = 365
DEFAULT_DAYS = 30

# ``workflow.current_state`` in SQL (``content`` aliased ``c``).
_STATE = (
    "CASE WHEN c.status IN ('draft', 'published', 'archived')"
    " AND (CASE WHEN COALESCE(c.workflow_state_id, 'draft') IN ('published', 'archived')"
    " THEN COALESCE(c.workflow_state_id, 'draft') ELSE 'draft' END) <> c.status"
    " THEN c.status ELSE COALESCE(c.workflow_state_id, 'draft') END"
)
_STATES = (
    f"SELECT c.collection_id, col.name, {_STATE} AS state, COUNT(*) FROM content c"
    " JOIN collections col ON col.id = c.collection_id"
    " WHERE c.deleted_at IS NULL AND c.status <> 'deleted'"
    " GROUP BY 1, 2, 3 ORDER BY 2, 3"
)
_MOVES = (
    "SELECT created_at / 86400000, COUNT(*) FROM workflow_history"  # the UTC day number (DAY_MS)
    " WHERE created_at >= {p} AND from_state_id IS NOT NULL AND from_state_id <> to_state_id"
    " GROUP BY 1"
)
# A move into ``published`` (history row ``h``).
_PUBLISHING = "h.to_state_id = 'published' AND (h.from_state_id IS NULL OR h.from_state_id <> 'published')"
# Each item's first publication within the window, with its first submission before it and
# after the publication before it (none: since ever).
_LEAD_TIMES = (
    "WITH published AS ("
    f" SELECT h.content_id, MIN(h.created_at) AS first_at FROM workflow_history h WHERE {_PUBLISHING}"
    " AND h.created_at >= {p} GROUP BY h.content_id),"
    " lead_times AS ("
    " SELECT p.first_at - (SELECT MIN(s.created_at) FROM workflow_history s"
    " WHERE s.content_id = p.content_id AND s.to_state_id = 'pending-review'"
    " AND (s.from_state_id IS NULL OR s.from_state_id <> 'pending-review') AND s.created_at <= p.first_at"
    f" AND s.created_at > COALESCE((SELECT MAX(h.created_at) FROM workflow_history h WHERE {_PUBLISHING}"
    " AND h.content_id = p.content_id AND h.created_at < p.first_at), -1)) AS ms"
    " FROM published p)"
)
_LEAD_COUNTS = _LEAD_TIMES + " SELECT COUNT(ms), COUNT(*) - COUNT(ms) FROM lead_times"
_LEAD_MIDDLE = _LEAD_TIMES + " SELECT ms FROM lead_times WHERE ms IS NOT NULL ORDER BY ms LIMIT {p} OFFSET {p}"


def _rows(template, params=()):
    return database.execute_sql(template.format(p=database.obj.param), params).fetchall()


def workflow_analytics(days=DEFAULT_DAYS, now=None):
    """The figures above for the last ``days`` days (1 to ``MAX_DAYS``) as of ``now`` (epoch ms)."""
    now = now if now is not None else int(datetime.now(UTC).timestamp() * 1000)
    first_day = now // DAY_MS - (days - 1)
    since = first_day * DAY_MS
    open_count, overdue = assignments.open_counts(now)
    return {
        "days": days,
        "since": since,
        "states": states_by_collection(),
        "moves": moves_per_day(first_day, days),
        "review_time": review_time(since),
        "assignments": {"open": open_count, "overdue": overdue},
    }


def states_by_collection():
    """``[{collection_id, collection, states: {state: count}, total}]``, by collection name."""
    collections = {}
    for collection_id, name, state, count in _rows(_STATES):
        entry = collections.setdefault(collection_id, {"collection_id": collection_id, "collection": name,
                                                       "states": {}, "total": 0})
        entry["states"][state] = count
        entry["total"] += count
    return list(collections.values())


def moves_per_day(first_day, days):
    """``[{date, moves}]`` for ``days`` UTC days from day number ``first_day`` (days since 1970)."""
    counted = {int(day): count for day, count in _rows(_MOVES, (first_day * DAY_MS,))}
    start = datetime(1970, 1, 1, tzinfo=UTC).date()
    return [{"date": (start + timedelta(days=day)).isoformat(), "moves": counted.get(day, 0)}
            for day in range(first_day, first_day + days)]


def review_time(since):
    """``{median_ms, items, published_unreviewed}`` of the items first published since ``since``."""
    median = None
    with read_snapshot(database.obj):  # the count and the middle rows of the same items
        reviewed, unreviewed = _rows(_LEAD_COUNTS, (since,))[0]
        if reviewed:
            # The middle value, or the two middle values of an even count.
            middle = [row[0] for row in _rows(_LEAD_MIDDLE, (since, 2 - reviewed % 2, (reviewed - 1) // 2))]
            median = sum(middle) // len(middle)
    return {"median_ms": median, "items": reviewed, "published_unreviewed": unreviewed}
