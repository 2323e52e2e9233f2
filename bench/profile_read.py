"""Where a read spends its time: cProfile over in-process requests to the real app.

    python bench/profile_read.py [--items 1000] [--requests 2000] [--top 25] [--sort tottime]
                                 [--endpoint "cached list"] [--postgres]

Seeds a migrated SQLite file (or, with ``--postgres``, a throwaway PostgreSQL cluster)
as ``bench/run.py`` does, with the request log off, builds the app with ``create_app``
and calls it as WSGI ``--requests`` times per endpoint (no server, no client: only the
app's own cost), then prints the top functions of each endpoint's profile and its mean
time per request. Endpoints: ``cached list`` (public, limit 20), ``cached item`` and
``uncached list`` (an editor's: never cached).
"""

import argparse
import cProfile
import io
import pstats
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
    body = b"".join(app(environ, lambda line, _headers, _exc=None: status.append(line)))
    if not status[0].startswith("200"):
        raise SystemExit(f"GET {path}: {status[0]} {body[:200]!r}")
    return status[0]


def build(folder, items, database_url):
    """The app over a database seeded with ``items`` (request log off): ``(app, editor JWT, item id)``."""
    import os

    from app.app import create_app
    from tests.fixtures.app import make_env

    os.environ["JWT_SECRET"] = JWT_SECRET
    env = make_env(folder, environ={"JWT_SECRET": JWT_SECRET}, database_url=database_url,
                   vars={"ACCESS_LOG": "false"})
    token, item = seed(env, items, request_log_sample=0)
    return create_app(env), token, item


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--endpoint", action="append", help="profile only these (repeatable)")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    server, url = None, None
    if args.postgres:
        from tests.fixtures.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        url = server.create_database("bench")
    try:
        app, token, item = build(Path(tempfile.mkdtemp(prefix="sonicpy-profile-")), args.items, url)
        auth = [("Authorization", f"Bearer {token}")]
        endpoints = {"cached list": ("/api/content?limit=20", ()), "cached item": (f"/api/content/{item}", ()),
                     "uncached list": ("/api/content?limit=20", auth)}
        for name, (path, headers) in endpoints.items():
            if args.endpoint and name not in args.endpoint:
                continue
            micros, text = profile(app, path, headers, args.requests, args.sort, args.top)
            print(f"=== {name}: {micros:.0f} us per request (under the profiler)\n{text}")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
