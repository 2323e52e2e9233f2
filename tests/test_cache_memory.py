"""The memory tier of the cache is bounded in bytes, and keeps only what KV took.

A count bound let ten anonymous lists of a thousand full items grow a worker by a gigabyte.
Here every entry is charged its JSON bytes, its key and a fixed overhead against a byte cap
(``CACHE_MEMORY_MAX_BYTES``), an entry over ``CACHE_MEMORY_MAX_ENTRY_BYTES`` is never kept,
and an entry KV refused (too large for memcached, or KV gone) is served but not kept.
"""

import base64
import logging
import os
import random
import secrets

import pytest

from app.runtime.kv import open_kv
from app.services.cache import DATABASE, KV, MEMORY, ThreeTierCache
from app.services.cache_memory import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES, ENTRY_OVERHEAD_BYTES, MemoryTier
from app.settings import settings_from_config
from tests.fixtures.app import client_for, make_env
from tests.fixtures.content import insert_items


def cache_source(response):
    return response.headers["X-Cache-Source"]


def charged(memory):
    """What the tier's entries cost, recomputed from the entries themselves."""
    return sum(len(raw) + len(key) + ENTRY_OVERHEAD_BYTES for key, (_, raw, _) in memory._entries.items())


# ---------------------------------------------------------------- entries through the cache


def test_the_memory_tier_stays_within_its_byte_cap(env):
    cap = 64 * 1024
    cache = ThreeTierCache(env.CACHE_KV, memory_max_bytes=cap, memory_max_entry_bytes=8 * 1024)
    sizes = random.Random(7).choices(range(100, 6000), k=200)
    for i, size in enumerate(sizes):
        value = "x" * size
        assert cache.get_or_load("content", [i], lambda value=value: value) == (value, DATABASE)
        assert cache.memory.total_bytes == charged(cache.memory) <= cap
    # Full, not emptied: eviction drops only what the newest entry needs.
    assert cache.memory.total_bytes > cap - (6000 + 200 + ENTRY_OVERHEAD_BYTES)
    # The newest entries are the ones kept; the oldest are served from KV again.
    assert cache.get_or_load("content", [199], lambda: None)[1] == MEMORY
    assert cache.get_or_load("content", [0], lambda: None)[1] == KV


def test_the_least_recently_used_entry_goes_first(env):
    entry = 1000
    probe = ThreeTierCache(env.CACHE_KV)
    probe.get_or_load("media", ["probe"], lambda: "x" * entry)
    cost = probe.memory.total_bytes  # every key of the namespace has the same length
    cache = ThreeTierCache(env.CACHE_KV, memory_max_bytes=3 * cost)
    for i in range(3):
        cache.get_or_load("media", [i], lambda: "x" * entry)
    assert len(cache.memory) == 3
    cache.get_or_load("media", [0], lambda: None)  # touched: now the most recent
    cache.get_or_load("media", [3], lambda: "x" * entry)
    assert [cache.get_or_load("media", [i], lambda: None)[1] for i in (0, 3, 2)] == [MEMORY] * 3
    assert cache.get_or_load("media", [1], lambda: None)[1] == KV


def test_an_entry_over_the_per_entry_limit_is_served_but_not_kept(env):
    cache = ThreeTierCache(env.CACHE_KV, memory_max_entry_bytes=1000)
    big, small = "b" * 2000, "s" * 100
    assert cache.get_or_load("content", ["big"], lambda: big) == (big, DATABASE)
    assert cache.get_or_load("content", ["small"], lambda: small) == (small, DATABASE)
    assert len(cache.memory) == 1
    assert cache.get_or_load("content", ["big"], lambda: None) == (big, KV)
    assert cache.get_or_load("content", ["small"], lambda: None) == (small, MEMORY)
    assert len(cache.memory) == 1


def test_a_zero_cap_turns_the_memory_tier_off(env):
    cache = ThreeTierCache(env.CACHE_KV, memory_max_bytes=0)
    cache.get_or_load("content", ["k"], lambda: 1)
    assert cache.get_or_load("content", ["k"], lambda: 2) == (1, KV)
    assert len(cache.memory) == 0 and cache.memory.total_bytes == 0


def test_expired_and_dropped_entries_give_their_bytes_back():
    now = [0.0]
    memory = MemoryTier(max_bytes=10_000, max_entry_bytes=5_000, clock=lambda: now[0])
    assert memory.put("content:a", b"1" * 1000, 60)
    assert memory.put("users:b", b"2" * 1000, 120)
    assert memory.put("content:a", b"3" * 500, 60)  # replaced: charged once, at its new size
    assert memory.total_bytes == charged(memory) == 500 + 1000 + len("content:a") + len("users:b") + 2 * ENTRY_OVERHEAD_BYTES
    now[0] = 61
    assert memory.get("content:a") is None
    memory.drop_prefix("users:")
    assert memory.total_bytes == 0 and len(memory) == 0
    assert not memory.put("content:huge", b"x" * 5001, 60)


# ---------------------------------------------------------------- what KV refused


@pytest.fixture
def memcached_kv(tmp_path, memcached_factory):
    server = memcached_factory()
    table = {"binding": "CACHE_KV", "id": "memory-tier", "servers": [server.address]}
    return server, open_kv(table, tmp_path)


def test_a_value_memcached_refuses_is_not_kept_in_memory(memcached_kv, caplog):
    _, kv = memcached_kv
    # Random bytes do not compress: this is over memcached's 1 MiB item limit once stored.
    value = base64.b64encode(os.urandom(1536 * 1024)).decode()
    cache = ThreeTierCache(kv, memory_max_bytes=64 * 1024 * 1024, memory_max_entry_bytes=8 * 1024 * 1024)
    loads = []

    def load():
        loads.append(1)
        return value

    with caplog.at_level(logging.WARNING, logger="sonicpy.cache"):
        assert cache.get_or_load("content", ["huge"], load) == (value, DATABASE)
    assert any("413" in record.getMessage() for record in caplog.records)
    assert len(cache.memory) == 0
    assert cache.get_or_load("content", ["huge"], load) == (value, DATABASE)
    assert len(loads) == 2
    assert not cache.breaker.is_open  # a refused value is not an outage


def test_a_fill_that_finds_kv_gone_is_not_kept_in_memory(memcached_kv):
    server, kv = memcached_kv
    cache = ThreeTierCache(kv)
    deferred = []
    assert cache.get_or_load("content", ["k"], lambda: "v", defer=lambda *call: deferred.append(call)) == ("v", DATABASE)
    server.stop()
    fill, *args = deferred[0]
    fill(*args)  # after the response, as ctx.wait_until runs it
    assert len(cache.memory) == 0 and cache.memory.total_bytes == 0


# ---------------------------------------------------------------- through the API


@pytest.fixture
def big_items(env, blog_collection, as_author):
    """Published items of about 120 KB each (random text, as a long article)."""
    author, _ = as_author
    return insert_items(blog_collection, author, 60, data=lambda i: {"title": f"Item {i}", "body": secrets.token_hex(60_000)})


def test_a_public_list_over_the_entry_limit_is_answered_from_kv_not_memory(client, big_items):
    per_page = DEFAULT_MAX_ENTRY_BYTES // 120_000 + 1
    first = client.get(f"/api/content?limit={per_page}")
    assert len(first.body) > DEFAULT_MAX_ENTRY_BYTES
    assert cache_source(first) == "database"
    second = client.get(f"/api/content?limit={per_page}")
    assert cache_source(second) == "kv"
    assert second.json["data"] == first.json["data"]
    assert cache_source(client.get(f"/api/content?limit={per_page}")) == "kv"


def test_distinct_anonymous_lists_evict_by_size_within_the_default_cap(client, big_items):
    per_page = DEFAULT_MAX_ENTRY_BYTES // 120_000  # each list just under the entry limit
    sizes = []
    offset = 0
    while sum(sizes) <= DEFAULT_MAX_BYTES + DEFAULT_MAX_ENTRY_BYTES:
        response = client.get(f"/api/content?limit={per_page}&offset={offset}&sort=title")
        assert cache_source(response) == "database"
        sizes.append(len(response.body))
        offset += 1
    # The first lists were evicted to keep the tier under its cap; the last ones stayed.
    assert cache_source(client.get(f"/api/content?limit={per_page}&offset=0&sort=title")) == "kv"
    assert cache_source(client.get(f"/api/content?limit={per_page}&offset={offset - 1}&sort=title")) == "memory"


# ---------------------------------------------------------------- settings


def test_the_limits_are_settings(tmp_path):
    env = make_env(tmp_path, vars={"CACHE_MEMORY_MAX_BYTES": 1_000_000, "CACHE_MEMORY_MAX_ENTRY_BYTES": "50000"})
    settings = settings_from_config(env.config)
    assert (settings.cache_memory_max_bytes, settings.cache_memory_max_entry_bytes) == (1_000_000, 50_000)
    cache = ThreeTierCache.from_settings(env.CACHE_KV, settings)
    assert (cache.memory.max_bytes, cache.memory.max_entry_bytes) == (1_000_000, 50_000)
    defaults = settings_from_config(make_env(tmp_path / "defaults").config)
    assert (defaults.cache_memory_max_bytes, defaults.cache_memory_max_entry_bytes) == (32 * 2**20, 2**20)


def test_the_served_app_uses_the_memory_settings(env, blog_collection, as_author):
    author, _ = as_author
    insert_items(blog_collection, author, 3)
    client = client_for(env, cache_memory_max_bytes=0)
    assert cache_source(client.get("/api/content")) == "database"
    # A zero cap turns the memory tier off: the next hit comes from KV, never from memory.
    assert cache_source(client.get("/api/content")) == "kv"
    assert cache_source(client.get("/api/content")) == "kv"
