"""Uncached list latency at depth: how the query path holds from 1k to 100k and 1M items.

    python bench/query_depth.py [--depths 1000,100000,1000000] [--rounds 30] [--postgres | --database-url URL]

For each depth, builds a migrated database (SQLite in a temporary folder; with
``--postgres`` a database on a PostgreSQL server started as the tests start theirs; or the
PostgreSQL database at ``--database-url``, which it empties first) with one collection
declaring ``category`` indexed and ``price`` sortable, seeds it in ONE INSERT ... SELECT
(the bulk path: the triggers keep counts and search right), then runs each list shape
in-process through the service the API calls (``parse_list_params`` + ``list_content``,
as an anonymous caller, no response cache) ``--rounds`` times and prints the median in
milliseconds and its ratio to the first depth's. The shapes: first page, a cursor page
from the middle, a filter on the declared field, a sort on the declared field, search for a
rare word (one item in 1,000) and for a common one (every title holds it).
Numbers vary with the machine and its load; the ratios are what to compare.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db.database import is_postgres  # noqa: E402
from app.db.models import bind_models  # noqa: E402
from app.services.content.query import Scope, list_content, parse_list_params  # noqa: E402
from app.services.field_indexes import sync_field_indexes  # noqa: E402
from tests.fixtures.app import make_env, migrate  # noqa: E402
from tests.fixtures.content import create_collection  # noqa: E402
from tests.fixtures.users import create_user  # noqa: E402

SCHEMA = {"type": "object", "properties": {
    "category": {"type": "string", "indexed": True},
    "price": {"type": "number", "sortable": True},
    "name": {"type": "string"},
}}
COLUMNS = "id, collection_id, slug, title, data, status, published_at, author_id, created_at, updated_at"
SQLITE_SEED = (
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})"
    f" INSERT INTO content ({COLUMNS}) SELECT 'd' || i, ?, 'item-' || i, 'Item ' || i,"
    " json_object('category', 'cat-' || (i % 20), 'price', (i * 7919) % 10007,"
    " 'name', CASE WHEN i % 1000 = 0 THEN 'a needle here' ELSE 'word' || (i % 50) END),"
    " 'published', 1700000000000 + i * 1000, ?, 1700000000000, 1700000000000 FROM n")
POSTGRES_SEED = (
    f"INSERT INTO content ({COLUMNS}) SELECT 'd' || i, %s, 'item-' || i, 'Item ' || i,"
    " json_build_object('category', 'cat-' || (i %% 20), 'price', (i * 7919) %% 10007,"
    " 'name', CASE WHEN i %% 1000 = 0 THEN 'a needle here' ELSE 'word' || (i %% 50) END)::text,"
    " 'published', 1700000000000 + i * 1000, %s, 1700000000000, 1700000000000"
    " FROM generate_series(0::bigint, {last}) AS i")
SHAPES = {
    "first page": {"limit": "20"},
    "cursor page (middle)": {"limit": "20", "cursor": None},
    "declared filter": {"limit": "20", "filter[data.category][equals]": "cat-3"},
    "declared sort": {"limit": "20", "sort": "data.price"},
    "search, rare word": {"limit": "20", "search": "needle"},
    "search, common word": {"limit": "20", "search": "item"},
}


def build(folder, depth, database_url):
    """A seeded database of ``depth`` items; returns the collection's id."""
    env = make_env(folder, database_url=database_url)
    db = env.DB.db
    if database_url:
        db.execute_sql("DROP SCHEMA public CASCADE")
        db.execute_sql("CREATE SCHEMA public")
    migrate(env)
    bind_models(db)
    author = create_user("author")
    shop = create_collection("shop", SCHEMA)
    sync_field_indexes(db)
    started = time.perf_counter()
    with db.atomic():
        seed = POSTGRES_SEED if is_postgres(db) else SQLITE_SEED
        db.execute_sql(seed.replace("{last}", str(depth - 1)), (shop.id, author.id))
    print(f"  seeded {depth:,} items in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if is_postgres(db):
        db.execute_sql("ANALYZE")  # what autovacuum would do
    return shop.id


def run(collection_id, params):
    scope = Scope()
    return list_content(parse_list_params(params, scope, collection_id=collection_id, schema=SCHEMA), scope)


def middle_cursor(collection_id, depth):
    """A cursor from about the middle of the default order (found once, with an offset)."""
    return run(collection_id, {"limit": "1", "offset": str(depth // 2)})["meta"]["nextCursor"]


def measure(collection_id, params, rounds):
    run(collection_id, params)  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run(collection_id, params)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depths", default="1000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database to use (emptied first)")
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL server for the run")
    args = parser.parse_args()
    if args.postgres:
        from tests.fixtures.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        try:
            args.database_url = server.create_database("query_depth")
            report(args)
        finally:
            server.stop()
    else:
        report(args)


def report(args):
    """Build each depth, measure each shape, print the table."""
    depths = [int(depth) for depth in args.depths.split(",")]
    results = {}
    for depth in depths:
        with tempfile.TemporaryDirectory() as folder:
            collection_id = build(Path(folder), depth, args.database_url)
            cursor = middle_cursor(collection_id, depth)
            results[depth] = {}
            for name, params in SHAPES.items():
                params = {**params, "cursor": cursor} if "cursor" in params else params
                results[depth][name] = measure(collection_id, params, args.rounds)
    base = depths[0]
    print(f"{'p50 ms (ratio to ' + format(base, ',') + ')':<24}" + "".join(f"{d:>20,}" for d in depths))
    for name in SHAPES:
        cells = "".join(f"{results[d][name]:>11.2f} ({results[d][name] / results[base][name]:>4.1f}x)"
                        for d in depths)
        print(f"{name:<24}{cells}")


if __name__ == "__main__":
    main()
