"""Serving for real: `gunicorn worker:app`, `serve --env production` on real servers, and `dev` (R6-R8, P1).

These start real processes on free loopback ports and talk HTTP to them.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest

from app.db import derived
from tests.fixtures.app import MIGRATIONS, PROJECT_ROOT, bindings_text, copy_migrated_for
from tests.fixtures.postgres import leave_recount_owed
from tests.fixtures.process import free_port, stop_process, wait_for_port
from tests.fixtures.s3 import ACCESS_KEY_ENV, CREDENTIALS, SECRET_KEY_ENV, create_bucket

PRODUCTION = """\
name = "served"
main = "worker.py"

[[d1_databases]]
binding = "DB"
database_name = "served"
migrations_dir = "{migrations}"

[[r2_buckets]]
binding = "MEDIA_BUCKET"
bucket_name = "served-media"

[[kv_namespaces]]
binding = "CACHE_KV"
id = "served-kv"

[env.production]
[env.production.vars]
MAILER = "log"

[env.production.secrets]
required = ["JWT_SECRET"]

[[env.production.d1_databases]]
binding = "DB"
database_name = "served"
database_url_env = "DATABASE_URL"
migrations_dir = "{migrations}"

[[env.production.r2_buckets]]
binding = "MEDIA_BUCKET"
bucket_name = "{bucket}"
endpoint_url = "{s3}"
region_name = "us-east-1"
access_key_id_env = "{key_env}"
secret_access_key_env = "{secret_env}"

[[env.production.kv_namespaces]]
binding = "CACHE_KV"
id = "served-kv"
servers = ["{memcached}"]
"""


def http_json(url, method="GET", body=None, headers=None):
    """``(status, parsed JSON body)`` of one request on a new connection."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as ex:
        return ex.code, json.loads(ex.read() or b"null")


def run_cli(args, env, timeout=120):
    return subprocess.run([sys.executable, "worker.py", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def start(command, env, port):
    proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, timeout=60, proc=proc)
    except BaseException:
        stop_process(proc)
        print(proc.stdout.read())
        raise
    return proc


def wait_healthy(base, timeout=30):
    """``/health``'s ``(status, body)`` once it answers 200, or its last answer at the deadline.

    A request that times out (or is refused) is asked again: workers still booting on a
    busy machine may hold the first one past the client's timeout. Past the deadline the
    timeout is raised, so a server that never answers fails the test.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = http_json(f"{base}/health")
        except (TimeoutError, urllib.error.URLError):  # a timeout, while connecting or reading
            if time.monotonic() > deadline:
                raise
            continue
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.2)


@pytest.fixture
def production_config(tmp_path, memcached_factory, s3_server, fresh_postgres_url):
    """A bindings.toml whose production env uses real PostgreSQL, memcached and S3 servers."""
    bucket = create_bucket(s3_server)
    path = tmp_path / "bindings.toml"
    path.write_text(PRODUCTION.format(
        migrations=MIGRATIONS, bucket=bucket, s3=s3_server, key_env=ACCESS_KEY_ENV,
        secret_env=SECRET_KEY_ENV, memcached=memcached_factory().address,
    ))
    env = {**os.environ, **CREDENTIALS, "DATABASE_URL": fresh_postgres_url, "JWT_SECRET": "s" * 48}
    env.pop("SONICPY_ENV", None)
    return path, env


def test_serve_production_on_real_servers(production_config):
    path, env = production_config
    migrate = run_cli(["d1", "migrations", "apply", "DB", "--env", "production", "--config", str(path)], env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    port = free_port()
    proc = start([sys.executable, "worker.py", "serve", "--env", "production", "--config", str(path),
                  "--bind", f"127.0.0.1:{port}", "--workers", "2"], env, port)
    try:
        status, body = wait_healthy(f"http://127.0.0.1:{port}")
        assert status == 200, body
        assert body["env"] == "production" and body["worker"] == "served-production"
        assert {name: check["status"] for name, check in body["bindings"].items()} == {
            "DB": "ok", "MEDIA_BUCKET": "ok", "CACHE_KV": "ok",
        }
    finally:
        stop_process(proc)


def test_serve_warns_when_the_derived_tables_owe_a_recount(tmp_path, migrated_postgres_url):
    # An apply killed between its install and its recount leaves PostgreSQL's search empty
    # until the next apply: serving says so, naming that command, and serves all the same.
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text(database_url=migrated_postgres_url))
    env = {k: v for k, v in os.environ.items() if k not in ("SONICPY_ENV", "JWT_SECRET")}
    options = ["--config", str(path), "--persist-to", str(tmp_path / "state")]
    leave_recount_owed(migrated_postgres_url)
    port = free_port()
    proc = start([sys.executable, "worker.py", "serve", *options, "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                 env, port)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}")[0] == 200
    finally:
        stop_process(proc)
    output = proc.stdout.read()
    assert ("DB: the derived tables owe a recount (all): totals, search or public media may be incomplete"
            " until it runs: run `python worker.py d1 migrations apply DB`.") in output, output
    assert "migration(s) not applied" not in output


def test_serve_warns_when_the_search_index_and_triggers_are_missing(tmp_path, migrated_template):
    # A database loaded from an SQL dump has every migration recorded and no search index or
    # trigger on content (the dump leaves them out): serving says so, naming the command that
    # installs them, and serves all the same.
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text())
    env = {k: v for k, v in os.environ.items() if k not in ("SONICPY_ENV", "JWT_SECRET")}
    env["SONICPY_PERSIST_TO"] = str(tmp_path / "state")
    copy_migrated_for(path, env, migrated_template)
    (database,) = (tmp_path / "state").rglob("*.sqlite")
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(f"DROP TABLE {derived.FTS_TABLE}")
        conn.execute(f'DROP TRIGGER "{derived.TRIGGER_PREFIX}count_insert"')
        conn.commit()
    port = free_port()
    proc = start([sys.executable, "worker.py", "serve", "--config", str(path), "--bind", f"127.0.0.1:{port}",
                  "--workers", "1"], env, port)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}")[0] == 200
    finally:
        stop_process(proc)
    output = proc.stdout.read()
    assert (f"DB: derived objects missing or out of date: {derived.FTS_TABLE}, {derived.TRIGGER_PREFIX}count_insert;"
            " until they are installed, search may fail") in output, output
    assert "run `python worker.py d1 migrations apply DB`." in output
    assert "migration(s) not applied" not in output


def test_serve_refuses_production_without_jwt_secret(production_config):
    path, env = production_config
    env = dict(env)
    env.pop("JWT_SECRET")
    result = run_cli(["serve", "--env", "production", "--config", str(path), "--bind", f"127.0.0.1:{free_port()}"], env)
    assert result.returncode == 1
    assert "JWT_SECRET is not set" in result.stderr and "Traceback" not in result.stderr


def test_gunicorn_worker_app_serves_the_default_env(tmp_path, migrated_template):
    path = tmp_path / "bindings.toml"
    path.write_text(PRODUCTION.split("[env.production]")[0].format(migrations=MIGRATIONS))
    env = {**os.environ, "SONICPY_CONFIG": str(path), "SONICPY_PERSIST_TO": str(tmp_path / "state")}
    env.pop("SONICPY_ENV", None)
    copy_migrated_for(path, env, migrated_template)
    port = free_port()
    proc = start([sys.executable, "-m", "gunicorn", "worker:app", "--bind", f"127.0.0.1:{port}", "--workers", "2"], env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        status, body = wait_healthy(base)
        assert status == 200 and body["env"] == "default", body
        # Two worker processes, one state: a user registered through one request can sign
        # in through every later one (DB), and failed sign-ins are counted across workers
        # (KV), so the limit trips at the same attempt whichever worker answers.
        credentials = {"email": "shared@example.com", "password": "correct horse battery"}
        status, _ = http_json(f"{base}/auth/register", "POST", {**credentials, "username": "shared"})
        assert status == 201
        for _ in range(6):
            assert http_json(f"{base}/auth/login", "POST", credentials)[0] == 200
        wrong = {**credentials, "password": "wrong password!"}
        statuses = [http_json(f"{base}/auth/login", "POST", wrong)[0] for _ in range(11)]
        assert statuses == [401] * 10 + [429]
    finally:
        stop_process(proc)


STAGING = """
[env.staging]
[env.staging.secrets]
required = ["JWT_SECRET"]

[[env.staging.d1_databases]]
binding = "DB"
database_name = "staging"
migrations_dir = "{migrations}"

[[env.staging.r2_buckets]]
binding = "MEDIA_BUCKET"
bucket_name = "staging-media"

[[env.staging.kv_namespaces]]
binding = "CACHE_KV"
id = "staging-kv"
"""


def default_env_config(tmp_path, extra=""):
    """A bindings.toml with local backends only (the default env, plus ``extra``) and its process env."""
    path = tmp_path / "bindings.toml"
    path.write_text(PRODUCTION.split("[env.production]")[0].format(migrations=MIGRATIONS) + extra)
    env = {**os.environ, "SONICPY_CONFIG": str(path), "SONICPY_PERSIST_TO": str(tmp_path / "state")}
    for name in ("SONICPY_ENV", "JWT_SECRET"):
        env.pop(name, None)
    return path, env


@pytest.mark.parametrize("secret, message", [
    (None, "secret JWT_SECRET is not set"),
    ("too-short", "secret JWT_SECRET is 9 bytes long; it must be at least 32"),
])
def test_gunicorn_refuses_to_boot_a_non_default_env_without_a_usable_secret(tmp_path, secret, message):
    _, env = default_env_config(tmp_path, STAGING.format(migrations=MIGRATIONS))
    env["SONICPY_ENV"] = "staging"
    if secret:
        env["JWT_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "worker:app", "--bind", f"127.0.0.1:{free_port()}", "--workers", "2"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert f"sonicpy cannot start: {tmp_path / 'bindings.toml'} (environment staging): {message}" in result.stderr
    assert "Booting worker" in result.stderr  # it did try, then halted instead of serving 500s


def test_gunicorn_refuses_to_boot_with_a_non_numeric_var(tmp_path):
    _, env = default_env_config(tmp_path, '[vars]\nRATE_LIMIT_ATTEMPTS = "ten"\n')
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "worker:app", "--bind", f"127.0.0.1:{free_port()}", "--workers", "1"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "RATE_LIMIT_ATTEMPTS must be a whole number, not 'ten'" in result.stderr


def test_a_plugin_module_that_cannot_be_imported_stops_start_up_naming_plugins(tmp_path):
    # Not a 503 "retry in 5 s" on every request (health checks included) once served.
    _, env = default_env_config(tmp_path, '[vars]\nPLUGINS = "nonexistent.mod"\n')
    env["JWT_SECRET"] = "0123456789abcdef0123456789abcdef-xyz"
    message = ("(environment default): PLUGINS names 'nonexistent.mod', which cannot be imported: "
               "ModuleNotFoundError: No module named 'nonexistent'")
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "worker:app", "--bind", f"127.0.0.1:{free_port()}", "--workers", "1"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0 and message in result.stderr
    for args in (["serve", "--bind", f"127.0.0.1:{free_port()}"], ["plugins", "deactivate", "faq-plugin"]):
        result = run_cli(args, env)
        assert result.returncode == 1, args
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_burst_of_parallel_guesses_gets_the_limit_not_one_per_thread(tmp_path, migrated_template):
    # 80 wrong passwords at once against 2 workers x 8 threads: counted after the ~100-300 ms
    # scrypt run, 21 of them got through a limit of 10. Counted first, under a lock per
    # worker, only the two processes can still race on the KV key (one round trip wide).
    limit = 5
    path, env = default_env_config(tmp_path, f"[vars]\nRATE_LIMIT_ATTEMPTS = {limit}\n")
    copy_migrated_for(path, env, migrated_template)
    port = free_port()
    proc = start([sys.executable, "-m", "gunicorn", "worker:app", "--bind", f"127.0.0.1:{port}",
                  "--workers", "2", "--threads", "8"], env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(base)[0] == 200
        wrong = {"email": "target@example.com", "password": "not the password"}
        with ThreadPoolExecutor(80) as pool:
            statuses = list(pool.map(lambda _: http_json(f"{base}/auth/login", "POST", wrong)[0], range(80)))
        assert set(statuses) <= {401, 429}
        # The limit comes from [vars]; a collision between the two workers may let one more in.
        assert limit <= statuses.count(401) <= limit + 1, statuses.count(401)
    finally:
        stop_process(proc)


def test_dev_migrates_creates_an_admin_and_serves_with_embedded_defaults(tmp_path):
    path = tmp_path / "bindings.toml"
    path.write_text(PRODUCTION.split("[env.production]")[0].format(migrations=MIGRATIONS))
    env = {k: v for k, v in os.environ.items() if k not in ("SONICPY_ENV", "JWT_SECRET")}
    port = free_port()
    proc = start([sys.executable, "worker.py", "dev", "--config", str(path), "--persist-to", str(tmp_path / "state"),
                  "--port", str(port), "--no-reload", "--no-crons"], env, port)
    try:
        status, body = wait_healthy(f"http://127.0.0.1:{port}")
        assert status == 200, body
        # dev printed how to sign in as the admin it created; those credentials work.
        line = next(line for line in proc.stdout if "Created the first admin" in line)
        email, password = line.split(": ", 1)[1].strip().split(" / ")
        status, login = http_json(f"http://127.0.0.1:{port}/auth/login", "POST", {"email": email, "password": password})
        assert status == 200 and login["user"]["role"] == "admin", login
        # dev generated a JWT secret into the state folder instead of refusing to start.
        assert (tmp_path / "state" / "jwt_secret").read_text().strip()
        listed = run_cli(["d1", "migrations", "list", "DB", "--config", str(path), "--persist-to", str(tmp_path / "state")], env)
        assert listed.returncode == 0, listed.stdout  # nothing pending: dev applied them
    finally:
        stop_process(proc)
