"""What the unreadable-data check costs a new field index, beside the index itself.

    python bench/index_scan.py [--items 100000] [--body 500] [--rounds 3] [--postgres | --database-url URL]

Builds a migrated database (SQLite in a temporary folder; with ``--postgres`` a database
on a PostgreSQL server started as the tests start one; ``--database-url`` an existing one,
emptied first) holding ``--items`` live items whose ``data`` carries a ``--body``-character
text beside a few short fields, then times, per round, ``unreadable_rows`` (the check
``sync_field_indexes`` runs before it creates an index) and the ``CREATE INDEX`` of one
declared field (dropped again after), and prints their medians and the check's share of
both. Numbers vary with the machine and its load; the ratio is what to compare.

Under load (about 6), the check over its index: 1.0 to 1.2 on SQLite and 0.5 to 0.6 on
PostgreSQL with the database answering; 8.9 to 9.8 and 4.6 to 6.9 when Python read every
row (2.7 to 3.0 s and 3.9 to 7.6 s against 0.3 to 0.5 s now).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db.database import is_postgres  # noqa: E402
from app.services.field_indexes import index_statements, unreadable_rows  # noqa: E402
from bench.query_depth import migrated_database  # noqa: E402
from tests.fixtures.content import create_collection  # noqa: E402
from tests.fixtures.users import create_user  # noqa: E402

SCHEMA = {"type": "object", "properties": {"category": {"type": "string"}, "price": {"type": "number"},
                                           "body": {"type": "string"}}}
COLUMNS = "id, collection_id, slug, title, data, status, published_at, author_id, created_at, updated_at"
SQLITE_SEED = (
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})"
    f" INSERT INTO content ({COLUMNS}) SELECT 'd' || i, ?, 'item-' || i, 'Item ' || i,"
    " json_object('category', 'cat-' || (i % 20), 'price', (i * 7919) % 10007, 'body', printf('%.{body}c', 'w')),"
    " 'published', 1700000000000 + i * 1000, ?, 1700000000000, 1700000000000 FROM n")
POSTGRES_SEED = (
    f"INSERT INTO content ({COLUMNS}) SELECT 'd' || i, %s, 'item-' || i, 'Item ' || i,"
    " json_build_object('category', 'cat-' || (i %% 20), 'price', (i * 7919) %% 10007,"
    " 'body', repeat('w', {body}))::text,"
    " 'published', 1700000000000 + i * 1000, %s, 1700000000000, 1700000000000"
    " FROM generate_series(0::bigint, {last}) AS i")


def build(folder, items, body, database_url):
    """A migrated database holding ``items`` live items (its Peewee database)."""
    db = migrated_database(folder, database_url)
    author = create_user("author")
    shop = create_collection("shop", SCHEMA)
    seed = POSTGRES_SEED if is_postgres(db) else SQLITE_SEED
    with db.atomic():
        db.execute_sql(seed.replace("{last}", str(items - 1)).replace("{body}", str(body)), (shop.id, author.id))
    if is_postgres(db):
        db.execute_sql("VACUUM ANALYZE content")
    else:
        db.execute_sql("ANALYZE")
    return db


def measure(db, rounds):
    """``(seconds of the check, seconds of the index)``: medians over ``rounds``."""
    (name, statement), = index_statements(db, {"category"}, set()).items()
    checks, creates = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        with db.atomic():
            found = unreadable_rows(db)
        checks.append(time.perf_counter() - started)
        if found[0]:
            sys.exit(f"the seed holds {found[0]} unreadable row(s)")
        started = time.perf_counter()
        with db.atomic():
            db.execute_sql(statement)
        creates.append(time.perf_counter() - started)
        with db.atomic():
            db.execute_sql(f'DROP INDEX "{name}"')
    return statistics.median(checks), statistics.median(creates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--body", type=int, default=500, help="characters of each item's body text")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database to use (emptied first)")
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL server for the run")
    args = parser.parse_args()
    print(f"  load average {os.getloadavg()[0]:.2f} at the start", file=sys.stderr)
    server = None
    url = args.database_url
    if args.postgres:
        from tests.fixtures.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        url = server.create_database("index_scan")
    try:
        with tempfile.TemporaryDirectory() as folder:
            db = build(Path(folder), args.items, args.body, url)
            check, create = measure(db, args.rounds)
            db.close()
    finally:
        if server is not None:
            server.stop()
    print(f"  load average {os.getloadavg()[0]:.2f} at the end", file=sys.stderr)
    kind = "PostgreSQL" if url else "SQLite"
    print(f"{kind}, {args.items:,} items of ~{args.body}-character bodies, median of {args.rounds}:")
    print(f"  unreadable-data check {check * 1000:8.0f} ms")
    print(f"  CREATE INDEX          {create * 1000:8.0f} ms")
    print(f"  check / index         {check / create:8.2f}   (the check adds {check / (check + create):.0%} of the two)")


if __name__ == "__main__":
    main()
