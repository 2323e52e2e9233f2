"""Every event of one content write carries the item as that write left it, in one order.

A write that moves an item and edits it (a ``PUT`` with a ``status`` and changed fields, an
author's edit of a live item under the review rule, a create published at once) records
ONE version; an author's restore from the trash that the review rule turns into a draft
moves the item too. The write's events, webhook deliveries and plugin hooks alike, each
carry the row the whole write left (its version, title, status, data) and come in the
order README gives: the write's own (``content.created``, ``content.updated``,
``content.restored``), then the move's (``content.workflow``, ``content.published`` or
``content.unpublished``), then the end of an assignment the move ended.
"""

import json
from datetime import UTC, datetime

import pytest

from app.db.models import bind_models, now_ms
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.app import client_for
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.webhook_receiver import Receiver
from tests.plugins import content_events_plugin

pytestmark = pytest.mark.backends

RECORDER = "tests.plugins.content_events_plugin"


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def env(tmp_path, stack):
    """The stack's env naming the recorder in its own PLUGINS too: the cron serves no app and
    loads the plugins the env names."""
    env = stack.env(tmp_path / "app", vars={"PLUGINS": RECORDER})
    yield env
    flush_process_buffer()
    env.DB.db.close()


@pytest.fixture
def web(env):
    bind_models(env.DB.db)
    content_events_plugin.CALLS.clear()
    return client_for(env, webhooks_allow_private_targets=True, plugins=(RECORDER,))


@pytest.fixture
def admin(web):
    return bearer(token_for(create_user("admin")))


@pytest.fixture
def pages(web):
    return create_collection("pages", {"type": "object", "properties": {
        "title": {"type": "string"}, "body": {"type": "string"}}})


def listen(web, admin, receiver):
    """Register ``receiver`` for every event and forget what the hooks saw so far."""
    web.post_json("/admin/api/webhooks", {"url": receiver.url, "events": ["*"]}, headers=admin, status=201)
    content_events_plugin.CALLS.clear()


def deliveries(receiver):
    """``(event, version_number, status, title)`` of each delivery, in the order received."""
    data = [json.loads(body)["data"] for _, body in receiver.received]
    return [(event, d["version_number"], d["status"], d["title"])
            for event, d in zip(receiver.events(), data)]


def hook_calls():
    """``(hook, version_number, status, title, body)`` of each content hook call, in order."""
    return [(hook, version, status, title, (data or {}).get("body"))
            for hook, version, status, title, data in content_events_plugin.CALLS]


def create(web, headers, title="Page", **body):
    item = web.post_json("/api/content", {"collectionId": "pages", "title": title, "data": {"body": "first"}, **body},
                         headers=headers, status=201)
    return item.json["data"]


def newest_version(web, headers, item_id):
    """The number of the item's newest stored version, and the status it records."""
    newest = web.get(f"/api/content/{item_id}/versions", headers=headers).json["data"][0]
    return newest["version"], newest["status"]


def test_unpublishing_and_editing_in_one_put_sends_its_version_with_every_event(web, admin, pages, receiver):
    item = create(web, admin, status="published")
    listen(web, admin, receiver)

    put = web.put_json(f"/api/content/{item['id']}", {"status": "draft", "data": {"body": "changed"}},
                       headers=admin, status=200).json["data"]

    assert (put["version_number"], put["status"]) == (2, "draft") == newest_version(web, admin, item["id"])
    assert deliveries(receiver) == [
        ("content.updated", 2, "draft", "Page"),
        ("content.workflow", 2, "draft", "Page"),
        ("content.unpublished", 2, "draft", "Page"),
    ]
    assert hook_calls() == [
        ("after_content_update", 2, "draft", "Page", "changed"),
        ("after_content_workflow:unpublish", 2, "draft", "Page", "changed"),
        ("after_content_unpublish", 2, "draft", "Page", "changed"),
    ]


def test_publishing_and_retitling_in_one_put_sends_the_new_title_and_version(web, admin, pages, receiver):
    item = create(web, admin)
    listen(web, admin, receiver)

    put = web.put_json(f"/api/content/{item['id']}", {"status": "published", "title": "Page, retitled"},
                       headers=admin, status=200).json["data"]

    assert (put["version_number"], put["status"]) == (2, "published") == newest_version(web, admin, item["id"])
    assert deliveries(receiver) == [
        ("content.updated", 2, "published", "Page, retitled"),
        ("content.workflow", 2, "published", "Page, retitled"),
        ("content.published", 2, "published", "Page, retitled"),
    ]
    assert hook_calls() == [
        ("after_content_update", 2, "published", "Page, retitled", "first"),
        ("after_content_workflow:publish", 2, "published", "Page, retitled", "first"),
        ("after_content_publish", 2, "published", "Page, retitled", "first"),
    ]


def test_an_author_s_edit_taking_a_live_item_back_to_review_sends_the_edit_s_version(web, admin, pages,
                                                                                       receiver):
    """The review rule's move comes before the edit in the write, but is announced with the edited row."""
    author = bearer(token_for(create_user("author")))
    item = create(web, author)
    web.post_json(f"/api/content/{item['id']}/workflow", {"action": "publish"}, headers=admin, status=200)
    listen(web, admin, receiver)

    put = web.put_json(f"/api/content/{item['id']}", {"title": "Page, edited", "data": {"body": "edited"}},
                       headers=author, status=200).json["data"]

    assert (put["version_number"], put["status"]) == (3, "draft") == newest_version(web, admin, item["id"])
    assert deliveries(receiver) == [
        ("content.updated", 3, "draft", "Page, edited"),
        ("content.workflow", 3, "draft", "Page, edited"),
        ("content.unpublished", 3, "draft", "Page, edited"),
    ]
    assert hook_calls() == [
        ("after_content_update", 3, "draft", "Page, edited", "edited"),
        ("after_content_workflow:edited-for-review", 3, "draft", "Page, edited", "edited"),
        ("after_content_unpublish", 3, "draft", "Page, edited", "edited"),
    ]


def test_an_author_s_version_restore_of_a_live_item_sends_the_restore_s_version(web, admin, pages, receiver):
    author = bearer(token_for(create_user("author")))
    item = create(web, author)
    web.put_json(f"/api/content/{item['id']}", {"data": {"body": "second"}}, headers=author, status=200)
    web.post_json(f"/api/content/{item['id']}/workflow", {"action": "publish"}, headers=admin, status=200)
    listen(web, admin, receiver)

    web.post(f"/api/content/{item['id']}/versions/1/restore", headers=author, status=200)

    assert newest_version(web, admin, item["id"]) == (4, "draft")
    assert deliveries(receiver) == [
        ("content.updated", 4, "draft", "Page"),
        ("content.workflow", 4, "draft", "Page"),
        ("content.unpublished", 4, "draft", "Page"),
    ]
    assert [call[:2] for call in hook_calls()] == [
        ("after_content_update", 4), ("after_content_workflow:edited-for-review", 4), ("after_content_unpublish", 4)]


def test_a_create_published_at_once_is_created_before_it_is_published(web, admin, pages, receiver):
    listen(web, admin, receiver)

    item = create(web, admin, title="Live", status="published")

    assert (item["version_number"], item["status"]) == (1, "published")
    assert deliveries(receiver) == [
        ("content.created", 1, "published", "Live"),
        ("content.workflow", 1, "published", "Live"),
        ("content.published", 1, "published", "Live"),
    ]
    assert hook_calls() == [
        ("after_content_create", 1, "published", "Live", "first"),
        ("after_content_workflow:publish", 1, "published", "Live", "first"),
        ("after_content_publish", 1, "published", "Live", "first"),
    ]


def test_the_end_of_an_assignment_follows_the_publishing_edit_with_its_version(web, admin, pages, receiver):
    editor = create_user("editor")
    item = create(web, admin)
    web.post_json(f"/api/workflow/content/{item['id']}/assign", {"user_id": editor.id}, headers=admin, status=200)
    listen(web, admin, receiver)

    web.put_json(f"/api/content/{item['id']}", {"status": "published", "data": {"body": "final"}},
                 headers=admin, status=200)

    assert deliveries(receiver) == [
        ("content.updated", 2, "published", "Page"),
        ("content.workflow", 2, "published", "Page"),
        ("content.published", 2, "published", "Page"),
        ("content.assigned", 2, "published", "Page"),
    ]
    assert json.loads(receiver.received[-1][1])["data"]["ended_by"] == "publish"
    assert hook_calls()[-1] == ("after_content_assign:publish", 2, "published", "Page", "final")


def test_a_move_alone_in_a_put_is_its_own_version(web, admin, pages, receiver):
    """Nothing else changed: the move is the write, announced as it is made."""
    item = create(web, admin)
    listen(web, admin, receiver)

    web.put_json(f"/api/content/{item['id']}", {"status": "published", "data": {"body": "first"}}, headers=admin,
                 status=200)

    assert deliveries(receiver) == [("content.workflow", 2, "published", "Page"),
                                    ("content.published", 2, "published", "Page")]
    assert [call[:2] for call in hook_calls()] == [("after_content_workflow:publish", 2), ("after_content_publish", 2)]


def test_an_author_s_restore_from_the_trash_as_a_draft_says_draft_in_every_event(web, admin, pages, receiver):
    """The review rule's move follows the restore in one write: its restore event says what it left, a draft."""
    author = bearer(token_for(create_user("author")))
    item = create(web, author)
    web.post_json(f"/api/content/{item['id']}/workflow", {"action": "publish"}, headers=admin, status=200)
    web.delete(f"/api/content/{item['id']}", headers=author, status=200)
    listen(web, admin, receiver)

    web.post(f"/api/content/{item['id']}/restore", headers=author, status=200)

    assert web.get(f"/api/content/{item['id']}", headers=admin).json["data"]["status"] == "draft"
    assert deliveries(receiver) == [
        ("content.restored", 2, "draft", "Page"),
        ("content.workflow", 2, "draft", "Page"),
        ("content.unpublished", 2, "draft", "Page"),
    ]
    assert hook_calls() == [
        ("after_content_restore", 2, "draft", "Page", "first"),
        ("after_content_workflow:restored-as-draft", 2, "draft", "Page", "first"),
        ("after_content_unpublish", 2, "draft", "Page", "first"),
    ]


@pytest.mark.parametrize("move", ["workflow", "bulk", "put"])
def test_a_move_made_on_its_own_gives_its_hooks_the_whole_item(web, admin, pages, move):
    """A move with no edit (the workflow route, a bulk action, a status-only PUT) gives its
    hooks the row with its data, as an edit's hooks get it, not the workflow columns alone."""
    item = create(web, admin)
    content_events_plugin.CALLS.clear()

    if move == "workflow":
        web.post_json(f"/api/content/{item['id']}/workflow", {"action": "publish"}, headers=admin, status=200)
    elif move == "bulk":
        web.post_json("/api/content/bulk-action", {"action": "publish", "ids": [item["id"]]}, headers=admin,
                      status=200)
    else:
        web.put_json(f"/api/content/{item['id']}", {"status": "published"}, headers=admin, status=200)

    assert hook_calls() == [("after_content_workflow:publish", 2, "published", "Page", "first"),
                            ("after_content_publish", 2, "published", "Page", "first")]


def test_a_scheduled_move_gives_its_hooks_the_whole_item(env, web, admin, pages):
    """The cron's move is made as the workflow route's is: its hooks get the item with its data."""
    item = create(web, admin)
    due = (now_ms() // 1000 + 3600) * 1000
    when = datetime.fromtimestamp(due / 1000, tz=UTC).isoformat()
    web.post_json(f"/api/content/{item['id']}/schedule", {"action": "publish", "scheduled_at": when}, headers=admin,
                  status=201)
    content_events_plugin.CALLS.clear()

    run_scheduled(ScheduledEvent("*/1 * * * *", due + 1000), env)

    assert hook_calls() == [("after_content_workflow:publish", 2, "published", "Page", "first"),
                            ("after_content_publish", 2, "published", "Page", "first")]


def test_an_assignment_gives_its_hooks_the_whole_item(web, admin, pages):
    """Assigning is no move, but its hook is given the item as a move's is, data included."""
    item = create(web, admin)
    editor = create_user("editor")
    content_events_plugin.CALLS.clear()

    web.post_json(f"/api/workflow/content/{item['id']}/assign", {"user_id": editor.id}, headers=admin, status=200)

    assert hook_calls() == [("after_content_assign:None", 1, "draft", "Page", "first")]
