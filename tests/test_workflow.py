"""Workflow API (A6): moves allowed by workflow_transitions AND the caller's permissions.

Every move is checked at the request level: status, envelope, the content row, the
workflow_history row and the system_logs row it writes (or does not write).
"""

import pytest

from app.db.models import ContentVersion, Workflow, WorkflowTransition, now_ms
from tests.fixtures.workflow import content_row, history_rows, workflow_logs

pytestmark = [pytest.mark.usefixtures("env"), pytest.mark.backends]


def move(client, content, headers, action, status=200, **body):
    url = f"/api/content/{content.id}/workflow"
    return client.post_json(url, {"action": action, **body}, headers=headers, status=status)


def assert_envelope(resp, status_code):
    assert resp.status_code == status_code
    assert set(resp.json) <= {"error", "details"} and isinstance(resp.json["error"], str)


# --- allowed moves -------------------------------------------------------------------------


def test_author_submits_own_draft_for_review(client, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author)

    resp = move(client, item, headers, "submit", comment="ready")

    assert resp.json["data"]["state"]["id"] == "pending-review"
    assert resp.json["data"]["review"]["status"] == "pending"
    assert resp.json["meta"] == {"action": "submit", "from_state": "draft", "to_state": "pending-review",
                                 "history_id": resp.json["meta"]["history_id"]}
    row = content_row(item.id)
    assert (row["workflow_state"], row["status"], row["review_status"]) == ("pending-review", "draft", "pending")
    [history] = history_rows(item.id)
    assert (history.from_state_id, history.to_state_id, history.user_id, history.comment) == (
        "draft", "pending-review", author.id, "ready")
    assert history.workflow_id == "default-workflow"
    [log] = workflow_logs(item.id)
    assert log.user_id == author.id and log.data["action"] == "submit" and log.data["history_id"] == history.id


def test_editor_approves_then_publishes_and_published_at_is_set(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state="pending-review")

    approved = move(client, item, headers, "approve", comment="looks good")
    row = content_row(item.id)
    assert approved.json["data"]["state"]["id"] == "approved"
    assert (row["review_status"], row["reviewer"], row["review_notes"]) == ("approved", editor.id, "looks good")
    assert row["reviewed_at"] is not None and row["published_at"] is None

    before = now_ms()
    published = move(client, item, headers, "publish")
    after = now_ms()

    row = content_row(item.id)
    assert published.json["data"]["status"] == "published"
    assert (row["status"], row["workflow_state"]) == ("published", "published")
    assert before <= row["published_at"] <= after
    assert published.json["data"]["published_at"] == row["published_at"]
    assert [h.to_state_id for h in history_rows(item.id)] == ["approved", "published"]
    assert [log.data["action"] for log in workflow_logs(item.id)] == ["approve", "publish"]


def test_editor_publishes_a_draft_directly(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author)

    move(client, item, headers, "publish")

    assert content_row(item.id)["status"] == "published"


def test_reject_records_reviewer_and_notes_then_author_restores_draft(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, state="pending-review")

    resp = move(client, item, headers, "reject", comment="Needs sources")

    assert resp.json["data"]["review"] == {
        "status": "rejected", "reviewer_id": editor.id, "reviewed_at": content_row(item.id)["reviewed_at"],
        "notes": "Needs sources",
    }
    assert history_rows(item.id)[-1].comment == "Needs sources"
    # The author takes it back to draft; the notes stay visible until the next submission.
    move(client, item, author_headers, "restore-draft")
    assert content_row(item.id)["review_notes"] == "Needs sources"
    move(client, item, author_headers, "submit")
    row = content_row(item.id)
    assert (row["review_status"], row["review_notes"], row["reviewer"]) == ("pending", None, None)


def test_reject_without_comment_is_422(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author, state="pending-review")

    resp = move(client, item, headers, "reject", status=422)

    assert_envelope(resp, 422)
    assert resp.json["details"] == [{"field": "comment", "message": "A rejection needs a comment explaining it"}]
    assert content_row(item.id)["workflow_state"] == "pending-review" and history_rows(item.id) == []


def test_unpublish_archive_and_restore(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    first_published = now_ms() - 86_400_000
    item = make_content_row(author, state="published", published_at=first_published)

    move(client, item, headers, "unpublish")
    assert (content_row(item.id)["status"], content_row(item.id)["workflow_state"]) == ("draft", "draft")
    move(client, item, headers, "publish")
    # Publishing again keeps the first publication date (as content writes do).
    assert content_row(item.id)["published_at"] == first_published
    move(client, item, headers, "archive")
    assert (content_row(item.id)["status"], content_row(item.id)["workflow_state"]) == ("archived", "archived")
    move(client, item, headers, "restore-draft")
    assert content_row(item.id)["workflow_state"] == "draft"
    assert [h.metadata["action"] for h in history_rows(item.id)] == ["unpublish", "publish", "archive", "restore-draft"]


def test_a_move_is_a_new_version_so_stale_saves_are_refused(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author, version_number=3)

    resp = move(client, item, headers, "publish")

    assert resp.json["data"]["version_number"] == 4
    assert content_row(item.id)["version_number"] == 4
    [version] = ContentVersion.select().where(ContentVersion.content == item.id)
    assert (version.version, version.author_id, version.data["status"], version.data["workflow_state_id"]) == (
        4, editor.id, "published", "published")
    # The author read version 3 before the move: saving it now is a conflict, not an overwrite.
    stale = client.put_json(f"/api/content/{item.id}", {"title": "Edited", "version_number": 3},
                            headers=author_headers, status=409)
    assert stale.json["details"] == {"current_version": 4, "your_version": 3}



def test_a_move_of_an_item_without_a_version_number_numbers_it_past_its_versions(client, make_user, make_content_row):
    # version_number emptied by hand: the move counts it as version 1, so it is numbered 2,
    # or past the highest version the item stored before the column was emptied.
    author, _ = make_user("author")
    _, headers = make_user("editor")
    fresh = make_content_row(author, version_number=None)
    assert move(client, fresh, headers, "publish").json["data"]["version_number"] == 2
    item = make_content_row(author, version_number=None)
    for number in (1, 2, 3):
        ContentVersion.create(content=item.id, version=number, data={"title": item.title}, author=author.id)

    resp = move(client, item, headers, "publish")

    assert resp.json["data"]["version_number"] == content_row(item.id)["version_number"] == 4
    numbers = [v.version for v in ContentVersion.select().where(ContentVersion.content == item.id)]
    assert sorted(numbers) == [1, 2, 3, 4]

# --- refused moves --------------------------------------------------------------------------


def test_author_cannot_submit_someone_elses_content(client, make_user, make_content_row):
    owner, _ = make_user("author")
    _, headers = make_user("author")
    item = make_content_row(owner)

    resp = move(client, item, headers, "submit", status=404)  # a draft they cannot read is missing to them

    assert resp.json == {"error": "Content not found"}
    for action in ("unpublish", "publish"):  # nor its state or the moves it allows
        assert move(client, item, headers, action, status=404).json == {"error": "Content not found"}
    assert content_row(item.id)["workflow_state"] == "draft"
    assert history_rows(item.id) == [] and workflow_logs(item.id) == []


def test_author_cannot_publish_approve_or_archive(client, make_user, make_content_row):
    author, headers = make_user("author")
    draft = make_content_row(author)
    pending = make_content_row(author, state="pending-review")
    published = make_content_row(author, state="published")

    for item, action, permission in ((draft, "publish", "content.publish"), (pending, "approve", "content.review"),
                                     (published, "archive", "content.publish")):
        resp = move(client, item, headers, action, status=403)
        assert_envelope(resp, 403)
        assert resp.json["error"] == f"This transition requires the {permission} permission"
    assert history_rows(draft.id) == history_rows(pending.id) == history_rows(published.id) == []


def test_viewer_can_do_nothing(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("viewer")
    item = make_content_row(author)

    for action in ("submit", "publish"):
        assert_envelope(move(client, item, headers, action, status=404), 404)
    assert history_rows(item.id) == []
    published = make_content_row(author, state="published")
    for action in ("unpublish", "archive"):
        assert_envelope(move(client, published, headers, action, status=403), 403)
    assert client.get(f"/api/content/{published.id}/workflow", headers=headers).json["data"]["transitions"] == []


def test_drafts_workflow_and_history_are_hidden_from_those_who_cannot_read_them(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    _, other_headers = make_user("author")
    _, viewer_headers = make_user("viewer")
    _, editor_headers = make_user("editor")
    item = make_content_row(author)
    move(client, item, author_headers, "submit")
    move(client, item, editor_headers, "reject", comment="Secret reviewer notes")

    for headers in (viewer_headers, other_headers):
        for path in ("workflow", "history"):
            resp = client.get(f"/api/content/{item.id}/{path}", headers=headers, status=404)
            assert resp.json == {"error": "Content not found"}
            assert "Secret" not in resp.text
        client.get(f"/api/content/{item.id}", headers=headers, status=404)  # the same rule as the item itself
    for headers in (author_headers, editor_headers):
        assert client.get(f"/api/content/{item.id}/workflow", headers=headers).json["data"]["review"]["notes"] == (
            "Secret reviewer notes")
        assert len(client.get(f"/api/content/{item.id}/history", headers=headers).json["data"]) == 2
    # Once published, the item's state is public; its review notes and history are not.
    move(client, item, author_headers, "restore-draft")
    move(client, item, editor_headers, "publish")
    assert client.get(f"/api/content/{item.id}/workflow", headers=other_headers).json["data"]["status"] == "published"


def test_review_notes_and_history_of_published_items_are_for_reviewers_and_the_author(
        client, make_user, make_content_row):
    author, author_headers = make_user("author")
    _, other_headers = make_user("author")
    _, viewer_headers = make_user("viewer")
    _, editor_headers = make_user("editor")
    item = make_content_row(author, state="pending-review")
    move(client, item, editor_headers, "reject", comment="Secret reviewer notes")
    move(client, item, author_headers, "restore-draft")
    move(client, item, editor_headers, "publish")
    client.get(f"/api/content/{item.id}", headers=viewer_headers, status=200)

    for headers in (viewer_headers, other_headers):
        view = client.get(f"/api/content/{item.id}/workflow", headers=headers)
        assert view.json["data"]["state"]["id"] == "published" and view.json["data"]["review"] is None
        assert "Secret" not in view.text
        denied = client.get(f"/api/content/{item.id}/history", headers=headers, status=403)
        assert denied.json == {"error": "The workflow history is for reviewers and the item's author"}
    for headers in (author_headers, editor_headers):
        view = client.get(f"/api/content/{item.id}/workflow", headers=headers).json["data"]
        assert view["review"]["notes"] == "Secret reviewer notes"
        steps = client.get(f"/api/content/{item.id}/history", headers=headers).json["data"]
        assert "Secret reviewer notes" in [step["comment"] for step in steps]


def test_anonymous_gets_401(client, make_user, make_content_row):
    author, _ = make_user("author")
    item = make_content_row(author)

    assert_envelope(client.post_json(f"/api/content/{item.id}/workflow", {"action": "submit"}, status=401), 401)
    assert_envelope(client.get(f"/api/content/{item.id}/workflow", status=401), 401)
    assert_envelope(client.get(f"/api/content/{item.id}/history", status=401), 401)


@pytest.mark.parametrize("state, action", [
    ("draft", "approve"), ("draft", "unpublish"), ("draft", "archive"), ("pending-review", "publish"),
    ("published", "restore-draft"), ("published", "submit"), ("archived", "publish"), ("approved", "approve"),
])
def test_moves_not_in_the_workflow_are_409(client, make_user, make_content_row, state, action):
    author, _ = make_user("author")
    _, headers = make_user("admin")
    item = make_content_row(author, state=state)

    resp = move(client, item, headers, action, status=409)

    assert_envelope(resp, 409)
    assert resp.json["error"] == f"Cannot {action} content in state {state}"
    assert resp.json["details"]["from_state"] == state
    assert isinstance(resp.json["details"]["allowed"], list)
    assert content_row(item.id)["workflow_state"] == state and history_rows(item.id) == []


def test_state_is_checked_before_permission(client, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author, state="pending-review")

    # The author lacks content.publish too, but no pending-review -> published edge exists.
    assert_envelope(move(client, item, headers, "publish", status=409), 409)


@pytest.mark.parametrize("body, field", [
    ({"action": "fly"}, "action"),
    ({"action": "submit", "role": "admin"}, None),
    ({"action": "submit", "comment": 5}, "comment"),
    ({"action": "submit", "comment": "x" * 2001}, "comment"),
    ({"action": "submit", "comment": "nul\x00byte"}, "comment"),
    ({}, None),
])
def test_invalid_bodies_are_422(client, make_user, make_content_row, body, field):
    author, headers = make_user("author")
    item = make_content_row(author)

    resp = client.post_json(f"/api/content/{item.id}/workflow", body, headers=headers, status=422)

    assert_envelope(resp, 422)
    if field:
        assert resp.json["details"][0]["field"] == field
    assert history_rows(item.id) == []


def test_unknown_content_is_404(client, make_user):
    _, headers = make_user("editor")

    for resp in (
        client.get("/api/content/nope/workflow", headers=headers, status=404),
        client.get("/api/content/nope/history", headers=headers, status=404),
        client.post_json("/api/content/nope/workflow", {"action": "publish"}, headers=headers, status=404),
        client.post_json("/api/workflow/content/nope/transition", {"to_state": "published"}, headers=headers,
                         status=404),
    ):
        assert resp.json == {"error": "Content not found"}


def test_soft_deleted_content_is_404(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author, deleted_at=now_ms())

    assert move(client, item, headers, "publish", status=404).json == {"error": "Content not found"}


# --- the SonicJS-designed path: /api/workflow/content/{id}/transition ------------------------


def test_transition_by_target_state(client, make_user, make_content_row):
    author, headers = make_user("author")
    _, editor_headers = make_user("editor")
    item = make_content_row(author)
    url = f"/api/workflow/content/{item.id}/transition"

    resp = client.post_json(url, {"to_state": "pending-review", "comment": "please"}, headers=headers)
    assert resp.json["meta"]["action"] == "submit"
    assert_envelope(client.post_json(url, {"to_state": "approved"}, headers=headers, status=403), 403)
    assert_envelope(client.post_json(url, {"to_state": "archived"}, headers=editor_headers, status=409), 409)
    client.post_json(url, {"to_state": "approved"}, headers=editor_headers)
    client.post_json(url, {"to_state": "published"}, headers=editor_headers)
    client.post_json(url, {"to_state": "draft"}, headers=editor_headers)

    assert [h.metadata["action"] for h in history_rows(item.id)] == ["submit", "approve", "publish", "unpublish"]
    assert history_rows(item.id)[0].comment == "please"


def test_transition_to_unknown_state_is_422(client, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author)

    resp = client.post_json(f"/api/workflow/content/{item.id}/transition", {"to_state": "limbo"}, headers=headers,
                            status=422)

    assert resp.json["details"] == [{"field": "to_state", "message": "Unknown workflow state 'limbo'"}]


# --- state view, collection workflows, history -----------------------------------------------


def test_workflow_view_lists_moves_allowed_for_the_caller(client, make_user, make_content_row):
    author, headers = make_user("author")
    _, editor_headers = make_user("editor")
    _, other_headers = make_user("author")
    item = make_content_row(author)
    url = f"/api/content/{item.id}/workflow"

    def actions(h):
        return [t["action"] for t in client.get(url, headers=h).json["data"]["transitions"]]

    assert actions(headers) == ["submit"]
    assert actions(editor_headers) == ["submit", "publish"]
    client.get(url, headers=other_headers, status=404)  # another author's draft is not theirs to see
    view = client.get(url, headers=headers).json["data"]
    assert view["state"] == {"id": "draft", "name": "Draft", "color": "#F59E0B", "is_final": False}
    assert view["workflow"] == {"id": "default-workflow", "name": "Default Workflow"}


def test_a_collection_workflow_replaces_the_default(client, env, make_user, make_content_row, workflow_collection):
    # This collection lets authors publish their drafts with content.update alone.
    own = Workflow.create(id="wf-self-publish", name="Self publish", collection=workflow_collection.id)
    WorkflowTransition.create(workflow=own.id, from_state="draft", to_state="published",
                              required_permission="content.update")
    author, headers = make_user("author")
    item = make_content_row(author)

    assert_envelope(move(client, item, headers, "submit", status=409), 409)
    move(client, item, headers, "publish")

    assert content_row(item.id)["status"] == "published"
    assert history_rows(item.id)[0].workflow_id == "wf-self-publish"


def test_history_lists_every_step_newest_first_with_users(client, make_user, make_content_row):
    author, author_headers = make_user("author", first_name="Ada", last_name="Lovelace")
    editor, editor_headers = make_user("editor")
    _, viewer_headers = make_user("viewer")
    item = make_content_row(author)

    move(client, item, author_headers, "submit")
    move(client, item, editor_headers, "reject", comment="too short")
    move(client, item, author_headers, "restore-draft")
    move(client, item, author_headers, "submit")
    move(client, item, editor_headers, "approve")
    move(client, item, editor_headers, "publish")

    resp = client.get(f"/api/content/{item.id}/history", headers=editor_headers)
    steps = resp.json["data"]
    assert [s["action"] for s in steps] == ["publish", "approve", "submit", "restore-draft", "reject", "submit"]
    assert resp.json["meta"] == {"content_id": item.id, "count": 6, "total": 6, "page": 1, "limit": 6, "pages": 1, "hasNext": False, "hasPrev": False}
    assert steps[-1]["user"] == {"id": author.id, "username": author.username, "name": "Ada Lovelace",
                                 "email": author.email}
    assert steps[0]["user"]["id"] == editor.id
    assert steps[4]["comment"] == "too short"
    assert [s["created_at"] for s in steps] == sorted((s["created_at"] for s in steps), reverse=True)
    assert len({s["created_at"] for s in steps}) == 6
    # Readers without users.read (the author) see who acted, not their email.
    assert "email" not in client.get(f"/api/content/{item.id}/history", headers=author_headers).json["data"][0]["user"]


def test_a_failed_log_write_rolls_back_the_whole_move(client, env, stack, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author)
    # A real fault in the last write of the transaction: content + history must roll back with it.
    stack.refuse_inserts(env, "system_logs", "log store refused", when="NEW.category = 'workflow'")

    # The database's error maps to an error envelope (its exact status is errors.py's choice).
    resp = move(client, item, headers, "publish", status="*")

    assert_envelope(resp, resp.status_code)
    assert resp.status_code >= 400 and "log store" not in resp.text
    row = content_row(item.id)
    assert (row["status"], row["workflow_state"], row["published_at"]) == ("draft", "draft", None)
    assert history_rows(item.id) == []


def test_a_move_makes_cached_content_stale(client, env, make_user, make_content_row):
    author, headers = make_user("author")
    item = make_content_row(author)
    before = env.CACHE_KV.get("gen:content", type="text")

    move(client, item, headers, "submit")

    # A new generation in KV: every worker's cached content entries miss from now on.
    after = env.CACHE_KV.get("gen:content", type="text")
    assert after and after != before


def test_without_an_active_workflow_items_are_readable_but_not_movable(client, make_user, make_content_row):
    author, headers = make_user("author")
    _, admin_headers = make_user("admin")
    item = make_content_row(author)
    Workflow.update(is_active=False).where(Workflow.id == "default-workflow").execute()

    view = client.get(f"/api/content/{item.id}/workflow", headers=headers).json["data"]
    assert (view["workflow"], view["transitions"]) == (None, [])
    resp = move(client, item, admin_headers, "publish", status=409)
    assert resp.json == {"error": "No active workflow applies to this content"}
