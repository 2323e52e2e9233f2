"""``GET /admin/api/references``: SonicJS's published items to reference, newest first, under the caller's Scope."""

import pytest

from app.db.models import Content
from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends


@pytest.fixture
def two_collections(blog_collection, as_author):
    """blog: 3 published (older) and 1 draft; news: 2 published (newer), one titled to be searched."""
    author, _ = as_author
    news = create_collection("news", display_name="News")
    blog_ids = insert_items(blog_collection, author, 3, start=1_000_000)
    insert_items(blog_collection, author, 1, status="draft", slug_prefix="draft", start=9_000_000)
    news_ids = insert_items(news, author, 2, start=5_000_000, slug_prefix="news",
                            data=lambda i: {"title": "Zebra crossing" if i else "Plain news"})
    return blog_collection, news, blog_ids, news_ids


def test_published_items_of_several_collections_newest_first(client, as_editor, two_collections):
    blog, news, blog_ids, news_ids = two_collections
    _, headers = as_editor
    body = client.get(f"/admin/api/references?collection=blog,{news.id}", headers=headers).json
    assert [item["id"] for item in body["data"]] == news_ids[::-1] + blog_ids[::-1]
    assert body["count"] == 5
    first = body["data"][0]
    assert first["collection"] == {"id": news.id, "name": "news", "display_name": "News"}
    assert set(first) == {"id", "title", "slug", "status", "updated_at", "collection"}
    assert {item["status"] for item in body["data"]} == {"published"}
    repeated = client.get("/admin/api/references?collection=blog&collection=news&limit=2", headers=headers).json
    assert [item["id"] for item in repeated["data"]] == news_ids[::-1] and repeated["count"] == 2


def test_search_narrows_with_the_content_search(client, as_editor, two_collections):
    _, news, _, news_ids = two_collections
    _, headers = as_editor
    body = client.get("/admin/api/references?collection=blog,news&search=zebra", headers=headers).json
    assert [item["id"] for item in body["data"]] == [news_ids[1]]


def test_one_item_by_id_only_when_published_in_those_collections(client, as_editor, two_collections, env):
    blog, _, blog_ids, news_ids = two_collections
    _, headers = as_editor
    one = client.get(f"/admin/api/references?collection=news&id={news_ids[0]}", headers=headers).json
    assert one["data"]["id"] == news_ids[0] and "count" not in one
    client.get(f"/admin/api/references?collection=news&id={blog_ids[0]}", headers=headers, status=404)
    draft_id = Content.get(Content.slug == "draft-0").id  # an editor reads it elsewhere: not a reference
    client.get(f"/api/content/{draft_id}", headers=headers, status=200)
    client.get(f"/admin/api/references?collection=blog&id={draft_id}", headers=headers, status=404)
    client.delete(f"/api/content/{blog_ids[0]}", headers=headers, status=200)  # to the trash
    client.get(f"/admin/api/references?collection=blog&id={blog_ids[0]}", headers=headers, status=404)


def test_bad_requests(client, as_editor, two_collections):
    _, headers = as_editor
    missing = client.get("/admin/api/references", headers=headers, status=400).json
    assert missing["details"][0]["parameter"] == "collection"
    client.get("/admin/api/references?collection=,", headers=headers, status=400)
    assert client.get("/admin/api/references?collection=nope", headers=headers, status=404).json == {
        "error": "Collection not found: nope"}
    for limit in ("0", "101", "x"):
        body = client.get(f"/admin/api/references?collection=blog&limit={limit}", headers=headers, status=400).json
        assert body["details"][0]["parameter"] == "limit"
    client.get("/admin/api/references?collection=blog", status=401)


def test_authors_and_viewers_are_refused(client, as_author, as_viewer, two_collections):
    for _, headers in (as_author, as_viewer):
        client.get("/admin/api/references?collection=blog", headers=headers, status=403)
