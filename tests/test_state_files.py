"""The local state is private: its folders 0700, its database, KV, index and secret files 0600."""

import os
import stat

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
