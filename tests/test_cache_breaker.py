"""A frozen memcached never holds a write: invalidation honours the cache's circuit breaker.

The server is frozen with SIGSTOP, so connections are accepted and nothing answers (each
call would wait for the client timeout). The breaker's clock is a fake one the tests move,
so nothing here depends on wall time: assertions count the calls that reach KV.
"""

import pytest

from app.runtime.breaker import CircuitBreaker
from app.runtime.kv import open_kv
from app.services.cache import (
    DATABASE,
    GENERATION_TTL_SECONDS,
    KV,
    MEMORY,
    Namespace,
    ThreeTierCache,
    invalidate_namespaces,
)

BREAKER_SECONDS = 1.0


class CountingKV:
    """The real KV binding, counting the calls made through it."""

    def __init__(self, kv):
        self.kv = kv
        self.calls = 0

    def get(self, *args, **kwargs):
        self.calls += 1
        return self.kv.get(*args, **kwargs)

    def put(self, *args, **kwargs):
        self.calls += 1
        return self.kv.put(*args, **kwargs)


@pytest.fixture
def frozen_setup(tmp_path, memcached_factory):
    """``(server, kv, cache, other, clock)``: a cache and another worker's cache over one memcached."""
    server = memcached_factory()
    # Long enough that a resumed server answers in time on a loaded machine; each test pays
    # it only once or twice, while the server is frozen.
    table = {"binding": "CACHE_KV", "id": "breaker", "servers": [server.address], "timeout": 1.0}
    kv = CountingKV(open_kv(table, tmp_path))
    now = [1000.0]
    cache = ThreeTierCache(kv, breaker_seconds=BREAKER_SECONDS, clock=lambda: now[0])
    other = ThreeTierCache(open_kv(table, tmp_path))
    return server, kv, cache, other, now


def test_invalidations_skip_a_frozen_memcached_and_reach_it_once_it_answers(frozen_setup):
    server, kv, cache, other, now = frozen_setup
    assert cache.get_or_load("content", ["k"], lambda: "v1") == ("v1", DATABASE)
    assert other.get_or_load("content", ["k"], lambda: "never") == ("v1", KV)

    server.freeze()
    try:
        # The first call after the freeze reads the generations again (past the bound this
        # worker trusts them for): it pays one timeout and opens the breaker.
        now[0] += GENERATION_TTL_SECONDS
        assert cache.get_or_load("content", ["k"], lambda: "v2") == ("v2", DATABASE)
        assert cache.breaker.is_open
        calls = kv.calls
        for _ in range(20):
            assert cache.invalidate("content") is False
            assert cache.invalidate(Namespace.USERS) is False
            assert cache.get_or_load("content", ["k"], lambda: "v2") == ("v2", DATABASE)
        # No invalidation or read waited on the frozen server: none of them called KV.
        assert kv.calls == calls
        assert cache.pending_bumps == {Namespace.CONTENT, Namespace.USERS}
    finally:
        server.resume()

    # Resumed, but the breaker is still open: nothing is tried before its time is up.
    assert cache.invalidate("media") is False
    assert kv.calls == calls
    now[0] += BREAKER_SECONDS
    # The next operation writes every pending bump before it reads.
    assert cache.get_or_load("content", ["k"], lambda: "v3") == ("v3", DATABASE)
    assert cache.pending_bumps == frozenset()
    assert not cache.breaker.is_open
    assert kv.calls == calls + 3 + 3  # three bumps; the lookup: generations, entry, fill
    # Another worker no longer answers its warm "v1" from memory: the bumps reached the
    # shared KV, and it finds the entry stored under the new generations.
    assert other.get_or_load("content", ["k"], lambda: "unused") == ("v3", KV)
    assert cache.get_or_load("content", ["k"], lambda: "v4") == ("v3", MEMORY)


def test_an_invalidation_writes_the_pending_bumps_too(frozen_setup):
    server, kv, cache, other, now = frozen_setup
    cache.get_or_load("users", ["k"], lambda: 1)
    server.freeze()
    try:
        assert cache.invalidate("users") is False  # pays the one timeout, opens the breaker
        calls = kv.calls
        assert cache.invalidate("collections") is False
        assert kv.calls == calls
    finally:
        server.resume()
    now[0] += BREAKER_SECONDS
    assert cache.invalidate("media") is True
    assert cache.pending_bumps == frozenset()
    assert kv.calls == calls + 3
    generations = other.kv.get(["gen:users", "gen:collections", "gen:media"], type="text")
    assert all(generations.values())


def test_a_cli_invalidation_tries_a_frozen_memcached_once(frozen_setup):
    server, kv, _, _, _ = frozen_setup
    server.freeze()
    try:
        failed = invalidate_namespaces(kv, ("content", "collections", "media", "users"))
    finally:
        server.resume()
    assert failed == ["content", "collections", "media", "users"]
    assert kv.calls == 1


def test_the_breaker_lets_one_probe_through_once_its_time_is_up():
    now = [0.0]
    breaker = CircuitBreaker(2.0, clock=lambda: now[0])
    assert breaker.allow() and not breaker.is_open
    breaker.failed()
    assert breaker.is_open and not breaker.allow()
    now[0] += 2.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # the others wait for its outcome
    breaker.failed()
    now[0] += 1.9
    assert not breaker.allow()
    now[0] += 0.1
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.allow() and breaker.allow()


def test_an_invalidation_during_the_probe_keeps_its_own_bump(frozen_setup):
    server, kv, cache, _, now = frozen_setup
    server.freeze()
    try:
        assert cache.invalidate("content") is False  # the one timeout; the breaker opens
    finally:
        server.resume()
    now[0] += BREAKER_SECONDS
    arrived = []
    put = kv.put

    def put_then_another_write_commits(*args, **kwargs):
        # While the probe's bump is in flight, another request commits and invalidates:
        # the breaker (held by the probe) makes it leave its bump pending.
        put(*args, **kwargs)
        if not arrived:
            arrived.append(cache.invalidate("content"))

    kv.put = put_then_another_write_commits
    assert cache.invalidate("users") is True
    assert arrived == [False]
    # The probe's bump may have started before that write committed: that write's bump is
    # still pending, and is written by the next call.
    assert cache.pending_bumps == {Namespace.CONTENT}
    calls = kv.calls
    assert cache.invalidate("media") is True
    assert cache.pending_bumps == frozenset()
    assert kv.calls == calls + 2
