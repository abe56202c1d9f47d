"""Domain lexicons, loaded from ``kb/domain/lexicon/*.json``: CAR target antigens, cell products, immune-
mediated disease and cancer categories with MeSH ids.

Data only; :mod:`kb.domain.extract` holds the rules. Every product entry says where its facts come
from. Add entries freely (``bench/fold_products.py`` folds a researched product table in); the
rules are general and never name a trial.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


CHINESE = _load("chinese")
"""Chinese wordings of registry text (ChiCTR), each with the page where its meaning was read."""
CHINESE_CAR_PHRASES: tuple[str, ...] = tuple(e["text"] for e in CHINESE["car_phrases"])
CHINESE_CELLS: dict[str, str] = {e["text"]: e["cell"] for e in CHINESE["cells"]}
CHINESE_TARGETING: tuple[str, ...] = tuple(e["text"] for e in CHINESE["targeting"])
_CHINESE_ANTIGENS: dict[str, list[str]] = {}
for _e in CHINESE["antigens"]:
    _CHINESE_ANTIGENS.setdefault(_e["symbol"], []).append(re.escape(_e["text"]))
_CHINESE_DISEASES: dict[str, list[str]] = {e["key"]: [re.escape(t) for t in e["terms"]] for e in CHINESE["diseases"]}

ANTIGENS: dict[str, tuple[str, ...]] = {a["symbol"]: (*a["spellings"], *_CHINESE_ANTIGENS.get(a["symbol"], ()))
                                        for a in _load("antigens")["antigens"]}
"""Antigen symbol -> regex spellings (case-insensitive, matched as whole tokens), Chinese ones included."""

CELL_TYPES = ("T", "NK", "iNKT", "DNT", "gdT", "Treg", "macrophage")


@dataclass(frozen=True)
class Product:
    """What is known of a cell product or drug, and where that knowledge comes from."""

    code: str
    is_car: bool | None
    targets: tuple[str, ...] = ()
    cell_type: str | None = None
    origin: str | None = None
    developer: str | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""
    confidence: str | None = None


def short_forms(alias: str) -> list[str]:
    """The short forms of a CAR-T INN: 'relmacabtagene autoleucel' -> 'relma-cel'."""
    match = re.fullmatch(r"([a-z]{3,})cabtagene(?:\s+\w+)?", alias.lower())
    return [f"{match.group(1)}-cel"] if match else []


def _product(entry: dict[str, Any]) -> Product:
    aliases = list(entry["aliases"])
    if not re.fullmatch(r"[A-Za-z][\w\-.]*\d[\w\-.]*", entry["code"]):  # not found as a code token: as a name
        aliases.append(entry["code"])
    aliases += [s for a in entry["aliases"] for s in short_forms(a) if s not in (x.lower() for x in aliases)]
    return Product(entry["code"], entry["is_car"], tuple(entry["targets"]), entry["cell_type"], entry["origin"],
                   entry["developer"], tuple(aliases), entry["source"], entry.get("confidence"))


PRODUCTS: tuple[Product, ...] = tuple(_product(e) for e in _load("products")["products"])
PRODUCTS_BY_CODE: dict[str, Product] = {p.code.upper(): p for p in PRODUCTS}
PRODUCT_ALIASES: dict[str, Product] = {a.lower(): p for p in PRODUCTS for a in p.aliases}
"""Aliases (INNs, short forms, brand names, former codes) by their lower-cased text."""


@dataclass(frozen=True)
class Disease:
    """A disease or cancer category, its MeSH descriptor, and the phrases that name it."""

    key: str
    label: str
    mesh_id: str
    patterns: tuple[str, ...]  # case-insensitive regexes
    abbreviations: tuple[str, ...] = ()  # case-sensitive whole words
    mesh_ids: tuple[str, ...] = ()  # further MeSH ids that map here
    parent: str | None = None  # a broader category (lupus nephritis -> SLE), for partial credit
    family: str | None = None  # how the field groups it: rheumatologic, renal, neurologic, ...


def _disease(entry: dict[str, Any]) -> Disease:
    patterns = (*entry["patterns"], *_CHINESE_DISEASES.get(entry["key"], ()))
    return Disease(entry["key"], entry["label"], entry["mesh_id"], patterns,
                   tuple(entry.get("abbreviations", ())), tuple(entry.get("mesh_ids", ())), entry.get("parent"),
                   entry.get("family"))


DISEASES: tuple[Disease, ...] = tuple(_disease(e) for e in _load("diseases")["diseases"])
"""Immune-mediated disease categories, most specific first (the first pattern to match wins)."""
UMBRELLA = "autoimmune"
DISEASES_BY_KEY: dict[str, Disease] = {d.key: d for d in DISEASES}
DISEASE_BY_MESH: dict[str, Disease] = {}
for _d in DISEASES:
    for _mesh in (_d.mesh_id, *_d.mesh_ids):
        DISEASE_BY_MESH.setdefault(_mesh, _d)  # a shared descriptor belongs to the first (broader) category

CANCERS: tuple[Disease, ...] = tuple(_disease(e) for e in _load("cancers")["cancers"])
"""Cancer categories: a trial naming one is in the oncology domain (or mixed)."""
CANCER_UMBRELLA = "cancer"
CANCER_BY_MESH: dict[str, Disease] = {}
for _c in reversed(CANCERS):
    CANCER_BY_MESH.setdefault(_c.mesh_id, _c)  # Neoplasms (D009369) is the unspecified cancer, not solid tumour


def disease_ancestors(key: str) -> list[str]:
    """The broader categories of a disease category, nearest first, ending with the umbrella."""
    out: list[str] = []
    parent = DISEASES_BY_KEY[key].parent if key in DISEASES_BY_KEY else None
    while parent:
        out.append(parent)
        parent = DISEASES_BY_KEY[parent].parent
    if key != UMBRELLA:
        out.append(UMBRELLA)
    return out


@dataclass(frozen=True)
class EndpointKind:
    """A kind of outcome measure an analyst compares (CRS grading, SLEDAI-2K ...), and its defining source."""

    key: str
    label: str
    group: str  # safety, pharmacology, efficacy, disease activity, patient-reported
    patterns: tuple[str, ...]  # case-insensitive regexes over an outcome's measure and description
    source: str


ENDPOINTS: tuple[EndpointKind, ...] = tuple(
    EndpointKind(e["key"], e["label"], e["group"], tuple(e["patterns"]), e["source"])
    for e in _load("endpoints")["endpoints"])
"""Outcome-measure kinds in display order (``endpoints.json``)."""
ENDPOINTS_BY_KEY: dict[str, EndpointKind] = {e.key: e for e in ENDPOINTS}


CATEGORY_NAMES: dict[str, str] = {d.key: d.label for d in (*CANCERS, *DISEASES)}
"""Disease and cancer category keys -> the names people read ("sjogren" -> "Sjogren's syndrome")."""


def category_name(key: str, with_key: bool = False) -> str:
    """A disease or cancer category for people, optionally with its key (what ``find --disease`` takes).

    >>> category_name("aav"), category_name("sle", with_key=True), category_name("unheard_of")
    ('ANCA-associated vasculitis', 'systemic lupus erythematosus (sle)', 'unheard_of')
    """
    name = CATEGORY_NAMES.get(key)
    if name is None:
        return key
    return f"{name} ({key})" if with_key and name.lower() != key.replace("_", " ") else name
