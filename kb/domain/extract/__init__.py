"""Domain facts from registry text: whether a trial tests a CAR cell therapy, its targets, effector
cell, origin and modality, products, diseases and cancers (and so its domain), lymphodepletion, and the
kinds of its endpoints (of cell therapies only).

Pure functions over a normalized trial (``kb.domain.normalize``). Every fact keeps the field it was
found in and a snippet of evidence. Rules are lexicons (``kb.domain.lexicon``) plus patterns, one module
per topic; none names a trial. Which fields each kind of fact reads is one table
(:data:`kb.domain.extract.fields.READS`); the speed shortcuts live apart (:mod:`kb.domain.extract.speed`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kb.domain.extract.car import PlainCells, car_mentions, mention_cell, plain_cells
from kb.domain.extract.endpoints import parse_endpoints
from kb.domain.extract.diseases import DOMAINS, decide_domain, parse_diseases
from kb.domain.extract.facts import Fact, Facts, snippet
from kb.domain.extract.fields import READS, trial_texts
from kb.domain.extract.given import car_only_as_setting, mesh_says_car
from kb.domain.extract.origin import MODALITIES, decide_modality, decide_origin, parse_origin
from kb.domain.extract.products import is_drug_name, parse_products
from kb.domain.extract.regimen import parse_dose_levels, parse_lymphodepletion
from kb.domain.extract.targets import parse_selected_antigens, parse_targets
from kb.domain.lexicon import PRODUCTS_BY_CODE

__all__ = ["DOMAINS", "MODALITIES", "READS", "Fact", "Facts", "extract_facts"]


def extract_facts(trial: dict[str, Any], children: dict[str, list[dict]], mesh_terms: dict[str, str]) -> Facts:
    """All domain facts of one normalized trial."""
    texts = trial_texts(trial, children)
    facts = Facts()

    car = car_mentions(texts)
    products = parse_products(texts, facts, car_named=bool(car))
    plain = plain_cells(texts)
    if not car and (plain or facts.has("product")):  # a product or cells of unstated nature: the outcomes may say
        car = car_mentions(texts, 1)
    for where, text, match in car:
        facts.add("car_evidence", match.group(0), where, snippet(text, match.start(), match.end()))
        if cell := mention_cell(match):
            facts.add("cell_type", cell, where, snippet(text, match.start(), match.end()))
    _decide_car(facts, car, products, plain)
    _given(facts, car, texts, trial, children, mesh_terms)

    cell_therapy = facts.is_car_therapy is not False or plain is not None
    if facts.is_car_therapy is not False:
        parse_targets(texts, facts, long_texts=facts.is_car_therapy is True)
    for product in products:
        for target in product.targets if facts.is_car_therapy is not False else ():
            facts.add("target", target, f"product:{product.code}", product.source)
        if product.cell_type:
            facts.add("cell_type", product.cell_type, f"product:{product.code}", product.source)
        if product.origin:
            facts.add("origin", product.origin, f"product:{product.code}", product.source)
    if facts.is_car_therapy is not False and not facts.has("target"):
        parse_selected_antigens(texts, facts)
    if plain and plain.cell and cell_therapy:
        facts.add("cell_type", plain.cell, plain.field, plain.evidence)
    if cell_therapy:
        parse_origin(texts, facts)
    parse_diseases(trial, texts, mesh_terms, children, facts)
    facts.lymphodepletion = parse_lymphodepletion(texts, facts) if cell_therapy else []
    if cell_therapy:
        parse_dose_levels(texts, facts)
        parse_endpoints(children["outcome"], facts)

    facts.targets = facts.values("target")
    facts.armoring = facts.values("armoring")
    if facts.is_car_therapy is not False:  # beside a (possible) CAR; a trial of an antibody alone tests it
        _separate_co_medications(facts)
    facts.products = facts.values("product")
    cell = facts.first("cell_type")
    facts.cell_type = cell.value if cell and cell_therapy else None
    decide_origin(facts)
    decide_domain(facts)
    decide_modality(facts)
    return facts


def _separate_co_medications(facts: Facts) -> None:
    """In a CAR trial, a product the lexicon says is no CAR (ALLO-647, an anti-CD52 antibody) or an
    antibody or fusion-protein INN is a ``co_medication`` fact, not a ``product``: its products are
    cell products."""
    for n, fact in enumerate(facts.facts):
        if fact.kind != "product":
            continue
        known = PRODUCTS_BY_CODE.get(fact.value.upper())
        if (known.is_car is False) if known is not None else is_drug_name(fact.value):
            facts.facts[n] = replace(fact, kind="co_medication")


def _given(facts: Facts, car: list, texts: list, trial: dict[str, Any], children: dict[str, list[dict]],
           mesh_terms: dict[str, str]) -> None:
    """A CAR named only as the patients' setting is not given (false); the registry's own
    intervention MeSH settles a trial its text leaves unknown."""
    codes = [v for v in facts.values("product") if not is_drug_name(v)]
    if facts.is_car_therapy is True and (why := car_only_as_setting(car, texts, trial, children, codes)):
        facts.is_car_therapy, facts.car_evidence = False, why
        facts.facts = [f for f in facts.facts if f.kind not in ("car_evidence", "cell_type")]
    elif facts.is_car_therapy is None and (mesh := mesh_says_car(children, mesh_terms)):
        facts.is_car_therapy, facts.car_evidence = True, mesh
        facts.add("car_evidence", mesh.split(": ", 1)[1], "mesh:intervention", mesh)


def _decide_car(facts: Facts, car: list, products: list, plain: PlainCells | None) -> None:
    """is_car_therapy and its evidence: a CAR phrase, else the product lexicon, else engineered
    cells of unstated receptor (unknown), else what the trial gives instead (an antibody,
    unmodified cells, a TCR: false), else unknown for an unknown code."""
    named = [f.value for f in facts.facts if f.kind == "product"]
    unknown_code = any(not is_drug_name(v) and v.upper() not in PRODUCTS_BY_CODE for v in named)
    antibody_only = not car and any(map(is_drug_name, named))
    engineered = plain is not None and plain.engineered not in (None, "TCR")
    if car:
        where, text, match = car[0]
        facts.is_car_therapy, facts.car_evidence = True, f"{where}: {snippet(text, match.start(), match.end())}"
    elif any(p.is_car for p in products):
        product = next(p for p in products if p.is_car)
        facts.is_car_therapy, facts.car_evidence = True, f"product lexicon: {product.code} ({product.source})"
    elif engineered:
        facts.is_car_therapy = None
        facts.car_evidence = f"{plain.cell or 'engineered'} cells: {plain.engineered}: {plain.evidence}"
    elif any(p.is_car is False for p in products) and not unknown_code:  # a co-medication beside a new code: unknown
        product = next(p for p in products if p.is_car is False)
        facts.is_car_therapy, facts.car_evidence = False, f"product lexicon: {product.code} ({product.source})"
    elif antibody_only or plain:
        facts.is_car_therapy = False
        facts.car_evidence = ("tests an antibody or drug, no CAR named" if antibody_only
                              else f"{'TCR-engineered' if plain.engineered else 'unmodified'} {plain.cell} cells, no CAR "
                                   f"named: {plain.evidence}")
    elif products or named:
        facts.is_car_therapy = None
        unstated = next((p for p in products if p.is_car is None), None)
        facts.car_evidence = (f"product lexicon: {unstated.code}, nature not stated" if unstated
                              else "product code not in the lexicon; nature not stated")
    else:
        facts.is_car_therapy, facts.car_evidence = False, "no CAR or cell therapy named"
