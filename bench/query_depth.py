"""Uncached list latency at depth: how the query path holds from 1k to 100k and 1M items.

    python bench/query_depth.py [--depths 1000,100000,1000000] [--rounds 100] [--postgres | --database-url URL]

For each depth, builds a migrated database (SQLite in a temporary folder; with
``--postgres`` one database per depth on a PostgreSQL server started as the tests start
theirs; or the PostgreSQL database at ``--database-url``, which it empties first) with one
collection declaring ``category`` indexed and ``price`` sortable, and seeds it in one
INSERT ... SELECT. On SQLite the triggers keep counts and search right through it (a
million items in about a minute). On PostgreSQL the row triggers would take 50 to 100 s
per 100,000 items, so the seed runs without them and rebuilds what they keep afterwards, set
based (``seed_postgres``; it needs a superuser, as the server ``--postgres`` starts is).
Either way the counts, search and the declared fields are then checked against what the
items say (``check_seed``), so a broken seed stops the run instead of being measured.

Then each list shape runs in-process through the service the API calls
(``parse_list_params`` + ``list_content``, as an anonymous caller, no response cache)
``--rounds`` times, the depths taking turns within each round (with ``--database-url``
there is one database, so the depths are built and measured one after another), and the
median in milliseconds is printed with its ratio to the first depth's and the middle half
of its times (p25 to p75). The shapes: first page, a cursor page from the middle, a filter
on the declared field, a sort on the declared field, search for a rare word (one item in
1,000) and for a common one (every title holds it), each in the default order and by
relevance (``sort=relevance``, which scores every match). Numbers vary with the machine and its
load (printed at the start and the end); the ratios are what to compare.
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db import derived  # noqa: E402
from app.db.database import is_postgres  # noqa: E402
from app.db.models import bind_models  # noqa: E402
from app.services.content.query import COUNT_LIMIT, Scope, list_content, parse_list_params  # noqa: E402
from app.services.field_indexes import FILTER_PREFIX, SORT_PREFIX, sync_field_indexes  # noqa: E402
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
# Indexes on content that back no constraint, with their definitions (dropped during the seed).
SECONDARY_INDEXES = (
    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
    " WHERE x.indrelid = 'content'::regclass"
    " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)")
SHAPES = {
    "first page": {"limit": "20"},
    "cursor page (middle)": {"limit": "20", "cursor": None},
    "declared filter": {"limit": "20", "filter[data.category][equals]": "cat-3"},
    "declared sort": {"limit": "20", "sort": "data.price"},
    "search, rare word": {"limit": "20", "search": "needle"},
    "search, common word": {"limit": "20", "search": "item"},
    "search, rare, by relevance": {"limit": "20", "search": "needle", "sort": "relevance"},
    "search, common, by relevance": {"limit": "20", "search": "item", "sort": "relevance"},
}


def migrated_database(folder, database_url):
    """A database migrated afresh in ``folder`` (``database_url``'s PostgreSQL schema emptied
    first), the models bound to it: its Peewee database."""
    env = make_env(folder, database_url=database_url)
    db = env.DB.db
    if database_url:
        db.execute_sql("DROP SCHEMA public CASCADE")
        db.execute_sql("CREATE SCHEMA public")
    migrate(env)
    bind_models(db)
    return db


def build(folder, depth, database_url):
    """A seeded, checked database of ``depth`` items: ``(its Peewee database, the collection's id)``."""
    db = migrated_database(folder, database_url)
    author = create_user("author")
    shop = create_collection("shop", SCHEMA)
    sync_field_indexes(db)
    started = time.perf_counter()
    if is_postgres(db):
        seed_postgres(db, depth, shop.id, author.id)
        db.execute_sql("VACUUM ANALYZE content")  # what autovacuum does after a bulk insert
        db.execute_sql("CHECKPOINT")  # the seed's pages written now, not while the shapes are timed
    else:
        with db.atomic():
            db.execute_sql(SQLITE_SEED.replace("{last}", str(depth - 1)), (shop.id, author.id))
    print(f"  seeded {depth:,} items in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    check_seed(db, shop.id, depth)
    return db, shop.id


def seed_postgres(db, depth, collection_id, author_id):
    """Insert ``depth`` items set-based, then make the derived state right set-based too.

    Through the row triggers (counts, the search vectors, time travel's change log) and with
    every index kept row by row, PostgreSQL inserts 1,000 to 2,000 items a second. Here the
    triggers do not fire (``session_replication_role = replica``, which also skips the
    foreign key checks: the seed refers to rows that exist), content's secondary indexes are
    dropped and built again once the rows are in (one sort per index instead of a million
    insertions), and ``derived.rebuild`` recounts ``content_counts`` and the declared
    field's values (``content_counts_values``), one ``GROUP BY`` each, and computes the
    search vectors (``content_fts``) in one ``INSERT ... SELECT``. Time travel's change log
    gets no rows: the seed is not history.
    """
    with db.atomic():
        db.execute_sql("SET LOCAL session_replication_role = replica")
        db.execute_sql("SET LOCAL maintenance_work_mem = '256MB'")
        indexes = db.execute_sql(SECONDARY_INDEXES).fetchall()
        for name, _ in indexes:
            db.execute_sql(f'DROP INDEX "{name}"')
        db.execute_sql(POSTGRES_SEED.replace("{last}", str(depth - 1)), (collection_id, author_id))
        for _, definition in indexes:
            db.execute_sql(definition)
    derived.rebuild(db)


def check_seed(db, collection_id, depth):
    """Exit unless counts, search and the declared fields answer what the seeded items say
    and their indexes are there.

    A fast seed that left the counts, the search index or the declared indexes behind
    would otherwise be measured as if it were a working database.
    """
    first = run(collection_id, {"limit": "20"})
    _expect(first["meta"]["total"] == depth and not first["meta"].get("totalIsEstimate"),
            f"total {first['meta']['total']}, seeded {depth}")
    needles = -(-depth // 1000)  # items 0, 1000, 2000...
    found = run(collection_id, {"limit": "100", "search": "needle"})
    _expect(found["meta"]["total"] == min(needles, COUNT_LIMIT), f"search found {found['meta']['total']} of {needles}")
    _expect(all(item["data"]["name"] == "a needle here" for item in found["data"])
            and len(found["data"]) == min(needles, 100), "search returned items without the word")
    in_category = len(range(3, depth, 20))
    filtered = run(collection_id, {"limit": "100", "filter[data.category][equals]": "cat-3"})
    # The declared field's values are counted (content_counts_values): its total is exact.
    _expect(filtered["meta"]["total"] == in_category and not filtered["meta"].get("totalIsEstimate")
            and all(item["data"]["category"] == "cat-3" for item in filtered["data"]),
            f"declared filter: total {filtered['meta']['total']} of {in_category}")
    prices = [item["data"]["price"] for item in run(collection_id, {"limit": "100", "sort": "data.price"})["data"]]
    _expect(prices == sorted(prices) and prices[0] == 0, f"declared sort: {prices[:5]}")
    names = {FILTER_PREFIX + "category", SORT_PREFIX + "price"}
    present = {name for name in names if name in _index_names(db, "content")}
    _expect(present == names, f"indexes missing: {sorted(names - present)}")
    # SQLite's FTS5 table is its own index (the searches above read it).
    _expect(not is_postgres(db) or derived.PG_SEARCH_INDEX in _index_names(db, derived.FTS_TABLE),
            f"index missing: {derived.PG_SEARCH_INDEX}")


def _index_names(db, table):
    if is_postgres(db):
        return {name for (name,) in db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,))}
    return {name for (name,) in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))}


def _expect(condition, message):
    if not condition:
        raise SystemExit(f"the seeded database is wrong: {message}")


def run(collection_id, params):
    scope = Scope()
    return list_content(parse_list_params(params, scope, collection_id=collection_id, schema=SCHEMA), scope)


def middle_cursor(collection_id, depth):
    """A cursor from about the middle of the default order (found once, with an offset)."""
    return run(collection_id, {"limit": "1", "offset": str(depth // 2)})["meta"]["nextCursor"]


def prepare(folder, depth, database_url):
    """Build ``depth`` items and warm each shape: ``(db, collection id, {shape: params})``."""
    db, collection_id = build(Path(folder), depth, database_url)
    cursor = middle_cursor(collection_id, depth)
    shapes = {name: {**params, "cursor": cursor} if "cursor" in params else params
              for name, params in SHAPES.items()}
    for params in shapes.values():
        run(collection_id, params)
    return db, collection_id, shapes


def measure(prepared, rounds):
    """``{depth: {shape: p50 ms}}``, the depths taking turns in each round (load that comes
    and goes on a shared machine then weighs on every depth alike)."""
    times = {depth: {name: [] for name in SHAPES} for depth in prepared}
    for _ in range(rounds):
        for depth, (db, collection_id, shapes) in prepared.items():
            bind_models(db)
            for name, params in shapes.items():
                started = time.perf_counter()
                run(collection_id, params)
                times[depth][name].append((time.perf_counter() - started) * 1000)
    return {depth: {name: _summary(spent) for name, spent in shapes.items()} for depth, shapes in times.items()}


def _summary(spent):
    """``(p50, p25, p75)`` of one shape's times: the median and the middle half's spread."""
    quartiles = statistics.quantiles(spent, n=4) if len(spent) > 1 else [spent[0]] * 3
    return statistics.median(spent), quartiles[0], quartiles[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depths", default="1000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to use (emptied first; the depths are measured one after another)")
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL server for the run")
    args = parser.parse_args()
    depths = [int(depth) for depth in args.depths.split(",")]
    print(f"  load average {os.getloadavg()[0]:.2f} at the start", file=sys.stderr)
    if args.postgres:
        from tests.fixtures.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        try:
            results = interleaved(depths, args.rounds, lambda depth: server.create_database(f"query_depth_{depth}"))
        finally:
            server.stop()
    elif args.database_url:
        results = one_after_another(depths, args.rounds, args.database_url)
    else:
        results = interleaved(depths, args.rounds, lambda depth: None)
    print(f"  load average {os.getloadavg()[0]:.2f} at the end", file=sys.stderr)
    print_table(depths, results)


def interleaved(depths, rounds, database_for):
    """Build every depth (each its own database), then measure them in turns."""
    with contextlib.ExitStack() as stack:
        prepared = {depth: prepare(stack.enter_context(tempfile.TemporaryDirectory()), depth, database_for(depth))
                    for depth in depths}
        results = measure(prepared, rounds)
        for db, _, _ in prepared.values():
            db.close()
        return results


def one_after_another(depths, rounds, database_url):
    """Build and measure each depth in turn in the one database given."""
    results = {}
    for depth in depths:
        with tempfile.TemporaryDirectory() as folder:
            prepared = prepare(folder, depth, database_url)
            results.update(measure({depth: prepared}, rounds))
            prepared[0].close()
    return results


def print_table(depths, results):
    """Per shape and depth: p50 ms, its ratio to the first depth's, and [p25-p75] ms."""
    base = depths[0]
    print(f"{'p50 ms (ratio to ' + format(base, ',') + ') [p25-p75]':<32}" + "".join(f"{d:>30,}" for d in depths))
    for name in SHAPES:
        cells = ""
        for depth in depths:
            median, low, high = results[depth][name]
            cells += f"{median:>9.2f} ({median / results[base][name][0]:>4.1f}x) [{low:.2f}-{high:.2f}]".rjust(30)
        print(f"{name:<32}{cells}")


if __name__ == "__main__":
    main()
