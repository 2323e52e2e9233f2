"""Benchmarks: sonicpy's hot endpoints against a bare Falcon+gunicorn baseline, in one run.

    python bench/run.py [--seconds 5] [--connections 16] [--workers 2]

Starts gunicorn twice on free loopback ports (the baseline app, then sonicpy on a
migrated SQLite database with a published collection of 200 items), drives each endpoint
with wrk when it is installed (``apt-get install wrk``) or with a small keep-alive Python
client otherwise, and prints requests per second and the ratio to the baseline measured
in the same run. Absolute numbers vary with the machine and its load; compare ratios.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.process import free_port, stop_process, wait_for_port  # noqa: E402

ITEMS = 200
BINDINGS = """\
name = "bench"
[[d1_databases]]
binding = "DB"
migrations_dir = "{migrations}"
[[r2_buckets]]
binding = "MEDIA_BUCKET"
bucket_name = "bench"
[[kv_namespaces]]
binding = "CACHE_KV"
id = "bench"
"""


def gunicorn(app, port, env, workers):
    command = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", "4", "--log-level", "warning"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    wait_for_port(port, timeout=60, proc=proc)
    return proc


def seed(env):
    """Migrate, and publish ``ITEMS`` items in a collection through the real CLI."""
    subprocess.run([sys.executable, "worker.py", "d1", "migrations", "apply", "DB"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    now = int(time.time() * 1000)
    rows = ",\n".join(
        f"('bench-{i}', 'col-bench', 'post-{i}', 'Post {i}', '{{\"body\": \"text {i}\"}}', 'published', {now - i}, "
        f"'bench-user', {now}, {now}, 'published')"
        for i in range(ITEMS)
    )
    sql = (
        "INSERT INTO users (id, email, username, first_name, last_name, role, is_active, created_at, updated_at) "
        f"VALUES ('bench-user', 'bench@example.com', 'bench', 'Bench', 'User', 'editor', 1, {now}, {now});\n"
        "INSERT INTO collections (id, name, display_name, schema, is_active, managed, created_at, updated_at) "
        "VALUES ('col-bench', 'posts', 'Posts', '{\"type\": \"object\", \"properties\": {}}', "
        f"1, 0, {now}, {now});\n"
        "INSERT INTO content (id, collection_id, slug, title, data, status, published_at, author_id, created_at, "
        f"updated_at, workflow_state_id) VALUES {rows};\n"
    )
    script = Path(env["SONICPY_PERSIST_TO"]) / "seed.sql"
    script.write_text(sql)
    subprocess.run([sys.executable, "worker.py", "d1", "execute", "DB", "--file", str(script)], cwd=ROOT, env=env,
                   check=True, capture_output=True)


def with_wrk(url, seconds, connections):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def with_python(url, seconds, connections):
    """Keep-alive GETs from ``connections`` threads; returns successful requests per second."""
    host, port, path = re.match(r"http://([^:/]+):(\d+)(.*)", url).groups()
    deadline = time.monotonic() + seconds
    counts = []

    def client():
        conn, done = http.client.HTTPConnection(host, int(port), timeout=10), 0
        while time.monotonic() < deadline:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            done += response.status == 200
        counts.append(done)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def measure(url, seconds, connections):
    runner = with_wrk if shutil.which("wrk") else with_python
    runner(url, 1, connections)  # warm up: caches, connections, imports
    return runner(url, seconds, connections)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="sonicpy-bench-"))
    config = state / "bindings.toml"
    config.write_text(BINDINGS.format(migrations=ROOT / "migrations"))
    env = {**os.environ, "SONICPY_CONFIG": str(config), "SONICPY_PERSIST_TO": str(state), "PYTHONPATH": str(ROOT)}
    env.pop("SONICPY_ENV", None)
    seed(env)
    base_port, app_port = free_port(), free_port()
    procs = [
        gunicorn("bench.baseline:app", base_port, env, args.workers),
        gunicorn("worker:app", app_port, env, args.workers),
    ]
    try:
        baseline = measure(f"http://127.0.0.1:{base_port}/hello", args.seconds, args.connections)
        rows = [("baseline: bare Falcon JSON", baseline)]
        for label, path in [
            ("GET /health (DB, KV, bucket round trips)", "/health"),
            ("GET /api/content?limit=20 (cached list)", "/api/content?limit=20"),
            ("GET /api/collections/posts/content?limit=50", "/api/collections/posts/content?limit=50"),
            ("GET /api/content/bench-7 (cached item)", "/api/content/bench-7"),
        ]:
            rows.append((label, measure(f"http://127.0.0.1:{app_port}{path}", args.seconds, args.connections)))
    finally:
        for proc in procs:
            stop_process(proc)
        shutil.rmtree(state, ignore_errors=True)
    tool = "wrk" if shutil.which("wrk") else "python client"
    header = f"{'endpoint':48} {'req/s':>10} {'ratio':>7}"
    print(f"{header}   ({tool}, {args.connections} connections, {args.seconds}s each)")
    for label, rate in rows:
        print(f"{label:48} {rate:10.0f} {rate / baseline:7.2f}")
    print(json.dumps({label: round(rate / baseline, 3) for label, rate in rows}))


if __name__ == "__main__":
    main()
