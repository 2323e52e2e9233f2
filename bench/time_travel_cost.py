"""What the time-travel triggers (``d1_changes``) cost a content create on SQLite.

    python bench/time_travel_cost.py [--creates 300] [--rounds 3]

Builds a migrated SQLite database, then times ``create_content`` (the service, no HTTP)
with the triggers armed and disarmed, alternating per round, and prints the median time
per create, of its transaction alone (the part holding the write lock, where the
triggers run) and the triggers' share of each. Numbers vary with the machine and its
load; the shares are what to compare.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db import time_travel  # noqa: E402
from app.db.models import bind_models, database  # noqa: E402
from app.services.content import writes  # noqa: E402
from app.services.identity import Principal  # noqa: E402
from tests.fixtures.app import make_env, migrate  # noqa: E402
from tests.fixtures.content import create_collection  # noqa: E402
from tests.fixtures.users import create_user  # noqa: E402


def timed_creates(editor, count, label):
    """``(µs per create, µs per create's transaction)``."""
    in_transaction = []
    write_new = writes._write_new

    def timed_write_new(*args):
        started = time.perf_counter()
        try:
            return write_new(*args)
        finally:
            in_transaction.append(time.perf_counter() - started)

    writes._write_new = timed_write_new
    try:
        started = time.perf_counter()
        for n in range(count):
            writes.create_content(editor, "bench", {"title": f"{label} {n}", "data": {"body": "text"}})
        total = time.perf_counter() - started
    finally:
        writes._write_new = write_new
    return total / count * 1e6, sum(in_transaction) / count * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = make_env(Path(folder))
        migrate(env)
        db = env.DB.db
        bind_models(db)
        user = create_user("editor")
        create_collection("bench", {"type": "object", "properties": {"body": {"type": "string"}}})
        editor = Principal(id=user.id, email=user.email, role="editor", permissions=frozenset({"content.publish"}))
        times = {"armed": [], "disarmed": []}
        for round_ in range(args.rounds):
            for state in ("armed", "disarmed"):
                with database.atomic():
                    if state == "armed":
                        time_travel.arm(db, "bench")
                    else:
                        time_travel.disarm(db)
                times[state].append(timed_creates(editor, args.creates, f"{state}-{round_}"))
        print(f"create_content on SQLite, {args.creates} creates x {args.rounds} rounds (median µs per create)")
        print(f"{'':20}{'whole create':>14}{'transaction':>14}")
        armed = [statistics.median(t[i] for t in times["armed"]) for i in (0, 1)]
        disarmed = [statistics.median(t[i] for t in times["disarmed"]) for i in (0, 1)]
        print(f"{'triggers armed':20}{armed[0]:14.0f}{armed[1]:14.0f}")
        print(f"{'triggers disarmed':20}{disarmed[0]:14.0f}{disarmed[1]:14.0f}")
        shares = [(a - d) / a for a, d in zip(armed, disarmed)]
        print(f"{'triggers share':20}{shares[0]:14.1%}{shares[1]:14.1%}")


if __name__ == "__main__":
    main()
