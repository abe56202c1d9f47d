"""Synthetic API v2 corpora for benchmarks: real records from ../shared/data varied with new ids.

:func:`generate` (the crawl and extraction benches): the real registry samples (the format) and
the CAR trials in domain/ (the vocabulary), ~31 KB mean. :func:`generate_registry` (the import
bench, the default of :func:`write_zip`): the registry's own mix, where most studies are not CAR
trials: 97% real registry samples with 0-16 extra sites each (sizes: median ~17 KB, mean ~19 KB,
the bulk archive's 10.3 GB / 598k files is 17.2 KB), 2% real-world CAR trials
(``realworld/``: their modules laid over a registry sample, so they are real-sized too), 1%
domain/ records as they are. Ids come from the unused range NCT5xxxxxxx.
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


def vary(record: dict, nct_id: str, rng: random.Random) -> dict:
    """A copy of ``record`` under a new id with status, dates, enrollment and conditions varied."""
    study = copy.deepcopy(record)
    protocol = study["protocolSection"]
    protocol["identificationModule"]["nctId"] = nct_id
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


REGISTRY_WEIGHTS = {"NCT04267848": 0.01, "NCT02552212": 0.05, "NCT02210780": 0.15, "NCT00763412": 0.3,
                    "NCT03630471": 0.6}
"""The largest samples are rarer (the rest weigh 1): a registry-like size spread."""


def registry_templates(data: Path = DATA) -> tuple[list[dict], list[float], list[dict], list[dict]]:
    """(registry samples, their weights, real-world CAR trials, domain records)."""
    samples = [json.loads(p.read_text()) for p in sorted((data / "registry_samples").glob("NCT*.json"))
               if "fields_subset" not in p.name]
    weights = [REGISTRY_WEIGHTS.get(s["protocolSection"]["identificationModule"]["nctId"], 1.0) for s in samples]
    realworld = [json.loads(p.read_text()) for p in sorted((data / "realworld").glob("*/NCT*.json"))]
    domain = [json.loads(p.read_text()) for p in sorted((data / "domain").glob("NCT*.json"))]
    return samples, weights, realworld, domain


def overlay(template: dict, record: dict) -> dict:
    """A real-sized record: ``record``'s protocol modules over a copy of ``template`` (the
    template's condition MeSH dropped, its results and other sections kept)."""
    study = copy.deepcopy(template)
    study["protocolSection"].update(copy.deepcopy(record["protocolSection"]))
    study.get("derivedSection", {}).pop("conditionBrowseModule", None)
    return study


def generate_registry(count: int, seed: int = 11, car_share: float = 0.02, domain_share: float = 0.01
                      ) -> Iterator[dict]:
    """``count`` studies in the registry's own mix (see the module docstring), reproducibly."""
    rng = random.Random(seed)
    samples, weights, realworld, domain = registry_templates()
    sites = samples[[s["protocolSection"]["identificationModule"]["nctId"] for s in samples].index("NCT04267848")
                    ]["protocolSection"]["contactsLocationsModule"]["locations"]
    for i in range(count):
        draw = rng.random()
        template = rng.choices(samples, weights)[0]
        if draw < car_share:
            study = overlay(template, rng.choice(realworld))
        elif draw < car_share + domain_share:
            study = copy.deepcopy(rng.choice(domain))
        else:
            study = copy.deepcopy(template)
            module = study["protocolSection"].setdefault("contactsLocationsModule", {})
            module["locations"] = module.get("locations", []) + rng.sample(sites, rng.randint(0, 16))
        yield vary(study, f"NCT{50000000 + i:08d}", rng)


def write_zip(path: Path, count: int, mix: str = "registry") -> float:
    """A bulk-archive-like zip (one JSON file per study, in folders by the last two digits as the
    registry's archive has them); returns the mean study size in KB. ``mix``: "registry"
    (:func:`generate_registry`) or "car" (:func:`generate`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    studies = generate_registry(count) if mix == "registry" else generate(count)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for study in studies:
            body = json.dumps(study, ensure_ascii=False, indent=2).encode()
            total += len(body)
            trial_id = study["protocolSection"]["identificationModule"]["nctId"]
            zf.writestr(f"{trial_id[:-2]}xx/{trial_id}.json", body)
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
