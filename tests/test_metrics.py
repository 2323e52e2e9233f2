"""GET /metrics: Prometheus counts per route template, behind a token, added up across gunicorn workers."""

import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.services.metrics import statement_kind
from tests.fixtures.app import client_for, copy_migrated_for
from tests.fixtures.process import free_port, stop_process
from tests.test_serve import default_env_config, start, wait_healthy

TOKEN = "metrics-token-for-tests"


def scrape(client, token=TOKEN, status=200):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"}, status=status)


def sample(text, name, **labels):
    """The value of the sample ``name{labels}`` in a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_requests_are_counted_per_route_template(env):
    client = client_for(env, metrics_token=TOKEN)
    labels = {"method": "GET", "route": "/api/content/{id}"}
    text = scrape(client).text  # the metrics are the process's: other tests counted too
    before = (sample(text, "sonicpy_http_requests_total", status="404", **labels),
              sample(text, "sonicpy_http_request_duration_seconds_count", **labels))
    for n in range(3):
        client.get(f"/api/content/missing-{n}", status=404)
    text = scrape(client).text
    assert sample(text, "sonicpy_http_requests_total", status="404", **labels) == before[0] + 3
    assert sample(text, "sonicpy_http_request_duration_seconds_count", **labels) == before[1] + 3
    assert "missing-1" not in text


def test_cached_reads_are_counted_by_tier(env):
    client = client_for(env, metrics_token=TOKEN)
    before = {tier: sample(scrape(client).text, "sonicpy_cache_reads_total", source=tier) for tier in ("database", "memory")}
    client.get("/api/content")
    client.get("/api/content")
    text = scrape(client).text
    assert sample(text, "sonicpy_cache_reads_total", source="database") == before["database"] + 1
    assert sample(text, "sonicpy_cache_reads_total", source="memory") == before["memory"] + 1


@pytest.mark.backends
def test_database_query_time_is_measured(env, db_backend):
    client = client_for(env, metrics_token=TOKEN)
    backend = "postgresql" if db_backend == "postgres" else "sqlite"
    name = "sonicpy_db_query_duration_seconds_count"
    before = {kind: sample(scrape(client).text, name, backend=backend, statement=kind) for kind in ("SELECT", "INSERT")}
    client.post_json("/auth/register", {"email": "metrics@example.com", "password": "a-long-password-1"}, status=201)
    text = scrape(client).text
    assert sample(text, name, backend=backend, statement="INSERT") > before["INSERT"]
    assert sample(text, name, backend=backend, statement="SELECT") > before["SELECT"]
    assert sample(text, "sonicpy_db_query_duration_seconds_bucket", backend=backend, statement="SELECT", le="+Inf") \
        == sample(text, name, backend=backend, statement="SELECT")


def test_statement_kinds():
    assert [statement_kind(sql) for sql in ("select 1", ' (SELECT "a")', "INSERT INTO t", "BEGIN IMMEDIATE", "")] == [
        "SELECT", "SELECT", "INSERT", "other", "other"]


def test_metrics_need_the_token(env):
    client_for(env).get("/metrics", status=404)  # no METRICS_TOKEN: off
    client = client_for(env, metrics_token=TOKEN)
    scrape(client, token="wrong", status=401)
    client.get("/metrics", status=401)


def get_status(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def worker_pids(metrics_dir):
    """The processes that have written request counts (one counter file each)."""
    return {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}


def test_two_gunicorn_workers_are_added_up(tmp_path, migrated_template):
    # The secret is declared, as a deployment declares it; its value comes from the process.
    path, env = default_env_config(tmp_path, extra='\n[secrets]\nrequired = ["METRICS_TOKEN"]\n')
    env["METRICS_TOKEN"] = TOKEN
    copy_migrated_for(path, env, migrated_template)
    port = free_port()
    server = start([sys.executable, "worker.py", "serve", "--bind", f"127.0.0.1:{port}",
                    "--workers", "2", "--threads", "2"], env, port)
    # The server logs a line or two per request to its stdout, a pipe: unread, it fills
    # after a few hundred requests and the workers block writing their next line.
    threading.Thread(target=server.stdout.read, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(base)[0] == 200
        metrics_dir = tmp_path / "state" / "metrics"
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            # Concurrent batches until both workers have served some (gunicorn decides who
            # accepts; on a loaded machine the second worker may take seconds to boot).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                statuses = list(pool.map(lambda _: get_status(f"{base}/api/collections"), range(16)))
                assert statuses == [200] * 16
                sent += 16
                if len(worker_pids(metrics_dir)) == 2:
                    break
        assert len(worker_pids(metrics_dir)) == 2
        for _ in range(4):  # whichever worker answers adds up both
            request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
            assert sample(text, "sonicpy_http_requests_total", route="/api/collections", status="200") == sent
    finally:
        stop_process(server)


@pytest.mark.parametrize("seconds", [0.0, 0.00005, 0.0001, 0.0003, 0.005, 0.0051, 2.5, 7.0, 1e9])
def test_a_request_is_counted_as_prometheus_client_counts_it(seconds):
    """``counting`` and ``observing`` add to a child's values what ``inc()`` and ``observe()`` add."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from app.services.metrics import QUERY_BUCKETS, counting, observing

    expositions = []
    for direct in (False, True):
        registry = CollectorRegistry()
        counter = Counter("c", "c", ["x"], registry=registry).labels("a")
        histogram = Histogram("h", "h", ["x"], buckets=QUERY_BUCKETS, registry=registry).labels("a")
        for _ in range(2):
            (counting(counter) if direct else counter.inc)()
            (observing(histogram) if direct else histogram.observe)(seconds)
        expositions.append("\n".join(line for line in generate_latest(registry).decode().splitlines()
                                     if "_created" not in line))
    assert expositions[0] == expositions[1]
