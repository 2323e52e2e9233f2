"""Load test with faults: mixed writes while workers, memcached and S3 fail, then a write audit.

    python bench/faults.py [--db sqlite|postgres] [--workers 2] [--threads 4] [--clients 24]
                           [--phase-seconds 20] [--kills 3] [--timeout 10] [--keep]

Starts, on free loopback ports only: memcached (CACHE_KV), moto_server (MEDIA_BUCKET over
S3), PostgreSQL with ``--db postgres`` (SQLite otherwise), and sonicpy under gunicorn
through ``worker.py serve``. It migrates through the CLI, creates an admin with ``users
create-admin``, signs in and creates a collection over HTTP. Then ``--clients`` threads,
each with its own keep-alive connections, create content (each item carries a unique marker),
update their own items with ``If-Match``, read anonymous (cached) lists and items, upload
small PNGs and list media, through these phases of ``--phase-seconds`` each:

* ``baseline``: nothing wrong;
* ``worker-kill``: ``kill -9`` of a gunicorn worker, ``--kills`` times (gunicorn replaces it);
* ``memcached-frozen``: memcached SIGSTOPped for the phase, then SIGCONT;
* ``s3-frozen``: the S3 server SIGSTOPped for the phase, then SIGCONT;
* ``memcached-stopped``: memcached killed, restarted on the same port at the phase's end;
* ``recovery``: nothing wrong again.

Every write answered 2xx is recorded. At the end the content of the collection is read
back as the admin (never from the cache) and every acknowledged create must be there,
once, with its last acknowledged value (a later write that was sent but not acknowledged
may have landed instead: it is counted, not lost); every acknowledged upload must still
be found. A sample of anonymous (cached) reads is compared with the database, to show
invalidations lost during an outage (reported only). It prints a table per phase and a
JSON summary, and exits 1 when a write was lost, an item was duplicated, or a route
outside media answered 5xx. Everything it starts is stopped on the way out; every loop is bounded by time and by count.
"""

import argparse
import http.client
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The suite's helpers look servers up on PATH: prefer this interpreter's own scripts (the
# virtualenv's moto_server), so the pid we freeze is the server's, not a launcher's.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

from tests.fixtures.memcached import MemcachedProcess  # noqa: E402
from tests.fixtures.process import free_port, require_binary, stop_process, wait_for_port  # noqa: E402
from tests.fixtures.s3 import ACCESS_KEY_ENV, CREDENTIALS, SECRET_KEY_ENV, create_bucket, start_s3_server  # noqa: E402

PHASES = ("baseline", "worker-kill", "memcached-frozen", "s3-frozen", "memcached-stopped", "recovery")
COLLECTION = "faults"
ADMIN_EMAIL = "admin@example.com"
MEDIA_PATHS = ("/api/media", "/files/")
HEALTH = "GET /health"
READ_BACK_PAGE = 1000
STALE_SAMPLE = 300
# Operation mix, as relative weights.
MIX = {"create": 20, "update": 25, "list": 15, "item": 15, "upload": 10, "media-list": 10, "health": 5}
MAX_REQUESTS_PER_CLIENT = 50_000
KEEPALIVE_SECONDS = 1.5  # below gunicorn's 2 s, so a client never sends on a socket the server closed
BINDINGS = """\
name = "faults-bench"
[[d1_databases]]
binding = "DB"
database_name = "bench"
migrations_dir = "{migrations}"
{database_url}
[[r2_buckets]]
binding = "MEDIA_BUCKET"
bucket_name = "{bucket}"
endpoint_url = "{s3}"
region_name = "auto"
access_key_id_env = "{key_env}"
secret_access_key_env = "{secret_env}"
[[kv_namespaces]]
binding = "CACHE_KV"
id = "bench"
servers = ["{memcached}"]
"""


# --- what the clients saw -------------------------------------------------------------------

@dataclass
class PhaseStats:
    """Counts for one phase; requests are attributed to the phase in which they started."""

    seconds: float = 0.0
    responses: int = 0
    ok: int = 0
    client_errors: int = 0
    api_5xx: int = 0
    media_5xx: int = 0
    media_503: int = 0
    health_503: int = 0
    api_timeouts: int = 0
    media_timeouts: int = 0
    connection_errors: int = 0
    acked_writes: int = 0
    api_latencies: list = field(default_factory=list)
    route_latencies: dict = field(default_factory=lambda: defaultdict(list))  # every answered request


@dataclass
class Item:
    """A content item a client created: what was acknowledged and what was sent since."""

    id: str
    marker: str
    value: str
    version: int
    pending: set = field(default_factory=set)  # values sent, not acknowledged, after ``value``
    stale: bool = False  # the version may be behind (an unacknowledged write may have landed)


class Ledger:
    """Shared, lock-protected record of every request and every acknowledged write."""

    def __init__(self):
        self.lock = threading.Lock()
        self.phase = PHASES[0]
        self.stats = {name: PhaseStats() for name in PHASES}
        self.items = []  # every acknowledged create (Item), all clients
        self.unacked_creates = set()  # markers of creates sent without a 2xx
        self.uploads = []  # ids of acknowledged media uploads
        self.updates_acked = 0
        self.seen_lost = []  # acknowledged values a client's own re-read did not find
        self.server_errors = Counter()  # "METHOD route status" of every 5xx

    def record(self, phase, route, media, outcome, seconds):
        """Count one request; ``outcome`` is a status code, "timeout" or "connection"."""
        with self.lock:
            stats = self.stats[phase]
            if outcome == "timeout":
                stats.media_timeouts += media
                stats.api_timeouts += not media
                return
            if outcome == "connection":
                stats.connection_errors += 1
                return
            stats.responses += 1
            stats.route_latencies[route].append(seconds)
            stats.ok += 200 <= outcome < 300
            stats.client_errors += 400 <= outcome < 500
            if route == HEALTH and outcome == 503:
                # /health answers 503 by design while a binding is down: reported, not a failure.
                stats.health_503 += 1
            elif outcome >= 500:
                self.server_errors[f"{route} {outcome}"] += 1
                stats.media_5xx += media
                stats.media_503 += media and outcome == 503
                stats.api_5xx += not media
            if not media:
                stats.api_latencies.append(seconds)

    def acked(self, phase):
        with self.lock:
            self.stats[phase].acked_writes += 1


def tiny_png(seed):
    """A distinct 8x8 PNG (Pillow is a dependency of the app)."""
    from PIL import Image

    image = Image.new("RGB", (8, 8), (seed % 256, (seed // 256) % 256, 90))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Http:
    """One keep-alive connection with a per-request timeout, reopened after any failure."""

    def __init__(self, port, timeout):
        self.port, self.timeout = port, timeout
        self.conn, self.last_used = None, 0.0

    def request(self, method, path, body=None, headers=None):
        """``(status, parsed JSON or None)``; raises TimeoutError or OSError/HTTPException."""
        if self.conn is None or time.monotonic() - self.last_used > KEEPALIVE_SECONDS:
            self.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            raw = response.read()
        except BaseException:
            self.close()
            raise
        self.last_used = time.monotonic()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Client(threading.Thread):
    """One simulated user: a random mix of operations until told to stop (or out of budget)."""

    def __init__(self, number, port, token, ledger, stop, args):
        super().__init__(name=f"client-{number}", daemon=True)
        self.number, self.ledger, self.stop = number, ledger, stop
        self.http = Http(port, args.timeout)
        self.anonymous = Http(port, args.timeout)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.random = random.Random(args.seed * 1000 + number)
        self.deadline = time.monotonic() + len(PHASES) * args.phase_seconds + 60
        self.mine = []  # this client's acknowledged items: only it updates them
        self.sequence = 0
        self.run_id = args.run_id

    def run(self):
        operations, weights = list(MIX), list(MIX.values())
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if self.stop.is_set() or time.monotonic() > self.deadline:
                break
            getattr(self, "do_" + self.random.choices(operations, weights)[0].replace("-", "_"))()
        self.http.close()
        self.anonymous.close()

    def call(self, route, method, path, body=None, headers=None, conn=None):
        """Send one request and record it; ``(status, json)`` or ``(None, None)`` on failure."""
        phase, started = self.ledger.phase, time.monotonic()
        media = path.startswith(MEDIA_PATHS)
        try:
            status, data = (conn or self.http).request(method, path, body, headers)
        except TimeoutError:
            self.ledger.record(phase, route, media, "timeout", 0)
            return None, None
        except (OSError, http.client.HTTPException):
            self.ledger.record(phase, route, media, "connection", 0)
            return None, None
        self.ledger.record(phase, route, media, status, time.monotonic() - started)
        return status, data

    def json_call(self, route, method, path, payload, extra=None):
        headers = {**self.auth, "Content-Type": "application/json", **(extra or {})}
        return self.call(route, method, path, json.dumps(payload).encode(), headers)

    def do_create(self):
        self.sequence += 1
        marker = f"{self.run_id}-c{self.number:02d}-{self.sequence:05d}"
        value = f"{marker}:v0"
        body = {"collectionId": COLLECTION, "title": f"Fault bench {marker}", "status": "published",
                "data": {"marker": marker, "value": value}}
        phase = self.ledger.phase
        status, data = self.json_call("POST /api/content", "POST", "/api/content", body)
        if status == 201 and data and data.get("data", {}).get("id"):
            item = Item(data["data"]["id"], marker, value, data["data"]["version_number"])
            self.mine.append(item)
            with self.ledger.lock:
                self.ledger.items.append(item)
            self.ledger.acked(phase)
        else:
            with self.ledger.lock:
                self.ledger.unacked_creates.add(marker)

    def do_update(self):
        if not self.mine:
            return self.do_create()
        item = self.random.choice(self.mine)
        if item.stale and not self.refresh(item):
            return None
        value = f"{item.marker}:v{self.random.getrandbits(40):x}"
        phase = self.ledger.phase
        status, data = self.json_call("PUT /api/content/{id}", "PUT", f"/api/content/{item.id}",
                                      {"data": {"marker": item.marker, "value": value}},
                                      {"If-Match": f'"{item.version}"'})
        if status == 200 and data and data.get("data"):
            item.value, item.version, item.pending, item.stale = value, data["data"]["version_number"], set(), False
            with self.ledger.lock:
                self.ledger.updates_acked += 1
            self.ledger.acked(phase)
        else:
            # Not acknowledged: it may or may not have landed, and a 409 says our version is old.
            item.pending.add(value)
            item.stale = True
        return None

    def refresh(self, item):
        """Re-read ``item`` as its owner; adopt what is stored if it is one of our writes."""
        status, data = self.call("GET /api/content/{id} (owner)", "GET", f"/api/content/{item.id}",
                                 headers=self.auth)
        if status != 200 or not data:
            return False
        stored = data["data"]
        value = (stored.get("data") or {}).get("value")
        if value in item.pending:
            item.value, item.pending = value, set()  # it landed: now confirmed by a read
        elif value != item.value:
            # Neither what was acknowledged nor a write in doubt: lost, before a new write hides it.
            with self.ledger.lock:
                self.ledger.seen_lost.append(f"{item.id} {item.marker}: acknowledged {item.value!r}, read {value!r}")
            item.value = value
        item.version, item.stale = stored["version_number"], False
        return True

    def do_list(self):
        page = self.random.randint(1, 5)
        self.call("GET /api/collections/{name}/content", "GET",
                  f"/api/collections/{COLLECTION}/content?limit=20&page={page}", conn=self.anonymous)

    def do_item(self):
        with self.ledger.lock:
            item = self.random.choice(self.ledger.items) if self.ledger.items else None
        if item is None:
            return self.do_list()
        self.call("GET /api/content/{id}", "GET", f"/api/content/{item.id}", conn=self.anonymous)
        return None

    def do_upload(self):
        boundary = uuid.uuid4().hex
        self.sequence += 1
        name = f"{self.run_id}-c{self.number:02d}-{self.sequence:05d}.png"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode()
        body += tiny_png(self.number * 100_000 + self.sequence) + f"\r\n--{boundary}--\r\n".encode()
        headers = {**self.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        phase = self.ledger.phase
        status, data = self.call("POST /api/media/upload", "POST", "/api/media/upload", body, headers)
        if status == 201 and data and data.get("file", {}).get("id"):
            with self.ledger.lock:
                self.ledger.uploads.append(data["file"]["id"])
            self.ledger.acked(phase)

    def do_media_list(self):
        self.call("GET /api/media", "GET", "/api/media?limit=20", headers=self.auth)

    def do_health(self):
        self.call(HEALTH, "GET", "/health", conn=self.anonymous)


# --- the servers ----------------------------------------------------------------------------

class Stack:
    """Every process the bench starts, stopped (and thawed first) by ``close()``."""

    def __init__(self, args, state):
        self.args, self.state = args, state
        self.memcached = self.s3 = self.postgres = self.gunicorn = None
        self.frozen = set()
        self.port = free_port()
        self.env = None

    def start(self):
        self.memcached = MemcachedProcess(require_binary("memcached"))
        os.environ.update(CREDENTIALS)  # moto and boto3 read the dummy keys from here
        self.s3 = start_s3_server()
        bucket = create_bucket(self.s3.endpoint_url)
        database_url = ""
        if self.args.db == "postgres":
            from tests.fixtures.postgres import PostgresServer

            self.postgres = PostgresServer()
            self.postgres.start()
            database_url = f'database_url = "{self.postgres.create_database("sonicpy_bench")}"'
        config = self.state / "bindings.toml"
        config.write_text(BINDINGS.format(
            migrations=ROOT / "migrations", database_url=database_url, bucket=bucket, s3=self.s3.endpoint_url,
            key_env=ACCESS_KEY_ENV, secret_env=SECRET_KEY_ENV, memcached=self.memcached.address,
        ))
        self.env = {**os.environ, "SONICPY_CONFIG": str(config), "SONICPY_PERSIST_TO": str(self.state),
                    "SONICPY_ADMIN_PASSWORD": self.args.password, "PYTHONPATH": str(ROOT)}
        self.env.pop("SONICPY_ENV", None)
        self.cli("d1", "migrations", "apply", "DB")
        self.cli("users", "create-admin", "--email", ADMIN_EMAIL)
        self.serve()

    def cli(self, *command):
        done = subprocess.run([sys.executable, "worker.py", *command], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"worker.py {' '.join(command)} failed:\n{done.stdout}{done.stderr}")

    def serve(self):
        log = open(self.state / "gunicorn.log", "wb")
        command = [sys.executable, "worker.py", "serve", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(self.args.workers), "--threads", str(self.args.threads)]
        # `serve` replaces itself with gunicorn (exec): this pid is gunicorn's master.
        self.gunicorn = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for_port(self.port, timeout=60, proc=self.gunicorn)

    def workers(self):
        """Pids of the gunicorn master's children, read from /proc."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == self.gunicorn.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def freeze(self, proc):
        os.kill(proc.pid, signal.SIGSTOP)
        self.frozen.add(proc)

    def thaw(self, proc):
        if proc in self.frozen:
            self.frozen.discard(proc)
            os.kill(proc.pid, signal.SIGCONT)

    def close(self):
        for proc in list(self.frozen):
            try:
                self.thaw(proc)
            except ProcessLookupError:
                pass
        if self.gunicorn is not None:
            stop_process(self.gunicorn, timeout=15)
        if self.memcached is not None and self.memcached.proc is not None:
            self.memcached.stop()
        if self.s3 is not None:
            self.s3.stop()
        if self.postgres is not None:
            self.postgres.stop()


# --- phases ---------------------------------------------------------------------------------

def log(started, message):
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def kill_worker(stack, started):
    workers = stack.workers()
    if not workers:
        return log(started, "no worker to kill (all restarting)")
    pid = random.choice(workers)
    os.kill(pid, signal.SIGKILL)
    return log(started, f"kill -9 worker {pid} (of {workers})")


def begin(phase, stack, started):
    if phase == "memcached-frozen":
        stack.freeze(stack.memcached.proc)
    elif phase == "s3-frozen":
        stack.freeze(stack.s3.proc)
    elif phase == "memcached-stopped":
        stack.memcached.proc.kill()
        stack.memcached.proc.wait(timeout=10)
    log(started, f"phase {phase}")


def end(phase, stack, started):
    if phase == "memcached-frozen":
        stack.thaw(stack.memcached.proc)
    elif phase == "s3-frozen":
        stack.thaw(stack.s3.proc)
    elif phase == "memcached-stopped":
        stack.memcached.start()  # same port
        log(started, "memcached restarted")


def run_phases(stack, ledger, args, started):
    """Walk the phases; the clients run meanwhile. Each phase lasts ``--phase-seconds``."""
    for phase in PHASES:
        ledger.phase = phase
        begin(phase, stack, started)
        phase_start = time.monotonic()
        kills_due = [phase_start + args.phase_seconds * k / args.kills for k in range(args.kills)]
        try:
            while (now := time.monotonic()) < phase_start + args.phase_seconds:
                if phase == "worker-kill" and kills_due and now >= kills_due[0]:
                    kills_due.pop(0)
                    kill_worker(stack, started)
                time.sleep(0.1)
        finally:
            ledger.stats[phase].seconds = time.monotonic() - phase_start
            end(phase, stack, started)


# --- the audit ------------------------------------------------------------------------------

def read_back(port, token, timeout):
    """Every item of the collection as the admin sees it, page by page with the cursor."""
    conn, headers = Http(port, timeout * 3), {"Authorization": f"Bearer {token}"}
    rows, cursor = [], None
    for _ in range(10_000):
        query = f"limit={READ_BACK_PAGE}&sort=created_at&status=all" + (f"&cursor={cursor}" if cursor else "")
        status, data = retrying(conn, "GET", f"/api/collections/{COLLECTION}/content?{query}", headers)
        if status != 200:
            raise RuntimeError(f"cannot read the collection back: {status} {data}")
        rows.extend(data["data"])
        cursor = data["meta"].get("nextCursor")
        if not cursor:
            break
    conn.close()
    return rows


def retrying(conn, method, path, headers, attempts=5):
    """A read that tolerates a transient failure while the servers settle."""
    status, data = None, None
    for _ in range(attempts):
        try:
            status, data = conn.request(method, path, headers=headers)
        except (OSError, http.client.HTTPException):
            status = None
        if status is not None and status < 500:
            return status, data
        time.sleep(1)
    return status, data


def audit(ledger, port, token, timeout):
    """Compare what the clients were told with what the database holds now."""
    rows = read_back(port, token, timeout)
    by_marker = defaultdict(list)
    for row in rows:
        marker = (row.get("data") or {}).get("marker")
        if marker:
            by_marker[marker].append(row)
    lost, landed_updates, details = 0, 0, []
    for item in ledger.items:
        row = next((row for row in by_marker.get(item.marker, []) if row["id"] == item.id), None)
        value = (row.get("data") or {}).get("value") if row else None
        if value == item.value:
            continue
        if value is not None and value in item.pending:
            landed_updates += 1
            continue
        lost += 1
        details.append(f"{item.id} {item.marker}: acknowledged {item.value!r}, stored {value!r}")
    lost += len(ledger.seen_lost)
    details += ledger.seen_lost
    conn, headers = Http(port, timeout * 3), {"Authorization": f"Bearer {token}"}
    lost_media = [media_id for media_id in ledger.uploads
                  if retrying(conn, "GET", f"/api/media/{media_id}", headers)[0] != 200]
    stale = stale_public_reads(conn, rows)
    conn.close()
    details += [f"media {media_id}: acknowledged upload not found" for media_id in lost_media]
    return {
        "rows": len(rows),
        "lost_content": lost,
        "lost_media": len(lost_media),
        "duplicates": sum(len(found) - 1 for found in by_marker.values() if len(found) > 1),
        "unacked_creates_landed": sum(1 for marker in ledger.unacked_creates if marker in by_marker),
        "unacked_updates_landed": landed_updates,
        "stale_public_reads": stale,
        "details": details[:20],
    }


def stale_public_reads(conn, rows):
    """``(stale, checked)``: anonymous (cached) reads of a sample that differ from the database.

    Every write invalidates the public cache; an invalidation lost during an outage shows
    here as an anonymous read still answering an older value after recovery.
    """
    sample = random.Random(0).sample(rows, min(STALE_SAMPLE, len(rows)))
    stale = 0
    for row in sample:
        status, data = retrying(conn, "GET", f"/api/content/{row['id']}", {})
        stale += status != 200 or (data["data"].get("data") or {}).get("value") != (row.get("data") or {}).get("value")
    return stale, len(sample)


# --- the report -----------------------------------------------------------------------------

def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def print_table(ledger):
    header = (f"{'phase':18} {'secs':>5} {'resp':>6} {'req/s':>7} {'2xx/s':>7} {'p50ms':>6} {'p95ms':>6} "
              f"{'acked':>6} {'4xx':>5} {'5xx api':>7} {'5xx media':>9} {'503 media':>9} {'503 health':>10} "
              f"{'t/o api':>7} {'t/o media':>9} {'conn err':>8}")
    print(header)
    for name, s in ledger.stats.items():
        seconds = max(s.seconds, 1e-9)
        print(f"{name:18} {s.seconds:5.1f} {s.responses:6} {s.responses / seconds:7.1f} {s.ok / seconds:7.1f} "
              f"{percentile(s.api_latencies, 0.5) * 1000:6.0f} {percentile(s.api_latencies, 0.95) * 1000:6.0f} "
              f"{s.acked_writes:6} {s.client_errors:5} {s.api_5xx:7} {s.media_5xx:9} {s.media_503:9} {s.health_503:10} "
              f"{s.api_timeouts:7} {s.media_timeouts:9} {s.connection_errors:8}")


def print_route_table(ledger):
    """p50/p95 per route and phase: shows which routes an outage slows, media or not."""
    routes = sorted({route for s in ledger.stats.values() for route in s.route_latencies})
    print(f"{'p50/p95 ms by route':36}" + "".join(f"{name:>19}" for name in ledger.stats))
    for route in routes:
        cells = []
        for s in ledger.stats.values():
            values = s.route_latencies.get(route, [])
            p50, p95 = percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000
            cells.append(f"{p50:.0f}/{p95:.0f}" if values else "-")
        print(f"{route:36}" + "".join(f"{cell:>19}" for cell in cells))


def report(ledger, result, args):
    """Print the table and the verdict; returns the exit code."""
    api_5xx = sum(s.api_5xx for s in ledger.stats.values())
    media_5xx = sum(s.media_5xx for s in ledger.stats.values())
    lost = result["lost_content"] + result["lost_media"]
    print()
    print(f"sonicpy under faults: {args.db}, {args.workers} workers x {args.threads} threads, "
          f"{args.clients} clients, {args.phase_seconds:g}s per phase, {args.timeout:g}s request timeout")
    print_table(ledger)
    print()
    print_route_table(ledger)
    print()
    print(f"acknowledged writes: {len(ledger.items)} creates, {ledger.updates_acked} updates, "
          f"{len(ledger.uploads)} uploads ({result['rows']} items read back)")
    print(f"lost writes:         {lost} ({result['lost_content']} content, {result['lost_media']} media)  [must be 0]")
    print(f"duplicates:          {result['duplicates']}  [must be 0]")
    print(f"5xx outside media:   {api_5xx}  [must be 0]")
    print(f"5xx on media:        {media_5xx} (503: {sum(s.media_503 for s in ledger.stats.values())})")
    print(f"unacknowledged writes that landed anyway: {result['unacked_creates_landed']} creates "
          f"(of {len(ledger.unacked_creates)} sent), {result['unacked_updates_landed']} updates")
    print("stale public reads after recovery: {} of {} sampled (information)".format(*result["stale_public_reads"]))
    for route, count in ledger.server_errors.most_common():
        print(f"  5xx: {route} x{count}")
    for line in result["details"]:
        print(f"  LOST {line}")
    failed = lost or result["duplicates"] or api_5xx
    print("FAIL" if failed else "OK")
    summary = {name: {"req_per_s": round(s.responses / max(s.seconds, 1e-9), 1), "api_5xx": s.api_5xx,
                      "media_5xx": s.media_5xx} for name, s in ledger.stats.items()}
    print(json.dumps({"lost": lost, "duplicates": result["duplicates"], "api_5xx": api_5xx,
                      "media_5xx": media_5xx, "phases": summary}))
    return 1 if failed else 0


# --- main -----------------------------------------------------------------------------------

def sign_in(port, password):
    """Sign in over HTTP and create the collection; returns the admin's JWT."""
    conn = Http(port, 30)
    headers = {"Content-Type": "application/json"}
    status, data = retrying(conn, "GET", "/health", {})
    status, data = conn.request("POST", "/auth/login", json.dumps({"email": ADMIN_EMAIL, "password": password}),
                                headers)
    if status != 200:
        raise RuntimeError(f"login failed: {status} {data}")
    token = data["token"]
    schema = {"type": "object", "properties": {"marker": {"type": "string"}, "value": {"type": "string"}}}
    body = {"name": COLLECTION, "displayName": "Fault bench", "schema": schema}
    status, data = conn.request("POST", "/admin/api/collections", json.dumps(body),
                                {**headers, "Authorization": f"Bearer {token}"})
    if status != 201:
        raise RuntimeError(f"cannot create the collection: {status} {data}")
    conn.close()
    return token


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="DB backend")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2-4 makes sense)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--clients", type=int, default=24, help="concurrent client threads")
    parser.add_argument("--phase-seconds", type=float, default=20, help="length of each of the six phases")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 of a worker during worker-kill")
    parser.add_argument("--timeout", type=float, default=10, help="per-request client timeout, seconds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the operation mix")
    parser.add_argument("--keep", action="store_true", help="keep the state folder (and gunicorn.log)")
    args = parser.parse_args()
    if args.workers < 1 or args.threads < 1 or args.clients < 1 or args.kills < 1 or args.phase_seconds <= 0:
        parser.error("workers, threads, clients and kills must be positive, and phase-seconds above 0")
    args.password = uuid.uuid4().hex
    args.run_id = uuid.uuid4().hex[:6]
    return args


def main():
    args = parse_args()
    # A plain SIGTERM would skip the finally below and leave servers running (or frozen).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    state = Path(tempfile.mkdtemp(prefix="sonicpy-faults-"))
    stack, ledger, stop, clients = Stack(args, state), Ledger(), threading.Event(), []
    started = time.monotonic()
    try:
        stack.start()
        token = sign_in(stack.port, args.password)
        log(started, f"serving on 127.0.0.1:{stack.port}, workers {stack.workers()}, state {state}")
        clients = [Client(n, stack.port, token, ledger, stop, args) for n in range(args.clients)]
        for client in clients:
            client.start()
        run_phases(stack, ledger, args, started)
        stop.set()
        for client in clients:
            client.join(timeout=args.timeout * 3 + 5)
        log(started, "clients stopped; reading everything back")
        result = audit(ledger, stack.port, token, args.timeout)
    finally:
        stop.set()
        stack.close()
        if args.keep:
            print(f"state kept in {state}", file=sys.stderr)
        else:
            shutil.rmtree(state, ignore_errors=True)
    sys.exit(report(ledger, result, args))


if __name__ == "__main__":
    main()
