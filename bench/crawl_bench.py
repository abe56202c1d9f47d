"""Crawl pipeline benchmark: `trialkb crawl` against the local API server, 1,000-study pages.

Usage: python bench/crawl_bench.py [--count 20000]
Serves a generated corpus (bench/corpus.py; every study titled as a CD19 CAR-T trial in lupus so
the related searches page through all of it; pages rendered ahead, so the server answers at once
as the real API does), runs a full crawl with throttling off, and prints
pages/s and studies/s end to end, the CPU the crawl's processes used, and the time the pipeline
took per page (preparing, writing, start to commit).
Target: the pipeline stores a 1,000-study page in well under a second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from corpus import generate  # noqa: E402
from proctree import TreeCPU  # noqa: E402

from crawler.parse import search_url  # noqa: E402
from crawler.searches import base_queries  # noqa: E402
from tests.support.ctgov_server import CtgovTestServer  # noqa: E402
from kb.store.db import open_store  # noqa: E402
from kb.store.runlog import last_run  # noqa: E402

OUT = ROOT / "bench" / "out"


def corpus(count: int) -> list[dict]:
    studies = []
    for study in generate(count, seed=3):
        ident = study["protocolSection"]["identificationModule"]
        ident["briefTitle"] = f"CD19 CAR-T Cells in Lupus: {ident.get('briefTitle', '')}"
        studies.append(study)
    return studies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "crawl-bench.db"
    for path in OUT.glob("crawl-bench.db*"):
        path.unlink()
    studies = corpus(args.count)
    trialkb = str(Path(sys.executable).with_name("trialkb"))
    with CtgovTestServer(studies) as server:
        t = time.perf_counter()
        warmed = sum(server.warm(search_url(server.url, q.params, 1000, count_total=True)) for q in base_queries())
        print(f"server: {warmed} pages rendered ahead in {time.perf_counter() - t:.0f} s (not measured)")
        start = time.perf_counter()
        proc = subprocess.Popen([trialkb, "--db", f"sqlite:///{db}", "crawl", "--api-url", server.url, "--full",
                                 "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "LOG_LEVEL=WARNING"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with TreeCPU(proc.pid) as tree:
            stdout, stderr = proc.communicate()
        wall, cpu, peak = time.perf_counter() - start, tree.seconds, tree.peak_rss / 1e6
        fetched = [r for r in server.log if r.path == "/api/v2/studies"]
    run = last_run(open_store(f"sqlite:///{db}"), "crawl", status=None)
    counts = run["counts"]
    stored = counts["fetched"]  # records fetched and stored (a study found by n searches, n times)
    print(stdout.strip().splitlines()[0] if stdout else stderr[-2000:])
    print(f"{args.count:,} studies served; {len(fetched)} search pages fetched; {stored:,} records stored "
          f"({counts['studies']:,} distinct studies, {counts['new']:,} new: each matches several searches, and "
          f"a record seen before is only hashed) in {wall:.1f} s wall (process start to exit)")
    print(f"end to end: {counts['pages'] / wall:.2f} pages/s, {stored / wall:,.0f} records/s; "
          f"CPU {cpu:.1f} s in the crawl's process tree ({cpu / wall:.2f} of {os.cpu_count()} cores busy), "
          f"{cpu / counts['pages']:.2f} CPU-s per page; peak memory {peak:,.0f} MB")
    pages = counts["pages"]
    print(f"pipeline, per page on average: {counts['prepare_seconds'] / pages:.2f} s preparing (parse, normalize, "
          f"compress, in slices over the workers), {counts['write_seconds'] / pages:.2f} s writing (one "
          f"transaction, slices written as they are ready); {counts['store_seconds'] / pages:.2f} s from the "
          f"start of preparing to commit (largest page {counts['store_seconds_max_page']:.2f} s)")


if __name__ == "__main__":
    main()
