"""Report benchmark: `trialkb report` of the realworld + domain store (about 1,300 trials).

Usage: python bench/report_bench.py [--db URL] [--runs 3]
Imports ../shared/data/ctgov_v2/realworld and domain (and the seed's 2024 and 2025 records, for
a change) into a fresh store (a temporary SQLite file unless --db names an empty one), then builds
the report --runs times and prints the median and best build time (wall clock and this process's CPU
time, which a busy machine does not inflate), the page's size, and what the size is made of.
Target: a few seconds.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from kb.store.db import open_store
from kb.ingest.importer import import_paths
from apps.report import build_report

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ctgov_v2"


def main() -> None:
    parser = argparse.ArgumentParser(description="time trialkb report")
    parser.add_argument("--db", help="an empty store to fill (default: a temporary SQLite file)")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(args.db or f"sqlite:///{tmp}/report.db")
        import_paths(engine, [DATA / "realworld", DATA / "domain"])
        import_paths(engine, [DATA / "history" / "NCT06464679.2024-06.json"])
        import_paths(engine, [DATA / "domain" / "NCT06464679.json"])
        times, cpu, result = [], [], None
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = build_report(engine)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        assert result is not None
        html = result.html.encode("utf-8")
        plotly = len(re.search(rb'id="plotly-gz">(.*?)</script>', html, re.S).group(1))
        tables = sum(len(m) for m in re.findall(rb'<script type="application/json" id="csv-.*?</script>', html, re.S))
        figures = sum(len(m) for m in re.findall(rb'<script type="application/json" id="fig-.*?</script>', html, re.S))
        print(f"store {engine.dialect.name}: {result.fetched} trials, {result.included} included, "
              f"{len(result.charts)} charts")
        print(f"build: first {times[0]:.2f} s ({cpu[0]:.2f} s CPU; imports, and compresses plotly.js once per "
              f"process), then median {statistics.median(times[1:] or times):.2f} s "
              f"({statistics.median(cpu[1:] or cpu):.2f} s CPU), best {min(times):.2f} s over {args.runs} runs")
        rest = len(html) - plotly - tables - figures
        print(f"size: {len(html) / 1e6:.2f} MB = plotly.js {plotly / 1e6:.2f} MB (gzip+base64) + CSV tables "
              f"{tables / 1e6:.2f} MB + figures {figures / 1e6:.2f} MB + HTML {rest / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
