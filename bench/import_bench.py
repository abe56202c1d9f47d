"""Bulk import benchmark: `trialkb import` of a registry-like zip vs a plain parse of the same archive.

Usage: python bench/import_bench.py [--count 100000] [--db sqlite|postgresql] [--mode relevant|full|both]
                                    [--repeat 2]

The corpus is the registry's own mix (bench/corpus.py: most studies are not CAR trials; median
~17 KB). Each run measures, back to back on the same machine, a plain parse (stream the zip and
``json.loads`` every member, one process: the floor) and the import into a fresh store, and
prints studies/s, their ratio, the import's CPU seconds, the peak memory of its whole process
tree and the store's size. Then, with ``--relevant-only``, a second import of the same archive
(the ledger: nothing is read again). Targets: >= 2,000 studies/s with --relevant-only, <= 2.0x the
plain parse (<= 2.5x storing everything), peak memory <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import write_zip  # noqa: E402
from proctree import TreeCPU  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
PG_ADMIN = os.environ.get("TRIALKB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def plain_parse(path: Path) -> tuple[int, float]:
    """Stream the archive and json.loads every member: (studies, seconds)."""
    start = time.perf_counter()
    n = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            json.loads(zf.read(info))
            n += 1
    return n, time.perf_counter() - start


def fresh_store(kind: str) -> str:
    """A URL of an empty store."""
    if kind == "sqlite":
        for p in OUT.glob("bench.db*"):
            p.unlink()
        return f"sqlite:///{OUT / 'bench.db'}"
    import psycopg

    admin = PG_ADMIN.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS trialkb_bench")
        conn.execute("CREATE DATABASE trialkb_bench")
    return admin.rsplit("/", 1)[0] + "/trialkb_bench"


def store_size(url: str) -> float:
    """The store's size in MB."""
    if url.startswith("sqlite:///"):
        return sum(p.stat().st_size for p in OUT.glob("bench.db*")) / 1e6
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6


def run_import(url: str, archive: Path, relevant: bool) -> tuple[float, float, float, str]:
    """(seconds, CPU seconds, peak MB of the process tree, the summary line) of one import."""
    trialkb = shutil.which("trialkb") or str(Path(sys.executable).with_name("trialkb"))
    command = [trialkb, "--db", url, "import", str(archive), *(["--relevant-only"] if relevant else [])]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeCPU(process.pid) as tree:
        out, err = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"import failed: {err[-2000:]}")
    return seconds, tree.seconds, tree.peak_rss / 1e6, out.strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--mode", choices=["relevant", "full", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each mode (the machine may be shared)")
    args = parser.parse_args()
    archive = OUT / f"registry-{args.count}.zip"
    if not archive.exists():
        t = time.perf_counter()
        mean_kb = write_zip(archive, args.count)
        print(f"generated {args.count} studies, mean {mean_kb:.1f} KB, in {time.perf_counter() - t:.0f} s")
    with zipfile.ZipFile(archive) as zf:
        sizes = sorted(i.file_size for i in zf.infolist())
    print(f"archive {archive.name}: {archive.stat().st_size / 1e6:.0f} MB compressed, {sum(sizes) / 1e6:.0f} MB of "
          f"JSON, median {sizes[len(sizes) // 2] / 1024:.1f} KB, mean {sum(sizes) / len(sizes) / 1024:.1f} KB; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    modes = {"relevant": [True], "full": [False], "both": [True, False]}[args.mode]
    for run in range(args.repeat):
        for relevant in modes:
            n, parse_s = plain_parse(archive)
            url = fresh_store(args.db)
            seconds, cpu, peak, line = run_import(url, archive, relevant)
            label = "--relevant-only" if relevant else "everything"
            print(f"[{run + 1}] {args.db} {label}: {line}")
            print(f"    plain parse {n / parse_s:,.0f} studies/s ({parse_s:.1f} s); import {n / seconds:,.0f} studies/s "
                  f"({seconds:.1f} s, {cpu:.1f} CPU s): ratio {seconds / parse_s:.2f}x "
                  f"(target <= {2.0 if relevant else 2.5}x); peak {peak:,.0f} MB; store {store_size(url):,.0f} MB; "
                  f"load average {os.getloadavg()[0]:.1f}")
            if relevant:
                again, cpu, peak, line = run_import(url, archive, relevant)
                print(f"    again (ledger): {again:.1f} s, {cpu:.1f} CPU s, peak {peak:,.0f} MB: {line}")


if __name__ == "__main__":
    main()
