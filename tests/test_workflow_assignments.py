"""Assignments (POST /api/workflow/content/{id}/assign, GET /api/workflow/assignments): who may
assign, who may be assigned, due dates, what is written, and who sees what."""

import json
from datetime import UTC, datetime

import pytest

from app.db.models import Content, ContentAssignment, WebhookDelivery, now_ms
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from app.services import webhooks
from tests.fixtures.app import client_for
from tests.fixtures.webhook_receiver import Receiver
from tests.fixtures.workflow import content_row, history_rows, insert_schedule

pytestmark = [pytest.mark.usefixtures("env"), pytest.mark.backends]

DAY_MS = 86_400_000


def assign(client, item, headers, user_id, status=200, **body):
    url = f"/api/workflow/content/{item.id}/assign"
    return client.post_json(url, {"user_id": user_id, **body}, headers=headers, status=status)


def listed(client, headers, status=200, **params):
    return client.get("/api/workflow/assignments", params, headers=headers, status=status)


def assignment_rows():
    return list(ContentAssignment.select().order_by(ContentAssignment.assigned_at).dicts())


def assigned_before_refusals(item, user):
    """An assignment of a published or archived item, as assigning one was allowed once."""
    ContentAssignment.insert(content=item.id, assignee=user.id, assigned_by=user.id, assigned_at=now_ms()).execute()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def received(receiver):
    """``(event, assignee_id, previous_assignee_id, ended_by)`` of each delivery received, in order."""
    data = [(event, json.loads(body)["data"]) for event, (_, body) in zip(receiver.events(), receiver.received)]
    return [(event, d["id"], d.get("assignee_id"), d.get("previous_assignee_id"), d.get("ended_by"))
            for event, d in data]


# --- assigning ----------------------------------------------------------------------------


def test_an_editor_assigns_an_item_with_a_due_date_and_a_note(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    editor, headers = make_user("editor", first_name="Eve", last_name="Stone")
    reviewer, _ = make_user("editor")
    item = make_content_row(author, state="pending-review", version_number=4)

    resp = assign(client, item, headers, reviewer.id, due_at="2999-05-01", note="  check the figures ")

    due = int(datetime(2999, 5, 1, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)
    data = resp.json["data"]
    assert (data["content_id"], data["assignee"]["id"], data["due_at"], data["overdue"], data["note"]) == (
        item.id, reviewer.id, due, False, "check the figures")
    assert data["assigned_by"] == {"id": editor.id, "username": editor.username, "name": "Eve Stone"}
    [row] = assignment_rows()
    assert (row["content"], row["assignee"], row["assigned_by"], row["due_at"]) == (item.id, reviewer.id, editor.id, due)
    [history] = history_rows(item.id)
    assert resp.json["meta"] == {"content_id": item.id, "action": "assigned", "history_id": history.id}
    assert (history.from_state_id, history.to_state_id, history.user_id, history.comment) == (
        "pending-review", "pending-review", editor.id, "check the figures")
    assert history.metadata == {"action": "assigned", "assignee_id": reviewer.id, "due_at": due,
                                "previous_assignee_id": None}
    # No edit: the version, and so the ETag, stay.
    assert content_row(item.id)["version_number"] == 4
    # The item's workflow view shows it, to the author too.
    view = client.get(f"/api/content/{item.id}/workflow", headers=author_headers).json["data"]
    assert view["assignment"] == data


def test_reassigning_replaces_and_unassigning_removes_the_assignment(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    first, _ = make_user("editor")
    second, _ = make_user("admin")
    item = make_content_row(author, state="pending-review")

    assign(client, item, headers, first.id, due_at=now_ms() + DAY_MS)
    assign(client, item, headers, second.id)
    assert [(r["assignee"], r["due_at"]) for r in assignment_rows()] == [(second.id, None)]

    resp = assign(client, item, headers, None)

    assert resp.json["data"] is None and resp.json["meta"]["action"] == "unassigned"
    assert assignment_rows() == []
    assert [(h.metadata["action"], h.metadata["assignee_id"], h.metadata["previous_assignee_id"])
            for h in history_rows(item.id)] == [
        ("assigned", first.id, None), ("assigned", second.id, first.id), ("unassigned", None, second.id)]
    # Unassigning an item nobody is assigned to writes nothing.
    again = assign(client, item, headers, None)
    assert again.json["meta"] == {"content_id": item.id, "action": None, "history_id": None}
    assert len(history_rows(item.id)) == 3


def test_an_author_assigns_their_own_item_but_not_anyone_elses(client, make_user, make_content_row):
    author, headers = make_user("author")
    other, _ = make_user("author")
    editor, _ = make_user("editor")
    own = make_content_row(author)
    others = make_content_row(other, state="published")

    assign(client, own, headers, editor.id)
    resp = assign(client, others, headers, editor.id, status=403)

    assert "authors assign their own" in resp.json["error"]
    assert [r["content"] for r in assignment_rows()] == [own.id]
    assert history_rows(others.id) == []


def test_a_viewer_may_not_assign_and_a_hidden_item_is_not_found(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    _, viewer_headers = make_user("viewer")
    editor, _ = make_user("editor")
    other, _ = make_user("author")
    published = make_content_row(other, state="published")
    draft = make_content_row(other)

    assign(client, published, viewer_headers, editor.id, status=403)
    # Another author's draft cannot even be read by this author: 404, as its workflow view.
    assign(client, draft, author_headers, editor.id, status=404)
    assign(client, Content(id="missing"), author_headers, editor.id, status=404)
    assert assignment_rows() == []


def test_an_item_in_the_trash_cannot_be_assigned(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, deleted_at=now_ms())

    assign(client, item, headers, editor.id, status=404)

    assert assignment_rows() == []


def test_the_assignee_must_be_an_active_user_who_can_read_the_item(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    inactive, _ = make_user("editor", is_active=False)
    other_author, _ = make_user("author")
    viewer, _ = make_user("viewer")
    draft = make_content_row(author, state="pending-review")
    published = make_content_row(author, state="published")

    for user_id, message in (("nobody", "The assignee must be an active user"),
                             (inactive.id, "The assignee must be an active user"),
                             (other_author.id, "The assignee cannot read this item"),
                             (viewer.id, "The assignee cannot read this item")):
        resp = assign(client, draft, headers, user_id, status=422)
        assert resp.json["details"] == [{"field": "user_id", "message": message}], user_id
    assert assignment_rows() == [] and history_rows(draft.id) == []
    # A draft may go to its author; a published item to nobody, however well they read it.
    assign(client, draft, headers, author.id)
    assign(client, published, headers, viewer.id, status=409)
    assert [r["assignee"] for r in assignment_rows()] == [author.id]


def test_an_author_cannot_replace_or_remove_someone_elses_assignment_of_their_item(client, make_user,
                                                                                      make_content_row):
    author, author_headers = make_user("author")
    editor, headers = make_user("editor")
    own = make_content_row(author)
    assign(client, own, headers, editor.id)

    for user_id in (author.id, None):
        resp = assign(client, own, author_headers, user_id, status=403)
        assert resp.json["error"] == "Only reviewers and publishers change an assignment someone else holds"
    assert [(r["assignee"], r["assigned_by"]) for r in assignment_rows()] == [(editor.id, editor.id)]
    # Assigned to the author: theirs to hand on, or to drop.
    assign(client, own, headers, author.id)
    assign(client, own, author_headers, editor.id)
    assert [r["assignee"] for r in assignment_rows()] == [editor.id]


def test_the_same_assignment_again_writes_nothing_and_sends_no_webhook(env, make_user, make_content_row):
    client = client_for(env, webhooks_allow_private_targets=True)
    hook = webhooks.create_webhook("http://127.0.0.1:9/hook", ["content.assigned"], True)
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)
    due = now_ms() + DAY_MS
    first = assign(client, item, headers, editor.id, due_at=due, note="check it")

    again = assign(client, item, headers, editor.id, due_at=due, note=" check it ")

    assert again.json["meta"] == {"content_id": item.id, "action": None, "history_id": None}
    assert again.json["data"] == first.json["data"]
    assert len(history_rows(item.id)) == 1
    assert WebhookDelivery.select().where(WebhookDelivery.webhook == hook.id).count() == 1
    # Another note is a change.
    assign(client, item, headers, editor.id, due_at=due, note="and the figures")
    assert len(history_rows(item.id)) == 2


def test_an_overdue_assignment_kept_as_it_is_stays(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    other, _ = make_user("editor")
    item = make_content_row(author)
    due = now_ms() - DAY_MS
    ContentAssignment.create(content=item.id, assignee=editor.id, assigned_by=editor.id, due_at=due)

    assign(client, item, headers, editor.id, due_at=due)
    assign(client, item, headers, other.id, due_at=due, note="yours now")

    assert [(r["assignee"], r["due_at"], r["note"]) for r in assignment_rows()] == [(other.id, due, "yours now")]
    resp = assign(client, item, headers, other.id, due_at=due - 1, status=422)
    assert resp.json["details"] == [{"field": "due_at", "message": "due_at must be in the future"}]


@pytest.mark.parametrize("due_at, message", [
    ("2001-01-01", "due_at must be in the future"),
    (1_000, "due_at must be in the future"),
    ("2999-05-01T09:00:00", "due_at has no UTC offset: add one (Z for UTC) or give a date"),
    ("next week", "due_at must be a date, an ISO 8601 date-time with an offset, or epoch ms"),
    ("9999-12-31", "due_at must be before 9999-12-30"),
])
def test_a_bad_due_date_is_422(client, make_user, make_content_row, due_at, message):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)

    resp = assign(client, item, headers, editor.id, due_at=due_at, status=422)

    assert resp.json["details"] == [{"field": "due_at", "message": message}]
    assert assignment_rows() == []


def test_due_dates_with_an_offset_or_in_ms_are_kept_exactly(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)

    with_offset = assign(client, item, headers, editor.id, due_at="2999-05-01T09:00:00+02:00").json["data"]
    in_ms = assign(client, item, headers, editor.id, due_at=32_000_000_000_000).json["data"]

    assert with_offset["due_at"] == int(datetime(2999, 5, 1, 7, tzinfo=UTC).timestamp() * 1000)
    assert in_ms["due_at"] == 32_000_000_000_000


def test_unassigning_takes_no_due_date_or_note_and_the_body_is_checked(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author)

    resp = assign(client, item, headers, None, due_at="2999-01-01", status=422)
    assert resp.json["details"] == [{"field": "due_at", "message": "Only an assignment has a due date or a note"}]
    resp = assign(client, item, headers, None, note="why", status=422)
    assert resp.json["details"][0]["field"] == "note"
    client.post_json(f"/api/workflow/content/{item.id}/assign", {}, headers=headers, status=422)
    assign(client, item, headers, "x", status=422, assignee="x")
    assert assignment_rows() == []


def test_only_the_assignee_and_those_who_see_the_review_see_the_assignment(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    viewer, viewer_headers = make_user("viewer")
    _, other_viewer_headers = make_user("viewer")
    item = make_content_row(author, state="published")
    assigned_before_refusals(item, viewer)

    mine = client.get(f"/api/content/{item.id}/workflow", headers=viewer_headers).json["data"]
    theirs = client.get(f"/api/content/{item.id}/workflow", headers=other_viewer_headers).json["data"]

    assert mine["assignment"]["assignee"]["id"] == viewer.id
    assert theirs["assignment"] is None and theirs["review"] is None


def test_an_assignment_is_a_webhook_event(env, make_user, make_content_row):
    client = client_for(env, webhooks_allow_private_targets=True)
    hook = webhooks.create_webhook("http://127.0.0.1:9/hook", ["content.assigned"], True)
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)

    assign(client, item, headers, editor.id, due_at=32_000_000_000_000)
    assign(client, item, headers, None)

    deliveries = WebhookDelivery.select().where(WebhookDelivery.webhook == hook.id).order_by(WebhookDelivery.created_at)
    assert [(d.event, d.payload["data"]["id"], d.payload["data"]["assignee_id"], d.payload["data"]["due_at"],
             d.payload["data"]["previous_assignee_id"], d.payload["data"]["ended_by"]) for d in deliveries] == [
        ("content.assigned", item.id, editor.id, 32_000_000_000_000, None, None),
        ("content.assigned", item.id, None, None, editor.id, None)]


@pytest.mark.parametrize("state", ["published", "archived"])
def test_an_item_done_with_is_not_assigned_until_moved_back(client, make_user, make_content_row, state):
    author, author_headers = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state=state)
    own = make_content_row(author, state=state)

    refused = assign(client, item, headers, editor.id, status=409).json
    assert refused["details"] == {"content_id": item.id, "state": state}
    assert refused["error"].startswith(f"The item is {state}: move it back to draft (or a review state)")
    assign(client, own, author_headers, author.id, status=409)
    assert assignment_rows() == [] and history_rows(item.id) == []
    # Nobody to nobody changes nothing, as on any item.
    assert assign(client, item, headers, None).json["meta"]["action"] is None
    # Who may not assign it hears that first.
    _, viewer_headers = make_user("viewer")
    assign(client, own, viewer_headers, author.id, status=404 if state == "archived" else 403)

    move(client, item, headers, "unpublish" if state == "published" else "restore-draft")
    assign(client, item, headers, editor.id)
    assert [r["content"] for r in assignment_rows()] == [item.id]


def test_an_assignment_from_before_the_refusal_can_still_be_removed(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state="published")
    assigned_before_refusals(item, editor)

    assign(client, item, headers, editor.id, status=409)
    assert assign(client, item, headers, None).json["meta"]["action"] == "unassigned"
    assert assignment_rows() == []


# --- listing ------------------------------------------------------------------------------


def test_my_assignments_soonest_due_first_and_those_without_a_due_date_last(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    _, boss_headers = make_user("admin")
    late, soon, undated = (make_content_row(author, state="pending-review") for _ in range(3))
    assign(client, undated, boss_headers, editor.id)
    assign(client, late, boss_headers, editor.id, due_at=now_ms() + 9 * DAY_MS)
    assign(client, soon, boss_headers, editor.id, due_at=now_ms() + DAY_MS)
    assign(client, make_content_row(author), boss_headers, author.id)  # someone else's

    resp = listed(client, headers)

    assert [row["content_id"] for row in resp.json["data"]] == [soon.id, late.id, undated.id]
    first = resp.json["data"][0]["content"]
    assert (first["id"], first["state"], first["status"], first["collection"]["id"]) == (
        soon.id, "pending-review", "draft", soon.collection_id)
    assert resp.json["meta"]["total"] == 3
    page = listed(client, headers, assignee="me", limit="2", page="2").json
    assert [row["content_id"] for row in page["data"]] == [undated.id]
    assert (page["meta"]["page"], page["meta"]["pages"], page["meta"]["hasPrev"]) == (2, 2, True)


def test_overdue_assignments_say_so(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)
    ContentAssignment.create(content=item.id, assignee=editor.id, assigned_by=editor.id, due_at=now_ms() - 1000)

    [row] = listed(client, headers).json["data"]

    assert row["overdue"] is True


def test_a_caller_lists_only_assigned_items_they_can_still_read(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    viewer, viewer_headers = make_user("viewer")
    item = make_content_row(author, state="published")
    trashed = make_content_row(author, state="published")
    assigned_before_refusals(item, viewer)
    assigned_before_refusals(trashed, viewer)
    Content.update(deleted_at=now_ms()).where(Content.id == trashed.id).execute()
    assert [row["content_id"] for row in listed(client, viewer_headers).json["data"]] == [item.id]

    client.post_json(f"/api/content/{item.id}/workflow", {"action": "unpublish"}, headers=headers)

    # The viewer can no longer read the draft; an editor still lists it as theirs.
    assert listed(client, viewer_headers).json["data"] == []
    assert [row["content_id"] for row in listed(client, headers, assignee=viewer.id).json["data"]] == [item.id]
    assert [row["content_id"] for row in listed(client, headers, assignee="all").json["data"]] == [item.id]


def test_only_reviewers_and_publishers_list_other_peoples_assignments(client, make_user):
    author, headers = make_user("author")
    editor, _ = make_user("editor")

    listed(client, headers, assignee=editor.id, status=403)
    listed(client, headers, assignee="all", status=403)
    assert listed(client, headers, assignee=author.id).json["data"] == []
    listed(client, {}, status=401)


# --- the end of an assignment ---------------------------------------------------------------


def move(client, item, headers, action, status=200):
    return client.post_json(f"/api/content/{item.id}/workflow", {"action": action}, headers=headers, status=status)


def open_assignments(client, headers):
    return client.get("/api/workflow/analytics", headers=headers).json["data"]["assignments"]


def test_publishing_an_item_ends_its_assignment_in_the_move(env, make_user, make_content_row):
    client = client_for(env, webhooks_allow_private_targets=True)
    hook = webhooks.create_webhook("http://127.0.0.1:9/hook", ["content.assigned"], True)
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state="approved")
    assign(client, item, headers, editor.id, due_at=now_ms() + DAY_MS)
    ContentAssignment.update(due_at=now_ms() - DAY_MS).execute()  # overdue by now
    assert open_assignments(client, headers) == {"open": 1, "overdue": 1}

    move(client, item, headers, "publish")

    assert assignment_rows() == []
    assert listed(client, headers).json["data"] == []
    assert open_assignments(client, headers) == {"open": 0, "overdue": 0}
    assert client.get(f"/api/content/{item.id}/workflow", headers=headers).json["data"]["assignment"] is None
    *_, moved, ended = history_rows(item.id)
    assert (moved.from_state_id, moved.to_state_id, moved.metadata["action"]) == ("approved", "published", "publish")
    assert (ended.from_state_id, ended.to_state_id, ended.user_id, ended.metadata) == (
        "published", "published", editor.id,
        {"action": "unassigned", "assignee_id": None, "due_at": None, "previous_assignee_id": editor.id,
         "ended_by": "publish"})
    deliveries = WebhookDelivery.select().where(WebhookDelivery.webhook == hook.id).order_by(WebhookDelivery.created_at)
    assert [(d.payload["data"]["assignee_id"], d.payload["data"]["previous_assignee_id"]) for d in deliveries] == [
        (editor.id, None), (None, editor.id)]


def test_archiving_ends_an_assignment_and_unpublishing_keeps_it(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state="published")
    assigned_before_refusals(item, editor)

    move(client, item, headers, "unpublish")
    assert [r["content"] for r in assignment_rows()] == [item.id]
    move(client, item, headers, "publish")
    assert assignment_rows() == []
    assigned_before_refusals(item, editor)
    move(client, item, headers, "archive")

    assert assignment_rows() == []
    assert [h.metadata.get("ended_by") for h in history_rows(item.id) if h.metadata["action"] == "unassigned"] == [
        "publish", "archive"]


def test_moves_through_review_keep_the_assignment(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)
    assign(client, item, headers, editor.id)

    move(client, item, author_headers, "submit")
    client.post_json(f"/api/content/{item.id}/workflow", {"action": "reject", "comment": "figures"}, headers=headers)
    move(client, item, author_headers, "restore-draft")
    move(client, item, author_headers, "submit")
    move(client, item, headers, "approve")

    assert [(r["content"], r["assignee"]) for r in assignment_rows()] == [(item.id, editor.id)]
    assert [row["content_id"] for row in listed(client, headers).json["data"]] == [item.id]


def test_a_status_in_an_edit_and_a_bulk_publish_end_assignments(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    edited, first, second, kept = (make_content_row(author) for _ in range(4))
    for item in (edited, first, second, kept):
        assign(client, item, headers, editor.id)

    client.put_json(f"/api/content/{edited.id}", {"status": "published"}, headers=headers)
    client.post_json("/api/content/bulk-action", {"action": "publish", "ids": [first.id, second.id]}, headers=headers)

    assert [r["content"] for r in assignment_rows()] == [kept.id]
    for item in (edited, first, second):
        assert history_rows(item.id)[-1].metadata["ended_by"] == "publish"


def test_the_trash_ends_an_assignment_and_a_restore_does_not_bring_it_back(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item, bulk_item = make_content_row(author, state="pending-review"), make_content_row(author)
    assign(client, item, headers, editor.id)
    assign(client, bulk_item, headers, editor.id)

    client.delete(f"/api/content/{item.id}", headers=headers)
    client.post_json("/api/content/bulk-action", {"action": "delete", "ids": [bulk_item.id]}, headers=headers)

    assert assignment_rows() == []
    ended = history_rows(item.id)[-1]
    assert (ended.to_state_id, ended.metadata["action"], ended.metadata["ended_by"]) == (
        "pending-review", "unassigned", "deleted")
    assert history_rows(bulk_item.id)[-1].metadata["ended_by"] == "deleted"
    client.post(f"/api/content/{item.id}/restore", headers=headers)
    assert assignment_rows() == []
    assert client.get(f"/api/content/{item.id}/workflow", headers=headers).json["data"]["assignment"] is None


def test_a_scheduled_publication_ends_the_assignment(client, env, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state="approved")
    assign(client, item, headers, editor.id)
    insert_schedule(item, editor, scheduled_at=now_ms() - 1000)

    report = run_scheduled(ScheduledEvent("*/1 * * * *", now_ms()), env)["run_scheduled_content"]

    assert report["completed"] == 1
    assert assignment_rows() == []
    ended = history_rows(item.id)[-1]
    assert (ended.to_state_id, ended.user_id, ended.metadata["action"], ended.metadata["ended_by"]) == (
        "published", editor.id, "unassigned", "publish")


def test_a_publication_reaches_webhooks_before_the_end_of_its_assignment(env, receiver, make_user, make_content_row):
    client = client_for(env, webhooks_allow_private_targets=True)
    webhooks.create_webhook(receiver.url, ["content.published", "content.assigned"], True)
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state="approved")
    assign(client, item, headers, editor.id)

    move(client, item, headers, "publish")

    assert received(receiver) == [
        ("content.assigned", item.id, editor.id, None, None),
        ("content.published", item.id, None, None, None),
        ("content.assigned", item.id, None, editor.id, "publish"),
    ]


def test_the_trash_and_a_purge_end_an_assignment_after_their_own_events(env, receiver, make_user, make_content_row):
    client = client_for(env, webhooks_allow_private_targets=True)
    webhooks.create_webhook(receiver.url, ["content.deleted", "content.unpublished", "content.assigned"], True)
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    _, admin_headers = make_user("admin")
    trashed, purged, unassigned = (make_content_row(author) for _ in range(3))
    assign(client, trashed, headers, editor.id)
    assign(client, purged, headers, author.id)
    receiver.received.clear()

    client.delete(f"/api/content/{trashed.id}", headers=headers)
    client.delete(f"/api/content/{purged.id}/purge", headers=admin_headers)
    client.delete(f"/api/content/{unassigned.id}/purge", headers=admin_headers)

    assert received(receiver) == [
        ("content.deleted", trashed.id, None, None, None),
        ("content.assigned", trashed.id, None, editor.id, "deleted"),
        ("content.deleted", purged.id, None, None, None),
        ("content.assigned", purged.id, None, author.id, "purged"),
        ("content.deleted", unassigned.id, None, None, None),
    ]
    # A published item purged with an assignment from before such were refused: the
    # unpublication, then the end.
    published = make_content_row(author, state="published")
    assigned_before_refusals(published, editor)
    receiver.received.clear()
    client.delete(f"/api/content/{published.id}/purge", headers=admin_headers)
    assert received(receiver) == [
        ("content.deleted", published.id, None, None, None),
        ("content.unpublished", published.id, None, None, None),
        ("content.assigned", published.id, None, editor.id, "purged"),
    ]
    assert assignment_rows() == []
