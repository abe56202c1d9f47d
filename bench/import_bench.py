"""Bulk import benchmark: `trialkb import` of a zip of API v2 studies vs. plain JSON parsing.

Usage: python bench/import_bench.py [--count 50000] [--db URL]
Prints studies/s for the stdlib parse of the same archive (the floor) and for the import into
a fresh store, and their ratio. Targets: >= 1,000 studies/s into SQLite on 2 cores; import
time <= 3x the plain-parse time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import write_zip  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def plain_parse(path: Path) -> tuple[int, float]:
    """Stream the archive and json.loads every member: (studies, seconds)."""
    start = time.perf_counter()
    n = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            json.loads(zf.read(info))
            n += 1
    return n, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file in bench/out)")
    args = parser.parse_args()
    archive = OUT / f"corpus-{args.count}.zip"
    if not archive.exists():
        t = time.perf_counter()
        mean_kb = write_zip(archive, args.count)
        print(f"generated {args.count} studies, mean {mean_kb:.1f} KB, in {time.perf_counter() - t:.0f} s")
    print(f"archive {archive.name}: {archive.stat().st_size / 1e6:.0f} MB compressed")

    n, parse_s = plain_parse(archive)
    print(f"plain json.loads: {n} studies in {parse_s:.1f} s = {n / parse_s:,.0f} studies/s")

    db = args.db
    if db is None:
        path = OUT / "bench.db"
        for p in OUT.glob("bench.db*"):
            p.unlink()
        db = f"sqlite:///{path}"
    trialkb = shutil.which("trialkb") or str(Path(sys.executable).with_name("trialkb"))
    start = time.perf_counter()
    proc = subprocess.run([trialkb, "--db", db, "import", str(archive)], capture_output=True, text=True)
    import_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(proc.stdout.strip().splitlines()[0] if proc.stdout else proc.stderr[-2000:])
    print(f"trialkb import: {n} studies in {import_s:.1f} s = {n / import_s:,.0f} studies/s, peak RSS {peak:.0f} MB")
    print(f"ratio import/parse: {import_s / parse_s:.2f}x (target <= 3x); "
          f"target >= 1,000 studies/s: {'met' if n / import_s >= 1000 else 'NOT met'}")
    if db.startswith("sqlite:///"):
        print(f"store size: {os.path.getsize(db[10:]) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
