"""``GET /admin/api/activity``: content writes, workflow moves and plugin changes, newest first."""

import pytest

from tests.fixtures.app import client_for

pytestmark = pytest.mark.backends


def test_the_feed_tells_what_happened_last_and_who_did_it(client, blog_collection, as_editor, as_admin):
    editor, headers = as_editor
    admin, admin_headers = as_admin
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "First", "data": {"title": "First"}},
                            headers=headers, status=201).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "Second", "data": {"title": "Second"}},
                    headers=headers, status=200)
    client.post("/admin/api/plugins/request-logs/deactivate", headers=admin_headers, status=200)
    body = client.get("/admin/api/activity", headers=headers).json
    assert body["count"] == len(body["data"]) == 3 and isinstance(body["timestamp"], int)
    plugin, updated, created = body["data"]
    assert (plugin["type"], plugin["action"], plugin["resource_id"]) == ("plugin", "deactivate", "request-logs")
    assert plugin["user"] == {"id": admin.id, "email": admin.email, "username": admin.username}
    assert (updated["type"], updated["action"], updated["resource_id"]) == ("content", "updated", item["id"])
    assert updated["details"]["title"] == "Second" and updated["details"]["collection_id"] == blog_collection.id
    assert (created["action"], created["user"]["id"]) == ("created", editor.id)
    assert [entry["timestamp"] for entry in body["data"]] == sorted((e["timestamp"] for e in body["data"]),
                                                                  reverse=True)
    assert client.get("/admin/api/activity?limit=1", headers=headers).json["data"] == [plugin]


def test_it_is_a_log_for_editors_and_admins(client, as_author, env):
    _, headers = as_author
    client.get("/admin/api/activity", headers=headers, status=403)
    client_for(env).get("/admin/api/activity", status=401)


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_a_bad_limit_is_a_400(client, as_editor, limit):
    _, headers = as_editor
    body = client.get(f"/admin/api/activity?limit={limit}", headers=headers, status=400).json
    assert body["details"][0]["parameter"] == "limit"
