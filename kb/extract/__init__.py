"""Domain facts from registry text: whether a trial tests a CAR cell therapy, its targets, effector
cell, origin and modality, products, diseases and cancers (and so its domain), lymphodepletion.

Pure functions over a normalized trial (``kb.normalize``). Every fact keeps the field it was
found in and a snippet of evidence. Rules are lexicons (``kb.lexicon``) plus patterns, one module
per topic; none names a trial. Which fields each kind of fact reads is one table
(:data:`kb.extract.fields.READS`); the speed shortcuts live apart (:mod:`kb.extract.speed`).
"""

from __future__ import annotations

import re
from typing import Any

from kb.extract.car import car_mentions, mention_cell, plain_cells
from kb.extract.diseases import DOMAINS, decide_domain, parse_diseases
from kb.extract.facts import Fact, Facts, snippet
from kb.extract.fields import READS, reads, trial_texts
from kb.extract.origin import MODALITIES, decide_modality, decide_origin, parse_origin
from kb.extract.products import is_drug_name, parse_products
from kb.extract.regimen import parse_dose_levels, parse_lymphodepletion
from kb.extract.targets import parse_selected_antigens, parse_targets
from kb.lexicon import PRODUCTS_BY_CODE

ANTIBODY_WORDS = re.compile(r"(?i:\bantibod|bispecific|\bengager|\bBiTE\b)")
"""A title or intervention that says it tests an antibody."""

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
    _decide_car(facts, car, products, plain, texts)

    cell_therapy = facts.is_car_therapy is not False or plain is not None
    if facts.is_car_therapy is not False:
        parse_targets(texts, facts, tiers=3 if facts.is_car_therapy else 2)  # long texts only for a CAR
    for product in products:
        for target in product.targets if facts.is_car_therapy is not False else ():
            facts.add("target", target, f"product:{product.code}", product.source)
        if product.cell_type:
            facts.add("cell_type", product.cell_type, f"product:{product.code}", product.source)
        if product.origin:
            facts.add("origin", product.origin, f"product:{product.code}", product.source)
    if facts.is_car_therapy is not False and not facts.has("target"):
        parse_selected_antigens(texts, facts)
    if plain and cell_therapy:
        facts.add("cell_type", *plain[:3])
    if cell_therapy:
        parse_origin(texts, facts)
    parse_diseases(trial, texts, mesh_terms, children, facts)
    facts.lymphodepletion = parse_lymphodepletion(texts, facts) if cell_therapy else []
    if cell_therapy:
        parse_dose_levels(texts, facts)

    facts.targets = facts.values("target")
    facts.armoring = facts.values("armoring")
    facts.products = facts.values("product")
    cell = facts.first("cell_type")
    facts.cell_type = cell.value if cell and cell_therapy else None
    decide_origin(facts)
    decide_domain(facts)
    decide_modality(facts)
    return facts


def _decide_car(facts: Facts, car: list, products: list, plain: tuple[str, str, str, str | None] | None,
                texts: list) -> None:
    """is_car_therapy and its evidence: a CAR phrase, else the product lexicon, else what the
    trial gives instead (an antibody, unmodified cells), else unknown for an unknown code."""
    named = [f.value for f in facts.facts if f.kind == "product"]
    unknown_codes = [v for v in named if not is_drug_name(v) and v.upper() not in PRODUCTS_BY_CODE]
    antibody_only = not car and any(map(is_drug_name, named)) and (not unknown_codes or any(
        ANTIBODY_WORDS.search(text) for _, text in reads(texts, "plain_cells")))  # a code beside: unknown
    if car:
        where, text, match = car[0]
        facts.is_car_therapy, facts.car_evidence = True, f"{where}: {snippet(text, match.start(), match.end())}"
    elif any(p.is_car for p in products):
        product = next(p for p in products if p.is_car)
        facts.is_car_therapy, facts.car_evidence = True, f"product lexicon: {product.code} ({product.source})"
    elif any(p.is_car is False for p in products):
        product = next(p for p in products if p.is_car is False)
        facts.is_car_therapy, facts.car_evidence = False, f"product lexicon: {product.code} ({product.source})"
    elif antibody_only or (plain and plain[3] in (None, "TCR")):
        facts.is_car_therapy = False
        facts.car_evidence = ("tests an antibody or drug, no CAR named" if antibody_only
                              else f"{'TCR-engineered' if plain[3] else 'unmodified'} {plain[0]} cells, no CAR "
                                   f"named: {plain[2]}")
    elif plain or products or facts.has("product"):
        facts.is_car_therapy = None
        facts.car_evidence = (f"{plain[0]} cells: {plain[3]}: {plain[2]}" if plain
                              else f"product lexicon: {products[0].code}, nature not stated" if products
                              else "product code not in the lexicon; nature not stated")
    else:
        facts.is_car_therapy, facts.car_evidence = False, "no CAR or cell therapy named"
