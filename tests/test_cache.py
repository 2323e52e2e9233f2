"""The three-tier cache (A11): memory -> CACHE_KV -> database for public content reads,
invalidated by every write (the API's and the CLI's) so that the writer's instance reads
its own writes at once and a second app instance sharing DB and KV reads them within the
generation bound, and degrading to the database (200) when memcached
is down."""

import json
import logging
import time

import pytest

from app.db.models import Content, bind_models
from app.runtime.env import build_env
from app.runtime.kv import KVNamespace
from app.services.cache import (
    ALL_NAMESPACES,
    DATABASE,
    EXPIRY_TAG,
    GENERATION_TTL_SECONDS,
    KV,
    MEMORY,
    Namespace,
    NamespacePolicy,
    ThreeTierCache,
    invalidate,
    invalidate_namespaces,
)
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.app import client_for, env_with_copy, make_env, run_env_cli
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends


def cache_headers(response):
    return response.headers["X-Cache-Status"], response.headers["X-Cache-Source"]


def other_instance(env):
    """A second app (own process memory) over the same database and the same KV store."""
    twin = build_env(env.config)
    assert twin.DB.db.database == env.DB.db.database
    return client_for(twin)


@pytest.fixture
def published(env, blog_collection, as_author):
    author, _ = as_author
    return insert_items(blog_collection, author, 3)


# ---------------------------------------------------------------- through the API


def test_second_read_is_a_memory_hit(client, published):
    first = client.get("/api/content")
    assert cache_headers(first) == ("MISS", "database")
    assert first.json["meta"]["cache"] == {"hit": False, "source": "database"}
    second = client.get("/api/content")
    assert cache_headers(second) == ("HIT", "memory")
    cache = second.json["meta"]["cache"]
    assert cache == {"hit": True, "source": "memory", "ttl": int(second.headers["X-Cache-TTL"])}
    assert 0 < cache["ttl"] <= 300  # what the memory entry has left of the content namespace's 300 s
    assert second.json["data"] == first.json["data"]
    # Another query is another entry.
    assert cache_headers(client.get("/api/content?limit=2")) == ("MISS", "database")
    item = published[0]
    client.get(f"/api/content/{item}")
    assert cache_headers(client.get(f"/api/content/{item}")) == ("HIT", "memory")
    client.get("/api/collections/blog/content/item-0")
    assert cache_headers(client.get("/api/collections/blog/content/item-0")) == ("HIT", "memory")
    client.get("/api/collections/blog/content")
    assert cache_headers(client.get("/api/collections/blog/content")) == ("HIT", "memory")


def test_another_instance_is_served_from_kv_then_memory(env, client, published):
    client.get("/api/content")
    twin = other_instance(env)
    assert cache_headers(twin.get("/api/content")) == ("HIT", "kv")
    assert cache_headers(twin.get("/api/content")) == ("HIT", "memory")


def test_equal_queries_share_an_entry(client, published):
    client.get("/api/content?limit=50&sort=-published_at")
    assert cache_headers(client.get("/api/content")) == ("HIT", "memory")


def test_errors_are_not_cached(client, published):
    client.get("/api/content/nope", status=404)
    client.get("/api/collections/nope/content", status=404)
    client.get("/api/content?limit=0", status=400)
    response = client.get("/api/content/nope", status=404)
    assert response.json == {"error": "Content not found"}


def test_private_reads_bypass_the_cache(client, published, as_editor, as_viewer):
    _, headers = as_editor
    for _ in range(2):
        response = client.get("/api/content", headers=headers)
        assert cache_headers(response) == ("MISS", "database")
        assert response.headers["Cache-Control"] == "private, no-store"
    # Viewers get exactly the public response: they share its cache entry.
    client.get("/api/content")
    _, viewer_headers = as_viewer
    assert cache_headers(client.get("/api/content", headers=viewer_headers)) == ("HIT", "memory")


@pytest.fixture(params=["local", "memcached"])
def two_instances(request, tmp_path, migrated_template):
    """Two apps (two workers: own memory each) over one SQLite file and one CACHE_KV:
    the local KV store, or a real memcached server."""
    servers = None
    if request.param == "memcached":
        servers = [request.getfixturevalue("memcached_factory")().address]
    folder = tmp_path / "shared"
    env = env_with_copy(folder, migrated_template, kv_servers=servers)
    twin = make_env(folder, kv_servers=servers)
    assert twin.DB.db.database == env.DB.db.database
    bind_models(env.DB.db)
    create_collection("blog")
    editor = create_user("editor")
    yield client_for(env), client_for(twin), bearer(token_for(editor))
    env.DB.db.close()
    twin.DB.db.close()


def test_writes_are_read_through_another_instance_at_once(two_instances):
    client, twin, headers = two_instances
    assert twin.get("/api/content").json["data"] == []
    assert cache_headers(twin.get("/api/content")) == ("HIT", "memory")

    created = client.post_json("/api/content", {"collectionId": "blog", "title": "Fresh", "status": "published"},
                               headers=headers, status=201).json["data"]
    past_generation_bound()
    listed = twin.get("/api/content")
    assert [item["title"] for item in listed.json["data"]] == ["Fresh"]
    assert cache_headers(listed) == ("MISS", "database")
    assert twin.get(f"/api/content/{created['id']}").json["data"]["title"] == "Fresh"

    client.put_json(f"/api/content/{created['id']}", {"title": "Edited"}, headers=headers)
    past_generation_bound()
    assert twin.get(f"/api/content/{created['id']}").json["data"]["title"] == "Edited"
    assert twin.get("/api/collections/blog/content/fresh").json["data"]["title"] == "Edited"

    client.delete(f"/api/content/{created['id']}", headers=headers)
    past_generation_bound()
    twin.get(f"/api/content/{created['id']}", status=404)
    assert twin.get("/api/content").json["meta"]["total"] == 0

    client.post(f"/api/content/{created['id']}/restore", headers=headers)
    past_generation_bound()
    assert twin.get("/api/content").json["meta"]["total"] == 1


def test_version_restores_invalidate_too(env, client, blog_collection, as_editor):
    _, headers = as_editor
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "A", "status": "published"},
                            headers=headers, status=201).json["data"]
    client.put_json(f"/api/content/{item['id']}", {"title": "B"}, headers=headers)
    twin = other_instance(env)
    assert twin.get(f"/api/content/{item['id']}").json["data"]["title"] == "B"
    client.post(f"/api/content/{item['id']}/versions/1/restore", headers=headers)
    past_generation_bound()
    assert twin.get(f"/api/content/{item['id']}").json["data"]["title"] == "A"


def test_other_areas_invalidate_through_the_shared_function(env, client, published):
    client.get("/api/content")
    twin = other_instance(env)
    twin.get("/api/content")
    Content.update(title="Changed behind the API").where(Content.id == published[-1]).execute()
    # A collections write elsewhere: content embeds collection fields, so it depends on them.
    other = ThreeTierCache(env.CACHE_KV)
    assert invalidate(other, "collections") is True
    past_generation_bound()
    response = twin.get("/api/content")
    assert cache_headers(response) == ("MISS", "database")
    assert response.json["data"][0]["title"] == "Changed behind the API"


# ---------------------------------------------------------------- KV outage


@pytest.fixture
def memcached_app(tmp_path, migrated_template, memcached_factory):
    server = memcached_factory()
    env = env_with_copy(tmp_path / "mc", migrated_template, kv_servers=[server.address])
    bind_models(env.DB.db)
    author = create_user("editor")
    create_collection("blog")
    insert_items(create_collection("news"), author, 2)
    yield server, env, client_for(env), bearer(token_for(author))
    env.DB.db.close()


def test_reads_fall_back_to_the_database_when_memcached_stops(memcached_app, caplog):
    server, env, client, headers = memcached_app
    client.get("/api/content")
    assert cache_headers(client.get("/api/content")) == ("HIT", "memory")
    server.stop()
    # Within the generations' trust the memory tier answers without asking KV (right: no
    # write was missed); the fall-back shows once it must ask a KV that is gone.
    past_generation_bound()
    with caplog.at_level(logging.WARNING, logger="sonicpy.cache"):
        response = client.get("/api/content")
    assert response.status_int == 200
    assert cache_headers(response) == ("MISS", "database")
    assert response.json["meta"]["total"] == 2
    assert any("CACHE_KV unavailable" in record.getMessage() for record in caplog.records)
    # Writes still work; the next reads still answer from the database.
    created = client.post_json("/api/content", {"collectionId": "blog", "title": "During outage", "status": "published"},
                               headers=headers, status=201).json["data"]
    assert client.get("/api/content").json["meta"]["total"] == 3
    assert client.get(f"/api/content/{created['id']}").status_int == 200
    # Back up: after the short breaker (1 s from its last failed try), caching resumes,
    # with nothing stale. Polled: on a loaded machine the breaker's last try may come late.
    server.start()
    time.sleep(1.1)
    seen, deadline = [], time.monotonic() + 15
    while ("HIT", "memory") not in seen and time.monotonic() < deadline:
        response = client.get("/api/content")
        assert response.json["meta"]["total"] == 3
        seen.append(cache_headers(response))
        time.sleep(0.1)
    assert ("HIT", "memory") in seen


@pytest.fixture(params=[True, False], ids=["restarted-with-its-items", "restarted-empty"])
def restarting_memcached(request, tmp_path, stack, memcached_factory):
    """``(server, env, warm)``: an app env on the test's stack over a memcached of its own,
    which the test restarts on the same port with its items (``warm``) or empty."""
    warm = request.param
    server = memcached_factory(warm=warm)
    env = stack.env(tmp_path / "restart", kv_servers=[server.address])
    bind_models(env.DB.db)
    insert_items(create_collection("news"), create_user("editor"), 2)
    yield server, env, warm
    flush_process_buffer()


def test_the_first_request_after_memcached_restarts_reaches_it(restarting_memcached):
    server, env, warm = restarting_memcached
    client = client_for(env, cache_memory_max_bytes=0)  # no memory tier: every hit is read from KV
    client.get("/api/content")
    assert cache_headers(client.get("/api/content")) == ("HIT", "kv")
    if warm:
        server.stop_saving()
    else:
        server.stop()
    server.start()  # the worker still holds its connection to the old process

    first = client.get("/api/content")
    assert first.status_int == 200 and first.json["meta"]["total"] == 2
    if warm:
        assert cache_headers(first) == ("HIT", "kv")
    else:
        # An empty server: loaded, and stored in KV for the next request (a failed first
        # call would have opened the breaker, which then keeps KV away from both).
        assert cache_headers(first) == ("MISS", "database")
        # The entry is written once the answer is sent: on a loaded machine the next
        # request may come first, so it is asked again for a few seconds.
        deadline = time.monotonic() + 5
        while cache_headers(later := client.get("/api/content")) != ("HIT", "kv") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache_headers(later) == ("HIT", "kv")


# ---------------------------------------------------------------- ThreeTierCache itself


def test_sources_and_loader_errors(env):
    cache = ThreeTierCache(env.CACHE_KV)
    calls = []

    def load():
        calls.append(1)
        return {"n": len(calls)}

    assert cache.get_or_load("content", ["a"], load) == ({"n": 1}, DATABASE)
    assert cache.get_or_load("content", ["a"], load) == ({"n": 1}, MEMORY)
    assert ThreeTierCache(env.CACHE_KV).get_or_load("content", ["a"], load) == ({"n": 1}, KV)

    def broken():
        raise LookupError("no")

    with pytest.raises(LookupError):
        cache.get_or_load("content", ["b"], broken)
    assert cache.get_or_load("content", ["b"], load) == ({"n": 2}, DATABASE)


def test_large_values_round_trip_compressed(env):
    value = {"rows": [{"title": f"Item {i}", "body": "lorem ipsum " * 20} for i in range(300)]}
    ThreeTierCache(env.CACHE_KV).get_or_load("content", ["big"], lambda: value)
    assert ThreeTierCache(env.CACHE_KV).get_or_load("content", ["big"], lambda: None) == (value, KV)


def test_a_lost_generation_is_replaced_by_a_new_one(env):
    cache = ThreeTierCache(env.CACHE_KV)
    cache.get_or_load("content", ["k"], lambda: "old")
    env.CACHE_KV.delete("gen:content")  # evicted by memcached, say
    past_generation_bound()
    assert cache.get_or_load("content", ["k"], lambda: "new") == ("new", DATABASE)
    token = env.CACHE_KV.get("gen:content")
    assert token and token != "0"


def test_invalidation_covers_dependent_namespaces_only(env):
    cache = ThreeTierCache(env.CACHE_KV)
    cache.get_or_load("content", ["k"], lambda: 1)
    cache.get_or_load("media", ["k"], lambda: 1)
    cache.get_or_load("users", ["k"], lambda: 1)
    cache.invalidate("media")
    assert cache.get_or_load("content", ["k"], lambda: 2) == (2, DATABASE)
    assert cache.get_or_load("media", ["k"], lambda: 2) == (2, DATABASE)
    assert cache.get_or_load("users", ["k"], lambda: 2) == (1, MEMORY)


def test_namespaces_respect_kv_minimum_ttl(env):
    with pytest.raises(ValueError, match="minimum of 60"):
        ThreeTierCache(env.CACHE_KV, [NamespacePolicy(Namespace.API, 10)])
    cache = ThreeTierCache(env.CACHE_KV)
    cache.register(NamespacePolicy(Namespace.API, 120))
    assert cache.policy("api").ttl == 120
    assert cache.get_or_load(Namespace.API, ["x"], lambda: "v") == ("v", DATABASE)


def test_unknown_namespaces_raise_instead_of_doing_nothing(env):
    cache = ThreeTierCache(env.CACHE_KV)
    before = env.CACHE_KV.get("gen:content", type="text")
    for call in (lambda: cache.invalidate("contnet"), lambda: invalidate(cache, "contnet"),
                 lambda: invalidate(None, "contnet"), lambda: cache.get_or_load("contnet", ["k"], lambda: 1),
                 lambda: invalidate_namespaces(env.CACHE_KV, ("content", "contnet"))):
        with pytest.raises(ValueError, match="unknown cache namespace 'contnet'"):
            call()
    assert env.CACHE_KV.get("gen:contnet") is None
    assert env.CACHE_KV.get("gen:content", type="text") == before
    with pytest.raises(ValueError, match="unknown cache namespace 'plugin'"):
        cache.register(NamespacePolicy("plugin", 120))
    with pytest.raises(ValueError, match="unknown cache namespace 'colections'"):
        ThreeTierCache(env.CACHE_KV, [NamespacePolicy(Namespace.CONTENT, 300, ("colections",))])


def test_names_and_members_are_the_same_namespace(env):
    cache = ThreeTierCache(env.CACHE_KV)
    cache.get_or_load("content", ["k"], lambda: 1)
    assert cache.get_or_load(Namespace.CONTENT, ["k"], lambda: 2) == (1, MEMORY)
    assert invalidate(cache, Namespace.USERS) is True
    # Dependencies are expressed with the enum: a users write makes content stale too.
    assert cache.policy("content").depends_on == (Namespace.COLLECTIONS, Namespace.MEDIA, Namespace.USERS)
    assert cache.get_or_load("content", ["k"], lambda: 2) == (2, DATABASE)
    # A namespace without a policy in this cache can be invalidated but not looked up.
    bare = ThreeTierCache(env.CACHE_KV, [NamespacePolicy(Namespace.MEDIA, 300)])
    assert bare.invalidate("content") is True
    with pytest.raises(ValueError, match="no policy"):
        bare.get_or_load("content", ["k"], lambda: 1)


class CountingKV:
    """The real KV binding, counting the reads made through it."""

    def __init__(self, kv):
        self.kv = kv
        self.reads = 0

    def get(self, *args, **kwargs):
        self.reads += 1
        return self.kv.get(*args, **kwargs)

    def put(self, *args, **kwargs):
        return self.kv.put(*args, **kwargs)


def test_generations_are_trusted_for_the_bound_then_read_again(env):
    now = [1000.0]
    kv = CountingKV(env.CACHE_KV)
    cache = ThreeTierCache(kv, clock=lambda: now[0])
    other = ThreeTierCache(env.CACHE_KV)  # another worker
    assert cache.get_or_load("content", ["k"], lambda: "v1") == ("v1", DATABASE)
    reads = kv.reads
    # Within the bound a memory hit reads KV not at all, plugin state and all.
    assert cache.get_or_load("content", ["k"], lambda: "never") == ("v1", MEMORY)
    assert kv.reads == reads
    assert other.invalidate("content") is True
    # Another worker's write is seen within the bound, not at once: the documented staleness.
    now[0] += GENERATION_TTL_SECONDS / 2
    assert cache.get_or_load("content", ["k"], lambda: "v2") == ("v1", MEMORY)
    now[0] += GENERATION_TTL_SECONDS / 2
    assert cache.get_or_load("content", ["k"], lambda: "v2") == ("v2", DATABASE)


def test_a_kv_hit_reads_kv_once(env):
    ThreeTierCache(env.CACHE_KV).get_or_load("content", ["k"], lambda: "v1")
    now = [1000.0]
    kv = CountingKV(env.CACHE_KV)
    cache = ThreeTierCache(kv, clock=lambda: now[0])
    cache.get_or_load("content", ["other"], lambda: "x")  # reads the generations
    reads = kv.reads
    assert cache.get_or_load("content", ["k"], lambda: "never") == ("v1", KV)
    assert kv.reads == reads + 1


def test_this_workers_own_invalidation_is_seen_at_once(env):
    now = [1000.0]
    cache = ThreeTierCache(env.CACHE_KV, clock=lambda: now[0])
    cache.get_or_load("content", ["k"], lambda: "v1")
    cache.get_or_load("collections", ["c"], lambda: "c1")
    cache.invalidate("collections")  # content depends on collections
    assert cache.get_or_load("content", ["k"], lambda: "v2") == ("v2", DATABASE)
    assert cache.get_or_load("collections", ["c"], lambda: "c2") == ("c2", DATABASE)


def test_a_generation_bound_of_zero_reads_kv_every_time(env):
    cache = ThreeTierCache(env.CACHE_KV, generation_ttl=0)
    cache.get_or_load("content", ["k"], lambda: "v1")
    ThreeTierCache(env.CACHE_KV).invalidate("content")
    assert cache.get_or_load("content", ["k"], lambda: "v2") == ("v2", DATABASE)


def test_memory_entries_expire_with_their_ttl(env):
    now = [1000.0]
    cache = ThreeTierCache(env.CACHE_KV, clock=lambda: now[0])
    cache.get_or_load("content", ["t"], lambda: "a")
    now[0] += 299
    assert cache.get_or_load("content", ["t"], lambda: "b") == ("a", MEMORY)
    now[0] += 2
    assert cache.get_or_load("content", ["t"], lambda: "b")[1] != MEMORY


def aging(env):
    """``(worker, later)``: ``worker()`` builds a fresh worker's cache (memory of its own) over
    ``env``'s KV store, and ``later(seconds)`` moves the clocks of every one, and of KV."""
    mono, wall = [1000.0], [float(int(time.time()))]
    kv = KVNamespace(env.CACHE_KV.backend, clock=lambda: wall[0])

    def later(seconds):
        mono[0] += seconds
        wall[0] += seconds

    return (lambda: ThreeTierCache(kv, clock=lambda: mono[0])), later


def test_a_kv_hit_keeps_only_what_the_kv_entry_has_left(env):
    worker, later = aging(env)
    assert worker().get_or_load_timed("content", ["t"], lambda: "a") == ("a", DATABASE, None)
    later(200)
    fresh = worker()
    assert fresh.get_or_load_timed("content", ["t"], lambda: "b") == ("a", KV, 100)
    later(99)
    value, source, ttl = fresh.get_or_load_timed("content", ["t"], lambda: "b")
    assert (value, source) == ("a", MEMORY) and 0 < ttl <= 1
    later(1)
    # The KV entry is gone and its memory copy with it, not a whole TTL after the KV hit.
    assert fresh.get_or_load_timed("content", ["t"], lambda: "b") == ("b", DATABASE, None)


def test_an_entry_with_a_ttl_of_its_own_keeps_what_it_has_left(env):
    worker, later = aging(env)
    hours = 3600
    worker().get_or_load_timed("api", ["search"], lambda: "answer", ttl=2 * hours)
    later(1.5 * hours)
    fresh = worker()
    assert fresh.get_or_load_timed("api", ["search"], lambda: "new", ttl=2 * hours) == ("answer", KV, hours / 2)
    later(hours / 2)
    assert fresh.get_or_load_timed("api", ["search"], lambda: "new", ttl=2 * hours) == ("new", DATABASE, None)


def test_an_entry_stored_without_its_expiry_is_still_read(env):
    cache = ThreeTierCache(env.CACHE_KV)
    cache.get_or_load("content", ["old"], lambda: {"n": 1})
    (key,) = cache.memory.held_keys()
    blob = env.CACHE_KV.get(key, type="bytes")
    assert blob[:1] == EXPIRY_TAG
    # As versions before the expiry was stored wrote it: the tagged JSON alone.
    env.CACHE_KV.put(key, blob[9:], expiration_ttl=300)
    assert ThreeTierCache(env.CACHE_KV).get_or_load_timed("content", ["old"], lambda: None) == ({"n": 1}, KV, 300)


def test_a_shared_value_is_one_object_until_a_generation_moves(env):
    now = [1000.0]
    kv = CountingKV(env.CACHE_KV)
    cache = ThreeTierCache(kv, clock=lambda: now[0])
    first = cache.get_or_load_shared("plugins", ("states",), lambda: {"n": 1})
    assert first == {"n": 1}
    reads = kv.reads
    assert cache.get_or_load_shared("plugins", ("states",), lambda: {"n": 2}) is first
    now[0] += GENERATION_TTL_SECONDS  # the generations are read again: the entry is the same
    assert cache.get_or_load_shared("plugins", ("states",), lambda: {"n": 2}) is first
    assert kv.reads == reads + 1
    # Another worker's write: seen once the generations are read again, as any entry.
    ThreeTierCache(env.CACHE_KV).invalidate("plugins")
    assert cache.get_or_load_shared("plugins", ("states",), lambda: {"n": 2}) is first
    now[0] += GENERATION_TTL_SECONDS
    assert cache.get_or_load_shared("plugins", ("states",), lambda: {"n": 2}) == {"n": 2}


def test_a_shared_value_is_dropped_at_once_by_this_workers_invalidation(env):
    now = [1000.0]
    cache = ThreeTierCache(env.CACHE_KV, clock=lambda: now[0])
    cache.get_or_load_shared("users", ("session", "u1", 1), lambda: {"role": "editor"})
    cache.invalidate("plugins")  # any namespace: the shared values are read again
    assert cache.get_or_load_shared("users", ("session", "u1", 1), lambda: None) == {"role": "editor"}
    cache.invalidate("users")
    assert cache.get_or_load_shared("users", ("session", "u1", 1), lambda: None) is None


def test_a_shared_value_is_its_json_from_every_tier(env):
    cache = ThreeTierCache(env.CACHE_KV)
    assert cache.get_or_load_shared("users", ("k",), lambda: ("a", 1)) == ["a", 1]
    assert ThreeTierCache(env.CACHE_KV).get_or_load_shared("users", ("k",), lambda: None) == ["a", 1]
    assert cache.get_or_load_shared("users", ("k",), lambda: None) == ["a", 1]


def test_keys_that_compare_equal_but_encode_apart_are_apart(env):
    cache = ThreeTierCache(env.CACHE_KV)
    assert cache.get_or_load("content", ("k", 1), lambda: "one") == ("one", DATABASE)
    assert cache.get_or_load("content", ("k", True), lambda: "true") == ("true", DATABASE)
    assert cache.get_or_load("content", ("k", 1.0), lambda: "float") == ("float", DATABASE)
    assert cache.get_or_load("content", ["k", 1], lambda: "never") == ("one", MEMORY)


def test_invalidate_accepts_a_cache_or_nothing(env):
    assert invalidate(ThreeTierCache(env.CACHE_KV), "content") is True
    assert invalidate(None, "content") is False


# ---------------------------------------------------------------- CLI writes


def test_d1_execute_makes_the_running_apps_cache_stale(env, client, published):
    assert cache_headers(client.get("/api/content")) == ("MISS", "database")
    assert cache_headers(client.get("/api/content")) == ("HIT", "memory")
    before = env.CACHE_KV.get("gen:content", type="text")

    # A read-only statement changes nothing: the cache stays warm.
    assert run_env_cli(env, "d1", "execute", "DB", "--command", "SELECT COUNT(*) FROM content").exit_code == 0
    assert env.CACHE_KV.get("gen:content", type="text") == before
    assert cache_headers(client.get("/api/content")) == ("HIT", "memory")

    result = run_env_cli(env, "d1", "execute", "DB", "--command",
                     f"UPDATE content SET title = 'Changed by SQL' WHERE id = '{published[-1]}'")
    assert result.exit_code == 0, result.output
    past_generation_bound()
    response = client.get("/api/content")
    assert cache_headers(response) == ("MISS", "database")
    assert response.json["data"][0]["title"] == "Changed by SQL"


def test_d1_import_makes_the_running_apps_cache_stale(tmp_path, migrated_template, env, client, published):
    source = env_with_copy(tmp_path / "source", migrated_template)
    bind_models(source.DB.db)
    insert_items(create_collection("imported"), create_user("author"), 2, slug_prefix="imp")
    source.DB.db.close()
    backup = tmp_path / "backup.json"
    assert run_env_cli(source, "d1", "backup", "DB", "--output", str(backup)).exit_code == 0
    bind_models(env.DB.db)
    assert client.get("/api/content").json["meta"]["total"] == 3
    assert client.get("/api/collections").json["meta"]["count"] == 1

    result = run_env_cli(env, "d1", "import", "DB", str(backup))
    assert result.exit_code == 0, result.output

    past_generation_bound()
    listed = client.get("/api/content")
    assert cache_headers(listed) == ("MISS", "database")
    assert listed.json["meta"]["total"] == 5
    assert client.get("/api/collections").json["meta"]["count"] == 2


def test_collections_sync_makes_the_running_apps_cache_stale(tmp_path, env, client, published):
    assert [c["name"] for c in client.get("/api/collections").json["data"]] == ["blog"]
    assert cache_headers(client.get("/api/collections")) == ("HIT", "memory")
    client.get("/api/content")
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "events.json").write_text(json.dumps({
        "name": "events", "displayName": "Events", "schema": {"type": "object", "properties": {}},
    }))

    result = run_env_cli(env, "collections", "sync", "--dir", str(folder))
    assert result.exit_code == 0, result.output

    past_generation_bound()
    response = client.get("/api/collections")
    assert cache_headers(response) == ("MISS", "database")
    assert sorted(c["name"] for c in response.json["data"]) == ["blog", "events"]
    # Content responses embed collection fields: they depend on the collections namespace.
    assert cache_headers(client.get("/api/content")) == ("MISS", "database")


def test_a_cli_write_with_memcached_down_warns_and_succeeds(memcached_app):
    server, env, _, _ = memcached_app
    server.stop()
    result = run_env_cli(env, "d1", "execute", "DB", "--command", "UPDATE content SET title = 'While KV is down'")
    assert result.exit_code == 0, result.output
    assert "🚣 1 command(s) executed successfully." in result.stdout
    assert "CACHE_KV unreachable" in result.stderr
    assert Content.select().where(Content.title == "While KV is down").count() == 2


def test_invalidate_namespaces_bumps_each_generation(env):
    before = {name: env.CACHE_KV.get(f"gen:{name}", type="text") for name in ALL_NAMESPACES}
    assert invalidate_namespaces(env.CACHE_KV, ("content", "users")) == []
    after = {name: env.CACHE_KV.get(f"gen:{name}", type="text") for name in ALL_NAMESPACES}
    assert [name for name in ALL_NAMESPACES if after[name] != before[name]] == ["content", "users"]
