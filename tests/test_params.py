"""page, limit and offset are parsed one way on every paged list (app/api/params.py)."""

import pytest

PAGED_LISTS = ["/admin/api/users", "/api/media", "/api/schedules"]
BAD_VALUES = [("page", "0"), ("page", "x"), ("page", "1000001"), ("limit", "0"), ("limit", "101"), ("limit", "ten")]


@pytest.mark.parametrize("url", PAGED_LISTS)
@pytest.mark.parametrize("name, value", BAD_VALUES)
def test_every_paged_list_refuses_a_bad_page_or_limit_alike(client, make_user, url, name, value):
    _, admin = make_user("admin")
    body = client.get(url, {name: value}, headers=admin, status=400).json
    assert body["error"] == "Invalid query parameters"
    [problem] = body["details"]
    assert problem["parameter"] == name and problem["message"]


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
    assert body["error"] == "Invalid query parameters"
    assert [problem["parameter"] for problem in body["details"]] == [query.split("=")[0]]


@pytest.mark.parametrize("url, query", [
    ("/api/content", "limit=0"), ("/admin/api/users", "limit=0"), ("/admin/api/users", "role=root"),
    ("/admin/api/users", "status=gone"), ("/api/schedules", "status=bogus"), ("/api/media", "sort=size2"),
    ("/api/media", "deleted=maybe"), ("/admin/api/logs", "level=loud"), ("/admin/api/logs", "since=-1"),
    ("/api/content", "include_deleted=maybe"), ("/api/content", "x=%01"), ("/api/tokens", "page=0"),
])
def test_every_route_names_a_bad_query_parameter_in_one_shape(client, make_user, url, query):
    _, admin = make_user("admin")
    body = client.get(f"{url}?{query}", headers=admin, status=400).json
    assert body["error"] == "Invalid query parameters"
    [problem] = body["details"]
    assert problem["parameter"] == query.split("=")[0] and isinstance(problem["message"], str)
