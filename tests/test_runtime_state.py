"""The DB binding's SQLite settings, /health per binding, and state shared by separate servers (R2, R5, R8)."""

import os
import subprocess
import sys

import pytest

from tests.fixtures.app import MIGRATIONS, PROJECT_ROOT, client_for, copy_migrated_for, env_with_copy, make_env
from tests.fixtures.process import free_port, stop_process, wait_for_port
from tests.fixtures.s3 import create_bucket
from tests.test_serve import http_json


def pragma(db, name):
    return db.execute_sql(f"PRAGMA {name}").fetchone()[0]


def test_sqlite_db_runs_in_wal_with_d1_settings(env):
    db = env.DB.db
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "foreign_keys") == 1
    assert pragma(db, "synchronous") == 1  # NORMAL
    assert pragma(db, "busy_timeout") == 5000
    # Every transaction takes the write lock up front (BEGIN IMMEDIATE), so concurrent
    # workers wait on the busy timeout instead of failing on a lock upgrade.
    assert db._lock_type == "IMMEDIATE"


def test_health_reports_a_database_that_is_down(tmp_path, migrated_template):
    env = make_env(tmp_path / "pg", database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    body = client_for(env).get("/health", status=503).json
    assert body["name"] == "sonicpy" and body["status"] == "degraded"
    assert {name: check["status"] for name, check in body["bindings"].items()} == {
        "DB": "down", "MEDIA_BUCKET": "ok", "CACHE_KV": "ok",
    }
    assert body["error"] == "Binding(s) down: DB"


def test_health_reports_a_database_that_is_down_with_a_before_request_plugin_loaded(tmp_path, migrated_template):
    # Whether a plugin listens before each request is plugin state, read from the database:
    # the health checks, exempt from the hook, must not need it.
    env = make_env(tmp_path / "pg", database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    body = client_for(env, plugins=("tests.plugins.veto_plugin",)).get("/health", status=503).json
    assert body["name"] == "sonicpy" and body["bindings"]["DB"]["status"] == "down"


def test_health_reports_a_bucket_that_is_down(tmp_path, migrated_template, s3_server_factory):
    server = s3_server_factory()
    bucket = create_bucket(server.endpoint_url)
    env = env_with_copy(tmp_path / "s3", migrated_template, s3=server.endpoint_url, bucket_name=bucket)
    client = client_for(env)
    assert client.get("/health", status=200).json["bindings"]["MEDIA_BUCKET"]["status"] == "ok"
    server.stop()
    body = client.get("/health", status=503).json
    assert body["bindings"]["MEDIA_BUCKET"]["status"] == "down"
    assert body["bindings"]["DB"]["status"] == "ok"


# Each failed sign-in runs scrypt at the production cost (a served app takes no test
# settings): a low limit keeps the shared-limit test's attempts few.
SHARED_LIMIT = 3


@pytest.fixture
def two_servers(tmp_path, migrated_template):
    """Two single-worker gunicorn servers on one bindings.toml and one state folder."""
    path = tmp_path / "bindings.toml"
    path.write_text(
        f'name = "shared"\n[[d1_databases]]\nbinding = "DB"\nmigrations_dir = "{MIGRATIONS}"\n'
        '[[r2_buckets]]\nbinding = "MEDIA_BUCKET"\nbucket_name = "m"\n'
        '[[kv_namespaces]]\nbinding = "CACHE_KV"\nid = "kv"\n'
        f'[vars]\nRATE_LIMIT_ATTEMPTS = {SHARED_LIMIT}\n'
    )
    env = {**os.environ, "SONICPY_CONFIG": str(path), "SONICPY_PERSIST_TO": str(tmp_path / "state")}
    env.pop("SONICPY_ENV", None)
    copy_migrated_for(path, env, migrated_template)
    servers = []
    for _ in range(2):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "worker:app", "--bind", f"127.0.0.1:{port}",
                                 "--workers", "1"], cwd=PROJECT_ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append((proc, f"http://127.0.0.1:{port}"))
        wait_for_port(port, timeout=60, proc=proc)
    yield [base for _, base in servers]
    for proc, _ in servers:
        stop_process(proc)


def test_separate_servers_share_database_and_kv(two_servers):
    first, second = two_servers
    credentials = {"email": "both@example.com", "password": "correct horse battery"}
    assert http_json(f"{first}/auth/register", "POST", {**credentials, "username": "both"})[0] == 201
    assert http_json(f"{second}/auth/login", "POST", credentials)[0] == 200  # the DB is shared
    wrong = {**credentials, "password": "wrong password!"}
    # Failed sign-ins alternate between the servers; the limit counts them together (KV):
    # counted by each server alone, none would reach it.
    statuses = [http_json(f"{(first, second)[i % 2]}/auth/login", "POST", wrong)[0] for i in range(SHARED_LIMIT + 1)]
    assert statuses == [401] * SHARED_LIMIT + [429]


def test_unusable_binding_values_name_file_env_and_binding(tmp_path):
    from app.runtime.config import ConfigError, load_config
    from app.runtime.env import build_env

    path = tmp_path / "bindings.toml"
    path.write_text('name = "x"\n[[d1_databases]]\nbinding = "DB"\ndatabase_id = "../escape"\n')
    with pytest.raises(ConfigError) as err:
        build_env(load_config(path, environ={}))
    message = str(err.value)
    assert str(path) in message and "(environment default)" in message and "(DB)" in message
    assert not (tmp_path / "escape.sqlite").exists()
