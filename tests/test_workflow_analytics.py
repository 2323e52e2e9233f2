"""GET /api/workflow/analytics: figures computed from seeded content and history, exactly."""

from datetime import UTC, datetime

import pytest

from app.db.models import Collection, ContentAssignment, WorkflowHistory, now_ms
from tests.fixtures.workflow import insert_content

pytestmark = [pytest.mark.usefixtures("env"), pytest.mark.backends]

DAY = 86_400_000
HOUR = 3_600_000


def seed(item, user, *moves):
    """History rows of ``item``: ``(from_state, to_state, at)`` each (None: the creation entry)."""
    for from_state, to_state, at in moves:
        WorkflowHistory.create(content=item.id, workflow="default-workflow", from_state=from_state,
                               to_state=to_state, user=user.id, metadata={}, created_at=at)


def analytics(client, headers, status=200, **params):
    return client.get("/api/workflow/analytics", params, headers=headers, status=status)


def test_states_per_collection_count_live_items_by_the_state_readers_see(client, make_user, workflow_collection):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    other = Collection.create(name="zz_notes", display_name="Notes", schema={"type": "object"})
    for state in ("draft", "draft", "pending-review", "published"):
        insert_content(author, workflow_collection, state)
    insert_content(author, workflow_collection, "published", deleted_at=now_ms())  # in the trash
    # Published by a direct status write: the status wins over the stale state.
    insert_content(author, other, "draft", status="published")
    insert_content(author, other, "archived")

    states = analytics(client, headers).json["data"]["states"]

    assert states == [
        {"collection_id": workflow_collection.id, "collection": workflow_collection.name,
         "states": {"draft": 2, "pending-review": 1, "published": 1}, "total": 4},
        {"collection_id": other.id, "collection": "zz_notes", "states": {"archived": 1, "published": 1}, "total": 2},
    ]


def test_moves_per_day_count_state_changes_of_the_window_only(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author)
    today = now_ms() // DAY * DAY
    seed(item, author,
         (None, "draft", today - 2 * DAY),  # creation: no move
         ("draft", "pending-review", today - 2 * DAY + HOUR),
         ("pending-review", "approved", today - DAY),
         ("approved", "published", today - DAY + 1),
         ("published", "published", today - DAY + 2),  # an edit: no move
         ("published", "draft", today),
         ("draft", "pending-review", today - 10 * DAY))  # outside the window

    data = analytics(client, headers, days="3").json["data"]

    def day(ms):
        return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()

    assert data["moves"] == [{"date": day(today - 2 * DAY), "moves": 1}, {"date": day(today - DAY), "moves": 2},
                             {"date": day(today), "moves": 1}]
    assert (data["days"], data["since"]) == (3, today - 2 * DAY)


def test_median_review_time_from_first_submission_to_publication(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    start = now_ms() // DAY * DAY - 5 * DAY
    two, four, six, direct, old = (make_content_row(author) for _ in range(5))
    seed(two, author, ("draft", "pending-review", start), ("pending-review", "published", start + 2 * HOUR))
    seed(four, author, ("draft", "pending-review", start), ("pending-review", "approved", start + HOUR),
         ("approved", "published", start + 4 * HOUR))
    # Rejected and submitted again: counted from the first submission.
    seed(six, author, ("draft", "pending-review", start), ("pending-review", "rejected", start + HOUR),
         ("rejected", "draft", start + 2 * HOUR), ("draft", "pending-review", start + 3 * HOUR),
         ("pending-review", "published", start + 6 * HOUR))
    seed(direct, author, ("draft", "published", start))
    seed(old, author, ("draft", "pending-review", start - 30 * DAY), ("pending-review", "published", start - 29 * DAY))

    assert analytics(client, headers, days="7").json["data"]["review_time"] == {
        "median_ms": 4 * HOUR, "items": 3, "published_unreviewed": 1}

    ten = make_content_row(author)
    seed(ten, author, ("draft", "pending-review", start), ("pending-review", "published", start + 10 * HOUR))
    assert analytics(client, headers, days="7").json["data"]["review_time"] == {
        "median_ms": 5 * HOUR, "items": 4, "published_unreviewed": 1}
    # Taken back to draft and published again within the window, unreviewed: its submission
    # before its previous publication does not count.
    seed(old, author, ("published", "draft", start + HOUR), ("draft", "published", start + 2 * HOUR))
    assert analytics(client, headers, days="7").json["data"]["review_time"] == {
        "median_ms": 5 * HOUR, "items": 4, "published_unreviewed": 2}
    # Submitted again since then: counted from that submission.
    again = make_content_row(author)
    seed(again, author, ("draft", "pending-review", start - 20 * DAY), ("pending-review", "published", start - 19 * DAY),
         ("published", "draft", start), ("draft", "pending-review", start + HOUR),
         ("pending-review", "published", start + 9 * HOUR))
    assert analytics(client, headers, days="7").json["data"]["review_time"] == {
        "median_ms": 6 * HOUR, "items": 5, "published_unreviewed": 2}


def test_nothing_published_has_no_median(client, make_user):
    _, headers = make_user("editor")

    data = analytics(client, headers).json["data"]

    assert data["review_time"] == {"median_ms": None, "items": 0, "published_unreviewed": 0}
    assert len(data["moves"]) == 30 and {day["moves"] for day in data["moves"]} == {0}


def test_open_and_overdue_assignments_of_live_items(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    now = now_ms()
    items = [make_content_row(author) for _ in range(3)] + [make_content_row(author, deleted_at=now)]
    for item, due in zip(items, (now - DAY, now + DAY, None, now - DAY), strict=True):
        ContentAssignment.create(content=item.id, assignee=editor.id, assigned_by=editor.id, due_at=due)

    assert analytics(client, headers).json["data"]["assignments"] == {"open": 3, "overdue": 1}


def test_analytics_are_for_publishers_and_days_are_bounded(client, make_user):
    _, author_headers = make_user("author")
    _, headers = make_user("editor")

    analytics(client, author_headers, status=403)
    for days in ("0", "366", "x"):
        resp = analytics(client, headers, days=days, status=400)
        assert [detail["parameter"] for detail in resp.json["details"]] == ["days"]
    assert len(analytics(client, headers, days="365").json["data"]["moves"]) == 365
