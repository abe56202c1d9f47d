"""Score domain extraction against the labelled development set.

Usage: python bench/eval_extraction.py [--labels CSV] [--show-errors]
Prints precision and recall per field: is_car_therapy, cell, origin, targets from text,
targets (text + product lexicon), products, disease categories. Target: >= 0.95 on each.

Label phrases for diseases are mapped to category keys by the table below (written from the
label file by hand, not by the extractor's own patterns).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from kb.normalize import normalize_study  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DISEASE_LABELS = {
    "autoimmune basket": None, "sjogren's": "sjogren", "systemic sclerosis": "systemic_sclerosis", "ssc": "systemic_sclerosis",
    "inflammatory myopathy": "myositis", "rheumatoid arthritis": "rheumatoid_arthritis",
    "systemic lupus erythematosus": "sle", "sle": "sle", "autoimmune (unspecified)": "autoimmune",
    "lupus nephritis": "lupus_nephritis", "b-cell related autoimmune (unspecified)": "autoimmune",
    "immune thrombocytopenia": "itp", "immune nephropathy": "glomerulonephritis", "aav": "aav",
    "antiphospholipid syndrome": "antiphospholipid", "severe aplastic anemia": "aplastic_anemia",
    "generalized myasthenia gravis": "myasthenia_gravis", "membranous nephropathy": "membranous_nephropathy",
    "paediatric b-cell related autoimmune": "autoimmune", "iga nephropathy": "iga_nephropathy",
    "podocytopathy": "glomerulonephritis", "paediatric rheumatic diseases": "rheumatic_pediatric",
    "ctd-ild": "ctd_ild", "antibody-associated inflammatory diseases of the nervous system": "neuroimmune",
    "vitiligo": "vitiligo", "inflammatory systemic diseases": None, "igg4-related disease": "igg4_rd",
    "autoimmune hemolytic anemia": "aiha", "lymphoma": None,
}


def record_for(nct_id: str) -> dict:
    path = DATA / "ctgov_v2" / "domain" / f"{nct_id}.json"
    if not path.exists():
        path = next((DATA / "ctgov_v2" / "registry_samples").glob(f"{nct_id}*.json"))
    data = json.loads(path.read_text())
    return data[0] if isinstance(data, list) else data


def _split(value: str) -> set[str]:
    return {v.strip() for v in value.split(";") if v.strip()}


def _diseases(focus: str) -> set[str]:
    out = set()
    for phrase in focus.replace(":", ";").split(";"):
        phrase = phrase.strip().lower()
        if not phrase:
            continue
        if phrase not in DISEASE_LABELS:
            raise KeyError(f"no category for label phrase {phrase!r}: add it to DISEASE_LABELS")
        if DISEASE_LABELS[phrase]:
            out.add(DISEASE_LABELS[phrase])
    return out


class Score:
    """Micro precision / recall over (trial, value) pairs."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0
        self.errors: list[str] = []
        self.unlabelled: list[str] = []  # predictions where the label takes no position
        self.unlabelled_values = 0

    def add(self, nct_id: str, predicted: set[str], expected: set[str]) -> None:
        if not expected and predicted:
            self.unlabelled.append(f"{nct_id}: predicted {sorted(predicted)}")
            self.unlabelled_values += len(predicted)
        self.tp += len(predicted & expected)
        self.fp += len(predicted - expected)
        self.fn += len(expected - predicted)
        if predicted != expected:
            self.errors.append(f"{nct_id}: predicted {sorted(predicted)} expected {sorted(expected)}")

    def line(self, name: str) -> str:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        flag = "ok" if min(precision, recall) >= 0.95 else "BELOW 0.95"
        line = f"{name:<22} precision {precision:5.3f}  recall {recall:5.3f}  (tp {self.tp}, fp {self.fp}, fn {self.fn})  {flag}"
        if self.unlabelled:
            labelled_fp = self.fp - self.unlabelled_values
            labelled = self.tp / (self.tp + labelled_fp) if self.tp + labelled_fp else 1.0
            line += (f"\n{'':<22} precision {labelled:5.3f} where the label states a value "
                     f"({len(self.unlabelled)} predictions on blank labels)")
        return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default=str(DATA / "labels" / "car_autoimmune_labels.csv"))
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    scores = {name: Score() for name in ("is_car_therapy", "cell", "origin", "targets_from_text", "targets",
                                         "products", "disease_categories")}
    rows = list(csv.DictReader(open(args.labels)))
    for row in rows:
        nct_id = row["nct_id"]
        study = normalize_study(record_for(nct_id))
        trial, facts = study.trial, study.children["trial_fact"]
        car = {True: "yes", False: "no", None: "unclear"}[trial["is_car_therapy"]]
        scores["is_car_therapy"].add(nct_id, {car} if car == "yes" else set(), {"yes"} if row["car_therapy"] == "yes" else set())
        scores["cell"].add(nct_id, {trial["cell_type"]} if trial["cell_type"] else set(), _split(row["cell"]))
        scores["origin"].add(nct_id, {trial["origin"]} if trial["origin"] else set(), _split(row["origin"]))
        text_targets = {f["value"] for f in facts if f["kind"] == "target" and not f["field"].startswith("product:")}
        scores["targets_from_text"].add(nct_id, text_targets, _split(row["targets_in_text"]))
        scores["targets"].add(nct_id, set(trial["targets"]), _split(row["targets_known"]))
        scores["products"].add(nct_id, {p.lower() for p in trial["products"]}, {p.lower() for p in _split(row["product"])})
        scores["disease_categories"].add(nct_id, set(trial["disease_categories"]), _diseases(row["disease_focus"]))
    print(f"{len(rows)} labelled trials ({args.labels})")
    for name, score in scores.items():
        print(score.line(name))
        if args.show_errors:
            for error in score.errors:
                print(f"    {error}")
        for note in score.unlabelled:
            print(f"    label blank: {note}")


if __name__ == "__main__":
    main()
