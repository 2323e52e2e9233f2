"""The review rule: a change by someone who cannot publish never changes what the public sees.

Request-level, on SQLite and PostgreSQL: an author's edit of a published item takes it
back to review (the public gets 404, not the new text), an edit of an approved item
needs a new review, and a delete + restore by an author does not bring an item online.
"""

import pytest

from app.services.content.history import record_version
from tests.fixtures.workflow import content_row, history_rows, workflow_logs

# Each test runs on SQLite and on PostgreSQL (tests/fixtures/backends.py).
pytestmark = pytest.mark.backends




def put(client, item, headers, status=200, **body):
    return client.put_json(f"/api/content/{item.id}", body, headers=headers, status=status)


def public_get(client, item, status):
    return client.get(f"/api/content/{item.id}", status=status)


def move(client, item, headers, action, **body):
    return client.post_json(f"/api/content/{item.id}/workflow", {"action": action, **body}, headers=headers)


def test_author_edit_of_published_item_goes_back_to_review_and_leaves_the_public_site(
        client, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author, state="published", published_at=1_700_000_000_000)
    assert public_get(client, item, 200).json["data"]["title"] == item.title

    edited = put(client, item, headers, title="Unreviewed text").json["data"]

    assert edited["status"] == "draft" and edited["title"] == "Unreviewed text"
    public_get(client, item, 404)  # never the unreviewed text
    assert "Unreviewed" not in client.get("/api/content").text
    row = content_row(item.id)
    assert (row["workflow_state"], row["status"], row["review_status"]) == ("pending-review", "draft", "pending")
    assert row["published_at"] == 1_700_000_000_000  # kept for the re-publication
    moves = [(h.from_state_id, h.to_state_id, h.metadata["action"]) for h in history_rows(item.id)]
    assert moves == [("published", "pending-review", "edited-for-review"),
                     ("pending-review", "pending-review", "updated")]
    [log] = workflow_logs(item.id)
    assert log.data["action"] == "edited-for-review" and log.user_id == author.id


def test_reviewed_edit_goes_live_only_once_published_again(client, make_user, make_content_row):
    author, headers = make_user("author")
    _, editor_headers = make_user("editor")
    item = make_content_row(author, state="published")
    put(client, item, headers, title="Second text")

    move(client, item, editor_headers, "approve")
    public_get(client, item, 404)
    move(client, item, editor_headers, "publish")

    assert public_get(client, item, 200).json["data"]["title"] == "Second text"


def test_author_edit_of_approved_item_needs_a_new_review(client, make_user, make_content_row):
    author, headers = make_user("author")
    editor, editor_headers = make_user("editor")
    item = make_content_row(author, state="pending-review")
    move(client, item, editor_headers, "approve", comment="fine as it was")

    put(client, item, headers, title="Changed after approval")

    row = content_row(item.id)
    assert (row["workflow_state"], row["review_status"], row["reviewer"]) == ("pending-review", "pending", None)
    client.post_json(f"/api/content/{item.id}/workflow", {"action": "publish"}, headers=editor_headers, status=409)


def test_author_restoring_an_old_version_of_a_published_item_needs_review(client, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author, state="published", version_number=1, data={})
    record_version(item, author.id)

    client.post_json(f"/api/content/{item.id}/versions/1/restore", {}, headers=headers)

    assert content_row(item.id)["workflow_state"] == "pending-review"
    public_get(client, item, 404)


def test_editor_edits_of_published_items_stay_live(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, editor_headers = make_user("editor")
    item = make_content_row(author, state="published")

    put(client, item, editor_headers, title="Corrected by an editor")

    assert public_get(client, item, 200).json["data"]["title"] == "Corrected by an editor"
    assert content_row(item.id)["workflow_state"] == "published"


def test_author_edit_of_a_draft_stays_a_draft(client, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author, state="rejected")

    put(client, item, headers, title="Reworked")

    assert content_row(item.id)["workflow_state"] == "rejected"
    assert [h.metadata["action"] for h in history_rows(item.id)] == ["updated"]


def test_author_delete_then_restore_does_not_bring_an_item_back_online(client, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author, state="published")
    client.delete(f"/api/content/{item.id}", headers=headers)
    public_get(client, item, 404)

    restored = client.post(f"/api/content/{item.id}/restore", headers=headers).json["data"]

    assert restored["status"] == "draft" and restored["deleted_at"] is None
    public_get(client, item, 404)
    assert "Item" not in client.get("/api/content").text
    assert content_row(item.id)["workflow_state"] == "draft"
    assert [h.metadata["action"] for h in history_rows(item.id)] == ["deleted", "restored", "restored-as-draft"]


def test_editor_restore_brings_a_published_item_back_online(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, editor_headers = make_user("editor")
    item = make_content_row(author, state="published")
    client.delete(f"/api/content/{item.id}", headers=editor_headers)

    client.post(f"/api/content/{item.id}/restore", headers=editor_headers)

    assert public_get(client, item, 200).json["data"]["status"] == "published"
