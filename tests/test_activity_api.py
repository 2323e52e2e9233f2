"""``GET /admin/api/activity``: content writes, workflow moves and plugin changes, newest first."""

import re

import pytest

from app.db.models import PluginActivity
from tests.fixtures.app import client_for

pytestmark = pytest.mark.backends

# ISO 8601 in UTC with milliseconds, as JavaScript's toISOString writes it (SonicJS's timestamps).
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_the_feed_tells_what_happened_last_and_who_did_it(client, blog_collection, as_editor, as_admin):
    editor, headers = as_editor
    admin, admin_headers = as_admin
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "First", "data": {"title": "First"}},
                            headers=headers, status=201).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "Second", "data": {"title": "Second"}},
                    headers=headers, status=200)
    client.post("/admin/api/plugins/request-logs/deactivate", headers=admin_headers, status=200)
    body = client.get("/admin/api/activity", headers=headers).json
    assert body["count"] == len(body["data"]) == 3 and ISO.fullmatch(body["timestamp"])
    plugin, updated, created = body["data"]
    assert (plugin["type"], plugin["action"], plugin["resource_id"]) == ("plugin", "deactivate", "request-logs")
    # SonicJS's user: a string, the user's name; the id rides along.
    assert (plugin["user"], plugin["user_id"]) == (f"{admin.first_name} {admin.last_name}", admin.id)
    assert (updated["type"], updated["action"], updated["resource_id"]) == ("content", "updated", item["id"])
    assert updated["details"]["title"] == "Second" and updated["details"]["collection_id"] == blog_collection.id
    assert (created["action"], created["user_id"]) == ("created", editor.id)
    for entry in body["data"]:
        assert ISO.fullmatch(entry["timestamp"])
    assert [entry["timestamp"] for entry in body["data"]] == sorted((e["timestamp"] for e in body["data"]),
                                                                  reverse=True)
    assert client.get("/admin/api/activity?limit=1", headers=headers).json["data"] == [plugin]


def test_timestamps_are_utc_iso_strings_and_a_user_without_a_name_is_the_email_else_system(
        client, as_admin, make_user):
    admin, admin_headers = as_admin
    nameless, headers = make_user("admin", first_name="", last_name="")
    client.post("/admin/api/plugins/request-logs/deactivate", headers=headers, status=200)
    plugin_id = PluginActivity.get().plugin_id
    PluginActivity.create(plugin=plugin_id, action="activate", user_id=None, created_at=1_767_225_600_007)
    body = client.get("/admin/api/activity", headers=admin_headers).json
    by_action = {entry["action"]: entry for entry in body["data"]}
    assert (by_action["deactivate"]["user"], by_action["deactivate"]["user_id"]) == (nameless.email, nameless.id)
    assert by_action["activate"] == {
        "id": by_action["activate"]["id"], "type": "plugin", "action": "activate", "resource_id": plugin_id,
        "details": {}, "timestamp": "2026-01-01T00:00:00.007Z", "user": "System", "user_id": None,
    }
    assert ISO.fullmatch(body["timestamp"])


def test_it_is_a_log_for_editors_and_admins(client, as_author, env):
    _, headers = as_author
    client.get("/admin/api/activity", headers=headers, status=403)
    client_for(env).get("/admin/api/activity", status=401)


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_a_bad_limit_is_a_400(client, as_editor, limit):
    _, headers = as_editor
    body = client.get(f"/admin/api/activity?limit={limit}", headers=headers, status=400).json
    assert body["details"][0]["parameter"] == "limit"


@pytest.mark.parametrize("metadata", ['"a text"', "[1, 2]", "not JSON at all"])
def test_a_history_row_written_by_hand_with_other_metadata_shows_without_it(env, client, blog_collection, as_editor,
                                                                           metadata):
    _, headers = as_editor
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "First", "data": {"title": "First"}},
                            headers=headers, status=201).json["data"]
    db = env.DB.db
    db.execute_sql("UPDATE workflow_history SET metadata = " + db.param + " WHERE content_id = " + db.param,
                   (metadata, item["id"]))
    [entry] = [e for e in client.get("/admin/api/activity", headers=headers).json["data"]
               if e["resource_id"] == item["id"]]
    assert (entry["action"], entry["details"]["title"]) == ("moved", "First")


def test_a_history_rows_metadata_never_stands_in_for_the_items_own_details(env, client, blog_collection, as_editor):
    _, headers = as_editor
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "First", "data": {"title": "First"}},
                            headers=headers, status=201).json["data"]
    own = next(e for e in client.get("/admin/api/activity", headers=headers).json["data"]
               if e["resource_id"] == item["id"])["details"]
    # A row written by hand: its metadata names keys of the item's own, and one of its own.
    metadata = ('{"action": "updated", "title": 5, "state": "hacked", "collection_id": "other", "from_state": "x",'
                ' "to_state": "y", "note": "kept"}')
    db = env.DB.db
    db.execute_sql("UPDATE workflow_history SET metadata = " + db.param + " WHERE content_id = " + db.param,
                   (metadata, item["id"]))
    [entry] = [e for e in client.get("/admin/api/activity", headers=headers).json["data"]
               if e["resource_id"] == item["id"]]
    assert entry["action"] == "updated"  # the metadata's action is still the entry's
    items_own = ("title", "collection_id", "from_state", "to_state", "state")
    assert {key: entry["details"][key] for key in items_own} == {key: own[key] for key in items_own}
    assert entry["details"]["title"] == "First" and entry["details"]["note"] == "kept"
