"""A frozen object store must not starve the other routes: the bucket's limit and breaker.

The store is a real moto server of the test's own, frozen with SIGSTOP: it still accepts
connections (the kernel does that) and never answers, which is what a hung S3 looks like.
An ``S3FaultProxy`` in front of it records every request as it arrives, so the tests count
the calls that reached the store instead of timing anything.
"""

import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from app.db.models import Media, MediaPendingObject, bind_models
from app.runtime.r2 import R2Error, StoreUnreachable, open_bucket
from app.runtime.r2.guard import BucketGuard, BucketUnavailable, guard_bucket
from tests.fixtures import media as samples
from tests.fixtures.app import client_for, env_with_copy
from tests.fixtures.media import bucket_keys, upload
from tests.fixtures.process import freeze_process
from tests.fixtures.s3 import create_bucket
from tests.fixtures.s3_proxy import S3FaultProxy
from tests.fixtures.users import bearer, create_user, token_for

LIMIT = 2
# Long enough that a call to the frozen store stays in flight until the test thaws it.
HANGING_READ_TIMEOUT = 60
WAIT_LIMIT_SECONDS = 30


@contextmanager
def frozen(server):
    """The moto server stopped (SIGSTOP) for the block, resumed afterwards whatever happens."""
    freeze_process(server.proc.pid)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


def wait_until(predicate, what):
    """Poll ``predicate`` (a bound on waiting, not an assertion on time)."""
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


class Store:
    """A dedicated moto server, a proxy in front of it, and an app reaching it through the proxy."""

    def __init__(self, tmp_path, template, server_factory, s3_options, **settings):
        self.server = server_factory()
        self.proxy = S3FaultProxy(self.server.endpoint_url, timeout=HANGING_READ_TIMEOUT + 10)
        self.env = env_with_copy(tmp_path / "app", template, s3=self.proxy.endpoint_url,
                                 bucket_name=create_bucket(self.server.endpoint_url), s3_options=s3_options)
        self.client = client_for(self.env, media_store_concurrency=LIMIT, **settings)
        bind_models(self.env.DB.db)
        self.admin = bearer(token_for(create_user("admin")))

    def calls(self):
        return list(self.proxy.requests)

    def close(self):
        self.proxy.close()
        self.env.DB.db.close()


@pytest.fixture
def hanging_store(tmp_path, migrated_template, s3_server_factory):
    """A Store whose reads wait a minute for a frozen server, breaker as configured by default."""
    store = Store(tmp_path, migrated_template, s3_server_factory, {"read_timeout": HANGING_READ_TIMEOUT},
                  media_store_wait_ms=0)
    yield store
    store.close()


@pytest.fixture
def patient_store(tmp_path, migrated_template, s3_server_factory):
    """A Store like ``hanging_store`` whose calls past the limit wait a minute for a slot."""
    store = Store(tmp_path, migrated_template, s3_server_factory, {"read_timeout": HANGING_READ_TIMEOUT},
                  media_store_wait_ms=HANGING_READ_TIMEOUT * 1000)
    yield store
    store.close()


def assert_refused_at_once(response):
    assert response.status_int == 503
    assert int(response.headers["Retry-After"]) >= 1
    if response.request.method == "HEAD":
        return
    assert response.json["error"] == "Service temporarily unavailable"
    assert set(response.json["details"]) == {"request_id", "retry_after"}
    assert response.headers["Retry-After"] == str(response.json["details"]["retry_after"])


class Downloads:
    """Downloads of ``record`` as admin in threads of their own; ``results`` holds their statuses."""

    def __init__(self, store, record):
        self.store, self.record = store, record
        self.results, self.threads = [], []

    def start(self, count=1):
        for _ in range(count):
            thread = threading.Thread(target=self._download)
            thread.start()
            self.threads.append(thread)
        return self.threads[-count:]

    def use_up_the_limit(self):
        """Start ``LIMIT`` downloads and wait until the (frozen) store holds them all; the calls before them."""
        before = len(self.store.calls())
        self.start(LIMIT)
        wait_until(lambda: len(self.store.calls()) == before + LIMIT, "the downloads to reach the store")
        return before

    def join(self):
        for thread in self.threads:
            thread.join(HANGING_READ_TIMEOUT)

    def _download(self):
        response = self.store.client.get(self.record["publicUrl"], expect_errors=True, headers=self.store.admin)
        self.results.append(response.status_int)


def test_past_the_limit_media_requests_answer_503_at_once_and_other_routes_still_answer(hanging_store):
    store = hanging_store
    client, admin = store.client, store.admin
    record = upload(client, admin, "a.png", samples.png((400, 300))).json["file"]
    downloads = Downloads(store, record)
    results = downloads.results

    with frozen(store.server):
        # Both downloads are in the store's hands: the per-worker limit is used up.
        before = downloads.use_up_the_limit()
        stuck = downloads.threads
        assert [method for method, _ in store.calls()[before:]] == ["GET"] * LIMIT

        assert_refused_at_once(client.get(record["publicUrl"], expect_errors=True, headers=admin))
        assert_refused_at_once(client.head(record["publicUrl"], expect_errors=True, headers=admin))
        assert_refused_at_once(upload(client, admin, "b.png", samples.png(), status=503))
        # None of them reached the store, and the first two are still waiting for it.
        assert len(store.calls()) == before + LIMIT
        assert all(thread.is_alive() for thread in stuck) and results == []
        # Nothing half-written by the refused upload: no row, no pending record.
        assert Media.select().count() == 1 and MediaPendingObject.select().count() == 0
        # Routes that do not touch the bucket answer as usual.
        assert client.get("/auth/me", headers=admin).json["user"]["role"] == "admin"
        # Busy is not down: the health check's ping takes no slot (the store is frozen, but
        # nothing has timed out yet, so its ping is simply sent).
        pinged = len(store.calls())
        health = threading.Thread(target=lambda: results.append(client.get("/health", expect_errors=True).status_int))
        health.start()
        wait_until(lambda: len(store.calls()) == pinged + 1, "the health check's ping to reach the store")
        client.get("/api/content", status=200)
        client.get("/api/media", headers=admin, status=200)
    for thread in [*stuck, health]:
        thread.join(HANGING_READ_TIMEOUT)
    assert results == [200] * (LIMIT + 1)  # thawed, the store answered them
    # The slots were given back: the next download goes through.
    assert client.get(record["publicUrl"], headers=admin).body == samples.png((400, 300))


def test_past_the_limit_a_call_waits_for_a_slot_and_is_served(patient_store):
    store = patient_store
    client, admin = store.client, store.admin
    record = upload(client, admin, "a.png", samples.png()).json["file"]
    downloads = Downloads(store, record)

    with frozen(store.server):
        before = downloads.use_up_the_limit()
        [waiting] = downloads.start()
        waiting.join(0.5)  # refused at once, it would have answered by now
        assert downloads.results == [] and len(store.calls()) == before + LIMIT, "the third waits for a slot"
    downloads.join()
    assert downloads.results == [200] * (LIMIT + 1)
    assert len(store.calls()) == before + LIMIT + 1


@pytest.fixture
def timing_out_store(tmp_path, migrated_template, s3_server_factory):
    """A Store whose calls give up after one 1-second attempt; the breaker stays open 60 s."""
    store = Store(tmp_path, migrated_template, s3_server_factory, {"read_timeout": 1, "max_attempts": 1},
                  media_store_breaker_seconds=60)
    yield store
    store.close()


def test_once_a_call_gets_no_answer_the_breaker_refuses_media_calls(timing_out_store):
    store = timing_out_store
    client, admin = store.client, store.admin
    record = upload(client, admin, "a.png", samples.png((400, 300))).json["file"]
    with frozen(store.server):
        first = client.get(record["publicUrl"], status=503, headers=admin)
        # The timeout itself is an ordinary binding error (no Retry-After: nothing to promise).
        assert set(first.json["details"]) == {"request_id"} and "Retry-After" not in first.headers
        reached = len(store.calls())
        assert_refused_at_once(client.get(record["publicUrl"], expect_errors=True, headers=admin))
        assert_refused_at_once(upload(client, admin, "b.png", samples.png(), status=503))
        # A move changes the row only: the database answers it, the store is never asked.
        client.patch_json(f"/api/media/{record['id']}", {"folder": "other"}, headers=admin, status=200)
        client.post_json("/api/media/bulk-move", {"fileIds": [record["id"]], "folder": "more"}, headers=admin,
                         status=200)
        assert_refused_at_once(client.post("/api/media/upload-multiple", upload_files=[("files", "x.txt", b"x")],
                                           headers=admin, expect_errors=True))
        health = client.get("/health", status=503).json
        assert health["bindings"]["MEDIA_BUCKET"] == {**health["bindings"]["MEDIA_BUCKET"],
                                                      "status": "down", "error": "BucketUnavailable"}
        assert len(store.calls()) == reached  # the breaker kept every one of them from the store
        client.get("/auth/me", headers=admin, status=200)
        client.delete(f"/api/media/{record['id']}", headers=admin, status=200)  # database only
    client.post(f"/api/media/{record['id']}/restore", headers=admin, status=200)
    # Thawed, but the breaker is still open: the refusal is the guard's, not the store's.
    assert_refused_at_once(client.get(record["publicUrl"], expect_errors=True, headers=admin))
    row = Media.get_by_id(record["id"])
    assert (row.folder, row.r2_key) == ("more", record["r2_key"])
    assert bucket_keys(store.env) == sorted([record["r2_key"], f"uploads/{record['id']}.thumb.webp"])


# -- errors the store answered, and the local bucket -------------------------------------------


@pytest.fixture
def proxied(tmp_path, migrated_template, s3_server):
    proxy = S3FaultProxy(s3_server)
    env = env_with_copy(tmp_path / "app", migrated_template, s3=proxy.endpoint_url,
                        bucket_name=create_bucket(s3_server))
    bind_models(env.DB.db)
    yield proxy, env, client_for(env), bearer(token_for(create_user("admin")))
    proxy.close()
    env.DB.db.close()


def test_an_error_the_store_answers_does_not_open_the_breaker(proxied):
    proxy, env, client, admin = proxied
    record = upload(client, admin, "a.png", samples.png()).json["file"]
    proxy.fail("GET", "/" + record["r2_key"])
    assert set(client.get(record["publicUrl"], status=503, headers=admin).json["details"]) == {"request_id"}
    proxy.faults.clear()
    # It cost no wait, so nothing is refused afterwards.
    assert client.get(record["publicUrl"], headers=admin).body == samples.png()


def test_the_local_bucket_is_not_guarded(tmp_path):
    bucket = open_bucket({"binding": "MEDIA_BUCKET", "bucket_name": "local"}, tmp_path, {})
    assert guard_bucket(bucket, BucketGuard(1, 5)) is bucket


# -- the guard itself, on a clock of the test's own --------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def unreachable():
    raise StoreUnreachable("get", "The object store did not answer: timed out")


def call_through(guard, fn=lambda: "answered"):
    with guard.call("get"):
        return fn()


def test_guard_refuses_a_call_past_its_limit_and_takes_it_once_a_slot_frees():
    guard = BucketGuard(2, 5, clock=Clock())
    with guard.call("get"), guard.call("head"):
        with pytest.raises(BucketUnavailable) as caught:
            call_through(guard)
        assert caught.value.retry_after == 1 and caught.value.code == 10001
    assert call_through(guard) == "answered"


def waiters(guard):
    """How many threads wait for one of ``guard``'s slots."""
    return len(guard._semaphore()._cond._waiters)


def test_guard_lets_a_call_past_its_limit_wait_for_a_slot():
    guard = BucketGuard(1, 5, wait_seconds=WAIT_LIMIT_SECONDS, clock=Clock())
    answers = []
    with guard.call("get"):
        waiting = threading.Thread(target=lambda: answers.append(call_through(guard)))
        waiting.start()
        wait_until(lambda: waiters(guard) == 1, "the second call to wait for the slot")
        assert answers == []
    waiting.join(WAIT_LIMIT_SECONDS)
    assert answers == ["answered"]


def test_guard_waits_for_no_slot_while_the_breaker_is_open():
    clock = Clock()
    guard = BucketGuard(1, 5, wait_seconds=600, clock=clock)
    with pytest.raises(StoreUnreachable):
        call_through(guard, unreachable)
    clock.now += 5
    refused = []
    with guard.call("head"):  # the probe holds the only slot
        caller = threading.Thread(target=lambda: refused.append(pytest.raises(BucketUnavailable, call_through, guard)))
        caller.start()
        caller.join(WAIT_LIMIT_SECONDS)
        assert not caller.is_alive() and len(refused) == 1, "refused at once, not after the wait"


def test_breaker_opens_on_no_answer_refuses_until_it_closes_then_reopens():
    clock = Clock()
    guard = BucketGuard(2, 5, clock=clock)
    with pytest.raises(StoreUnreachable):
        call_through(guard, unreachable)
    assert guard.is_open
    clock.now += 3.2
    with pytest.raises(BucketUnavailable) as caught:
        call_through(guard)
    assert caught.value.retry_after == 2  # 1.8 s left, rounded up
    clock.now += 1.8
    assert not guard.is_open and call_through(guard) == "answered"
    with pytest.raises(StoreUnreachable):
        call_through(guard, unreachable)  # still down: open again
    assert guard.is_open


def test_once_the_breaker_time_is_up_one_probe_goes_through_and_the_others_are_refused():
    clock = Clock()
    guard = BucketGuard(3, 5, clock=clock)
    with pytest.raises(StoreUnreachable):
        call_through(guard, unreachable)
    clock.now += 5
    with guard.call("head"):  # the probe, still waiting for the store
        with pytest.raises(BucketUnavailable) as caught:
            call_through(guard)
        assert caught.value.retry_after == 5
    # The probe was answered: the breaker is closed for everyone.
    assert not guard.is_open and call_through(guard) == "answered" and call_through(guard) == "answered"


def test_breaker_stays_closed_for_answered_errors_and_for_zero_seconds():
    guard = BucketGuard(1, 5, clock=Clock())
    with pytest.raises(R2Error):
        call_through(guard, lambda: (_ for _ in ()).throw(R2Error("get", "Access Denied (S3 AccessDenied, HTTP 403)")))
    assert not guard.is_open and call_through(guard) == "answered"
    disabled = BucketGuard(1, 0, clock=Clock())
    with pytest.raises(StoreUnreachable):
        call_through(disabled, unreachable)
    assert call_through(disabled) == "answered"


def test_guard_gives_a_forked_worker_slots_of_its_own(monkeypatch):
    guard = BucketGuard(1, 5, clock=Clock())
    with guard.call("get"):
        # A fork taken while the parent's only slot was busy: the child's is free.
        monkeypatch.setattr(os, "getpid", lambda: -12345)
        assert call_through(guard) == "answered"
