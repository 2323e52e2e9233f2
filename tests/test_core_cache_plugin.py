"""core-cache: its TTL settings applied to stored entries, the cache's state, a purge that reaches every worker."""

import time

import pytest
import webtest

from app.app import build_services, create_app
from app.db.models import bind_models
from app.runtime.entry import Worker
from tests.fixtures.app import client_for, settings_for_tests
from tests.fixtures.cache import past_generation_bound
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
    past_generation_bound()
    assert first.get("/api/content").headers["X-Cache-Status"] == "MISS"


def test_cache_state(env, admin):
    web = client_for(env)
    state = web.get("/admin/api/cache", headers=admin, status=200).json["data"]
    assert state["namespaces"]["content"]["ttl"] == state["namespaces"]["content"]["default_ttl"] == 300
    assert "collections" in state["namespaces"]["content"]["depends_on"]
    assert state["memory"]["entries"] >= 0 and state["pending_invalidations"] == []


def test_cache_routes_are_for_admins_and_follow_the_plugin(env, admin):
    web = client_for(env)
    web.post("/admin/api/cache/purge", headers=bearer(token_for(create_user("editor"))), status=403)
    web.post("/admin/api/plugins/core-cache/deactivate", headers=admin, status=200)
    web.get("/admin/api/cache", headers=admin, status=404)
    web.post("/admin/api/cache/purge", headers=admin, status=404)


def worker_with_services(env):
    """A client over an app whose services the test keeps (to look at its memory tier)."""
    settings = settings_for_tests()
    services = build_services(env, settings)
    return webtest.TestApp(Worker(lambda: env, lambda e: create_app(e, settings, services))), services


def stored_content_expirations(env, services):
    """``{key: seconds left}`` of the content entries KV holds for this worker's memory keys."""
    keys = [key for key in services.cache.memory.held_keys() if key.startswith("content:")]
    now = int(time.time())
    return {key: entry.expiration - now for key, entry in env.CACHE_KV.backend.get_many(keys, now).items()}


@pytest.mark.backends
def test_a_changed_ttl_reaches_the_stored_entries(env, admin):
    first, services = worker_with_services(env)
    second = client_for(env)  # another worker changes the settings
    insert_items(create_collection("pages"), create_user("author"), 1)
    first.get("/api/content", status=200)
    [left] = stored_content_expirations(env, services).values()
    assert 290 <= left <= 300  # the built-in TTL
    second.patch_json("/admin/api/plugins/core-cache", {"settings": {"ttl": {"content": 7200}, "defaultTTL": 900}},
                      headers=admin, status=200)
    first.post("/admin/api/cache/purge", headers=admin, status=200)
    first.get("/api/content", status=200)
    lefts = sorted(stored_content_expirations(env, services).values())
    assert 7190 <= lefts[-1] <= 7200
    state = first.get("/admin/api/cache", headers=admin).json["data"]["namespaces"]
    assert (state["content"]["ttl"], state["media"]["ttl"], state["plugins"]["ttl"]) == (7200, 900, 600)
    second.post("/admin/api/plugins/core-cache/deactivate", headers=admin, status=200)
    past_generation_bound()
    assert services.cache.ttl_of("content") == 300  # an inactive plugin's settings are not applied


@pytest.mark.parametrize("settings", [{"ttl": {"content": 59}}, {"ttl": {"plugins": 600}}, {"ttl": {"nope": 600}},
                                      {"defaultTTL": 31 * 24 * 3600}, {"ttl": {"content": "long"}}, {"other": 1}])
def test_ttl_settings_are_validated(env, admin, settings):
    web = client_for(env)
    body = web.patch_json("/admin/api/plugins/core-cache", {"settings": settings}, headers=admin, status=422).json
    assert body["details"][0]["field"].startswith("settings")
    assert web.get("/admin/api/cache", headers=admin).json["data"]["namespaces"]["content"]["ttl"] == 300


def test_the_seeded_row_keeps_the_built_in_ttls(env, admin):
    settings = client_for(env).get("/admin/api/plugins/core-cache", headers=admin).json["data"]["settings"]
    assert settings["ttl"] == {} and settings["defaultTTL"] is None
