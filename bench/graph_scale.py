"""Graph scale benchmark: a synthetic store of N trials with realistic entity counts.

Usage: python bench/graph_scale.py [--trials 500000] [--queries 100]
Writes the store with bulk inserts (no normalizer: this measures the graph), then, in a child
process, builds the graph from the store (time, peak RSS), times 100 similar-trial lookups on the
graph (median, p95), then derives the similarity index the CLI uses and times its cold load and
the same lookups. Targets: lookup < 50 ms at 10k trials and < 1 s at 500k; build < 2 min, < 8 GB
at 500k.

Entity counts follow the registry's skew: ~150 countries (the USA on a third of trials), ~40k
sponsors, ~5k MeSH conditions (each with 2-4 ancestors), ~80k intervention names, 6 phases; 3%
of trials are CAR cell therapies with targets, products, cells, origins and disease categories.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"


def zipf_choice(rng: random.Random, n: int, s: float = 1.0) -> int:
    """An index in [0, n), P(rank r) ~ 1/r^s (0 most popular): log-uniform for s = 1."""
    return min(n - 1, int(n ** (rng.random() ** (1 / s)))) - 1 if n > 1 else 0


def make_store(url: str, trials: int, seed: int = 11) -> None:
    from sqlalchemy import text

    from kb.store.db import open_store
    from kb.store.models import MeshTerm, Sponsor, Trial, TrialFact, TrialMesh, TrialSponsor, Intervention
    from kb.store.bulk import insert_rows

    rng = random.Random(seed)
    engine = open_store(url)
    now = datetime.now(timezone.utc)
    countries = ["United States"] + [f"Country {i}" for i in range(149)]
    phases = ["NA", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "EARLY_PHASE1"]
    targets = ["CD19"] * 6 + ["BCMA"] * 2 + ["CD20", "CD7", "CD70", "BAFF-R", "CD38", "CD5"]
    diseases = ["sle", "lupus_nephritis", "systemic_sclerosis", "myositis", "rheumatoid_arthritis", "sjogren",
                "aav", "myasthenia_gravis", "nmosd", "multiple_sclerosis", "itp", "autoimmune"]
    ancestors = {m: [f"D9{(m * 7 + k) % 300:05d}" for k in range(2 + m % 3)] for m in range(5000)}
    batch: dict[str, list[dict]] = {"trial": [], "trial_fact": [], "trial_mesh": [], "intervention": [],
                                    "trial_sponsor": []}

    def flush() -> None:
        with engine.begin() as conn:
            for name, rows in batch.items():
                table = {"trial": Trial, "trial_fact": TrialFact, "trial_mesh": TrialMesh,
                         "intervention": Intervention, "trial_sponsor": TrialSponsor}[name].__table__
                insert_rows(conn, table, rows)
                rows.clear()

    with engine.begin() as conn:
        insert_rows(conn, Sponsor.__table__, [{"name": f"Sponsor {i}", "agency_class": "OTHER"} for i in range(40_000)])
        insert_rows(conn, MeshTerm.__table__, [{"mesh_id": f"D8{i:05d}", "term": f"Condition {i}"} for i in range(5000)]
                    + [{"mesh_id": f"D9{i:05d}", "term": f"Category {i}"} for i in range(300)])
    for i in range(trials):
        trial_id = f"NCT{60000000 + i:08d}"
        car = rng.random() < 0.03
        row = {"trial_id": trial_id, "registry_name": "ctgov", "brief_title": f"Synthetic trial {i}",
               "overall_status": "RECRUITING", "phases": json.dumps([phases[zipf_choice(rng, 6, 1.5)]]),
               "countries": json.dumps(sorted({countries[0] if rng.random() < 0.33 else countries[zipf_choice(rng, 150)]
                                               for _ in range(rng.randint(1, 3))})),
               "site_count": 1, "is_car_therapy": car, "is_relevant": car and rng.random() < 0.5,
               "cell_type": (rng.choice(["T", "T", "T", "NK", "iNKT"]) if car else None),
               "origin": (rng.choice([None, "autologous", "allogeneic"]) if car else None),
               "content_hash": "x" * 64, "first_seen_at": now, "updated_at": now, "normalizer_version": 1}
        batch["trial"].append(row)
        facts = set()
        if car:
            facts |= {("target", rng.choice(targets)), ("product", f"PRD-{zipf_choice(rng, 500, 1.2)}")}
            facts |= {("disease", rng.choice(diseases)) for _ in range(rng.randint(0, 2))}
        elif rng.random() < 0.08:
            facts.add(("disease", rng.choice(diseases)))
        batch["trial_fact"] += [{"trial_id": trial_id, "kind": k, "value": v, "field": "title", "code": None,
                                 "evidence": None} for k, v in facts]
        meshes = {zipf_choice(rng, 5000, 1.05) for _ in range(rng.randint(1, 3))}
        links = {(f"D8{m:05d}", False) for m in meshes} | {(a, True) for m in meshes for a in ancestors[m]}
        seen = set()
        for mesh_id, is_ancestor in sorted(links, key=lambda x: x[1]):
            if mesh_id not in seen:
                seen.add(mesh_id)
                batch["trial_mesh"].append({"trial_id": trial_id, "domain": "condition", "mesh_id": mesh_id,
                                            "is_ancestor": is_ancestor})
        names = {f"drug {zipf_choice(rng, 80_000, 1.05)}" for _ in range(rng.randint(1, 3))}
        batch["intervention"] += [{"trial_id": trial_id, "position": p, "type": "DRUG", "name": n, "description": None,
                                   "other_names": None, "arm_labels": None} for p, n in enumerate(sorted(names))]
        sponsors = {zipf_choice(rng, 40_000, 1.1) for _ in range(rng.randint(1, 2))}
        batch["trial_sponsor"] += [{"trial_id": trial_id, "sponsor_name": f"Sponsor {s}", "role": "lead" if k == 0 else "collaborator"}
                                   for k, s in enumerate(sorted(sponsors))]
        if len(batch["trial"]) >= 20_000:
            flush()
    flush()
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("trial", "trial_fact", "trial_mesh", "intervention", "trial_sponsor")}
    print(f"store rows: {counts}")


def measure(url: str, queries: int, graph_queries: int) -> None:
    """Child process: build the graph, then time lookups (prints figures)."""
    from graph.build import build_graph
    from graph.index import SimilarityIndex
    from graph.similarity import similar_trials
    from kb.store.db import make_engine

    start = time.perf_counter()
    graph = build_graph(make_engine(url))
    build_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"graph: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges; "
          f"build {build_s:.1f} s, peak RSS {peak_mb:,.0f} MB")
    rng = random.Random(5)
    trial_ids = [data["label"] for _, data in graph.nodes(data=True) if data["kind"] == "trial"]
    car_ids = [data["label"] for _, data in graph.nodes(data=True) if data["kind"] == "trial" and data["is_car"]]
    picks = [rng.choice(trial_ids) for _ in range(queries // 2)] + [rng.choice(car_ids) for _ in range(queries - queries // 2)]
    timings = []
    for trial_id in picks[:graph_queries]:  # the definition, pair by pair: the index below is what a lookup uses
        t = time.perf_counter()
        similar_trials(graph, trial_id, top=10)
        timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    print(f"graph (reference) lookup over {len(timings)} queries: median {statistics.median(timings):.1f} ms, "
          f"p95 {timings[int(0.95 * len(timings)) - 1]:.1f} ms, max {timings[-1]:.1f} ms")
    t = time.perf_counter()
    index = SimilarityIndex.from_graph(graph)
    index_s = time.perf_counter() - t
    path = OUT / "similarity-bench.idx"
    index.save(path)
    del graph, index
    gc.collect()  # free the graph now: a lookup process never holds one (its collection took seconds mid-lookup)
    t = time.perf_counter()
    index = SimilarityIndex.load(path)
    load_s = time.perf_counter() - t
    timings = []
    for trial_id in picks:
        t = time.perf_counter()
        index.similar(trial_id, top=10)
        timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    print(f"similarity index: built from the graph in {index_s:.1f} s, {path.stat().st_size / 1e6:,.0f} MB on disk, "
          f"loaded in {load_s:.2f} s (what a cold `trialkb similar` pays); lookup median "
          f"{statistics.median(timings):.1f} ms, p95 {timings[int(0.95 * len(timings)) - 1]:.1f} ms, max {timings[-1]:.1f} ms")
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--graph-queries", type=int, help="lookups on the graph itself (default: --queries)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.queries, args.graph_queries or args.queries)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"graph-{args.trials}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        start = time.perf_counter()
        make_store(url, args.trials)
        print(f"synthetic store of {args.trials:,} trials written in {time.perf_counter() - start:.0f} s")
    subprocess.run([sys.executable, __file__, "--measure", url, "--queries", str(args.queries),
                    "--graph-queries", str(args.graph_queries or args.queries)], check=True)


if __name__ == "__main__":
    main()
