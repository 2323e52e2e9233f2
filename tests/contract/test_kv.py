"""Contract suite of the CACHE_KV binding, run against every backend.

The first part runs on both backends (the ``make_kv``/``kv`` fixtures are parametrized
over "local" and "memcached", on a real SQLite file and a real memcached); then come the
tests of what only one backend does: listing and multi-process sharing for the local
file, list refusal, outages and consistent hashing for memcached.
"""

import json
import multiprocessing
import os
import socket
import sqlite3
import threading
import time

import msgspec
import pytest

from app.runtime.kv import KVError, KVNamespace, open_kv
from app.runtime.kv.memcached import LIST_UNSUPPORTED, Envelope

MiB = 1024 * 1024


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self):
        self.now = float(int(time.time()))

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(params=["local", "memcached"])
def make_kv(request, tmp_path, clock):
    """Open namespaces (by id) on the backend under test, all sharing one fake clock."""
    servers = None
    if request.param == "memcached":
        servers = [request.getfixturevalue("memcached_flush")]
    opened = []

    def make(namespace_id="contract"):
        table = {"binding": "CACHE_KV", "id": namespace_id}
        if servers:
            table["servers"] = servers
        namespace = open_kv(table, tmp_path, clock=clock)
        opened.append(namespace)
        return namespace

    yield make
    for namespace in opened:
        namespace.close()


@pytest.fixture
def kv(make_kv):
    return make_kv()


def _handle(kv):
    """The backend's per-process connection object (SQLite connection or pymemcache client)."""
    backend = kv.backend
    return backend.connection() if hasattr(backend, "connection") else backend.client()


# --- reads and writes ---------------------------------------------------------------


def test_missing_key_reads_as_none(kv):
    assert kv.get("missing") is None
    assert kv.get("missing", "json") is None
    assert kv.get_with_metadata("missing") == {
        "value": None, "metadata": None, "cache_status": None,
    }


@pytest.mark.parametrize("value", ["hello", "", "héllo wörld 😀", "x" * 100_000])
def test_text_round_trip(kv, value):
    kv.put("key", value)
    assert kv.get("key") == value
    assert kv.get("key", "text") == value


@pytest.mark.parametrize("value", [b"\x00\xffbin", bytearray(b"\x01\x02"), memoryview(b"view")])
def test_binary_values_round_trip_as_bytes(kv, value):
    kv.put("key", value)
    assert kv.get("key", "bytes") == bytes(value)
    assert kv.get("key", "arrayBuffer") == bytes(value)
    assert isinstance(kv.get("key", "bytes"), bytes)


def test_text_of_invalid_utf8_uses_replacement_character(kv):
    kv.put("key", b"ok\xff")
    assert kv.get("key") == "ok\ufffd"


def test_json_type_parses_and_rejects_non_json(kv):
    kv.put("doc", json.dumps({"a": [1, 2.5, None, True], "é": "ü"}))
    assert kv.get("doc", "json") == {"a": [1, 2.5, None, True], "é": "ü"}
    kv.put("plain", "not json")
    with pytest.raises(ValueError):
        kv.get("plain", "json")


def test_unknown_type_is_a_type_error(kv):
    message = 'Unknown response type. Possible types are "text", "json", "bytes", and "stream".'
    with pytest.raises(TypeError) as info:
        kv.get("key", "blob")
    assert str(info.value) == message
    with pytest.raises(TypeError):
        kv.get_with_metadata("key", "banana")


def test_get_type_stream_gives_a_file_like_stream(kv):
    kv.put("blob", b"\x00\x01 stream \xff")
    stream = kv.get("blob", "stream")
    assert stream.read(2) == b"\x00\x01" and stream.read() == b" stream \xff"
    with_metadata = kv.get_with_metadata("blob", {"type": "stream"})
    assert with_metadata["value"].read() == b"\x00\x01 stream \xff"
    assert kv.get("missing", "stream") is None


def test_get_cache_ttl_is_at_least_60_seconds(kv):
    kv.put("key", "value")
    assert kv.get("key", cache_ttl=60) == "value"
    assert kv.get("key", {"type": "text", "cacheTtl": 3600}) == "value"
    assert kv.get_with_metadata("key", cache_ttl=120)["value"] == "value"
    for call in (lambda: kv.get("key", cache_ttl=30), lambda: kv.get_with_metadata("key", cache_ttl=59)):
        with pytest.raises(KVError, match=r"^KV GET failed: 400 Invalid cache_ttl of \d+\. Cache TTL must be at least 60\.$"):
            call()
    with pytest.raises(KVError, match="Please specify integer greater than 0"):
        kv.get("key", cache_ttl="soon")


@pytest.mark.parametrize("value", [None, 42, {"a": 1}, ["x"], 1.5])
def test_put_accepts_only_text_and_bytes(kv, value):
    with pytest.raises(TypeError) as info:
        kv.put("key", value)
    assert str(info.value) == (
        "KV put() accepts only strings, bytes, bytearrays, and memoryviews as values."
    )
    assert kv.get("key") is None


def test_last_write_wins_and_replaces_metadata(kv):
    kv.put("key", "one", metadata={"v": 1})
    kv.put("key", "two")
    assert kv.get_with_metadata("key") == {"value": "two", "metadata": None, "cache_status": None}


def test_delete(kv):
    kv.put("key", "value")
    assert kv.delete("key") is None
    assert kv.get("key") is None
    kv.delete("key")  # deleting a missing key is fine
    kv.delete("never-existed")


def test_metadata_round_trip(kv):
    metadata = {"type": "page", "n": 3, "tags": ["a", "é"], "nested": {"ok": True}}
    assert kv.put("key", "value", metadata=metadata) is None
    assert kv.get_with_metadata("key") == {
        "value": "value", "metadata": metadata, "cache_status": None,
    }
    assert kv.get_with_metadata("key", "bytes")["value"] == b"value"
    kv.put("scalar", "v", metadata="just a string")
    assert kv.get_with_metadata("scalar")["metadata"] == "just a string"


def test_metadata_size_limit(kv):
    kv.put("ok", "v", metadata="x" * 1022)  # '"xxx..."' is exactly 1024 bytes
    assert kv.get_with_metadata("ok")["metadata"] == "x" * 1022
    with pytest.raises(KVError) as info:
        kv.put("big", "v", metadata="x" * 1023)
    assert str(info.value) == "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024."
    with pytest.raises(KVError) as info:
        kv.put("big", "v", metadata={"k": "é" * 600})  # UTF-8 bytes count, not characters
    assert "Metadata length of 1208 exceeds limit of 1024." in str(info.value)
    assert kv.get("big") is None


def test_metadata_must_be_json(kv):
    with pytest.raises(TypeError):
        kv.put("key", "v", metadata={"when": object()})
    with pytest.raises(TypeError):
        kv.put("key", "v", metadata=float("nan"))


# --- key names ----------------------------------------------------------------------

BAD_KEYS = [
    ("", "Key name cannot be empty."),
    (".", '"." is not allowed as a key name.'),
    ("..", '".." is not allowed as a key name.'),
]


@pytest.mark.parametrize("key,message", BAD_KEYS)
def test_illegal_key_names_are_type_errors(kv, key, message):
    calls = [
        lambda: kv.get(key),
        lambda: kv.get_with_metadata(key),
        lambda: kv.put(key, "v"),
        lambda: kv.delete(key),
    ]
    for call in calls:
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == message


def test_key_length_limit_counts_utf8_bytes(kv):
    key = "é" * 257  # 257 characters, 514 bytes
    for op, call in [
        ("GET", lambda: kv.get(key)),
        ("GET", lambda: kv.get_with_metadata(key)),
        ("PUT", lambda: kv.put(key, "v")),
        ("DELETE", lambda: kv.delete(key)),
    ]:
        with pytest.raises(KVError) as info:
            call()
        assert str(info.value) == (
            f"KV {op} failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512."
        )


@pytest.mark.parametrize("key", [
    pytest.param("k" * 512, id="512-ascii"),
    pytest.param("é" * 256, id="512-bytes-2-byte-chars"),
    pytest.param("😀" * 128, id="512-bytes-emoji"),
    "with space", "line\nbreak", "tab\tkey", "ctrl\x01\x7f", "nul\x00byte", "ünïcödé",
    "a:k:b", "%_*?[]", "/", "../etc/passwd",
])
def test_any_legal_key_round_trips(kv, key):
    kv.put(key, f"value of {key!r}", metadata={"key": key})
    assert kv.get(key) == f"value of {key!r}"
    assert kv.get_with_metadata(key)["metadata"] == {"key": key}
    assert kv.get([key]) == {key: f"value of {key!r}"}
    kv.delete(key)
    assert kv.get(key) is None


def test_similar_keys_do_not_collide(kv):
    long_a, long_b = "a" * 300, "a" * 299 + "b"  # both hashed by memcached
    kv.put(long_a, "A")
    kv.put(long_b, "B")
    kv.put("k", "short")
    kv.put("K", "upper")
    assert [kv.get(k) for k in (long_a, long_b, "k", "K")] == ["A", "B", "short", "upper"]


# --- expiration ---------------------------------------------------------------------


@pytest.mark.parametrize("ttl,reason", [
    (59, "Invalid expiration_ttl of 59. Expiration TTL must be at least 60."),
    (59.5, "Invalid expiration_ttl of 59.5. Expiration TTL must be at least 60."),
    (1, "Invalid expiration_ttl of 1. Expiration TTL must be at least 60."),
    (0, "Invalid expiration_ttl of 0. Please specify integer greater than 0."),
    (-60, "Invalid expiration_ttl of -60. Please specify integer greater than 0."),
])
def test_expiration_ttl_limits(kv, ttl, reason):
    with pytest.raises(KVError) as info:
        kv.put("key", "v", expiration_ttl=ttl)
    assert str(info.value) == f"KV PUT failed: 400 {reason}"
    assert kv.get("key") is None


@pytest.mark.parametrize("bad", ["60", True, [60]])
def test_expiration_must_be_a_number(kv, bad):
    with pytest.raises(TypeError):
        kv.put("key", "v", expiration_ttl=bad)
    with pytest.raises(TypeError):
        kv.put("key", "v", expiration=bad)


def test_expiration_ttl_expires_key(kv, clock):
    kv.put("key", "v", expiration_ttl=60, metadata={"m": 1})
    clock.advance(59)
    assert kv.get("key") == "v"
    clock.advance(1)
    assert kv.get("key") is None
    assert kv.get_with_metadata("key") == {"value": None, "metadata": None, "cache_status": None}
    assert kv.get(["key"]) == {"key": None}


def test_expiration_limits(kv, clock):
    now = int(clock())
    with pytest.raises(KVError) as info:
        kv.put("key", "v", expiration=now + 59)
    assert str(info.value) == (
        f"KV PUT failed: 400 Invalid expiration of {now + 59}. "
        "Expiration times must be at least 60 seconds in the future."
    )
    for past in (now, now - 10, 0):
        with pytest.raises(KVError) as info:
            kv.put("key", "v", expiration=past)
        assert str(info.value) == (
            f"KV PUT failed: 400 Invalid expiration of {past}. Please specify integer "
            "greater than the current number of seconds since the UNIX epoch."
        )
    assert kv.get("key") is None


def test_absolute_expiration_expires_key(kv, clock):
    kv.put("key", "v", expiration=int(clock()) + 60)
    clock.advance(59.9)
    assert kv.get("key") == "v"
    clock.advance(0.1)
    assert kv.get("key") is None


def test_expiration_ttl_wins_over_expiration(kv, clock):
    kv.put("key", "v", expiration=int(clock()) + 3600, expiration_ttl=60)
    clock.advance(60)
    assert kv.get("key") is None


def test_far_expiration_is_kept(kv, clock):
    # Beyond 30 days memcached reads expire times as absolute dates: this catches a
    # relative value passed there (it would expire at once, in 1970).
    kv.put("key", "v", expiration=int(clock()) + 40 * 24 * 3600)
    kv.put("ttl", "v", expiration_ttl=365 * 24 * 3600)
    assert kv.get("key") == "v"
    assert kv.get("ttl") == "v"


def test_overwrite_without_expiration_makes_key_permanent(kv, clock):
    kv.put("key", "old", expiration_ttl=60)
    kv.put("key", "new")
    clock.advance(3600)
    assert kv.get("key") == "new"


# --- value size ---------------------------------------------------------------------


def test_value_size_limit(kv):
    too_big = 25 * MiB + 1
    with pytest.raises(KVError) as info:
        kv.put("key", b"x" * too_big)
    assert str(info.value) == (
        "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400."
    )
    with pytest.raises(KVError) as info:
        kv.put("key", "é" * (too_big // 2 + 1))  # counted in UTF-8 bytes
    assert "Value length of 26214402 exceeds" in str(info.value)
    assert kv.get("key") is None


# --- bulk reads ---------------------------------------------------------------------


def test_bulk_get(kv):
    kv.put("a", '{"n": 1}', metadata={"m": "a"})
    kv.put("b", "[2]")
    assert kv.get(["b", "missing", "a"]) == {"b": "[2]", "missing": None, "a": '{"n": 1}'}
    assert list(kv.get(["b", "missing", "a"])) == ["b", "missing", "a"]
    assert kv.get(["a", "b"], "json") == {"a": {"n": 1}, "b": [2]}
    assert kv.get_with_metadata(["a", "b", "missing"], "json") == {
        "a": {"value": {"n": 1}, "metadata": {"m": "a"}},
        "b": {"value": [2], "metadata": None},
        "missing": None,
    }
    assert kv.get([f"k{i}" for i in range(100)]) == {f"k{i}": None for i in range(100)}


@pytest.mark.parametrize("keys,type,message", [
    ([f"k{i}" for i in range(101)], "text",
     "KV GET_BULK failed: 400 You can request a maximum of 100 keys"),
    ([], "text", "KV GET_BULK failed: 400 You must request a minimum of 1 key"),
    (["a"], "bytes", 'KV GET_BULK failed: 400 "bytes" is not a valid type. Use "json" or "text"'),
    (["a", "."], "text", "KV GET_BULK failed: 400 Key name . is not legal"),
    (["a", ""], "text", "KV GET_BULK failed: 400 Key name  is not legal"),
    (["x" * 513], "text", "KV GET_BULK failed: 414 Encoded length of 513 is too long"),
])
def test_bulk_get_limits(kv, keys, type, message):
    with pytest.raises(KVError) as info:
        kv.get(keys, type)
    assert str(info.value) == message


def test_bulk_json_of_non_json_value(kv):
    kv.put("a", "[1]")
    kv.put("b", "not json")
    with pytest.raises(KVError) as info:
        kv.get(["a", "b"], "json")
    assert str(info.value) == (
        "KV GET_BULK failed: 400 At least one of the requested keys corresponds to a "
        "non-json value"
    )


# --- namespaces, health, list arguments ---------------------------------------------


def test_namespaces_are_isolated(make_kv):
    first, second = make_kv("first"), make_kv("second")
    first.put("key", "one")
    second.put("key", "two")
    assert (first.get("key"), second.get("key")) == ("one", "two")
    second.delete("key")
    assert first.get("key") == "one"


def test_same_namespace_opened_twice_shares_keys(make_kv):
    writer, reader = make_kv("shared"), make_kv("shared")
    writer.put("key", "value", metadata={"by": "writer"})
    assert reader.get_with_metadata("key")["metadata"] == {"by": "writer"}
    reader.delete("key")
    assert writer.get("key") is None


def test_ping_round_trips_and_cleans_up(kv):
    assert kv.ping() is None
    health_key = f"__health__/{socket.gethostname()}/{os.getpid()}/{threading.get_ident()}"
    assert kv.get(health_key) is None


@pytest.mark.parametrize("limit,reason", [
    (0, "Invalid key_count_limit of 0. Please specify an integer greater than 0."),
    (-5, "Invalid key_count_limit of -5. Please specify an integer greater than 0."),
    (1001, "Invalid key_count_limit of 1001. Please specify an integer less than 1000."),
])
def test_list_limit_is_checked_first(kv, limit, reason):
    with pytest.raises(KVError) as info:
        kv.list(limit=limit)
    assert str(info.value) == f"KV GET failed: 400 {reason}"
    with pytest.raises(TypeError):
        kv.list(limit="10")


def test_list_prefix_length_is_checked(kv):
    with pytest.raises(KVError) as info:
        kv.list(prefix="p" * 513)
    assert str(info.value) == (
        "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
    )


# --- processes and threads ----------------------------------------------------------


def test_threads_each_get_a_working_connection(kv):
    errors = []
    start_together = threading.Barrier(8)

    def work(thread):
        try:
            start_together.wait(10)  # first use in every thread at once: all connect together
            for i in range(50):
                key, value = f"t{thread}/{i}", f"{thread}:{i}" * (i + 1)
                kv.put(key, value)
                if kv.get(key) != value:
                    errors.append((key, "read back a different value"))
        except Exception as ex:  # collected: an exception in a thread would be lost
            errors.append((thread, repr(ex)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_forked_child_opens_its_own_connection(kv):
    kv.put("parent", "p")
    parent_handle = _handle(kv)
    pid = os.fork()
    if pid == 0:  # child: report through the exit code, never return into pytest
        code = 1
        try:
            fresh = _handle(kv) is not parent_handle
            kv.put("child", "c")
            code = 0 if fresh and kv.get("parent") == "p" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _handle(kv) is parent_handle
    assert kv.get("child") == "c"
    kv.put("after", "fork")
    assert kv.get("after") == "fork"


# --- local backend ------------------------------------------------------------------


@pytest.fixture
def local_kv(tmp_path, clock):
    namespace = open_kv({"binding": "CACHE_KV", "id": "local"}, tmp_path, clock=clock)
    yield namespace
    namespace.close()


def _names(page):
    return [item["name"] for item in page["keys"]]


def test_local_file_lives_under_state_dir(tmp_path):
    named = open_kv({"binding": "CACHE_KV", "id": "abc123", "preview_id": "x"}, tmp_path)
    unnamed = open_kv({"binding": "OTHER_KV"}, tmp_path)
    named.put("k", "v")
    unnamed.put("k", "v")
    assert (tmp_path / "kv" / "abc123.sqlite").is_file()
    assert (tmp_path / "kv" / "OTHER_KV.sqlite").is_file()
    named.close()
    unnamed.close()


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ".hidden", "x" * 200])
def test_local_id_must_be_a_plain_file_name(tmp_path, bad_id):
    with pytest.raises(ValueError, match="cannot name a local file"):
        open_kv({"binding": "CACHE_KV", "id": bad_id}, tmp_path)


def test_local_list_sorted_by_utf8_bytes(local_kv):
    # UTF-16 (JS string) order would put the emoji before U+FFFF; UTF-8 puts it after.
    keys = ["b", "a", "B", "\U0001F600", "\uffff", "é", "a/b", "a0", "~"]
    for key in keys:
        local_kv.put(key, "v")
    page = local_kv.list()
    assert _names(page) == sorted(keys, key=lambda k: k.encode("utf-8"))
    assert page["list_complete"] is True
    assert "cursor" not in page
    assert page["cache_status"] is None


def test_local_list_prefix_is_literal(local_kv):
    for key in ["user:1", "user:2", "user_1", "usera", "USER:3", "use", "user:%", "users"]:
        local_kv.put(key, "v")
    assert _names(local_kv.list(prefix="user:")) == ["user:%", "user:1", "user:2"]
    assert _names(local_kv.list(prefix="user_")) == ["user_1"]
    assert _names(local_kv.list(prefix="user%")) == []
    assert _names(local_kv.list(prefix="nothing")) == []
    assert len(local_kv.list(prefix="")["keys"]) == 8


def test_local_list_prefix_ending_in_highest_code_point(local_kv):
    for key in ["a\U0010FFFF", "a\U0010FFFFz", "b"]:
        local_kv.put(key, "v")
    assert _names(local_kv.list(prefix="a\U0010FFFF")) == ["a\U0010FFFF", "a\U0010FFFFz"]
    local_kv.put("\ud7ffx", "v")
    local_kv.put("\ue000", "v")
    assert _names(local_kv.list(prefix="\ud7ff")) == ["\ud7ffx"]


def test_local_list_pages_with_cursor(local_kv):
    keys = [f"page/{i:03d}" for i in range(25)]
    for key in reversed(keys):
        local_kv.put(key, "v")
    local_kv.put("other", "v")
    seen, cursor, pages = [], None, 0
    while True:
        page = local_kv.list(prefix="page/", limit=10, cursor=cursor)
        seen += _names(page)
        pages += 1
        if page["list_complete"]:
            assert "cursor" not in page
            break
        assert isinstance(page["cursor"], str) and page["cursor"]
        cursor = page["cursor"]
    assert seen == keys
    assert pages == 3


def test_local_list_exact_page_is_complete(local_kv):
    for i in range(3):
        local_kv.put(f"k{i}", "v")
    page = local_kv.list(limit=3)
    assert _names(page) == ["k0", "k1", "k2"]
    assert page["list_complete"] is True


def test_local_list_entries_show_only_set_fields(local_kv, clock):
    local_kv.put("plain", "v")
    local_kv.put("meta", "v", metadata={"a": 1})
    local_kv.put("ttl", "v", expiration_ttl=120)
    assert local_kv.list()["keys"] == [
        {"name": "meta", "metadata": {"a": 1}},
        {"name": "plain"},
        {"name": "ttl", "expiration": int(clock()) + 120},
    ]


def test_local_list_skips_expired_keys(local_kv, clock):
    local_kv.put("short", "v", expiration_ttl=60)
    local_kv.put("long", "v", expiration_ttl=600)
    clock.advance(60)
    assert _names(local_kv.list()) == ["long"]


def test_local_list_rejects_garbage_cursor(local_kv):
    with pytest.raises(KVError, match="Invalid cursor"):
        local_kv.list(cursor="%%%not base64")


def test_local_accepts_a_25_mib_value(local_kv):
    value = os.urandom(1024) * (25 * 1024)
    local_kv.put("big", value)
    assert local_kv.get("big", "bytes") == value


def test_local_expired_rows_are_purged(local_kv, tmp_path, clock):
    local_kv.put("old", "v", expiration_ttl=60)
    clock.advance(120)
    local_kv.put("new", "v")
    with sqlite3.connect(tmp_path / "kv" / "local.sqlite") as conn:
        rows = [row[0] for row in conn.execute("SELECT key FROM kv ORDER BY key")]
    assert rows == ["new"]


def test_local_store_is_in_wal_mode(local_kv, tmp_path):
    local_kv.put("k", "v")
    with sqlite3.connect(tmp_path / "kv" / "local.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _write_keys(state_dir, worker, count, start_together):
    kv = open_kv({"binding": "CACHE_KV", "id": "shared"}, state_dir)
    start_together.wait(10)
    for i in range(count):
        kv.put(f"w{worker}/{i:03d}", f"{worker}-{i}")
        assert kv.get(f"w{worker}/{i:03d}") == f"{worker}-{i}"


def test_local_file_is_shared_by_concurrent_processes(tmp_path):
    # Fresh file: the processes also race to create the schema and switch to WAL.
    context = multiprocessing.get_context("fork")
    start_together = context.Barrier(4)
    workers = [
        context.Process(target=_write_keys, args=(tmp_path, n, 60, start_together))
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    kv = open_kv({"binding": "CACHE_KV", "id": "shared"}, tmp_path)
    names = []
    cursor = None
    while True:
        page = kv.list(cursor=cursor, limit=100)
        names += _names(page)
        if page["list_complete"]:
            break
        cursor = page["cursor"]
    assert len(names) == 240
    assert kv.get("w3/059") == "3-59"


def test_local_first_open_waits_for_a_writer_on_a_fresh_file(tmp_path):
    # Another worker got to the brand-new file first and is writing in it (rollback mode,
    # before its switch to WAL). Switching the journal mode then reports "database is
    # locked" at once, without the busy handler: the open must wait instead of failing.
    (tmp_path / "kv").mkdir()
    other = sqlite3.connect(tmp_path / "kv" / "CACHE_KV.sqlite", isolation_level=None,
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE unrelated (a)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        kv = open_kv({"binding": "CACHE_KV"}, tmp_path)
        kv.put("k", "v")
        assert kv.get("k") == "v"
    finally:
        release.join()
        other.close()


def test_local_unwritable_state_dir_is_a_kv_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    kv = open_kv({"binding": "CACHE_KV"}, blocker)
    with pytest.raises(KVError):
        kv.get("k")


# --- memcached backend --------------------------------------------------------------


def _memcached_kv(servers, clock=time.time, **options):
    return open_kv({"binding": "CACHE_KV", "id": "mc", "servers": servers, **options},
                   "/nonexistent-state-dir", clock=clock)


def test_memcached_list_is_refused_loudly(memcached_flush):
    kv = _memcached_kv([memcached_flush])
    kv.put("k", "v")
    for call in (lambda: kv.list(), lambda: kv.list(prefix="k", limit=10)):
        with pytest.raises(KVError) as info:
            call()
        assert str(info.value) == LIST_UNSUPPORTED
        assert str(info.value) == (
            "KV list is not supported by the memcached backend: "
            "memcached cannot enumerate keys"
        )


def test_memcached_value_over_item_size_is_a_413(memcached_flush):
    kv = _memcached_kv([memcached_flush])
    with pytest.raises(KVError, match="413 value too large for the memcached item size"):
        kv.put("big", b"x" * (2 * MiB))
    # The connection survives the refusal.
    kv.put("small", "v")
    assert kv.get("small") == "v"


def test_memcached_item_carries_the_expiration(memcached_process, memcached_flush):
    kv = _memcached_kv([memcached_flush])
    kv.put("ttl", "v", expiration_ttl=120)
    kv.put("forever", "v")
    direct = memcached_process.client()
    try:
        ttl = direct.raw_command(f"mg {kv.backend.memcached_key('ttl')} t", b"\r\n")
        forever = direct.raw_command(f"mg {kv.backend.memcached_key('forever')} t", b"\r\n")
    finally:
        direct.close()
    assert ttl.startswith(b"HD t")
    assert 110 <= int(ttl.split(b"t")[1]) <= 120
    assert forever == b"HD t-1"


@pytest.mark.parametrize("key", ["k" * 512, "with space", "é", "nul\x00", "x" * 240])
def test_memcached_keys_are_always_valid_memcached_keys(memcached_flush, key):
    backend = _memcached_kv([memcached_flush]).backend
    mkey = backend.memcached_key(key)
    assert len(mkey) <= 250
    assert all(0x21 <= ord(c) <= 0x7e for c in mkey)
    assert mkey.startswith("mc:")


def test_memcached_item_of_another_key_is_not_returned(memcached_process, memcached_flush):
    kv = _memcached_kv([memcached_flush])
    impostor = msgspec.msgpack.encode(Envelope("someone else", b"secret"))
    direct = memcached_process.client()
    try:
        direct.set(kv.backend.memcached_key("k" * 300), impostor, noreply=False)
        direct.set(kv.backend.memcached_key("junk"), b"not an envelope", noreply=False)
    finally:
        direct.close()
    assert kv.get("k" * 300) is None
    # In a bulk read the impostor's own name is requested too: still not answered.
    assert kv.get(["k" * 300, "someone else"]) == {"k" * 300: None, "someone else": None}
    with pytest.raises(KVError, match="unreadable item"):
        kv.get("junk")


def test_memcached_down_raises_quickly_and_recovers(memcached_factory):
    server = memcached_factory()
    kv = _memcached_kv([server.address])
    kv.put("k", "v")
    server.stop()
    for call in (lambda: kv.get("k"), lambda: kv.put("k", "w"), lambda: kv.delete("k"),
                 lambda: kv.get(["k", "j"]), lambda: kv.ping()):
        started = time.monotonic()
        with pytest.raises(KVError, match="unavailable"):
            call()
        assert time.monotonic() - started < 1.0
    server.start()  # same port, empty cache: the client reconnects by itself
    assert kv.get("k") is None
    kv.put("k", "back")
    assert kv.get("k") == "back"


@pytest.mark.parametrize("count", [1, 2], ids=["one-server", "two-servers"])
@pytest.mark.parametrize("call", ["get", "get_many", "put", "delete"])
def test_memcached_restarted_answers_the_first_call(memcached_factory, count, call):
    servers = [memcached_factory() for _ in range(count)]
    kv = _memcached_kv([server.address for server in servers])
    keys = [f"key-{i}" for i in range(20)]  # with two servers, some live on each
    for key in keys:
        kv.put(key, "before")
    for server in servers:  # same ports, empty: the client still holds the old processes' sockets
        server.stop()
        server.start()
    first = {
        "get": lambda: kv.get(keys[0]),
        "get_many": lambda: kv.get(keys),
        "put": lambda: kv.put(keys[0], "after"),
        "delete": lambda: kv.delete(keys[0]),
    }[call]()
    assert first == (dict.fromkeys(keys) if call == "get_many" else None)
    assert kv.get(keys[0]) == ("after" if call == "put" else None)


@pytest.mark.parametrize("options,ceiling", [
    ({}, 1.5),
    ({"timeout": 0.2, "connect_timeout": 0.2}, 0.8),
])
def test_memcached_hung_server_times_out(options, ceiling):
    # A socket that listens but never answers: the kernel accepts, nobody replies.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        kv = _memcached_kv([f"127.0.0.1:{hung.getsockname()[1]}"], **options)
        for call in (lambda: kv.get("k"), lambda: kv.put("k", "v")):
            started = time.monotonic()
            with pytest.raises(KVError, match="TimeoutError|timed out"):
                call()
            assert time.monotonic() - started < ceiling


def _accepted(listener):
    """Connections waiting on ``listener``, each accepted and closed."""
    listener.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def test_memcached_hung_server_is_not_retried():
    # A retry would wait a second timeout: each call connects once.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        kv = _memcached_kv([f"127.0.0.1:{hung.getsockname()[1]}"], timeout=0.2, connect_timeout=0.2)
        for call in (lambda: kv.get("k"), lambda: kv.put("k", "v")):
            with pytest.raises(KVError, match="TimeoutError|timed out"):
                call()
            assert _accepted(hung) == 1


def test_memcached_refusal_is_not_retried(memcached_process, memcached_flush):
    kv = _memcached_kv([memcached_flush])
    direct = memcached_process.client()
    try:
        before = int(direct.stats()[b"bytes_read"])
        with pytest.raises(KVError, match="413"):
            kv.put("big", b"x" * (2 * MiB))
        # The server received the value once: its answer stands.
        assert 2 * MiB < int(direct.stats()[b"bytes_read"]) - before < 3 * MiB
    finally:
        direct.close()


def test_memcached_several_servers_share_keys(memcached_factory):
    servers = [memcached_factory(), memcached_factory()]
    kv = _memcached_kv([server.address for server in servers])
    keys = [f"key-{i}" for i in range(60)]
    for key in keys:
        kv.put(key, key.upper())
    assert kv.get(keys[:50]) == {key: key.upper() for key in keys[:50]}
    holders = {}
    for index, server in enumerate(servers):
        direct = server.client()
        try:
            items = direct.get_many([kv.backend.memcached_key(k) for k in keys])
        finally:
            direct.close()
        for key in keys:
            if kv.backend.memcached_key(key) in items:
                holders.setdefault(key, []).append(index)
    # Every key lives on exactly one server, and both servers hold some keys.
    assert sorted(holders) == sorted(keys)
    assert all(len(where) == 1 for where in holders.values())
    assert {where[0] for where in holders.values()} == {0, 1}

    servers[1].stop()
    on_dead = [k for k in keys if holders[k] == [1]]
    on_live = [k for k in keys if holders[k] == [0]]
    for _ in range(3):  # every call, not just the first: no silent misses afterwards
        with pytest.raises(KVError):
            kv.get(on_dead[0])
        with pytest.raises(KVError):
            kv.put(on_dead[0], "new")
        with pytest.raises(KVError):
            kv.delete(on_dead[0])
    # Keys are not moved to the live server: its keys keep working, the dead one's fail.
    for key in on_live[:5]:
        assert kv.get(key) == key.upper()
        kv.put(key, "updated")
        assert kv.get(key) == "updated"
    servers[1].start()  # back (empty): its keys are served by it again
    assert kv.get(on_dead[0]) is None
    kv.put(on_dead[0], "again")
    assert kv.get(on_dead[0]) == "again"


@pytest.mark.parametrize("table,match", [
    ({"servers": []}, "non-empty list"),
    ({"servers": "127.0.0.1:11211"}, "non-empty list"),
    ({"servers": ["127.0.0.1"]}, "host:port"),
    ({"servers": ["127.0.0.1:notaport"]}, "host:port"),
    ({"servers": ["127.0.0.1:11211"], "timeout": 0}, "timeout"),
    ({"servers": ["127.0.0.1:11211"], "connect_timeout": "1"}, "connect_timeout"),
])
def test_memcached_bad_binding_is_a_clear_error(tmp_path, table, match):
    with pytest.raises(ValueError, match=match) as info:
        open_kv({"binding": "CACHE_KV", **table}, tmp_path)
    # The key only: open_binding puts file, environment and binding before it, once.
    assert "CACHE_KV" not in str(info.value)


def test_open_kv_connects_lazily():
    # Nothing listens on port 1: opening must still succeed (env built before any I/O).
    kv = _memcached_kv(["127.0.0.1:1"])
    assert isinstance(kv, KVNamespace)
    with pytest.raises(KVError):
        kv.get("k")
