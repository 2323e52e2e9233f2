"""POST /api/content/{id}/duplicate and POST /api/content/bulk-action: a copy is a create,
and a bulk action is all or nothing (every item checked before one is written)."""

import pytest

from app.db.models import Collection, Content, ScheduledContent, Workflow, WorkflowHistory, WorkflowTransition, now_ms
from app.services.content.slugs import MAX_SLUG_LENGTH
from tests.fixtures.app import client_for, record_statements
from tests.fixtures.content import create_collection
from tests.fixtures.workflow import insert_content, insert_schedule, workflow_logs
from tests.plugins import sample_plugin

pytestmark = pytest.mark.backends

BULK = "/api/content/bulk-action"
SONICJS_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "slug": {"type": "slug"}, "body": {"type": "string"}},
}


def duplicate(client, item_id, headers=None, status=201):
    return client.post(f"/api/content/{item_id}/duplicate", headers=headers or {}, status=status)


def bulk(client, headers, action, ids, status=200):
    return client.post_json(BULK, {"action": action, "ids": ids}, headers=headers, status=status)


def states(*items):
    """``[(status, workflow_state, deleted)]`` of the items as stored now."""
    rows = {row.id: row for row in Content.select().where(Content.id.in_([item.id for item in items]))}
    return [(rows[item.id].status, rows[item.id].workflow_state_id, rows[item.id].deleted_at is not None)
            for item in items]


def history_count(*items):
    return WorkflowHistory.select().where(WorkflowHistory.content.in_([item.id for item in items])).count()


# ---------------------------------------------------------------- duplicate


def test_a_duplicate_is_a_new_draft_made_as_a_create(client, blog_collection, as_editor, as_author):
    editor, headers = as_editor
    source = client.post_json("/api/content", {
        "collectionId": "blog", "title": "Hello", "status": "published", "data": {"views": 7},
        "metaTitle": "SEO", "metaDescription": "Described"}, headers=headers).json["data"]
    insert_schedule(Content.get_by_id(source["id"]), editor, action="archive", scheduled_at=now_ms() + 3_600_000)
    _, author = as_author
    response = duplicate(client, source["id"], author)
    copy = response.json["data"]
    assert response.headers["Location"].endswith(f"/api/content/{copy['id']}")
    assert response.headers["ETag"].startswith('W/"1-')
    assert copy["id"] != source["id"]
    assert (copy["title"], copy["slug"], copy["status"], copy["version_number"]) == (
        "Hello (copy)", "hello-copy", "draft", 1)
    assert copy["data"] == {**source["data"], "title": "Hello (copy)"}  # blog keeps its title in data too
    assert (copy["meta_title"], copy["meta_description"]) == ("SEO", "Described")
    row = Content.get_by_id(copy["id"])
    assert row.author_id != editor.id and row.workflow_state_id == "draft"
    # The create's entry, as POST /api/content writes it.
    assert [h.metadata.get("action") for h in WorkflowHistory.select().where(WorkflowHistory.content == row.id)] \
        == ["created"]
    assert ScheduledContent.select().where(ScheduledContent.content == row.id).count() == 0
    assert row.scheduled_unpublish_at is None and row.scheduled_publish_at is None
    assert Content.get_by_id(source["id"]).status == "published"  # the source is untouched


def test_a_copys_slug_takes_the_first_free_copy_suffix(client, blog_collection, as_editor):
    _, headers = as_editor
    source = client.post_json("/api/content", {"collectionId": "blog", "title": "Post", "slug": "post"},
                              headers=headers).json["data"]
    slugs = [duplicate(client, source["id"], headers).json["data"]["slug"] for _ in range(2)]
    assert slugs == ["post-copy", "post-copy-2"]
    trashed = Content.get(Content.slug == "post-copy-2")
    client.delete(f"/api/content/{trashed.id}", headers=headers)  # a trashed item keeps its slug
    client.post_json("/api/content", {"collectionId": "blog", "title": "Taken", "slug": "post-copy-3"},
                     headers=headers)
    assert duplicate(client, source["id"], headers).json["data"]["slug"] == "post-copy-4"
    # A copy of a copy is named after its own slug.
    first = Content.get(Content.slug == "post-copy")
    assert duplicate(client, first.id, headers).json["data"]["slug"] == "post-copy-copy"


def test_a_copys_slug_is_looked_up_among_the_copies_only(env, client, blog_collection, as_editor, monkeypatch):
    _, headers = as_editor
    source = client.post_json("/api/content", {"collectionId": "blog", "title": "Post", "slug": "post"},
                              headers=headers).json["data"]
    for slug in ("postal", "posts", "post-office"):  # share the slug's start, are no copies of it
        client.post_json("/api/content", {"collectionId": "blog", "title": slug, "slug": slug}, headers=headers)
    statements = record_statements(env.DB.db, monkeypatch)
    assert duplicate(client, source["id"], headers).json["data"]["slug"] == "post-copy"
    [looked_up] = [params[1:] for sql, params in statements if '"slug" IN (' in sql]
    assert looked_up == ("post-copy", *(f"post-copy-{n}" for n in range(2, 17)))


def test_copies_and_numbered_slugs_past_many_taken_take_the_first_free_one(client, blog_collection, as_editor):
    editor, headers = as_editor
    taken = ["post-copy", *(f"post-copy-{n}" for n in range(2, 60)), "post-2",
             *(f"post-{n}" for n in range(3, 40))]
    for slug in [*taken, "post", "POST-COPY-60", "post-copy-60x", "post-40-2"]:  # other slugs count not
        insert_content(editor, blog_collection, slug=slug)
    Content.delete().where(Content.slug == "post-copy-33").execute()

    copy = duplicate(client, Content.get(Content.slug == "post").id, headers).json["data"]
    assert copy["slug"] == "post-copy-33"
    assert duplicate(client, Content.get(Content.slug == "post").id, headers).json["data"]["slug"] == "post-copy-60"
    created = client.post_json("/api/content", {"collectionId": "blog", "title": "Post"}, headers=headers).json
    assert created["data"]["slug"] == "post-40"


def test_a_copy_of_a_longest_slug_and_title_stays_within_the_limits(client, pages_collection, as_editor):
    _, headers = as_editor
    source = client.post_json("/api/content", {"collectionId": "pages", "title": "T" * 500,
                                               "slug": "a" * MAX_SLUG_LENGTH}, headers=headers).json["data"]
    first = duplicate(client, source["id"], headers).json["data"]
    second = duplicate(client, source["id"], headers).json["data"]
    assert first["slug"] == "a" * (MAX_SLUG_LENGTH - 5) + "-copy"
    assert second["slug"] == "a" * (MAX_SLUG_LENGTH - 7) + "-copy-2"
    assert first["title"] == "T" * 493 + " (copy)" and len(first["title"]) == 500


def test_a_copy_in_a_sonicjs_schema_says_its_own_title_and_slug_in_its_data(client, as_editor):
    create_collection("notes", SONICJS_SCHEMA)
    _, headers = as_editor
    source = client.post_json("/api/content", {"collectionId": "notes", "title": "Note", "data": {"body": "x"}},
                              headers=headers).json["data"]
    assert source["data"] == {"title": "Note", "slug": "note", "body": "x"}
    copy = duplicate(client, source["id"], headers).json["data"]
    assert copy["data"] == {"title": "Note (copy)", "slug": "note-copy", "body": "x"}
    assert copy["slug"] == "note-copy"


def test_a_copy_leaves_out_the_values_of_fields_the_schema_dropped_since(client, as_editor):
    notes = create_collection("notes", {"type": "object", "properties": {
        "body": {"type": "string"}, "old": {"type": "string"}}})
    _, headers = as_editor
    source = client.post_json("/api/content", {"collectionId": "notes", "title": "Kept",
                                               "data": {"body": "x", "old": "gone since"}},
                              headers=headers).json["data"]
    Collection.update(schema={"type": "object", "properties": {"body": {"type": "string"}}}).where(
        Collection.id == notes.id).execute()
    copy = duplicate(client, source["id"], headers).json["data"]
    assert copy["data"] == {"body": "x"}
    assert Content.get_by_id(source["id"]).data == {"body": "x", "old": "gone since"}  # the source keeps it


def test_duplicate_refuses_missing_trashed_hidden_and_forbidden_items(client, blog_collection, make_user):
    editor, editor_headers = make_user("editor")
    author, author_headers = make_user("author")
    other, _ = make_user("author")
    _, viewer_headers = make_user("viewer")
    draft_of_other = insert_content(other, blog_collection, title="Theirs")
    published = insert_content(other, blog_collection, state="published", title="Public", published_at=now_ms())
    trashed = insert_content(editor, blog_collection, title="Binned", deleted_at=now_ms())
    before = Content.select().count()
    for item_id, headers, status in (
        ("no-such-item", editor_headers, 404),
        (trashed.id, editor_headers, 404),  # even for those who may see the trash
        (draft_of_other.id, author_headers, 404),  # an author cannot read another's draft
        (published.id, viewer_headers, 403),  # readable, but viewers may not create
        (published.id, {}, 401),
    ):
        response = duplicate(client, item_id, headers, status=status)
        assert set(response.json) <= {"error", "details"}
    assert Content.select().count() == before
    copy = duplicate(client, published.id, author_headers).json["data"]  # readable: an author may copy it
    assert copy["author"]["id"] == author.id and copy["status"] == "draft"


def with_sample_plugin(env, make_user):
    client = client_for(env, plugins=("tests.plugins.sample_plugin",))
    client.post("/admin/api/plugins/sample/activate", headers=make_user("admin")[1], status=200)
    return client


def test_a_duplicate_runs_the_create_hooks(env, blog_collection, as_editor, make_user):
    client = with_sample_plugin(env, make_user)
    _, headers = as_editor
    source = client.post_json("/api/content", {"collectionId": "blog", "title": "Hooked"},
                              headers=headers).json["data"]
    sample_plugin.CALLS.clear()
    copy = duplicate(client, source["id"], headers).json["data"]
    assert [call[:2] for call in sample_plugin.CALLS] == [("after_content_create", copy["id"])]


# ---------------------------------------------------------------- bulk actions


def test_bulk_publish_draft_and_archive_move_every_item(client, blog_collection, as_editor):
    editor, headers = as_editor
    items = [insert_content(editor, blog_collection) for _ in range(3)]
    ids = [item.id for item in items]
    assert client.get("/api/content", {"collection": "blog"}).json["data"] == []  # cached: nothing public yet
    assert bulk(client, headers, "publish", ids).json == {
        "success": True, "action": "publish", "count": 3, "ids": ids, "unchanged": []}
    assert states(*items) == [("published", "published", False)] * 3
    assert sorted(i["id"] for i in client.get("/api/content", {"collection": "blog"}).json["data"]) == sorted(ids)
    assert {row.data["action"] for row in workflow_logs() if row.data["content_id"] in ids} == {"publish"}
    assert [Content.get_by_id(i).version_number for i in ids] == [item.version_number + 1 for item in items]
    extra = insert_content(editor, blog_collection)
    again = bulk(client, headers, "publish", [*ids[:2], extra.id]).json
    assert (again["count"], again["ids"], again["unchanged"]) == (1, [extra.id], ids[:2])
    assert bulk(client, headers, "archive", ids).json["count"] == 3
    assert states(*items) == [("archived", "archived", False)] * 3
    assert bulk(client, headers, "draft", ids).json["count"] == 3
    assert states(*items) == [("draft", "draft", False)] * 3


def test_bulk_delete_moves_items_to_the_trash_and_cancels_their_schedules(client, blog_collection, as_editor):
    editor, headers = as_editor
    items = [insert_content(editor, blog_collection) for _ in range(2)]
    schedule = insert_schedule(items[0], editor, scheduled_at=now_ms() + 3_600_000)
    response = bulk(client, headers, "delete", [item.id for item in items])
    assert response.json["count"] == 2
    assert states(*items) == [("draft", "draft", True)] * 2
    assert ScheduledContent.get_by_id(schedule.id).status == "cancelled"
    refused = bulk(client, headers, "delete", [items[0].id], status=409)  # in the trash now: as DELETE answers
    assert refused.json["details"] == [{"id": items[0].id, "status": 404, "error": "Content not found"}]


def test_an_unknown_id_refuses_the_whole_batch_and_changes_nothing(client, blog_collection, as_editor):
    editor, headers = as_editor
    items = [insert_content(editor, blog_collection) for _ in range(2)]
    history = history_count(*items)
    for action in ("publish", "delete"):
        response = bulk(client, headers, action, [items[0].id, "no-such-item", items[1].id], status=409)
        assert response.json == {
            "error": "Nothing was changed: 1 item refused the action",
            "details": [{"id": "no-such-item", "status": 404, "error": "Content not found"}],
        }
        assert states(*items) == [("draft", "draft", False)] * 2
        assert history_count(*items) == history


def test_each_refused_item_is_named_with_its_single_routes_answer(client, blog_collection, make_user):
    editor, _ = make_user("editor")
    author, author_headers = make_user("author")
    own = insert_content(author, blog_collection, title="Mine")
    others_draft = insert_content(editor, blog_collection, title="Hidden")
    others_published = insert_content(editor, blog_collection, state="published", published_at=now_ms())
    ids = [own.id, others_draft.id, others_published.id]
    response = bulk(client, author_headers, "delete", ids, status=409)
    assert [(d["id"], d["status"]) for d in response.json["details"]] == [
        (others_draft.id, 404), (others_published.id, 403)]  # own items only; hidden ones stay hidden
    assert states(own) == [("draft", "draft", False)]
    moves = bulk(client, author_headers, "publish", [own.id], status=409).json["details"]
    assert moves == [{"id": own.id, "status": 403, "error": "This transition requires the content.publish permission"}]


def test_a_move_the_workflow_lacks_is_a_409_of_that_item(client, blog_collection, as_editor):
    editor, headers = as_editor
    published = insert_content(editor, blog_collection, state="published", published_at=now_ms())
    draft = insert_content(editor, blog_collection)
    response = bulk(client, headers, "archive", [published.id, draft.id], status=409)
    [detail] = response.json["details"]
    assert (detail["id"], detail["status"], detail["details"]["from_state"]) == (draft.id, 409, "draft")
    assert states(published, draft) == [("published", "published", False), ("draft", "draft", False)]


def test_a_collection_whose_workflow_the_caller_may_not_use_refuses_its_items(client, blog_collection, as_editor):
    restricted = create_collection("restricted", {"type": "object"})
    workflow = Workflow.create(id="wf-admins-publish", name="Admins publish", collection=restricted.id)
    WorkflowTransition.create(workflow=workflow.id, from_state="draft", to_state="published",
                              required_permission="content.purge")
    editor, headers = as_editor
    open_item = insert_content(editor, blog_collection)
    closed_items = [insert_content(editor, restricted) for _ in range(2)]
    response = bulk(client, headers, "publish", [open_item.id, *(item.id for item in closed_items)], status=409)
    assert [(d["id"], d["status"]) for d in response.json["details"]] == [(item.id, 403) for item in closed_items]
    assert states(open_item, *closed_items) == [("draft", "draft", False)] * 3


def test_the_callers_permission_for_the_action(client, blog_collection, as_editor, as_viewer):
    editor, _ = as_editor
    item = insert_content(editor, blog_collection, state="published", published_at=now_ms())
    _, viewer = as_viewer
    refused = bulk(client, viewer, "delete", [item.id], status=403)
    assert refused.json == {"error": "Moving content to the trash requires the content.delete permission"}
    moved = bulk(client, viewer, "draft", [item.id], status=409).json["details"]
    assert [(d["id"], d["status"]) for d in moved] == [(item.id, 403)]
    client.post_json(BULK, {"action": "publish", "ids": [item.id]}, status=401)
    assert states(item) == [("published", "published", False)]


def test_an_item_already_there_is_unchanged_only_for_a_caller_who_could_move_it_there(
        client, blog_collection, make_user):
    editor, editor_headers = make_user("editor")
    author, author_headers = make_user("author")
    _, viewer_headers = make_user("viewer")
    published = insert_content(editor, blog_collection, state="published", published_at=now_ms())
    own_draft = insert_content(author, blog_collection)
    history = history_count(published, own_draft)
    refused = bulk(client, viewer_headers, "publish", [published.id], status=409).json["details"]
    assert refused == [{"id": published.id, "status": 403,
                        "error": "This transition requires the content.publish permission"}]
    refused = bulk(client, author_headers, "publish", [published.id], status=409).json["details"]
    assert [(d["id"], d["status"]) for d in refused] == [(published.id, 403)]
    # An author may take their own item back to draft (rejected -> draft needs content.update).
    assert bulk(client, author_headers, "draft", [own_draft.id]).json["unchanged"] == [own_draft.id]
    assert bulk(client, editor_headers, "publish", [published.id]).json["unchanged"] == [published.id]
    assert states(published, own_draft) == [("published", "published", False), ("draft", "draft", False)]
    assert history_count(published, own_draft) == history


def test_an_item_already_in_a_state_its_workflow_never_leads_to_is_refused(client, as_editor):
    closed = create_collection("closed", {"type": "object"})
    workflow = Workflow.create(id="wf-no-archive", name="No archive", collection=closed.id)
    WorkflowTransition.create(workflow=workflow.id, from_state="draft", to_state="published",
                              required_permission="content.publish")
    editor, headers = as_editor
    archived = insert_content(editor, closed, state="archived")
    [detail] = bulk(client, headers, "archive", [archived.id], status=409).json["details"]
    assert (detail["id"], detail["status"], detail["details"]["from_state"]) == (archived.id, 409, "archived")
    assert detail["error"] == "Cannot archive content in state archived"
    assert states(archived) == [("archived", "archived", False)]


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "explode", "ids": ["a"]}, "action"),
    ({"action": "publish", "ids": []}, "ids"),
    ({"action": "publish", "ids": [f"id-{n}" for n in range(101)]}, "ids"),
    ({"action": "publish", "ids": ["a", "b", "a"]}, "ids"),
    ({"action": "publish", "ids": [""]}, "ids[0]"),
    ({"action": "publish", "ids": [7]}, "ids[0]"),
    ({"action": "publish"}, "ids"),
    ({"ids": ["a"]}, "action"),
])
def test_a_bad_body_is_a_422_naming_the_field(client, blog_collection, as_editor, body, field):
    _, headers = as_editor
    response = client.post_json(BULK, body, headers=headers, status=422)
    assert [detail["field"] for detail in response.json["details"]] == [field]


def test_a_repeated_id_is_named(client, as_editor):
    _, headers = as_editor
    response = client.post_json(BULK, {"action": "delete", "ids": ["a", "b", "a"]}, headers=headers, status=422)
    assert response.json["details"] == [{"field": "ids", "message": "must be distinct; given more than once: a"}]


def test_a_fault_mid_way_leaves_nothing_half_written(env, stack, client, blog_collection, as_editor):
    editor, headers = as_editor
    items = [insert_content(editor, blog_collection) for _ in range(3)]
    history, versions = history_count(*items), [Content.get_by_id(item.id).version_number for item in items]
    # The database refuses the third item's history row, after the first two were written.
    stack.refuse_inserts(env, "workflow_history", when=f"NEW.content_id = '{items[2].id}'")
    response = client.post_json(BULK, {"action": "publish", "ids": [item.id for item in items]},
                                headers=headers, expect_errors=True)
    # The database's refusal (an integrity error), not one of the items'.
    assert response.status_int == 409 and response.json["error"] == "The request conflicts with existing data"
    assert states(*items) == [("draft", "draft", False)] * 3
    assert history_count(*items) == history
    assert [Content.get_by_id(item.id).version_number for item in items] == versions


def test_a_plugins_veto_of_one_delete_keeps_every_item(env, blog_collection, as_editor, make_user):
    client = with_sample_plugin(env, make_user)
    editor, headers = as_editor
    kept = insert_content(editor, blog_collection, title="undeletable")
    other = insert_content(editor, blog_collection)
    sample_plugin.CALLS.clear()
    response = bulk(client, headers, "delete", [other.id, kept.id], status=409)
    assert response.json["details"] == [{"id": kept.id, "status": 422,
                                         "error": "The sample plugin keeps this item", "details": {"id": kept.id}}]
    assert states(other, kept) == [("draft", "draft", False)] * 2
    assert [call for call in sample_plugin.CALLS if call[0] == "after_content_delete"] == []
    bulk(client, headers, "delete", [other.id])  # the hook is there: it sees a delete that happens
    assert [call for call in sample_plugin.CALLS if call[0] == "after_content_delete"] == [
        ("after_content_delete", other.id, None)]
