"""core-cache: the cache's state and a purge that reaches every worker."""

import pytest

from app.db.models import bind_models
from tests.fixtures.app import client_for
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for


@pytest.fixture
def admin(env):
    bind_models(env.DB.db)
    return bearer(token_for(create_user("admin")))


def test_purge_reaches_every_worker(env, admin):
    first, second = client_for(env), client_for(env)
    author = create_user("author")
    insert_items(create_collection("pages"), author, 2)
    assert first.get("/api/content").headers["X-Cache-Status"] == "MISS"
    assert first.get("/api/content").headers["X-Cache-Status"] == "HIT"
    purged = second.post("/admin/api/cache/purge", headers=admin, status=200).json
    assert purged["data"]["pending"] == [] and "content" in purged["data"]["purged"]
    assert first.get("/api/content").headers["X-Cache-Status"] == "MISS"


def test_cache_state(env, admin):
    web = client_for(env)
    state = web.get("/admin/api/cache", headers=admin, status=200).json["data"]
    assert state["namespaces"]["content"]["ttl"] == 300 and "collections" in state["namespaces"]["content"]["depends_on"]
    assert state["memory"]["entries"] >= 0 and state["pending_invalidations"] == []


def test_cache_routes_are_for_admins_and_follow_the_plugin(env, admin):
    web = client_for(env)
    web.post("/admin/api/cache/purge", headers=bearer(token_for(create_user("editor"))), status=403)
    web.post("/admin/api/plugins/core-cache/deactivate", headers=admin, status=200)
    web.get("/admin/api/cache", headers=admin, status=404)
    web.post("/admin/api/cache/purge", headers=admin, status=404)
