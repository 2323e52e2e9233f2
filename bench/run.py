"""Benchmarks: sonicpy on SQLite and on PostgreSQL against a bare Falcon+gunicorn baseline, in one run.

    python bench/run.py [--items 1000] [--rounds 3] [--seconds 5] [--connections 16] [--workers 2]
                        [--no-postgres] [--app-root PATH] [--request-log-sample RATE]
                        [--access-log true|false] [--time-travel true|false] [--json PATH]
                        [--depths 1000,100000,1000000 | --depths none] [--depth-rounds 100]
                        [--no-sonicjs] [--server-python PATH]

Starts gunicorn for each system on free loopback ports: the bare baseline
(``bench/baseline.py``: Falcon, raw sqlite3 and raw psycopg2, msgspec), sonicpy on a
migrated SQLite file and sonicpy on a throwaway PostgreSQL cluster (skipped when its
binaries are missing or with ``--no-postgres``; the bare app's PostgreSQL endpoints go
with it). Each database is seeded with ``--items`` published items through
one bulk insert (no API calls). Each round then drives every endpoint of every system
in turn, so the systems share the machine's load alike, with ``bench/load.py``
(keep-alive connections over two client processes; wrk, when installed, is not used, so
every system pays the same client).

It prints each goal's figure as the median over the rounds with its range: cached list
against bare ``/hello``, uncached list (an editor's: never cached) against the bare list
on the same database (raw sqlite3 on the SQLite file, raw psycopg2 on the seeded
PostgreSQL database), creates per second with their errors and against the bare 3-row
insert on the same database, p99 of the cached list, the CPU time the server spent per
cached list and per bare ``/hello`` (user and system, master and workers: steadier than
the rates when the machine is shared), and the largest worker's RSS after the whole mixed
run. PostgreSQL's uncached list and creates are also given against the
bare SQLite ones (``cross``: a server over TCP against an in-process file), the ratio
earlier runs printed. Absolute
numbers vary with the machine and its load (the client shares the cores); compare the
ratios. ``--app-root`` serves another checkout of sonicpy (a before/after comparison);
``--request-log-sample 0`` shows what writing a ``system_logs`` row per request costs, and
``--time-travel false`` what the change-log triggers cost the writes. ``--server-python``
serves sonicpy from another virtualenv: the test extras bring ``cryptography`` (for moto),
which PyJWT then loads in every worker, about 9 MB of RSS that a production install
(``pip install .``) does not have.

Then, so that one command prints every figure the goals name, it runs the two other
benchmarks, each in its own process once the servers above are stopped:
``bench/query_depth.py`` on SQLite and (unless ``--no-postgres``) on PostgreSQL, the
uncached list at ``--depths`` items as ratios to the first depth with their spread
(``--depths none`` skips it), and ``bench/sonicjs.py``, sonicpy against SonicJS 2.11 on
Miniflare (``--no-sonicjs`` skips it; it skips itself without node and npm). The whole
run takes about 15 minutes on a 2-core machine, most of it seeding and measuring a million
items on each database.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import baseline, load  # noqa: E402
from tests.fixtures.process import free_port, stop_process, wait_for_port  # noqa: E402

JWT_SECRET = "bench-secret-" + "x" * 40
CHUNK = 500
CREATE_BODY = '{"collectionId": "posts", "title": "Bench %d", "data": {"body": "created by the bench"}}'


# -------------------------------------------------------------- systems


def gunicorn(app, port, env, workers, cwd, log, python=sys.executable):
    """gunicorn serving ``app`` under ``python``; its stderr (the app's process log) goes to the file ``log``."""
    command = [python, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", "4", "--log-level", "warning"]
    with open(log, "ab") as stream:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stream)
    wait_for_port(port, timeout=60, proc=proc)
    return proc


def seed(env, items, request_log_sample=None, keep_history=True):
    """Migrate ``env``'s DB and insert an editor, a collection and ``items`` published items in one transaction.

    With ``request_log_sample``, the ``request-logs`` plugin's row is written first with that
    ``sample_rate`` (the share of successful requests it writes to ``system_logs``);
    ``keep_history=False`` leaves time travel's triggers out (``time_travel = false``).

    Returns:
        ``(editor JWT, id of one item)``.
    """
    from app.db.database import is_postgres
    from app.db.migrations import MigrationRunner
    from app.db.models import Collection, Content, User, bind_models, database, new_id, now_ms
    from app.services.identity import issue_jwt
    from app.settings import Settings
    from tests.fixtures.app import MIGRATIONS

    MigrationRunner(env.DB.db, MIGRATIONS, keep_history=keep_history).apply()
    bind_models(env.DB.db)
    now = now_ms()
    with database.atomic():
        editor = User.create(email="bench@example.com", username="bench", first_name="B", last_name="E",
                             role="editor")
        Collection.create(id="col-posts", name="posts", display_name="Posts", created_at=now, updated_at=now,
                          schema={"type": "object", "properties": {"body": {"type": "string"}}})
        if request_log_sample is not None:
            set_request_log_sample(request_log_sample, now)
        ids = []
        for start in range(0, items, CHUNK):
            rows = []
            for i in range(start, min(items, start + CHUNK)):
                ids.append(new_id())
                rows.append({"id": ids[-1], "collection": "col-posts", "slug": f"post-{i}", "title": f"Post {i}",
                             "data": {"body": f"text {i}"}, "status": "published", "workflow_state": "published",
                             "published_at": now - i, "author": editor.id, "created_at": now - i,
                             "updated_at": now - i, "version_number": 1})
            Content.insert_many(rows).execute()
    if is_postgres(env.DB.db):
        # What autovacuum does within a minute of a bulk insert: until then PostgreSQL plans
        # for a content table it believes nearly empty (sorting every row for a page).
        env.DB.db.execute_sql("ANALYZE")
    token = issue_jwt(editor, Settings(jwt_secret=JWT_SECRET))
    env.DB.db.close()
    return token, ids[len(ids) // 2]


def set_request_log_sample(rate, now):
    """Insert the ``request-logs`` plugin's row, active, with ``sample_rate`` = ``rate``."""
    from app.db.models import Plugin
    from app.services.plugins.request_logs import INFO

    Plugin.insert(
        id=INFO.name, name=INFO.name, display_name=INFO.display_name, description=INFO.description,
        version=INFO.version, author=INFO.author, category=INFO.category, status="active", is_core=True,
        settings={**INFO.default_settings, "sample_rate": rate}, permissions=[], dependencies=[],
        installed_at=now, activated_at=now, last_updated=now, created_at=now, updated_at=now,
    ).execute()


def sonicpy_system(name, folder, items, args, database_url=None):
    from tests.fixtures.app import make_env

    environ = {"JWT_SECRET": JWT_SECRET}
    env = make_env(folder, environ=environ, database_url=database_url, vars={"ACCESS_LOG": args.access_log})
    token, item = seed(env, items, args.request_log_sample, args.time_travel == "true")
    port = free_port()
    process_env = {**os.environ, **environ, "SONICPY_CONFIG": str(folder / "bindings.toml"),
                   "SONICPY_PERSIST_TO": str(folder / "state"), "PYTHONPATH": str(args.app_root)}
    process_env.pop("SONICPY_ENV", None)
    proc = gunicorn("worker:app", port, process_env, args.workers, args.app_root, folder / "gunicorn.log",
                    args.server_python)
    auth = {"Authorization": f"Bearer {token}"}
    return {
        "name": name, "proc": proc, "port": port, "db": env.DB.db.database,
        "endpoints": {
            "cached list": load.get("/api/content?limit=20"),
            "cached item": load.get(f"/api/content/{item}"),
            "uncached list": load.get("/api/content?limit=20", auth),
            "create": load.post_json("/api/content", CREATE_BODY, auth),
        },
    }


def bare_system(folder, sqlite_db, args, pg_url=None, pg_write_url=None):
    """The bare app; with ``pg_url`` (sonicpy's seeded database) its PostgreSQL endpoints too."""
    write_db = folder / "bare-writes.sqlite"
    baseline.create_schema(str(write_db))
    port = free_port()
    process_env = {**os.environ, "BENCH_DB": str(sqlite_db), "BENCH_WRITE_DB": str(write_db),
                   "PYTHONPATH": str(ROOT)}
    endpoints = {
        "hello": load.get("/hello"),
        "list": load.get("/list"),
        "create": load.post_json("/items", CREATE_BODY),
    }
    if pg_url is not None:
        baseline.create_pg_schema(pg_write_url)
        process_env.update(BENCH_PG_URL=pg_url, BENCH_PG_WRITE_URL=pg_write_url)
        endpoints.update({"pg list": load.get("/pg/list"), "pg create": load.post_json("/pg/items", CREATE_BODY)})
    proc = gunicorn("bench.baseline:app", port, process_env, args.workers, ROOT, folder / "bare.log")
    return {"name": "bare", "proc": proc, "port": port, "endpoints": endpoints}


def start_postgres():
    """A throwaway PostgreSQL cluster and the URL of a database in it, or ``(None, reason)``."""
    try:
        from tests.fixtures.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        return server, server.create_database("bench")
    except BaseException as ex:  # noqa: BLE001 (pytest.skip is a BaseException: binaries missing)
        return None, str(ex)


# -------------------------------------------------------------- measuring


def measure(system, endpoint, args):
    """Drive ``endpoint`` of ``system`` (after a 1 s warm-up): ``load.drive``'s figures and ``cpu_us``.

    ``cpu_us`` is the CPU time (user and system, every thread) the system's gunicorn master
    and workers spent per request answered: unlike the rate, it does not depend on how much
    of the machine the client and other processes took meanwhile.
    """
    factory = system["endpoints"][endpoint]
    ok_status = (201,) if endpoint.endswith("create") else (200,)
    load.drive(system["port"], factory, 1, args.connections, ok_status=ok_status)  # warm: caches, connections
    spent = server_cpu_seconds(system["proc"])
    result = load.drive(system["port"], factory, args.seconds, args.connections, ok_status=ok_status)
    spent = server_cpu_seconds(system["proc"]) - spent
    answered = result["rate"] * args.seconds + result["errors"]
    result["cpu_us"] = spent / answered * 1e6 if answered else float("nan")
    return result


def worker_pids(proc):
    """The pids of the gunicorn master ``proc``'s workers.

    Every thread's ``children`` is read: a worker respawned by another thread of the master
    is listed only under that thread.
    """
    tasks = Path(f"/proc/{proc.pid}/task")
    return [int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()]


def server_cpu_seconds(proc):
    """The CPU seconds (user and system, every thread) the master ``proc`` and its workers have spent."""
    ticks = 0
    for pid in (proc.pid, *worker_pids(proc)):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # a worker that exited since it was listed
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def worker_rss_mb(proc):
    """The largest RSS among the gunicorn master's workers, in MB."""
    sizes = []
    for pid in worker_pids(proc):
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024)
    return max(sizes) if sizes else float("nan")


def spread(values):
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def figures(results, name, rounds):
    """Per-round figures of sonicpy system ``name`` against the bare one of the same round.

    The uncached list and the creates are compared with the bare app's on the same database
    (its ``pg`` endpoints for PostgreSQL) and, as ``cross``, with its SQLite ones.
    """
    rows = {}
    for r in range(rounds):
        bare, app = results[r]["bare"], results[r][name]
        own = "pg " if name == "postgres" and "pg list" in bare else ""
        values = {
            "cached list / bare /hello (>= 0.8)": app["cached list"]["rate"] / bare["hello"]["rate"],
            "cached list p99 ms (<= 10)": app["cached list"]["p99_ms"],
            "cached list server CPU us/request": app["cached list"]["cpu_us"],
            "  bare /hello server CPU us/request": bare["hello"]["cpu_us"],
            "cached item / bare /hello": app["cached item"]["rate"] / bare["hello"]["rate"],
            "uncached list / bare list (>= 0.5)": app["uncached list"]["rate"] / bare[own + "list"]["rate"],
            "  cross: / bare SQLite list": app["uncached list"]["rate"] / bare["list"]["rate"],
            "uncached list p50 ms": app["uncached list"]["p50_ms"],
            "creates/s (>= 500 on SQLite)": app["create"]["rate"],
            "create errors": app["create"]["errors"],
            "creates / bare 3-row insert": app["create"]["rate"] / bare[own + "create"]["rate"],
            "  cross: / bare SQLite insert": app["create"]["rate"] / bare["create"]["rate"],
            "cached list req/s": app["cached list"]["rate"],
            "uncached list req/s": app["uncached list"]["rate"],
        }
        for label, value in values.items():
            rows.setdefault(label, []).append(value)
    return rows


def add_options(parser):
    """The load and sonicpy options of a run (``bench/sonicjs.py`` serves sonicpy with them too)."""
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each sonicpy (and bare) server")
    parser.add_argument("--app-root", type=Path, default=ROOT)
    parser.add_argument("--server-python", default=sys.executable,
                        help="the Python whose packages serve sonicpy (default: this one); a virtualenv without the "
                             "test extras gives a production install's worker RSS")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--access-log", choices=("true", "false"), default="true",
                        help="the ACCESS_LOG var: the app's line per request (default true)")
    parser.add_argument("--time-travel", choices=("true", "false"), default="true",
                        help="keep time travel's change-log triggers (default true)")
    parser.add_argument("--request-log-sample", type=float, metavar="RATE",
                        help="the request-logs plugin's sample_rate for 2xx (default: as installed, 1)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--depths", default="1000,100000,1000000",
                        help="the depths bench/query_depth.py measures after the served rounds; none: skip it")
    parser.add_argument("--depth-rounds", type=int, default=100, help="bench/query_depth.py's --rounds")
    parser.add_argument("--no-sonicjs", action="store_true", help="skip bench/sonicjs.py after the served rounds")
    args = parser.parse_args()
    if shutil.which("wrk"):
        print("note: wrk is installed but this harness uses bench/load.py for every system (one client, same costs)")
    folder = Path(tempfile.mkdtemp(prefix="sonicpy-bench-"))
    systems, server = [], None
    try:
        systems.append(sonicpy_system("sqlite", folder / "sqlite", args.items, args))
        pg_urls = (None, None)
        if not args.no_postgres:
            server, url = start_postgres()
            if server is None:
                print(f"PostgreSQL skipped: {url}")
            else:
                systems.append(sonicpy_system("postgres", folder / "postgres", args.items, args, database_url=url))
                pg_urls = (url, server.create_database("bare"))
        # The bare app reads sonicpy's seeded databases; it is measured first in each round.
        systems.insert(0, bare_system(folder, systems[0]["db"], args, *pg_urls))
        results, started = [], time.time()
        for r in range(args.rounds):
            results.append({})
            for system in systems:
                results[r][system["name"]] = {
                    endpoint: measure(system, endpoint, args) for endpoint in system["endpoints"]
                }
            print(f"round {r + 1}/{args.rounds} done ({time.time() - started:.0f} s)", flush=True)
        rss = {system["name"]: worker_rss_mb(system["proc"]) for system in systems}
    finally:
        for system in systems:
            stop_process(system["proc"])
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report(results, systems, rss, args, time.time() - started)
    run_the_others(args)


def run_the_others(args):
    """Run the depth and SonicJS benchmarks, each in its own process, their output passed through.

    The depth benchmark comes from ``--app-root`` (the code being compared), SonicJS's from
    this checkout (it serves ``--app-root`` itself). A failure is printed and the next
    one still runs; the exit status is the first failure's.
    """
    script = args.app_root / "bench" / "query_depth.py"
    runs = []
    if args.depths.strip().lower() != "none":
        depth = [sys.executable, str(script), "--depths", args.depths, "--rounds", str(args.depth_rounds)]
        runs += [("uncached lists at depth, SQLite", depth)]
        if not args.no_postgres:
            runs += [("uncached lists at depth, PostgreSQL", [*depth, "--postgres"])]
    if not args.no_sonicjs:
        sonicjs = [sys.executable, str(ROOT / "bench" / "sonicjs.py"), "--app-root", str(args.app_root),
                   "--items", str(args.items), "--rounds", str(args.rounds), "--seconds", str(args.seconds),
                   "--connections", str(args.connections), "--workers", str(args.workers),
                   "--access-log", args.access_log, "--time-travel", args.time_travel]
        if args.request_log_sample is not None:
            sonicjs += ["--request-log-sample", str(args.request_log_sample)]
        runs += [("sonicpy against SonicJS 2.11 on Miniflare", sonicjs)]
    failed = 0
    for title, command in runs:
        print(f"\n== {title}", flush=True)
        code = subprocess.run(command, cwd=args.app_root).returncode
        if code:
            print(f"(exited {code})", flush=True)
            failed = failed or code
    if failed:
        sys.exit(failed)


def report(results, systems, rss, args, elapsed):
    names = [system["name"] for system in systems if system["name"] != "bare"]
    per_system = {name: figures(results, name, args.rounds) for name in names}
    print(f"\n{args.items} items, {args.rounds} rounds x {args.seconds} s, {args.connections} connections, "
          f"{args.workers} workers; median [min-max] over rounds")
    print(f"{'figure':42}" + "".join(f"{name:>26}" for name in names))
    for label in per_system[names[0]]:
        print(f"{label:42}" + "".join(f"{spread(per_system[name][label]):>26}" for name in names))
    print(f"{'worker RSS MB after the mixed run (<= 80)':42}" + "".join(f"{rss[name]:>26.1f}" for name in names)
          + f"   (after {elapsed:.0f} s of load)")
    bare = {endpoint: [results[r]["bare"][endpoint]["rate"] for r in range(args.rounds)]
            for endpoint in results[0]["bare"]}
    print("bare req/s: " + ", ".join(f"{endpoint} {statistics.median(rates):.0f}" for endpoint, rates in bare.items()))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "rss_mb": rss}, indent=1))


if __name__ == "__main__":
    main()
