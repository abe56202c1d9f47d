"""Synthetic API v2 corpora for benchmarks: real records from ../shared/data varied with new ids.

Templates are the real registry samples (the format) and the CAR trials in domain/ (the
vocabulary); ids come from the unused range NCT5xxxxxxx. Sizes follow the registry's (~31 KB
average): the weights below give that mean.
"""

from __future__ import annotations

import copy
import json
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ctgov_v2"
STATUSES = ["RECRUITING", "COMPLETED", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "TERMINATED", "UNKNOWN"]
CONDITIONS = ["Systemic Lupus Erythematosus", "Lupus Nephritis", "Systemic Sclerosis", "Myasthenia Gravis",
              "Rheumatoid Arthritis", "Multiple Sclerosis", "Breast Cancer", "Type 2 Diabetes",
              "Idiopathic Inflammatory Myopathy", "Neuromyelitis Optica", "Asthma", "Heart Failure"]


def templates(data: Path = DATA) -> list[tuple[dict, float]]:
    """(record, weight) pairs; weights give a registry-like mean size."""
    out = []
    for path in sorted((data / "registry_samples").glob("NCT*.json")):
        record = json.loads(path.read_text())
        if isinstance(record, list) or "fields_subset" in path.name:
            continue
        out.append((record, 0.3 if record["protocolSection"]["identificationModule"]["nctId"] == "NCT04267848" else 6))
    for path in sorted((data / "domain").glob("NCT*.json")):
        out.append((json.loads(path.read_text()), 1))
    return out


def vary(record: dict, trial_id: str, rng: random.Random) -> dict:
    """A copy of ``record`` under a new id with status, dates, enrollment and conditions varied."""
    study = copy.deepcopy(record)
    protocol = study["protocolSection"]
    protocol["identificationModule"]["nctId"] = trial_id
    status = protocol.setdefault("statusModule", {})
    status["overallStatus"] = rng.choice(STATUSES)
    year = rng.randint(2005, 2026)
    status["startDateStruct"] = {"date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                                 "type": rng.choice(["ACTUAL", "ESTIMATED"])}
    status["lastUpdatePostDateStruct"] = {"date": f"{min(year + 1, 2026)}-{rng.randint(1, 12):02d}-15", "type": "ACTUAL"}
    design = protocol.setdefault("designModule", {})
    design["enrollmentInfo"] = {"count": rng.randint(5, 2000), "type": "ESTIMATED"}
    conditions = protocol.setdefault("conditionsModule", {}).setdefault("conditions", [])
    conditions.append(rng.choice(CONDITIONS))
    return study


def generate(count: int, seed: int = 7) -> Iterator[dict]:
    """``count`` varied studies, reproducibly."""
    rng = random.Random(seed)
    pool = templates()
    records, weights = [r for r, _ in pool], [w for _, w in pool]
    for i in range(count):
        yield vary(rng.choices(records, weights)[0], f"NCT{50000000 + i:08d}", rng)


def write_zip(path: Path, count: int) -> float:
    """A bulk-archive-like zip (one JSON file per study); returns the mean study size in KB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for study in generate(count):
            body = json.dumps(study, ensure_ascii=False, indent=2).encode()
            total += len(body)
            zf.writestr(f"{study['protocolSection']['identificationModule']['nctId']}.json", body)
    return total / count / 1024


def write_pages(directory: Path, count: int, page_size: int = 1000) -> list[Path]:
    """The same kind of corpus as API search pages of ``page_size`` studies (JSON files)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths, page = [], []
    for study in generate(count):
        page.append(study)
        if len(page) == page_size:
            paths.append(directory / f"page{len(paths):04d}.json")
            paths[-1].write_text(json.dumps({"studies": page}))
            page = []
    if page:
        paths.append(directory / f"page{len(paths):04d}.json")
        paths[-1].write_text(json.dumps({"studies": page}))
    return paths
