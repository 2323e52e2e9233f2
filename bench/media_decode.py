"""Peak memory of parallel image uploads: what a worker holds while decoding images.

    python bench/media_decode.py [--parallel 4]

Each scenario runs in a fresh Python process (so one scenario's peak cannot hide another's):
the real app over WebTest, a migrated SQLite database and the local bucket, and
``--parallel`` threads that upload the same generated PNG at once. It prints, per scenario,
the answers, how many thumbnails were made, and how much the process's peak resident memory
(``ru_maxrss``) grew during the uploads. Pillow allocates pixels outside Python's allocator,
so ``tracemalloc`` cannot see them; the resident peak can.

Scenarios:

* ``5000x5000 16-bit RGB``: 145 KB of file, 100 MB decoded. Before the decode budget each
  upload decoded it (twice: once to look for EXIF); now none is decoded.
* ``3000x3000 RGB``: 36 MB decoded, within the thumbnail budget: thumbnails are made, one
  decode at a time, so the peak stays near one decode whatever ``--parallel`` is.
"""

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIOS = {
    "5000x5000 16-bit RGB": (5000, 5000, 16),
    "3000x3000 RGB": (3000, 3000, 8),
}

CHILD = textwrap.dedent("""
    import json, resource, sys, tempfile, threading
    from pathlib import Path

    from app.db.models import bind_models
    from tests.fixtures.app import client_for, make_env, migrate
    from tests.fixtures.users import bearer, create_user, token_for
    from tests.fixtures.media import flat_png

    width, height, depth, parallel = map(int, sys.argv[1:5])
    data = flat_png(width, height, bit_depth=depth)
    env = make_env(Path(tempfile.mkdtemp()))
    migrate(env)
    bind_models(env.DB.db)
    client = client_for(env)
    headers = bearer(token_for(create_user("admin")))
    client.get("/health")  # build the app before measuring
    results = []

    def send(n):
        response = client.post("/api/media/upload", upload_files=[("file", f"{n}.png", data)], headers=headers,
                               expect_errors=True)
        results.append((response.status_int, (response.json.get("file") or {}).get("thumbnailUrl")))

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    threads = [threading.Thread(target=send, args=(n,)) for n in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"file_bytes": len(data), "statuses": sorted(s for s, _ in results),
                      "thumbnails": sum(1 for _, t in results if t), "grown_mib": round(grown / 1024, 1)}))
""")


def run(width, height, depth, parallel):
    child = subprocess.run([sys.executable, "-c", CHILD, str(width), str(height), str(depth), str(parallel)],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", type=int, default=4, help="uploads at once (default 4)")
    args = parser.parse_args()
    print(f"{'scenario':<24} {'file':>9} {'answers':<22} {'thumbnails':>10} {'peak growth':>12}")
    for name, (width, height, depth) in SCENARIOS.items():
        result = run(width, height, depth, args.parallel)
        print(f"{name:<24} {result['file_bytes']:>9} {str(result['statuses']):<22} "
              f"{result['thumbnails']:>10} {result['grown_mib']:>9} MiB")


if __name__ == "__main__":
    main()
