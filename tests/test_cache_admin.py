"""Cache administration: stats per namespace, clearing one namespace, warming the public
first pages, and the TTL a hit answers (``X-Cache-TTL``, ``meta.cache.ttl``)."""

import os
import time
from types import SimpleNamespace

import pytest

from app.db.models import bind_models
from tests.fixtures.admin import browser_for, csrf_token, sign_in
from tests.fixtures.app import client_for, env_with_copy
from tests.fixtures.auth import hashed
from tests.fixtures.cache import past_generation_bound, with_kv_clock
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

WARMED_PATHS = ["/api/collections", "/api/content", "/api/collections/blog/content", "/api/collections/news/content"]


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


@pytest.fixture
def site(env, blog_collection, as_author):
    """Two active collections with published items, and an inactive one."""
    author, _ = as_author
    insert_items(blog_collection, author, 3)
    insert_items(create_collection("news"), author, 2)
    create_collection("drafts", is_active=False)


def cache_status(response):
    return response.headers["X-Cache-Status"], response.headers["X-Cache-Source"]


def content_stats(web, admin):
    return web.get("/admin/api/cache/stats/content", headers=admin, status=200).json["data"]


# ---------------------------------------------------------------- stats


def test_stats_count_this_workers_lookups_by_tier(env, client, site, admin):
    before = content_stats(client, admin)
    assert client.get("/api/content").headers["X-Cache-Status"] == "MISS"
    assert cache_status(client.get("/api/content")) == ("HIT", "memory")
    client_for(env).get("/api/content")  # another worker's lookups are its own
    after = content_stats(client, admin)
    assert after["reads"]["database"] - before["reads"]["database"] == 1
    assert after["reads"]["memory"] - before["reads"]["memory"] == 1
    assert after["reads"]["kv"] == before["reads"]["kv"]
    assert (after["hits"], after["misses"]) == (after["reads"]["memory"] + after["reads"]["kv"],
                                                after["reads"]["database"])
    assert after["memory"]["entries"] >= 1 and after["memory"]["bytes"] > before["memory"]["bytes"]
    assert after["pid"] == os.getpid() and "worker" in after["scope"]
    assert after["generation"] == env.CACHE_KV.get("gen:content", type="text")
    assert (after["namespace"], after["ttl"], after["default_ttl"]) == ("content", 300, 300)


def test_stats_of_every_namespace(client, site, admin):
    client.get("/api/collections")
    body = client.get("/admin/api/cache/stats", headers=admin, status=200).json
    assert body["success"] is True and body["timestamp"].endswith("Z")
    stats = body["data"]
    assert set(stats["namespaces"]) == {"content", "collections", "media", "users", "api", "plugins"}
    collections = stats["namespaces"]["collections"]
    assert collections["reads"]["database"] >= 1 and collections["memory"]["entries"] == 1
    assert stats["namespaces"]["content"]["depends_on"] == ["collections", "media", "users"]
    held = sum(n["memory"]["bytes"] for n in stats["namespaces"].values())
    assert held == stats["memory"]["bytes"] and stats["memory"]["max_bytes"] > 0


@pytest.mark.parametrize("method, path", [
    ("get", "/admin/api/cache/stats/contents"), ("post", "/admin/api/cache/clear/contents"),
    ("post", "/admin/api/cache/warm/Content"),
])
def test_an_unknown_namespace_is_a_404(client, admin, method, path):
    body = getattr(client, method)(path, headers=admin, status=404).json
    assert body["error"].startswith("Unknown cache namespace") and "content" in body["error"]


# ---------------------------------------------------------------- clear


def test_clearing_a_namespace_reaches_every_worker_with_its_dependents(env, client, site, admin):
    other = client_for(env)
    for path in ("/api/content", "/api/collections"):
        client.get(path)
        assert client.get(path).headers["X-Cache-Status"] == "HIT"
    cleared = other.post("/admin/api/cache/clear/media", headers=admin, status=200).json
    assert cleared == {"success": True, "data": {"namespace": "media", "cleared": ["media", "content"], "pending": []}}
    past_generation_bound()
    assert client.get("/api/content").headers["X-Cache-Status"] == "MISS"  # content embeds media
    assert client.get("/api/collections").headers["X-Cache-Status"] == "HIT"  # collections does not
    other.post("/admin/api/cache/clear/collections", headers=admin, status=200)
    past_generation_bound()
    assert client.get("/api/collections").headers["X-Cache-Status"] == "MISS"


def test_clear_without_a_namespace_purges_everything(env, client, site, admin):
    client.get("/api/collections")
    purged = client_for(env).post("/admin/api/cache/clear", headers=admin, status=200).json["data"]
    assert purged["pending"] == [] and "collections" in purged["purged"]
    past_generation_bound()
    assert client.get("/api/collections").headers["X-Cache-Status"] == "MISS"


# ---------------------------------------------------------------- warm


def test_after_a_warm_the_first_requests_are_hits(env, client, site, admin):
    warmed = client.post("/admin/api/cache/warm", headers=admin, status=200).json["data"]
    assert [entry["path"] for entry in warmed["warmed"]] == WARMED_PATHS  # not the inactive collection
    assert {entry["source"] for entry in warmed["warmed"]} == {"database"} and warmed["loaded"] == 4
    for path in WARMED_PATHS:
        assert cache_status(client.get(path)) == ("HIT", "memory"), path
    other = client_for(env)
    for path in WARMED_PATHS:
        assert cache_status(other.get(path)) == ("HIT", "kv"), path
    again = client.post("/admin/api/cache/warm", headers=admin, status=200).json["data"]
    assert again["loaded"] == 0 and {entry["source"] for entry in again["warmed"]} == {"memory"}


def test_a_warmed_list_answers_what_a_request_loads(env, client, site, admin):
    loaded = client_for(env).get("/api/collections/blog/content").json
    client.post("/admin/api/cache/clear/content", headers=admin, status=200)
    client.post("/admin/api/cache/warm/content", headers=admin, status=200)
    warm = client.get("/api/collections/blog/content")
    assert warm.headers["X-Cache-Status"] == "HIT"
    assert warm.json["data"] == loaded["data"] and warm.json["meta"]["collection"] == loaded["meta"]["collection"]


def test_warming_one_namespace_fills_only_its_reads(client, site, admin):
    warmed = client.post("/admin/api/cache/warm/collections", headers=admin, status=200).json["data"]
    assert warmed == {"warmed": [{"namespace": "collections", "path": "/api/collections", "source": "database"}],
                      "loaded": 1}
    assert client.get("/api/collections").headers["X-Cache-Status"] == "HIT"
    assert client.get("/api/content").headers["X-Cache-Status"] == "MISS"


@pytest.mark.parametrize("namespace", ["media", "users", "api", "plugins"])
def test_a_namespace_of_per_request_entries_cannot_be_warmed(client, admin, namespace):
    body = client.post(f"/admin/api/cache/warm/{namespace}", headers=admin, status=422).json
    assert body["error"] == f"The {namespace} namespace cannot be warmed"
    assert body["details"][0]["parameter"] == "namespace" and "collections, content" in body["details"][0]["message"]


# ---------------------------------------------------------------- X-Cache-TTL


def test_a_hit_says_how_long_it_stays_cached(env, client, site, admin):
    miss = client.get("/api/content")
    assert "X-Cache-TTL" not in miss.headers and "ttl" not in miss.json["meta"]["cache"]
    memory = client.get("/api/content")
    assert 0 < int(memory.headers["X-Cache-TTL"]) <= 300
    assert memory.json["meta"]["cache"]["ttl"] == int(memory.headers["X-Cache-TTL"])
    client.get("/api/collections")
    collections = client.get("/api/collections")
    assert 0 < collections.json["meta"]["cache"]["ttl"] == int(collections.headers["X-Cache-TTL"]) <= 600


def test_a_kv_hit_says_what_its_kv_entry_has_left(env, site):
    now = [float(int(time.time()))]
    aged = with_kv_clock(env, lambda: now[0])
    client_for(aged).get("/api/content")
    now[0] += 120
    # Another worker's copy lives as long as the KV entry it was made from, and says so.
    kv = client_for(aged).get("/api/content")
    assert cache_status(kv) == ("HIT", "kv") and kv.headers["X-Cache-TTL"] == "180"
    assert kv.json["meta"]["cache"] == {"hit": True, "source": "kv", "ttl": 180}


@pytest.mark.parametrize("memory", [{"cache_memory_max_entry_bytes": 16}, {"cache_memory_max_bytes": 0}])
def test_a_kv_hit_whose_copy_memory_refused_says_no_ttl(env, site, memory):
    client = client_for(env, **memory)
    client.get("/api/content")
    kv = client.get("/api/content")
    assert cache_status(kv) == ("HIT", "kv")
    assert "X-Cache-TTL" not in kv.headers and kv.json["meta"]["cache"] == {"hit": True, "source": "kv"}
    client.get("/api/collections")
    collections = client.get("/api/collections")
    assert cache_status(collections) == ("HIT", "kv") and "X-Cache-TTL" not in collections.headers


def test_the_ttl_a_kv_hit_says_follows_the_plugin_settings(env, client, site, admin):
    client.patch_json("/admin/api/plugins/core-cache", {"settings": {"ttl": {"content": 7200}}}, headers=admin,
                      status=200)
    client.get("/api/content")
    past_generation_bound()  # the other worker reads the new settings
    # A KV hit says the time its entry has left: the setting's 7,200 s less the moments since
    # it was written (a second boundary may pass on a loaded machine), never the default 300.
    assert 7190 <= int(client_for(env).get("/api/content").headers["X-Cache-TTL"]) <= 7200


def test_a_not_modified_answer_carries_the_ttl_too(client, site):
    tag = client.get("/api/content").headers["ETag"]
    answer = client.get("/api/content", headers={"If-None-Match": tag}, status=304)
    assert answer.headers["X-Cache-Status"] == "HIT" and 0 < int(answer.headers["X-Cache-TTL"]) <= 300


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("method, path", [
    ("get", "/admin/api/cache/stats"), ("get", "/admin/api/cache/stats/content"),
    ("post", "/admin/api/cache/clear/content"), ("post", "/admin/api/cache/warm"),
    ("post", "/admin/api/cache/warm/content"),
])
def test_the_routes_are_for_admins_and_follow_the_plugin(client, make_user, admin, method, path):
    getattr(client, method)(path, headers=make_user("editor")[1], status=403)
    getattr(client, method)(path, status=401)
    client.post("/admin/api/plugins/core-cache/deactivate", headers=admin, status=200)
    getattr(client, method)(path, headers=admin, status=404)


# ---------------------------------------------------------------- CACHE_KV down


@pytest.fixture
def kv_going_down(tmp_path, migrated_template, memcached_factory):
    """CACHE_KV on a memcached of its own, and an admin (with a password) who made a request
    while it answered: ``.env``, ``.admin``, ``.headers``, ``.web``; ``.server.stop()`` takes
    memcached down."""
    server = memcached_factory()
    env = env_with_copy(tmp_path / "mc", migrated_template, kv_servers=[server.address])
    bind_models(env.DB.db)
    try:
        admin = create_user("admin", password_hash=hashed())
        headers = bearer(token_for(admin))
        web = client_for(env)
        web.get("/admin/api/cache", headers=headers, status=200)  # signed in while KV answers
        yield SimpleNamespace(env=env, server=server, admin=admin, headers=headers, web=web)
    finally:
        env.DB.db.close()


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_warm_with_memcached_down_is_a_503_and_stats_say_no_generation(kv_going_down, db_backend):
    kv, headers = kv_going_down, kv_going_down.headers
    insert_items(create_collection("blog"), create_user("author"), 1)
    kv.server.stop()
    refused = kv.web.post("/admin/api/cache/warm", headers=headers, status=503)
    assert refused.json["error"] == "CACHE_KV is unavailable: nothing can be warmed"
    assert int(refused.headers["Retry-After"]) >= 1
    stats = kv.web.get("/admin/api/cache/stats/content", headers=headers, status=200).json["data"]
    assert stats["generation"] is None


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_clear_memcached_did_not_take_is_pending_on_the_api_and_the_page(kv_going_down, db_backend):
    kv, headers = kv_going_down, kv_going_down.headers
    browser = browser_for(kv.env)
    assert sign_in(browser, kv.admin).status_int == 303
    page = browser.get("/admin/cache")
    kv.server.stop()
    first = kv.web.post("/admin/api/cache/clear/content", headers=headers, status=200).json["data"]
    second = kv.web.post("/admin/api/cache/clear/media", headers=headers, status=200).json["data"]
    assert (first["pending"], second["pending"]) == (["content"], ["content", "media"])

    clear = next(f for f in page.forms.values() if f.action == "/admin/cache/clear/collections")
    done = clear.submit().follow()
    shown = done.html.get_text()  # what the page says, not its buttons' questions
    assert "cleared in this worker only, for now" in shown and "for every worker" not in shown


# ---------------------------------------------------------------- the admin page


def test_the_admin_page_shows_the_stats_and_clears_a_namespace(env, browser, signed_in_as, site):
    signed_in_as("admin")
    reader = client_for(env)
    reader.get("/api/collections")
    link = browser.get("/admin/plugins/core-cache").html.select_one("#cache-page")
    page = browser.get(link["href"])
    assert [row["id"] for row in page.html.select("tr[id^=cache-]")] == [
        "cache-content", "cache-collections", "cache-media", "cache-users", "cache-api", "cache-plugins"]
    assert env.CACHE_KV.get("gen:collections", type="text") in page.html.select_one("#cache-collections").text
    clear = next(f for f in page.forms.values() if f.action == "/admin/cache/clear/collections")
    done = clear.submit().follow()
    assert "The collections namespace and those depending on it were cleared" in done.text
    past_generation_bound()
    assert reader.get("/api/collections").headers["X-Cache-Status"] == "MISS"


def test_the_admin_page_warms_the_first_pages(env, browser, signed_in_as, site):
    signed_in_as("admin")
    page = browser.get("/admin/cache")
    assert not any(f.action == "/admin/cache/warm/media" for f in page.forms.values())  # not warmable
    done = page.forms["cache-warm"].submit().follow()
    assert "4 public read(s) loaded" in done.text
    reader = client_for(env)
    assert [cache_status(reader.get(path))[0] for path in WARMED_PATHS] == ["HIT"] * 4


def test_the_admin_page_actions_need_the_token_and_the_plugin(env, browser, signed_in_as, site):
    signed_in_as("admin")
    browser.post("/admin/cache/clear", status=403)  # the session cookie alone
    browser.post("/admin/cache/warm", status=403)
    browser.post("/admin/cache/clear/contents", {"csrf_token": csrf_token(browser)}, status=404)
    browser.post("/admin/plugins/core-cache/deactivate", {"csrf_token": csrf_token(browser)}, status=303)
    browser.get("/admin/cache", status=404)
    assert browser.get("/admin/plugins/core-cache").html.select_one("#cache-page") is None
    assert browser.get("/admin").html.select_one("nav a[href='/admin/cache']") is None


def test_the_nav_leads_admins_to_the_cache_page_titled_cache(browser, signed_in_as, site):
    signed_in_as("admin")
    link = browser.get("/admin").html.select_one("nav a[href='/admin/cache']")
    assert link.get_text(strip=True) == "Cache"
    page = browser.get("/admin/cache")
    assert page.html.title.get_text() == "Cache · sonicpy"
    assert page.html.select_one("nav a[href='/admin/cache']")["aria-current"] == "page"
    assert page.html.select_one("#cache-purge")["data-confirm"].startswith("Clear every namespace, for every worker?")
    assert not page.html.select_one("#cache-warm").has_attr("data-confirm")


def test_editors_cannot_open_the_cache_page(browser, signed_in_as):
    signed_in_as("editor")
    assert browser.get("/admin").html.select_one("nav a[href='/admin/cache']") is None
    browser.get("/admin/cache", status=403)
    browser.post("/admin/cache/warm", {"csrf_token": csrf_token(browser)}, status=403)
