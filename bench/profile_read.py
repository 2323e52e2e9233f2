"""Where a read spends its time: cProfile over in-process requests to the real app.

    python bench/profile_read.py [--items 1000] [--requests 2000] [--top 25] [--sort tottime]
                                 [--endpoint "cached list"] [--postgres]
                                 [--timing] [--repeats 7] [--access-log] [--worker]
                                 [--request-log-sample RATE]

Seeds a migrated SQLite file (or, with ``--postgres``, a throwaway PostgreSQL cluster)
as ``bench/run.py`` does, with the request log off, builds the app with ``create_app``
and calls it as WSGI ``--requests`` times per endpoint (no server, no client: only the
app's own cost), then prints the top functions of each endpoint's profile and its mean
time per request. Endpoints: ``cached list`` (public, limit 20), ``cached item`` and
``uncached list`` (an editor's: never cached).

``--timing`` runs no profiler: it prints each endpoint's microseconds per request (the
median of ``--repeats`` rounds of ``--requests`` calls, every endpoint timed in turn in
each round) next to a bare Falcon ``/hello`` (``bench.baseline.app``) built in the same
process, and their ratio: what a request costs the app beyond the framework's floor.
``--access-log`` writes the ``sonicpy.access`` line per request (to a file in the temp
folder, as a served app does to its log) and ``--worker`` calls the app through the
``Worker`` gunicorn serves (its per-request context, the ``wait_until`` work run when the
response closes); ``bench/run.py`` serves with both. ``--request-log-sample 1`` logs every
successful request to ``system_logs`` (the plugin's default, which ``bench/run.py`` keeps);
the rows are written in batches by the request log's own thread, in this process.
"""

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import JWT_SECRET, seed  # noqa: E402


def wsgi_get(app, path, headers=()):
    """Call ``app`` for ``GET path`` (with an optional query string); the status line."""
    route, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query, "SERVER_NAME": "bench",
        "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
    }
    for name, value in headers:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status = []
    result = app(environ, lambda line, _headers, _exc=None: status.append(line))
    body = b"".join(result)
    close = getattr(result, "close", None)
    if close is not None:  # as a server does once it has sent the body
        close()
    if not status[0].startswith("200"):
        raise SystemExit(f"GET {path}: {status[0]} {body[:200]!r}")
    return status[0]


def build(folder, items, database_url, access_log=False, worker=False, request_log_sample=0):
    """The app over a database seeded with ``items``: ``(app, editor JWT, item id)``.

    Args:
        request_log_sample: the share of successful requests logged to ``system_logs`` (0: none).
        access_log: write the ``sonicpy.access`` line of each request to ``folder/access.log``.
        worker: answer the ``Worker`` over the app (as gunicorn serves it), not the Falcon app.
    """
    import os

    from app.app import create_app
    from app.runtime.entry import Worker
    from app.runtime.logs import configure_logging
    from tests.fixtures.app import make_env

    os.environ["JWT_SECRET"] = JWT_SECRET
    env = make_env(folder, environ={"JWT_SECRET": JWT_SECRET}, database_url=database_url,
                   vars={"ACCESS_LOG": "true" if access_log else "false"})
    token, item = seed(env, items, request_log_sample=request_log_sample)
    if access_log:
        configure_logging(env.config, open(folder / "access.log", "a"))  # kept open for the run
    app = create_app(env)
    if worker:
        return Worker(lambda: env, lambda _env: app), token, item
    return app, token, item


def profile(app, path, headers, requests, sort, top):
    """``(microseconds per request, printed stats)`` of ``requests`` GETs of ``path`` after a warm-up."""
    for _ in range(50):  # warm: plugin rows, caches, connections
        wsgi_get(app, path, headers)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        wsgi_get(app, path, headers)
    profiler.disable()
    elapsed = time.perf_counter() - started
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
    return elapsed / requests * 1e6, out.getvalue()


def timing(endpoints, requests, repeats):
    """``{name: microseconds per request}``: the median of ``repeats`` rounds, bare ``/hello`` included.

    Each round times every endpoint in turn, so a burst of load elsewhere on the machine
    touches them all alike.
    """
    from bench.baseline import app as bare

    endpoints = {"bare /hello": (bare, "/hello", ()), **endpoints}
    for app, path, headers in endpoints.values():
        for _ in range(200):  # warm: plugin rows, caches, connections
            wsgi_get(app, path, headers)
    rounds = {name: [] for name in endpoints}
    for _ in range(repeats):
        for name, (app, path, headers) in endpoints.items():
            started = time.perf_counter()
            for _ in range(requests):
                wsgi_get(app, path, headers)
            rounds[name].append((time.perf_counter() - started) / requests * 1e6)
    return {name: statistics.median(values) for name, values in rounds.items()}


def print_timing(micros):
    """One line per endpoint: microseconds per request and the ratio to bare ``/hello``."""
    bare = micros["bare /hello"]
    print(f"{'endpoint':<16}{'us/request':>12}{'x bare /hello':>15}")
    for name, value in micros.items():
        print(f"{name:<16}{value:>12.1f}{value / bare:>15.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--endpoint", action="append", help="profile only these (repeatable)")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--timing", action="store_true", help="time without the profiler, against bare /hello")
    parser.add_argument("--repeats", type=int, default=7, help="rounds of --timing (the median is printed)")
    parser.add_argument("--access-log", action="store_true", help="write the sonicpy.access line per request")
    parser.add_argument("--worker", action="store_true", help="call the app through the Worker gunicorn serves")
    parser.add_argument("--request-log-sample", type=float, default=0.0,
                        help="share of successful requests written to system_logs (default 0: none)")
    args = parser.parse_args()
    server, url = None, None
    if args.postgres:
        from tests.fixtures.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        url = server.create_database("bench")
    try:
        folder = Path(tempfile.mkdtemp(prefix="sonicpy-profile-"))
        app, token, item = build(folder, args.items, url, args.access_log, args.worker, args.request_log_sample)
        auth = [("Authorization", f"Bearer {token}")]
        endpoints = {"cached list": ("/api/content?limit=20", ()), "cached item": (f"/api/content/{item}", ()),
                     "uncached list": ("/api/content?limit=20", auth)}
        endpoints = {name: (app, *call) for name, call in endpoints.items()
                     if not args.endpoint or name in args.endpoint}
        if args.timing:
            print_timing(timing(endpoints, args.requests, args.repeats))
            return
        for name, (_app, path, headers) in endpoints.items():
            micros, text = profile(app, path, headers, args.requests, args.sort, args.top)
            print(f"=== {name}: {micros:.0f} us per request (under the profiler)\n{text}")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
