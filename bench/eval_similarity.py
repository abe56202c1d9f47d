"""nDCG@10 of `similar` for several query trials, graded with the labelled set.

Usage: python bench/eval_similarity.py
Imports ../shared/data/ctgov_v2 (domain trials, registry samples, the fields-subset CAR trial)
into a temporary store, builds the graph and scores each query's top 10. Grades of a candidate
for a query, from ../shared/data/labels/car_autoimmune_labels.csv:
  3  same product
  2  a CAR cell therapy with a shared known target and the same effector cell
  1  a CAR cell therapy sharing a target or the effector cell
  0  anything else (not a CAR cell therapy, or nothing in common)
"""

from __future__ import annotations

import csv
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import logging  # noqa: E402

from graph.build import build_graph  # noqa: E402
from graph.similarity import similar_trials  # noqa: E402
from kb.db import open_store  # noqa: E402
from kb.importer import import_paths  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
QUERIES = ["NCT06464679", "NCT06518668", "NCT05030779", "NCT06704269", "NCT07283315", "NCT07570862",
           "NCT06622694"]


def grade(query: dict, candidate: dict) -> int:
    """How relevant ``candidate`` is to ``query`` (0-3)."""
    if candidate["car_therapy"] != "yes":
        return 0
    if query["product"] and query["product"].lower() == candidate["product"].lower():
        return 3
    shared_target = bool(set(query["targets_known"].split(";")) & set(candidate["targets_known"].split(";")) - {""})
    same_cell = bool(query["cell"]) and query["cell"] == candidate["cell"]
    if shared_target and same_cell:
        return 2
    return 1 if shared_target or same_cell else 0


def dcg(grades: list[int]) -> float:
    return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(grades))


def main() -> None:
    logging.disable(logging.WARNING)  # the bad-phase sample is rejected on import, as it should be
    labels = {r["nct_id"]: r for r in csv.DictReader((DATA / "labels" / "car_autoimmune_labels.csv").open())}
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/eval.db")
        import_paths(engine, [DATA / "ctgov_v2" / "domain", DATA / "ctgov_v2" / "registry_samples"], workers=0)
        graph = build_graph(engine)
    scores = []
    for query in QUERIES:
        top = [r["nct_id"] for r in similar_trials(graph, query, top=10)]
        got = [grade(labels[query], labels[c]) if c in labels else 0 for c in top]
        ideal = sorted((grade(labels[query], labels[c]) for c in labels if c != query), reverse=True)[:10]
        score = dcg(got) / dcg(ideal) if dcg(ideal) else 1.0
        scores.append(score)
        print(f"{query}  nDCG@10 {score:.3f}  grades {got}")
    print(f"mean nDCG@10 over {len(QUERIES)} queries: {sum(scores) / len(scores):.3f}")


if __name__ == "__main__":
    main()
