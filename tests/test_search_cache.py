"""``POST /api/search`` answers kept in the read cache for ``cache_duration`` hours,
request-level on SQLite and PostgreSQL (the real CACHE_KV of each stack).

The public (anonymous callers, viewers) shares one entry per request; callers who see
drafts never read nor fill it. Content writes, the semantic index's new vectors and a
settings change invalidate; a hit is still a search (history, rate limits).
"""

import time

import pytest

from app.db.models import Collection, Content, SearchHistory, now_ms
from app.runtime.context import ScheduledEvent
from app.scheduled import index_search_embeddings
from app.services.ai_search.semantic import semantic_index_for
from app.services.ai_search.service import MODEL_FAILED
from tests.fixtures.app import client_for
from tests.fixtures.auth import clocked_client
from tests.fixtures.cache import past_generation_bound, with_kv_clock
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.embeddings import ai_env_fixture
from tests.test_rate_limit_headers import START, Clock, quota

pytestmark = pytest.mark.backends

HOUR = 3600
SETTINGS = "/admin/api/plugins/ai-search"


# The test's stack with an ``[ai]`` binding on the test's embeddings server.
env = ai_env_fixture(batch_size=8)  # the default timeout: no test here waits on a hanging model


@pytest.fixture
def site(env, as_author):
    """``blog``: two published posts about red things and the author's red draft; every one indexed."""
    author, _ = as_author
    blog = create_collection("blog", display_name="Blog")
    ids = insert_items(blog, author, 1, slug_prefix="bikes", title="Red bikes", data=lambda _: {"body": "red wheels"})
    ids += insert_items(blog, author, 1, slug_prefix="cars", title="Cars", data=lambda _: {"body": "a red car"})
    ids += insert_items(blog, author, 1, status="draft", slug_prefix="secret", title="Secret red plan",
                        data=lambda _: {"body": "the red draft"})
    semantic_index_for(env).index_items(ids)
    return author


def ask(client, query, headers=None, **body):
    """The response of a search (status 200)."""
    return client.post_json("/api/search", {"query": query, **body}, headers=headers or {}, status=200)


def slugs(response):
    return sorted(result["slug"] for result in response.json["data"]["results"])


def cache_status(response):
    return response.headers["X-Cache-Status"], response.headers["X-Cache-Source"]


def publish(client, headers, title, body):
    """A published item of ``blog`` created through the API; its id."""
    return client.post_json("/api/content", {"collectionId": "blog", "title": title, "status": "published",
                                             "data": {"body": body}}, headers=headers, status=201).json["data"]["id"]


def test_the_public_shares_one_answer_after_a_miss(client, site, as_viewer):
    miss = ask(client, "red")
    assert cache_status(miss) == ("MISS", "database") and "X-Cache-TTL" not in miss.headers
    assert slugs(miss) == ["bikes-0", "cars-0"]
    hit = ask(client, "red")
    assert cache_status(hit) == ("HIT", "memory") and HOUR - 60 < int(hit.headers["X-Cache-TTL"]) <= HOUR
    assert hit.json["data"]["results"] == miss.json["data"]["results"]
    # A viewer reads what the public reads: the same entry.
    assert cache_status(ask(client, "red", headers=as_viewer[1]))[0] == "HIT"
    # Another page, limit, mode or query is another entry.
    assert cache_status(ask(client, "red", limit=1))[0] == "MISS"
    assert cache_status(ask(client, "red", offset=1))[0] == "MISS"
    assert cache_status(ask(client, "red", mode="ai"))[0] == "MISS"
    assert cache_status(ask(client, "red car"))[0] == "MISS"


def test_the_answer_lives_cache_duration_hours(client, site, as_admin):
    client.patch_json(SETTINGS, {"settings": {"cache_duration": 24}}, headers=as_admin[1])
    ask(client, "red")
    assert 23 * HOUR < int(ask(client, "red").headers["X-Cache-TTL"]) <= 24 * HOUR


def test_another_worker_keeps_the_answer_only_while_its_kv_entry_lives(env, site, as_admin):
    now = [float(int(time.time()))]
    aged = with_kv_clock(env, lambda: now[0])
    client = client_for(aged)
    client.patch_json(SETTINGS, {"settings": {"cache_duration": 2}}, headers=as_admin[1])
    ask(client, "red")
    now[0] += 1.5 * HOUR
    # A worker that had no copy gets the KV entry's last half hour, not two more hours.
    hit = ask(client_for(aged), "red")
    assert cache_status(hit) == ("HIT", "kv") and hit.headers["X-Cache-TTL"] == str(HOUR // 2)


def test_an_author_who_sees_drafts_never_shares_the_publics_entry(client, site, as_author):
    _, author = as_author
    for _ in range(2):  # never stored for them, never read from the cache
        own = ask(client, "red", headers=author)
        assert cache_status(own) == ("MISS", "database")
        assert slugs(own) == ["bikes-0", "cars-0", "secret-0"]
    public = ask(client, "red")
    assert cache_status(public)[0] == "MISS" and slugs(public) == ["bikes-0", "cars-0"]
    assert cache_status(ask(client, "red"))[0] == "HIT"
    own = ask(client, "red", headers=author)  # the public's entry is there: still not for them
    assert cache_status(own)[0] == "MISS" and slugs(own) == ["bikes-0", "cars-0", "secret-0"]


def test_writes_invalidate_at_once(client, site, as_admin):
    _, admin = as_admin
    assert ask(client, "zebra").json["data"]["total"] == 0
    assert cache_status(ask(client, "zebra"))[0] == "HIT"
    # Published: found on the next search.
    item = publish(client, admin, "Zebra crossing", "stripes")
    found = ask(client, "zebra")
    assert cache_status(found)[0] == "MISS" and found.json["data"]["total"] == 1
    assert cache_status(ask(client, "zebra"))[0] == "HIT"
    # Edited: the new words find it, the old ones no more.
    client.put_json(f"/api/content/{item}", {"title": "Pelican crossing"}, headers=admin, status=200)
    assert ask(client, "zebra").json["data"]["total"] == 0
    assert ask(client, "pelican").json["data"]["total"] == 1
    assert cache_status(ask(client, "pelican"))[0] == "HIT"
    # Unpublished: gone at once.
    client.post_json(f"/api/content/{item}/workflow", {"action": "unpublish"}, headers=admin, status=200)
    assert ask(client, "pelican").json["data"]["total"] == 0
    client.post_json(f"/api/content/{item}/workflow", {"action": "publish"}, headers=admin, status=200)
    assert ask(client, "pelican").json["data"]["total"] == 1
    assert cache_status(ask(client, "pelican"))[0] == "HIT"
    # Deleted: gone at once.
    client.delete(f"/api/content/{item}", headers=admin, status=200)
    assert ask(client, "pelican").json["data"]["total"] == 0


def test_a_collection_write_invalidates(client, site, as_admin):
    _, admin = as_admin
    ask(client, "red")
    assert ask(client, "red").json["data"]["results"][0]["collection_name"] == "Blog"
    client.patch_json("/admin/api/collections/blog", {"display_name": "Journal"}, headers=admin, status=200)
    renamed = ask(client, "red")
    assert cache_status(renamed)[0] == "MISS" and renamed.json["data"]["results"][0]["collection_name"] == "Journal"


def test_cache_duration_0_caches_nothing(client, site, as_admin):
    client.patch_json(SETTINGS, {"settings": {"cache_duration": 0}}, headers=as_admin[1])
    assert cache_status(ask(client, "red")) == ("MISS", "database")
    # A change the app did not make (no invalidation) is seen: nothing was kept.
    Content.update(title="Red cars").where(Content.slug == "cars-0").execute()
    second = ask(client, "red")
    assert cache_status(second) == ("MISS", "database") and "X-Cache-TTL" not in second.headers
    assert "Red cars" in [result["title"] for result in second.json["data"]["results"]]


def test_a_settings_change_invalidates(client, site, as_admin):
    _, admin = as_admin
    news = client.post_json("/admin/api/collections", {"name": "news", "displayName": "News"}, headers=admin,
                            status=201).json["id"]
    assert slugs(ask(client, "red")) == ["bikes-0", "cars-0"]
    assert cache_status(ask(client, "red"))[0] == "HIT"
    client.patch_json(SETTINGS, {"settings": {"selected_collections": [news]}}, headers=admin)
    narrowed = ask(client, "red")
    assert cache_status(narrowed)[0] == "MISS" and slugs(narrowed) == []
    client.patch_json(SETTINGS, {"settings": {"selected_collections": []}}, headers=admin)
    assert slugs(ask(client, "red")) == ["bikes-0", "cars-0"]
    # A setting no answer depends on (a dismissed collection, the suggestions) keeps them.
    client.patch_json(SETTINGS, {"settings": {"dismissed_collections": [news], "autocomplete_enabled": False}},
                      headers=admin)
    kept = ask(client, "red")
    assert cache_status(kept)[0] == "HIT" and slugs(kept) == ["bikes-0", "cars-0"]


def test_every_hit_is_a_search_in_the_analytics(client, site, as_admin):
    answers = [ask(client, "red") for _ in range(3)]
    assert [cache_status(answer)[0] for answer in answers] == ["MISS", "HIT", "HIT"]
    rows = list(SearchHistory.select().order_by(SearchHistory.created_at, SearchHistory.id))
    assert [(row.query, row.results_count, row.public) for row in rows] == [("red", 2, True)] * 3
    assert sorted(row.query_time_ms for row in rows) == sorted(a.json["data"]["query_time_ms"] for a in answers)
    data = client.get("/api/search/analytics", headers=as_admin[1], status=200).json["data"]
    assert data["total_queries"] == 3 and data["popular_queries"] == [{"query": "red", "count": 3}]


def test_hits_are_rate_limited(env, site):
    clock = Clock()
    client = clocked_client(env, clock, rate_limit_window_seconds=5)
    answers = [client.post_json("/api/search", {"query": "red"}, status=200) for _ in range(5)]
    assert [answer.headers["X-Cache-Status"] for answer in answers] == ["MISS"] + ["HIT"] * 4
    assert [quota(answer)[1] for answer in answers] == [4, 3, 2, 1, 0]
    assert quota(client.post_json("/api/search", {"query": "red"}, status=429)) == (5, 0, START + 5)


def test_new_vectors_invalidate_ai_answers(env, client, site):
    """Items indexed after the cached answer (the scheduled job, no content write) are ranked at once."""
    ask(client, "red wheels", mode="ai")
    assert cache_status(ask(client, "red wheels", mode="ai"))[0] == "HIT"
    insert_items(Collection.get_by_id("col-blog"), site, 1, slug_prefix="wheels", start=now_ms(),
                 title="Wheels", data=lambda _: {"body": "red wheels red wheels"})
    assert index_search_embeddings(ScheduledEvent("* * * * *", now_ms()), env)["embedded"] == 1
    past_generation_bound()  # the job bumped CACHE_KV's generation; this worker trusts its own that long
    ranked = ask(client, "red wheels", mode="ai")
    assert cache_status(ranked)[0] == "MISS" and "wheels-0" in slugs(ranked)


def test_an_ai_answer_made_when_the_model_failed_is_not_kept(client, site, embeddings_server):
    embeddings_server.answer = 503
    for _ in range(2):
        fallback = ask(client, "red wheels", mode="ai")
        assert fallback.json["data"]["fallback"] == MODEL_FAILED and cache_status(fallback)[0] == "MISS"
    embeddings_server.answer = None
    ranked = ask(client, "red wheels", mode="ai")
    assert ranked.json["data"]["mode"] == "ai" and cache_status(ranked)[0] == "MISS"
    assert cache_status(ask(client, "red wheels", mode="ai"))[0] == "HIT"
