"""The local state is private: its folders 0700, its database, KV, index and secret files 0600."""

import os
import stat
import subprocess
import sys
import threading

import pytest

from app.runtime.config import load_config
from app.settings import settings_from_config
from tests.fixtures.app import make_env, migrate


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The usual umask (files 0644, folders 0755 unless the app says otherwise)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_state_folders_and_files_are_private(tmp_path, open_umask):
    env = make_env(tmp_path / "site")
    migrate(env)  # writes the database: its -wal and -shm files appear
    env.CACHE_KV.put("k", "v")
    env.MEDIA_BUCKET.put("a.txt", b"hello")
    settings_from_config(env.config)  # the default env generates its JWT secret
    state = tmp_path / "site" / "state"
    folders = [path for path in state.rglob("*") if path.is_dir()]
    files = [path for path in state.rglob("*") if path.is_file() and "blobs" not in path.parts]
    names = {path.name for path in files}
    assert {"DB.sqlite", "DB.sqlite-wal", "DB.sqlite-shm", "jwt_secret", "index.sqlite3"} <= names
    assert any(name.endswith(".sqlite-wal") and name != "DB.sqlite-wal" for name in names)  # the KV's
    assert {str(p): mode(p) for p in [state, *folders]} == {str(p): 0o700 for p in [state, *folders]}
    assert {str(p): mode(p) for p in files} == {str(p): 0o600 for p in files}
    env.DB.db.close()


def test_files_left_readable_by_an_older_version_are_tightened(tmp_path, open_umask):
    env = make_env(tmp_path / "site")
    migrate(env)
    env.DB.db.close()
    env.CACHE_KV.put("k", "v")
    env.CACHE_KV.close()
    state = tmp_path / "site" / "state"
    loose = list(state.rglob("*.sqlite*")) + [p.parent for p in state.rglob("*.sqlite")]
    for path in loose:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    reopened = make_env(tmp_path / "site")
    reopened.DB.db.connect()
    reopened.CACHE_KV.get("k")
    assert {str(p): mode(p) for p in loose} == {
        str(p): 0o700 if p.is_dir() else 0o600 for p in loose
    }
    reopened.DB.db.close()


def test_an_existing_jwt_secret_file_is_tightened(tmp_path, open_umask):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "jwt_secret").write_text("k" * 48)
    os.chmod(state / "jwt_secret", 0o644)
    (tmp_path / "bindings.toml").write_text('name = "site"\nmain = "worker.py"\n')
    config = load_config(tmp_path / "bindings.toml", environ={}, persist_to=state)
    assert settings_from_config(config).jwt_secret == "k" * 48
    assert (mode(state), mode(state / "jwt_secret")) == (0o700, 0o600)


def in_another_process(path, sql):
    """Run ``sql`` on the SQLite file ``path`` in a new process, which opens it, commits and closes
    its only connection (what a CLI command does); the first column of the last row, or None."""
    script = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
              "row = c.execute(sys.argv[2]).fetchone(); c.close(); print(row[0] if row else '')")
    return subprocess.run([sys.executable, "-c", script, str(path), sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_a_thread_s_new_connection_keeps_the_locks_of_the_process_s_others(tmp_path):
    """Opening a connection (one per thread) never closes a descriptor of the file: that drops every
    lock the process holds on it, so another process closing its connection took itself for the last
    user and deleted the WAL under the open ones, and what this process wrote next (a worker's cache
    entries) no other process ever read, nor what the others wrote this one."""
    env = make_env(tmp_path / "site")
    env.CACHE_KV.put("first", "1")
    path = env.CACHE_KV.backend.path
    opened = threading.Thread(target=env.CACHE_KV.get, args=("first",))
    opened.start()
    opened.join()  # a second connection, as another request thread opens one

    in_another_process(path, "INSERT INTO kv (key, value) VALUES ('theirs', CAST('2' AS BLOB))")
    env.CACHE_KV.put("mine", "3")

    assert env.CACHE_KV.get("theirs") == "2"
    assert in_another_process(path, "SELECT CAST(value AS TEXT) FROM kv WHERE key = 'mine'") == "3"
    env.DB.db.close()
