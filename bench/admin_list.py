"""Server time of the admin's content list page for a 10,000-item collection.

    python bench/admin_list.py [--items 10000] [--rounds 50]

Builds a migrated SQLite database with one collection of ``--items`` items (half drafts),
signs an editor in, then renders ``/admin/content/<collection>`` (first page, a later page,
a search, a status filter) in-process through the real app ``--rounds`` times each and
prints the median and 95th percentile in milliseconds. The target is a median under 50 ms
on a developer machine; numbers vary with the machine and its load.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db.models import bind_models  # noqa: E402
from tests.fixtures.admin import browser_for, sign_in  # noqa: E402
from tests.fixtures.app import make_env, migrate  # noqa: E402
from tests.fixtures.auth import hashed  # noqa: E402
from tests.fixtures.content import create_collection, insert_items  # noqa: E402
from tests.fixtures.users import create_user  # noqa: E402

PAGES = {
    "first page": "/admin/content/bench",
    "page 200": "/admin/content/bench?page=200",
    "search": "/admin/content/bench?search=Item+4242",
    "drafts": "/admin/content/bench?status=draft&sort=title",
}


def build(folder, items):
    env = make_env(folder)
    migrate(env)
    bind_models(env.DB.db)
    editor = create_user("editor", password_hash=hashed())
    collection = create_collection("bench", {"type": "object", "properties": {"title": {"type": "string"}}})
    half = items // 2
    insert_items(collection, editor, half, status="published")
    insert_items(collection, editor, items - half, status="draft", slug_prefix="draft", start=1_800_000_000_000)
    client = browser_for(env)
    assert sign_in(client, editor).status_int == 303
    return client


def measure(client, url, rounds):
    client.get(url)  # warm: templates compiled, connection open
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        client = build(Path(folder), args.items)
        print(f"admin content list, {args.items} items, {args.rounds} rounds (ms)")
        for name, url in PAGES.items():
            median, p95 = measure(client, url, args.rounds)
            print(f"  {name:<12} median {median:7.1f}   p95 {p95:7.1f}")


if __name__ == "__main__":
    main()
