"""SonicJS 2.11 on Miniflare (``wrangler dev --local``) against sonicpy on SQLite, in one run.

    python bench/sonicjs.py [--items 1000] [--rounds 3] [--seconds 5] [--connections 16]
                            [--workers 2] [--no-compare] [--workdir DIR] [--json PATH]

Installs SonicJS's starter app (``bench/sonicjs/``: ``@sonicjs-cms/core`` and ``wrangler``
pinned by its lock file) with ``npm ci`` into ``--workdir`` (default
``~/.cache/sonicpy-bench/sonicjs``, outside the repository), once: a later run reuses it
while the lock file is unchanged. Each run then recreates the local D1 database, applies
SonicJS's own migrations with ``wrangler d1 migrations apply --local`` (as its starter
does), seeds an editor, the ``posts`` collection and ``--items`` published items with one
``wrangler d1 execute --local --file``, starts ``wrangler dev --local`` on a free loopback
port and logs the editor in through SonicJS's ``POST /auth/login``.

Each round drives, with ``bench/load.py`` (16 keep-alive connections, as ``bench/run.py``),
SonicJS's public list (``GET /api/content?limit=20``, anonymous, repeated: what SonicJS
would cache), that list as the signed-in editor (never cached in either system) and one
item (``GET /api/content/:id``), then the same three endpoints of sonicpy on SQLite (built
by ``bench/run.py``'s own functions), so both share the machine's load alike. It prints
req/s, p50 and p99 for each and the ratios sonicpy/SonicJS. The ``X-Cache-Status`` SonicJS
answers to a repeated request is printed too: SonicJS 2.11.0 caches none of these (its
``/api`` cache switch is a stub that always says off), so all three are database reads.

Without node and npm, or when the install fails, it prints ``skipped: ...`` and exits 0.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from bench import run as bench_run  # noqa: E402
from tests.fixtures.process import free_port, stop_process, wait_for_port  # noqa: E402

APP = ROOT / "bench" / "sonicjs"
APP_FILES = ("package.json", "package-lock.json", "wrangler.toml", "src")
DEFAULT_WORKDIR = Path.home() / ".cache" / "sonicpy-bench" / "sonicjs"
EDITOR_EMAIL = "bench@example.com"
EDITOR_PASSWORD = "bench-password-1"
# SonicJS's own password format: PBKDF2-SHA256, 100,000 iterations, 16-byte salt, hex.
PBKDF2_ITERATIONS = 100_000
ENDPOINTS = ("cached list", "uncached list", "cached item")
WRANGLER_ENV = {"WRANGLER_SEND_METRICS": "false", "CI": "1", "NO_COLOR": "1"}


class Skip(Exception):
    """SonicJS cannot run on this machine (no node/npm, or the install failed)."""


# -------------------------------------------------------------- install


def install(workdir):
    """Copy the starter app into ``workdir`` and ``npm ci`` it, unless that lock file is installed already."""
    if not (shutil.which("node") and shutil.which("npm")):
        raise Skip("node and npm are needed to run SonicJS (wrangler); install Node.js 20.3 or newer")
    workdir.mkdir(parents=True, exist_ok=True)
    for name in APP_FILES:
        source, target = APP / name, workdir / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    stamp = workdir / "node_modules" / ".sonicpy-lock"
    lock = (APP / "package-lock.json").read_bytes()
    if stamp.exists() and stamp.read_bytes() == lock and wrangler_bin(workdir).exists():
        return
    print(f"installing SonicJS and wrangler into {workdir} (npm ci, once)", flush=True)
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0 or not wrangler_bin(workdir).exists():
        raise Skip(f"npm ci failed in {workdir}: {(done.stderr or done.stdout).strip()[-800:]}")
    stamp.write_bytes(lock)


def wrangler_bin(workdir):
    return workdir / "node_modules" / ".bin" / "wrangler"


def wrangler(workdir, *arguments):
    """Run one wrangler command in ``workdir``; raise with its output when it fails."""
    done = subprocess.run([str(wrangler_bin(workdir)), *arguments], cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, **WRANGLER_ENV})
    if done.returncode != 0:
        raise RuntimeError(f"wrangler {' '.join(arguments)} failed:\n{(done.stderr or done.stdout)[-2000:]}")
    return done.stdout


# -------------------------------------------------------------- database


def password_hash(password, salt):
    """``password`` in SonicJS's stored format: ``pbkdf2:<iterations>:<salt hex>:<hash hex>``."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2:{PBKDF2_ITERATIONS}:{salt.hex()}:{digest.hex()}"


def sql_text(value):
    """``value`` as an SQL string literal (the seed is a file of plain SQL for ``d1 execute --file``)."""
    return "'" + str(value).replace("'", "''") + "'"


def seed_sql(items, now, salt):
    """The seed file: an active editor, the ``posts`` collection and ``items`` published items.

    The items match ``bench/run.py``'s sonicpy seed (slug ``post-<i>``, title ``Post <i>``,
    data ``{"body": "text <i>"}``, one millisecond apart), so both systems list equal rows.

    Returns:
        ``(SQL text, id of the middle item)``.
    """
    editor = "bench-editor"
    schema = json.dumps({"type": "object", "properties": {"title": {"type": "string", "title": "Title"},
                                                          "body": {"type": "string", "title": "Body"}}})
    lines = [
        "INSERT INTO users (id, email, username, first_name, last_name, password_hash, role, is_active, "
        f"created_at, updated_at) VALUES ({sql_text(editor)}, {sql_text(EDITOR_EMAIL)}, 'bench', 'B', 'E', "
        f"{sql_text(password_hash(EDITOR_PASSWORD, salt))}, 'editor', 1, {now}, {now});",
        "INSERT INTO collections (id, name, display_name, description, schema, is_active, created_at, updated_at) "
        f"VALUES ('col-posts', 'posts', 'Posts', 'Benchmark posts', {sql_text(schema)}, 1, {now}, {now});",
    ]
    ids = [str(uuid.UUID(int=i + 1)) for i in range(items)]
    for start in range(0, items, bench_run.CHUNK):
        rows = [f"({sql_text(ids[i])}, 'col-posts', 'post-{i}', 'Post {i}', "
                f"{sql_text(json.dumps({'body': f'text {i}'}))}, 'published', {now - i}, {sql_text(editor)}, "
                f"{now - i}, {now - i})"
                for i in range(start, min(items, start + bench_run.CHUNK))]
        lines.append("INSERT INTO content (id, collection_id, slug, title, data, status, published_at, author_id, "
                     "created_at, updated_at) VALUES\n" + ",\n".join(rows) + ";")
    return "\n".join(lines) + "\n", ids[len(ids) // 2]


def prepare_database(workdir, items):
    """A fresh local D1 database: SonicJS's migrations, then the seed in one file. Returns the middle item's id."""
    shutil.rmtree(workdir / ".wrangler" / "state" / "v3" / "d1", ignore_errors=True)
    wrangler(workdir, "d1", "migrations", "apply", "DB", "--local")
    sql, item = seed_sql(items, int(time.time() * 1000), os.urandom(16))
    seed_file = workdir / "seed.sql"
    seed_file.write_text(sql)
    wrangler(workdir, "d1", "execute", "DB", "--local", "--file", str(seed_file))
    return item


# -------------------------------------------------------------- SonicJS's server


def start_sonicjs(workdir):
    """``wrangler dev --local`` on free loopback ports; returns ``(process, port)`` once it answers.

    Its output goes to ``wrangler-dev.log`` in ``workdir`` (kept after the run, for a failed start).
    """
    log = workdir / "wrangler-dev.log"
    port = free_port()
    command = [str(wrangler_bin(workdir)), "dev", "--local", "--ip", "127.0.0.1", "--port", str(port),
               "--inspector-port", str(free_port()), "--log-level", "warn", "--show-interactive-dev-session=false"]
    with open(log, "wb") as stream:
        proc = subprocess.Popen(command, cwd=workdir, env={**os.environ, **WRANGLER_ENV}, stdin=subprocess.DEVNULL,
                                stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_port(port, timeout=120, proc=proc)
    # The first /api request runs SonicJS's bootstrap (its migration check, collection sync, plugins).
    http(port, "GET", "/api/content?limit=1", timeout=120)
    return proc, port


def stop_group(proc):
    """Stop what ``wrangler dev`` started beside itself (workerd): its whole process group, ours alone."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def http(port, method, path, body=None, headers=None, timeout=30):
    """One request to ``127.0.0.1:port``; returns ``(status, headers, parsed JSON body)``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as ex:
        return ex.code, ex.headers, ex.read()[:500]


def login(port):
    """The editor's JWT from SonicJS's ``POST /auth/login``."""
    status, _, body = http(port, "POST", "/auth/login", {"email": EDITOR_EMAIL, "password": EDITOR_PASSWORD})
    if status != 200:
        raise RuntimeError(f"SonicJS login answered {status}: {body}")
    return body["token"]


def sonicjs_system(port, token, item):
    """SonicJS's equivalents of sonicpy's cached list, editor list and cached item, checked once each."""
    auth = {"Authorization": f"Bearer {token}"}
    paths = {"cached list": ("/api/content?limit=20", None),
             "uncached list": ("/api/content?limit=20", auth),
             "cached item": (f"/api/content/{item}", None)}
    cache_status = {}
    for endpoint, (path, headers) in paths.items():
        for _ in range(2):  # the second answer is the one a cache would give
            status, response_headers, body = http(port, "GET", path, headers=headers)
        rows = body.get("data") if isinstance(body, dict) else None
        if status != 200 or not rows:
            raise RuntimeError(f"SonicJS {path} answered {status}: {str(body)[:300]}")
        if endpoint != "cached item" and len(rows) != 20:
            raise RuntimeError(f"SonicJS {path} listed {len(rows)} items, not 20")
        cache_status[endpoint] = response_headers.get("X-Cache-Status") or "none"
    return {"name": "sonicjs", "port": port, "cache_status": cache_status,
            "endpoints": {endpoint: load.get(path, headers) for endpoint, (path, headers) in paths.items()}}


# -------------------------------------------------------------- report


def report(results, systems, args):
    names = [system["name"] for system in systems]
    print(f"\n{args.items} items, {args.rounds} rounds x {args.seconds} s, {args.connections} connections; "
          "median [min-max] over rounds")
    print(f"{'endpoint':16}{'system':10}{'req/s':>26}{'p50 ms':>26}{'p99 ms':>26}")
    for endpoint in ENDPOINTS:
        for name in names:
            cells = [bench_run.spread([results[r][name][endpoint][key] for r in range(args.rounds)])
                     for key in ("rate", "p50_ms", "p99_ms")]
            errors = sum(results[r][name][endpoint]["errors"] for r in range(args.rounds))
            print(f"{endpoint:16}{name:10}" + "".join(f"{cell:>26}" for cell in cells)
                  + (f"   ({errors} errors)" if errors else ""))
    sonicjs = systems[0]
    print("SonicJS's X-Cache-Status on a repeated request: "
          + ", ".join(f"{endpoint} {status}" for endpoint, status in sonicjs["cache_status"].items()))
    if "sqlite" in names:
        print("\nsonicpy / SonicJS req/s (the issue's goal: uncached list >= 4)")
        for endpoint in ENDPOINTS:
            ratios = [results[r]["sqlite"][endpoint]["rate"] / results[r]["sonicjs"][endpoint]["rate"]
                      for r in range(args.rounds)]
            print(f"  {endpoint:16}{bench_run.spread(ratios):>26}")
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=1))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_run.add_options(parser)  # sonicpy is served as bench/run.py serves it, with the same options
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="measure SonicJS alone (by default sonicpy on SQLite runs beside it)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help=f"where SonicJS is installed and its local D1 lives (default {DEFAULT_WORKDIR})")
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        install(args.workdir.expanduser())
    except Skip as ex:
        print(f"skipped: {ex}")
        return
    workdir = args.workdir.expanduser()
    folder = Path(tempfile.mkdtemp(prefix="sonicpy-bench-sonicjs-"))
    systems, procs = [], []
    try:
        item = prepare_database(workdir, args.items)
        proc, port = start_sonicjs(workdir)
        procs.append(proc)
        systems.append(sonicjs_system(port, login(port), item))
        if args.compare:
            sqlite = bench_run.sonicpy_system("sqlite", folder / "sqlite", args.items, args)
            procs.append(sqlite["proc"])
            systems.append(sqlite)
        results, started = [], time.time()
        for r in range(args.rounds):
            results.append({system["name"]: {endpoint: bench_run.measure(system, endpoint, args)
                                             for endpoint in ENDPOINTS} for system in systems})
            print(f"round {r + 1}/{args.rounds} done ({time.time() - started:.0f} s)", flush=True)
    finally:
        for proc in procs:
            stop_process(proc)
            stop_group(proc)
        shutil.rmtree(folder, ignore_errors=True)
    report(results, systems, args)


if __name__ == "__main__":
    main()
