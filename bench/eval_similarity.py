"""nDCG@10 of `trialkb similar`: on the labelled seed set and on the real field.

Usage: python bench/eval_similarity.py [--seed-only | --realworld-only] [--store PATH] [--ablations]
(the TF-IDF baseline needs scikit-learn: pip install -e '.[bench]')

Seed set: ../shared/data/ctgov_v2 domain trials and registry samples; grades of a candidate from
../shared/data/labels/car_autoimmune_labels.csv: 3 same product; 2 a CAR cell therapy with a shared
known target and the same effector cell; 1 a CAR cell therapy sharing a target or the cell; else 0.
The seed NCT06464679's top 10 must be CAR cell therapies led by the KN5501 trials.

Real field: a store of ctgov_v2/realworld/ (autoimmune + oncology) and ctgov_v2/domain/ made with
`trialkb import`. Grades from labels/realworld_peer_labels.csv (the monitors' own machine labels):
3 same product; 2 same target category and a shared disease; 1 one of them; else 0. A target
category is the label's antigen set ("CAR-NK: CD19" is CD19; platform words such as
"CAR-T_unspecified" name no target); a disease is one of the label's DiseaseEntities that names a
disease (not "Other immune-mediated", "Basket/Multidisease", ...). Queries, by a fixed rule: every
autoimmune realworld trial with at least one sibling, i.e. another labelled trial of grade >= 2
for it. Trials without labels (the domain set) are dropped from every ranking before the cut at 10
(condensed lists, Sakai 2007), so no method gains or loses by them. In the same run: a TF-IDF
cosine baseline over title, conditions, interventions and summary, and random order (mean of 20
shuffles). --ablations also scores the formula with each rule taken out (graph.similarity.Weights).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import random
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.build import build_graph  # noqa: E402
from graph.index import SimilarityIndex  # noqa: E402
from graph.similarity import similar_trials  # noqa: E402
from kb.store.db import open_store  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SEED = "NCT06464679"
SEED_QUERIES = ["NCT06464679", "NCT06518668", "NCT05030779", "NCT06704269", "NCT07283315", "NCT07570862",
                "NCT06622694"]
KN5501 = {"NCT06010472", "NCT06318533", "NCT06337474", "NCT06469190", "NCT07358988"}
NO_TARGET = {"CAR-T_unspecified", "Other_or_unknown", "CAR-NK", "CAR-Treg", "CAR-γδ T", "Multi-target platform", ""}
NO_DISEASE = {"", "Other immune-mediated", "Basket/Multidisease", "Advanced solid tumors", "Heme basket",
              "Solid-onc_other", "Heme-onc_other", "CTD_other"}
DEPTH = 10


def dcg(grades: list[int]) -> float:
    return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(grades))


def ndcg(ranking: list[str], grade_of: Callable[[str], int | None], pool: list[str]) -> float:
    """nDCG@10 of ``ranking`` over the judged trials (``grade_of`` None = unjudged, dropped)."""
    got = [g for g in (grade_of(c) for c in ranking) if g is not None][:DEPTH]
    ideal = sorted((g for g in (grade_of(c) for c in pool) if g is not None), reverse=True)[:DEPTH]
    return dcg(got) / dcg(ideal) if dcg(ideal) else 1.0


# ---------------------------------------------------------------- seed set


def seed_grade(query: dict, candidate: dict) -> int:
    """How relevant ``candidate`` is to ``query`` on the seed labels (0-3)."""
    if candidate["car_therapy"] != "yes":
        return 0
    if query["product"] and query["product"].lower() == candidate["product"].lower():
        return 3
    shared_target = bool(set(query["targets_known"].split(";")) & set(candidate["targets_known"].split(";")) - {""})
    same_cell = bool(query["cell"]) and query["cell"] == candidate["cell"]
    if shared_target and same_cell:
        return 2
    return 1 if shared_target or same_cell else 0


def seed_eval() -> None:
    from kb.ingest.importer import import_paths

    labels = {r["nct_id"]: r for r in csv.DictReader((DATA / "labels" / "car_autoimmune_labels.csv").open())}
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/eval.db")
        import_paths(engine, [DATA / "ctgov_v2" / "domain", DATA / "ctgov_v2" / "registry_samples"], workers=0)
        graph = build_graph(engine)
    scores = []
    for query in SEED_QUERIES:
        top = [r["trial_id"] for r in similar_trials(graph, query, top=DEPTH)]
        score = ndcg(top, lambda c: seed_grade(labels[query], labels[c]) if c in labels else 0,
                     [c for c in labels if c != query])
        scores.append(score)
        print(f"  {query}  nDCG@10 {score:.3f}")
    top = [r["trial_id"] for r in similar_trials(graph, SEED, top=DEPTH)]
    all_car = all(graph.nodes[f"trial:{c}"]["is_car"] is True for c in top)
    print(f"seed set: mean nDCG@10 over {len(scores)} queries {statistics.mean(scores):.3f}; "
          f"seed top 10 all CAR: {all_car}; led by KN5501: {top[0] in KN5501} ({', '.join(top[:3])} ...)")


# ---------------------------------------------------------------- real field


@dataclasses.dataclass(frozen=True)
class Label:
    """One trial's peer label, reduced to what the grades compare."""

    product: str
    targets: frozenset[str]
    diseases: frozenset[str]


def product_key(name: str) -> str:
    """'relma-cel (Carteyva)' -> 'relma-cel'; a target category written as a product names none."""
    name = name.split(" (")[0].split(" / ")[0].strip().lower()
    return "" if name.endswith((" dual", " triple")) else name


def target_key(category: str) -> frozenset[str]:
    """'CAR-NK: CD19/CD22 dual' -> {CD19, CD22}; platform words -> no target."""
    if category in NO_TARGET:
        return frozenset()
    category = re.sub(r"^CAR-NK: ", "", category)
    category = re.sub(r" (dual|triple)$", "", category)
    return frozenset(category.split("/"))


def read_labels() -> tuple[dict[str, Label], dict[str, str]]:
    """(labels by NCT id, set by NCT id: 'autoimmune' / 'oncology')."""
    labels, sets = {}, {}
    for row in csv.DictReader((DATA / "labels" / "realworld_peer_labels.csv").open(encoding="utf-8")):
        labels[row["nct_id"]] = Label(product_key(row["ProductName"]), target_key(row["TargetCategory"]),
                                      frozenset(row["DiseaseEntities"].split("|")) - NO_DISEASE)
        sets[row["nct_id"]] = row["set"]
    return labels, sets


def peer_grade(query: Label, candidate: Label) -> int:
    """3 same product; 2 same target category and a shared disease; 1 one of them; 0 none."""
    if query.product and query.product == candidate.product:
        return 3
    same_target = bool(query.targets) and query.targets == candidate.targets
    shared_disease = bool(query.diseases & candidate.diseases)
    return 2 if same_target and shared_disease else int(same_target or shared_disease)


def make_store(path: Path) -> None:
    """The real-field store, imported the way a user does it."""
    ctgov = DATA / "ctgov_v2"
    subprocess.run([str(Path(sys.executable).with_name("trialkb")), "--db", str(path), "import",
                    str(ctgov / "realworld" / "autoimmune"), str(ctgov / "realworld" / "oncology"), str(ctgov / "domain")],
                   check=True, stdout=subprocess.DEVNULL)


def trial_texts(engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Title, conditions, interventions and summary of every trial, for the TF-IDF baseline."""
    from sqlalchemy import text

    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for trial_id, title, summary in conn.execute(text("SELECT trial_id, brief_title, brief_summary FROM trial")):
            out[trial_id] = [title or "", summary or ""]
        for sql in ("SELECT trial_id, name FROM trial_condition", "SELECT trial_id, name FROM intervention"):
            for trial_id, name in conn.execute(text(sql)):
                out[trial_id].append(name or "")
    return {k: " ".join(v) for k, v in out.items()}


def tfidf_rankings(texts: dict[str, str], queries: list[str]) -> dict[str, list[str]]:
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics.pairwise import linear_kernel
    except ImportError:
        raise SystemExit("the TF-IDF baseline needs scikit-learn: pip install -e '.[bench]'") from None

    ids = sorted(texts)
    matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform([texts[i] for i in ids])
    out = {}
    for q in queries:
        sims = linear_kernel(matrix[ids.index(q)], matrix).ravel()
        out[q] = [ids[i] for i in sorted(range(len(ids)), key=lambda i: (-sims[i], ids[i])) if ids[i] != q]
    return out


def realworld_eval(store: Path | None, ablations: bool) -> None:
    labels, sets = read_labels()
    with tempfile.TemporaryDirectory() as tmp:
        path = store or Path(tmp) / "realworld.db"
        if not path.exists():
            make_store(path)
        engine = open_store(f"sqlite:///{path}")
        graph = build_graph(engine)
        texts = trial_texts(engine)
        engine.dispose()
    in_store = [n for n in labels if f"trial:{n}" in graph]
    queries = sorted(q for q in in_store if sets[q] == "autoimmune"
                     and any(peer_grade(labels[q], labels[c]) >= 2 for c in in_store if c != q))
    with_product = {q for q in queries if any(peer_grade(labels[q], labels[c]) == 3 for c in in_store if c != q)}
    print(f"real field: {graph.graph['trials']} trials in the store, {len(in_store)} labelled; "
          f"{len(queries)} queries ({len(with_product)} with a same-product sibling)")
    pool = {q: [c for c in in_store if c != q] for q in queries}

    def grade_for(q: str) -> Callable[[str], int | None]:
        return lambda c: peer_grade(labels[q], labels[c]) if c in labels else None

    def report(name: str, rankings: dict[str, list[str]]) -> float:
        scores = {q: ndcg(rankings[q], grade_for(q), pool[q]) for q in queries}
        mean = statistics.mean(scores.values())
        prod = statistics.mean(scores[q] for q in with_product) if with_product else float("nan")
        rest = statistics.mean(scores[q] for q in queries if q not in with_product)
        halves = [statistics.mean(scores[q] for q in queries[i::2]) for i in (0, 1)]
        print(f"  {name:<40} mean nDCG@10 {mean:.3f} | with a same-product sibling {prod:.3f}, without {rest:.3f}"
              f" | odd/even queries {halves[0]:.3f}/{halves[1]:.3f}")
        return mean

    index = SimilarityIndex.from_graph(graph)  # what `trialkb similar` answers from
    same = all(index.similar(q, top=DEPTH) == similar_trials(graph, q, top=DEPTH) for q in queries)
    print(f"  the index answers every query exactly like the graph: {same}")

    def trialkb_rankings(**options) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
        return {q: [r["trial_id"] for r in index.similar(q, top=len(in_store), **options)] for q in queries}

    ours = report("trialkb similar", trialkb_rankings())
    tfidf = report("TF-IDF (title, cond., interv., summary)", tfidf_rankings(texts, queries))
    rng = random.Random(7)
    shuffles = []
    for _ in range(20):
        order = list(in_store)
        rng.shuffle(order)
        shuffles.append({q: [c for c in order if c != q] for q in queries})
    randoms = [statistics.mean(ndcg(s[q], grade_for(q), pool[q]) for q in queries) for s in shuffles]
    print(f"  {'random order (20 shuffles)':<40} mean nDCG@10 {statistics.mean(randoms):.3f}")
    print(f"trialkb / TF-IDF = {ours / tfidf:.2f}x (targets: >= 0.85 and >= 1.4x)")
    if ablations:
        from graph.similarity import Weights

        base = Weights()
        variants = {
            "no product rule (product = 0)": dataclasses.replace(base, product=0.0),
            "no target-set-in-disease rule": dataclasses.replace(base, target_set_in_disease=0.0),
            "no target rule": dataclasses.replace(base, target=0.0),
            "no disease rule": dataclasses.replace(base, disease=0.0),
            "no tie-breakers": dataclasses.replace(base, ties=0.0),
            "tie-breakers weigh like a target": dataclasses.replace(base, ties=base.target),
            "flat: every rule weight 1": dataclasses.replace(base, product=1.0, target_set_in_disease=1.0, target=1.0,
                                                             disease=1.0, ties=1.0),
            **{f"other domain x {f}": dataclasses.replace(base, other_domain=f, mixed_domain=max(f, base.mixed_domain))
               for f in (0.0, 0.25, 0.7, 1.0)},
            **{f"other modality x {f}": dataclasses.replace(base, other_modality=f) for f in (0.5, 1.0)},
            "no modality factor (not CAR x 1 too)": dataclasses.replace(base, other_modality=1.0, not_car=1.0),
            "rule weights x0.5": dataclasses.replace(
                base, product=base.product * 0.5, target_set_in_disease=base.target_set_in_disease * 0.5,
                target=base.target * 0.5, disease=base.disease * 0.5),
            "rule weights x2": dataclasses.replace(
                base, product=base.product * 2, target_set_in_disease=base.target_set_in_disease * 2,
                target=base.target * 2, disease=base.disease * 2),
        }
        print("ablations (the formula with one rule changed):")
        for name, weights in variants.items():
            report(name, trialkb_rankings(weights=weights))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--realworld-only", action="store_true")
    parser.add_argument("--store", type=Path, help="reuse (or create) the real-field store at PATH")
    parser.add_argument("--ablations", action="store_true", help="also score the formula with each rule changed")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the bad-phase sample is rejected on import, as it should be
    if not args.realworld_only:
        seed_eval()
    if not args.seed_only:
        realworld_eval(args.store, args.ablations)


if __name__ == "__main__":
    main()
