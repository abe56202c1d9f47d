"""How fast the analyst's views answer: trial pages and facet pages of ``trialkb serve``, and ``find``.

    python bench/serve_bench.py --db store.db [--pages 200]

Starts ``trialkb serve`` on a free port of 127.0.0.1, fetches the trial page of every relevant trial
(up to --pages; the first request includes loading the similarity index), the analyst view with
its nine facets, filtered by target and status, and times ``kb.analysis.find.find_trials`` for a few
questions. Prints medians and 95th percentiles.
"""

from __future__ import annotations

import argparse
import statistics
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text

from kb.store.db import make_engine
from kb.analysis.find import Filters, find_trials


def timed(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url) as answer:
        size = len(answer.read())
    return time.perf_counter() - started, size


def summary(label: str, seconds: list[float]) -> None:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(f"{label}: n={len(ordered)} median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    engine = make_engine(f"sqlite:///{args.db.resolve()}")
    with engine.connect() as conn:
        trials = conn.execute(text("SELECT trial_id FROM relevant_trial ORDER BY trial_id")).scalars().all()[:args.pages]
        total = conn.execute(text("SELECT count(*) FROM trial")).scalar()
    print(f"store: {total} trials, {len(trials)} trial pages fetched")

    questions = {"recruiting CD19 trials in lupus": Filters(status=["recruiting"], target=["CD19"], disease=["lupus"]),
                 "CAR-NK in China since 2024": Filters(modality=["car-nk"], country=["China"], started_after="2024"),
                 "phase 2 BCMA or CD19, relevant": Filters(phase=["2"], target=["BCMA", "CD19"], relevant_only=True)}
    for label, filters in questions.items():
        seconds = []
        for _ in range(20):
            started = time.perf_counter()
            _, rows = find_trials(engine, filters)
            seconds.append(time.perf_counter() - started)
        summary(f"find {label!r} ({len(rows)} trials)", seconds)

    from tests.support.browser import serving

    with serving(["--db", str(args.db), "serve"], quiet=True) as (_, base):
        first, _ = timed(f"{base}/trial/{trials[0]}")
        print(f"first trial page (similarity index loaded or built): {first * 1000:.0f} ms")
        pages = [timed(f"{base}/trial/{nct}") for nct in trials]
        summary(f"trial pages (mean {statistics.mean(size for _, size in pages) / 1024:.0f} KB)", [s for s, _ in pages])
        summary("analyst view with 9 facets", [timed(f"{base}/trialkb/relevant_trial")[0] for _ in range(20)])
        summary("filtered by target and status", [timed(f"{base}/trialkb/relevant_trial?targets__arraycontains=CD19"
                                                        "&status__exact=RECRUITING")[0] for _ in range(20)])


if __name__ == "__main__":
    main()
