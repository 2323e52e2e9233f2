"""page, limit and offset are parsed one way on every paged list (app/api/params.py)."""

import pytest

PAGED_LISTS = ["/admin/api/users", "/api/media", "/api/schedules"]
BAD_VALUES = [("page", "0"), ("page", "x"), ("page", "1000001"), ("limit", "0"), ("limit", "101"), ("limit", "ten")]


@pytest.mark.parametrize("url", PAGED_LISTS)
@pytest.mark.parametrize("name, value", BAD_VALUES)
def test_every_paged_list_refuses_a_bad_page_or_limit_alike(client, make_user, url, name, value):
    _, admin = make_user("admin")
    body = client.get(url, {name: value}, headers=admin, status=400).json
    assert body["error"] == "Invalid parameter"
    assert f'"{name}"' in body["details"]


@pytest.mark.parametrize("url", PAGED_LISTS)
def test_every_paged_list_answers_the_same_pagination_block(client, make_user, url):
    _, admin = make_user("admin")
    body = client.get(url, {"page": 3, "limit": 7}, headers=admin).json
    block = body.get("pagination") or body["meta"]
    total = block["total"]
    assert block == {
        "page": 3, "limit": 7, "total": total, "pages": -(-total // 7), "hasNext": total > 21, "hasPrev": True,
    }


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "offset=x"])
def test_versions_take_limit_and_offset_like_the_other_lists(client, blog_collection, as_author, query):
    _, headers = as_author
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "One"}, headers=headers).json["data"]
    body = client.get(f"/api/content/{item['id']}/versions?{query}", headers=headers, status=400).json
    assert body["error"] == "Invalid parameter"
    assert f'"{query.split("=")[0]}"' in body["details"]
