"""Extraction speed: kb.domain.extract.extract_facts alone, per study, in one process.

Usage: python bench/extract_bench.py [--count 5000]
Normalizes the studies of bench/out/corpus-N.zip (made by import_bench.py; made here if missing)
and the real-world CAR trials once, then times extract_facts over them (CPU time of this process)
and prints microseconds per study. The import's own figure comes from import_bench.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from corpus import write_zip  # noqa: E402

from kb.domain import extract  # noqa: E402
from kb.domain.normalize import normalize_study  # noqa: E402

OUT = ROOT / "bench" / "out"
REALWORLD = ROOT.parent / "shared" / "data" / "ctgov_v2" / "realworld"


def inputs(records: list[dict]) -> list[tuple]:
    """(trial, children, mesh_terms) as the normalizer hands them to extraction."""
    out = []
    for record in records:
        study = normalize_study(record)
        children = {k: v for k, v in study.children.items() if k != "trial_fact"}
        out.append((study.trial, children, study.mesh_terms))
    return out


def timed(cases: list[tuple], rounds: int = 3) -> float:
    """Best CPU microseconds per study over a few rounds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for trial, children, mesh in cases:
            extract.extract_facts(trial, children, mesh)
        best = min(best, (time.process_time() - start) / len(cases) * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    archive = OUT / f"corpus-{args.count}.zip"
    if not archive.exists():
        write_zip(archive, args.count, mix="car")  # the corpus its figures were measured on
    with zipfile.ZipFile(archive) as zf:
        corpus = inputs([json.loads(zf.read(info)) for info in zf.infolist()])
    realworld = inputs([json.loads(p.read_text()) for p in sorted(REALWORLD.glob("*/*.json"))])
    print(f"corpus ({len(corpus)} studies): {timed(corpus):,.0f} us per study (CPU)")
    print(f"real-world CAR trials ({len(realworld)}): {timed(realworld):,.0f} us per study (CPU)")


if __name__ == "__main__":
    main()
