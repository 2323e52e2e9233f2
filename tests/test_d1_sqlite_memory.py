"""A SQLite D1 database's memory is bounded: each connection's page cache and SQLite's heap
in the process; temporary storage is memory (no temporary file per triggered INSERT)."""

import threading

import pytest

from app.db.database import DEFAULT_SQLITE_CACHE_KIB, DEFAULT_SQLITE_MEMORY_LIMIT_MIB, MIB, open_database
from app.runtime.config import load_config
from app.runtime.d1.database import open_d1, sqlite_memory
from app.runtime.env import build_env
from tests.fixtures.app import bindings_text


def _pragmas(db):
    return {name: db.execute_sql(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "temp_store")}


def _soft_heap_limit(db):
    return db.execute_sql("PRAGMA soft_heap_limit").fetchone()[0]


def test_the_defaults(tmp_path):
    db = open_d1({"binding": "DB"}, tmp_path, {}).db

    assert _pragmas(db) == {"cache_size": -DEFAULT_SQLITE_CACHE_KIB, "temp_store": 2}  # 2: memory
    assert _soft_heap_limit(db) == DEFAULT_SQLITE_MEMORY_LIMIT_MIB * MIB
    db.close()


def test_every_thread_s_connection_has_them(tmp_path):
    db = open_d1({"binding": "DB", "sqlite_cache_kib": 256}, tmp_path, {}).db
    seen = []
    thread = threading.Thread(target=lambda: (seen.append(_pragmas(db)), db.close()))
    thread.start()
    thread.join()

    assert seen == [{"cache_size": -256, "temp_store": 2}]


def test_the_binding_keys_set_them(tmp_path):
    db = open_d1({"binding": "DB", "sqlite_cache_kib": 512, "sqlite_memory_limit_mib": 0}, tmp_path, {}).db

    assert _pragmas(db)["cache_size"] == -512
    assert _soft_heap_limit(db) == 0  # no limit
    db.close()
    db = open_d1({"binding": "DB"}, tmp_path, {}).db  # the limit is the process's: set back
    assert _soft_heap_limit(db) == DEFAULT_SQLITE_MEMORY_LIMIT_MIB * MIB
    db.close()


def test_a_database_url_gets_them_too(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'url.sqlite'}", cache_kib=300, memory_limit_mib=8)

    assert _pragmas(db) == {"cache_size": -300, "temp_store": 2}
    assert _soft_heap_limit(db) == 8 * MIB
    db.close()
    open_database(f"sqlite:///{tmp_path / 'back.sqlite'}").close()  # leaves the process's limit at its default


def test_bindings_toml_takes_the_keys(tmp_path):
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text().replace('binding = "DB"', 'binding = "DB"\nsqlite_cache_kib = 128'))

    env = build_env(load_config(path, environ={}, persist_to=tmp_path / "state"))

    assert _pragmas(env.DB.db)["cache_size"] == -128
    env.DB.db.close()


@pytest.mark.parametrize(("key", "value"), [
    ("sqlite_cache_kib", 63), ("sqlite_cache_kib", "1024"), ("sqlite_cache_kib", True),
    ("sqlite_memory_limit_mib", -1), ("sqlite_memory_limit_mib", 1.5),
])
def test_bad_values_are_refused_with_the_key_named(key, value):
    with pytest.raises(ValueError, match=f"{key} must be a whole number"):
        sqlite_memory({"binding": "DB", key: value})
