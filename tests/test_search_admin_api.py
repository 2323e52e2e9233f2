"""The AI Search plugin's admin JSON routes, ``/admin/plugins/ai-search/api/...`` (SonicJS's):
its settings, the collections new to search, the index's status per collection and a
bounded re-index; who may call them, their refusals, and their 404 while the plugin is
inactive. Every answer is checked against the OpenAPI document (the ``client`` fixture).

The env's ``[ai]`` binding is the test's embeddings server (tests/fixtures/embeddings.py).
"""

import pytest

from app.db.models import Content, bind_models, now_ms
from app.services.ai_search.overview import REINDEX_BATCH
from app.services.ai_search.semantic import semantic_index_for
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.admin import csrf_token, sign_in
from tests.fixtures.app import client_for, record_statements
from tests.fixtures.auth import hashed
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.embeddings import ai_env_fixture
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

API = "/admin/plugins/ai-search/api"
GETS = (f"{API}/settings", f"{API}/new-collections", f"{API}/status")
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


# The test's stack with an ``[ai]`` binding on the test's embeddings server.
env = ai_env_fixture(batch_size=8)  # the default timeout: no test here waits on a hanging model


@pytest.fixture
def site(env, make_user):
    """``blog`` (two published items, indexed, and a draft), an empty ``news``, ``pets``
    (a published item, a draft and a trashed item) and an inactive ``old``."""
    author, _ = make_user("author")
    blog = create_collection("blog", display_name="Blog Posts")
    indexed = insert_items(blog, author, 2, slug_prefix="pet", data=lambda i: {"body": ["cats purr", "dogs bark"][i]})
    insert_items(blog, author, 1, status="draft", slug_prefix="draft", data=lambda _: {"body": "cats"})
    create_collection("news")
    pets = create_collection("pets", description="Our animals")
    insert_items(pets, author, 1, slug_prefix="cat")
    insert_items(pets, author, 1, status="draft", slug_prefix="dog")
    trashed = insert_items(pets, author, 1, slug_prefix="gone")
    Content.update(deleted_at=now_ms()).where(Content.id.in_(trashed)).execute()
    insert_items(create_collection("old", is_active=False), author, 1)
    semantic_index_for(env).index_items(indexed)
    return author


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


def select(client, admin, **settings):
    """Change the plugin's settings through the plugins API."""
    client.patch_json("/admin/api/plugins/ai-search", {"settings": settings}, headers=admin)


def test_who_may_call_the_routes(client, make_user, site):
    for path in GETS:
        assert client.get(path, status=401).json["error"]
    client.post_json(f"{API}/reindex", {"collection_id": "col-blog"}, status=401)
    for role in ("editor", "author", "viewer"):
        _, headers = make_user(role)
        for path in GETS:
            client.get(path, headers=headers, status=403)
        client.post_json(f"{API}/reindex", {"collection_id": "col-blog"}, headers=headers, status=403)
    _, admin = make_user("admin")
    for path in GETS:
        assert client.get(path, headers=admin).json["success"] is True


def test_the_routes_answer_404_while_the_plugin_is_inactive(client, admin, site, embeddings_server):
    client.post("/admin/api/plugins/ai-search/deactivate", headers=admin, status=200)
    asked = len(embeddings_server.requests)
    for path in GETS:
        client.get(path, headers=admin, status=404)
    client.post_json(f"{API}/reindex", {"collection_id": "col-blog"}, headers=admin, status=404)
    assert len(embeddings_server.requests) == asked
    client.post("/admin/api/plugins/ai-search/activate", headers=admin, status=200)
    for path in GETS:
        client.get(path, headers=admin, status=200)


def test_settings_are_the_plugins(client, admin, site):
    answer = client.get(f"{API}/settings", headers=admin).json
    assert answer == {"success": True, "data": {
        "enabled": True, "ai_mode_enabled": True, "selected_collections": [], "dismissed_collections": [],
        "autocomplete_enabled": True, "cache_duration": 1, "results_limit": 20, "index_media": False}}
    select(client, admin, selected_collections=["col-blog"], results_limit=50)
    data = client.get(f"{API}/settings", headers=admin).json["data"]
    assert data["selected_collections"] == ["col-blog"] and data["results_limit"] == 50


def test_new_collections_are_the_active_ones_neither_selected_nor_dismissed(client, admin, site):
    # Nothing selected: every collection is searched, none is new.
    assert client.get(f"{API}/new-collections", headers=admin).json == {"success": True, "data": []}

    select(client, admin, selected_collections=["col-blog"])
    data = client.get(f"{API}/new-collections", headers=admin).json["data"]
    assert [notice["collection"]["id"] for notice in data] == ["col-news", "col-pets"]  # not the inactive one
    assert data[1] == {
        "collection": {"id": "col-pets", "name": "pets", "display_name": "Pets", "description": "Our animals",
                       "item_count": 2, "is_indexed": False, "is_dismissed": False, "is_new": True},
        "message": "New collection available: 'Pets' (2 items) - add to search?",
    }  # the published item and the draft: the trashed one is not counted

    select(client, admin, dismissed_collections=["col-pets"])
    data = client.get(f"{API}/new-collections", headers=admin).json["data"]
    assert [notice["collection"]["id"] for notice in data] == ["col-news"]
    select(client, admin, selected_collections=["col-blog", "col-news"])
    assert client.get(f"{API}/new-collections", headers=admin).json["data"] == []


def test_status_says_how_far_the_index_covers_each_collection(client, admin, site):
    data = client.get(f"{API}/status", headers=admin).json["data"]
    assert data["col-blog"] == {
        "collection_id": "col-blog", "collection_name": "blog", "display_name": "Blog Posts", "total_items": 3,
        "searched": True, "indexed": True, "status": "pending",
        "indexed_items": 2, "stale_items": 0, "missing_items": 1, "refused_items": 0,
    }
    assert data["col-news"]["status"] == "completed" and data["col-news"]["total_items"] == 0
    assert data["col-pets"]["total_items"] == 2

    select(client, admin, selected_collections=["col-blog"])
    data = client.get(f"{API}/status", headers=admin).json["data"]
    assert (data["col-news"]["searched"], data["col-news"]["indexed"], data["col-news"]["status"]) == (
        False, False, "not_indexed")
    select(client, admin, ai_mode_enabled=False)
    assert client.get(f"{API}/status", headers=admin).json["data"]["col-blog"]["status"] == "not_indexed"


def test_status_without_an_ai_binding(tmp_path, stack):
    plain = stack.env(tmp_path / "plain")
    bind_models(plain.DB.db)
    try:
        client, author = client_for(plain), create_user("author")
        pets = create_collection("pets")
        insert_items(pets, author, 2)
        trashed = insert_items(pets, author, 1, slug_prefix="gone")
        Content.update(deleted_at=now_ms()).where(Content.id.in_(trashed)).execute()
        admin = bearer(token_for(create_user("admin")))
        data = client.get(f"{API}/status", headers=admin).json["data"]
        assert data["col-pets"] == {
            "collection_id": "col-pets", "collection_name": "pets", "display_name": "Pets", "total_items": 2,
            "searched": True, "indexed": True, "status": "unavailable",
            "indexed_items": None, "stale_items": None, "missing_items": None, "refused_items": None,
        }
        refused = client.post_json(f"{API}/reindex", {"collection_id": "col-pets"}, headers=admin, status=404).json
        assert "No AI binding" in refused["error"]
    finally:
        flush_process_buffer()
        plain.DB.db.close()


def test_reindex_embeds_a_bounded_batch_and_answers_its_counts(client, admin, site, embeddings_server):
    asked = len(embeddings_server.texts)
    answer = client.post_json(f"{API}/reindex", {"collection_id": "col-blog"}, headers=admin).json
    assert answer == {"success": True, "data": {"collection_id": "col-blog", "checked": 3, "embedded": 1, "refused": 0}}
    assert embeddings_server.texts[asked:] == ["Item 0 cats"]
    assert client.get(f"{API}/status", headers=admin).json["data"]["col-blog"]["status"] == "completed"

    insert_items(Content.collection.rel_model.get_by_id("col-news"), site, REINDEX_BATCH + 5, slug_prefix="bulk")
    answer = client.post_json(f"{API}/reindex", {"collectionId": "col-news"}, headers=admin).json  # either casing
    assert answer["data"]["embedded"] == REINDEX_BATCH
    assert client.get(f"{API}/status", headers=admin).json["data"]["col-news"]["missing_items"] == 5


def test_reindex_refusals(client, admin, site, embeddings_server):
    post = f"{API}/reindex"
    asked = len(embeddings_server.requests)
    assert client.post_json(post, {"collection_id": "col-nope"}, headers=admin, status=404).json == {
        "error": "No collection has that id",
        "details": [{"field": "collection_id", "message": "names no collection", "collection_id": "col-nope"}]}
    client.post(post, "{not json", headers={**admin, "Content-Type": "application/json"}, status=400)
    for body in ({}, {"collection_id": ""}, {"collection_id": 7}, {"collection_id": "x" * 101},
                 {"collection_id": "col-blog", "extra": 1}, []):
        assert "error" in client.post_json(post, body, headers=admin, status=422).json
    client.post(post, {"collection_id": "col-blog"}, headers=admin, status=415)  # a form: JSON only

    select(client, admin, selected_collections=["col-blog"])
    refused = client.post_json(post, {"collection_id": "col-news"}, headers=admin, status=409).json
    assert "not indexed" in refused["error"] and refused["details"] == [{
        "field": "collection_id", "message": "names a collection semantic search keeps no vectors of",
        "collection_id": "col-news"}]
    assert len(embeddings_server.requests) == asked  # no refusal asked the model anything

    embeddings_server.answer = 503
    down = client.post_json(post, {"collection_id": "col-blog"}, headers=admin, status=503)
    assert "could not answer" in down.json["error"] and down.headers["Retry-After"] == "60"


def test_with_the_session_cookie_only_json_from_the_site_itself_reindexes(env, client, site, browser):
    user = create_user("admin", password_hash=hashed())
    assert sign_in(browser, user).status_int == 303
    post = f"{API}/reindex"
    # A form (what another page could post) is refused, CSRF token or not.
    browser.post(post, {"collection_id": "col-blog", "csrf_token": csrf_token(browser)}, headers=SAME_ORIGIN,
                 status=415)
    # JSON from a sibling subdomain is refused before anything runs.
    browser.post_json(post, {"collection_id": "col-blog"}, headers={"Sec-Fetch-Site": "same-site"}, status=403)
    answer = browser.post_json(post, {"collection_id": "col-blog"}, headers=SAME_ORIGIN).json
    assert answer["data"]["embedded"] == 1
    assert browser.get(f"{API}/settings", headers={"Accept": "application/json"}).json["success"] is True


def test_no_cache_keeps_the_admins_answers(client, admin, site, browser):
    """What these routes answer is the signed-in admin's view: no-store, by token or by cookie."""
    for path in GETS:
        assert client.get(path, headers=admin).headers["Cache-Control"] == "no-store"
    assert client.post_json(f"{API}/reindex", {"collection_id": "col-blog"},
                            headers=admin).headers["Cache-Control"] == "no-store"
    assert sign_in(browser, create_user("admin", password_hash=hashed())).status_int == 303
    for path in GETS:
        assert browser.get(path, headers={"Accept": "application/json"}).headers["Cache-Control"] == "no-store"


def test_status_follows_edits_and_reads_only_the_texts_that_may_have_changed(client, admin, site, env,
                                                                             embeddings_server, monkeypatch):
    """An edit of an item's text makes it stale, a change of its status alone does not; the
    status reads the text of those two only (their vector is dated other than the item), not
    of every item: a fresh vector is known fresh by its dates."""
    edited, unpublished = [content_id for (content_id,) in Content.select(Content.id).where(
        Content.collection == "col-blog", Content.status == "published").order_by(Content.title).tuples()]
    embeddings_server.answer = 503  # what the plugin embeds after each save fails: the vectors stay as they were
    client.put_json(f"/api/content/{edited}", {"title": "Lions", "data": {"body": "lions roar"}}, headers=admin)
    client.put_json(f"/api/content/{unpublished}", {"status": "draft"}, headers=admin)
    assert Content.get_by_id(unpublished).status == "draft"

    statements = record_statements(env.DB.db, monkeypatch)
    blog = client.get(f"{API}/status", headers=admin).json["data"]["col-blog"]
    assert (blog["indexed_items"], blog["stale_items"], blog["missing_items"], blog["status"]) == (1, 1, 1, "pending")
    texts_read = [row for sql, params in list(statements) if '"data"' in sql and "search_embeddings" in sql
                  for row in env.DB.db.execute_sql(sql, params).fetchall()]
    assert sorted(row[1] for row in texts_read) == ["Item 1", "Lions"]

    embeddings_server.answer = None
    client.post_json(f"{API}/reindex", {"collection_id": "col-blog"}, headers=admin)
    blog = client.get(f"{API}/status", headers=admin).json["data"]["col-blog"]
    assert (blog["indexed_items"], blog["stale_items"], blog["missing_items"], blog["status"]) == (3, 0, 0, "completed")
