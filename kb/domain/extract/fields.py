"""Which fields of a trial each kind of fact is read from: the one table (:data:`READS`).

A kind reads its fields in tiers: a later tier only when the earlier ones gave no fact of that
kind (long descriptions and outcomes mention other trials' products and targets; a summary
names diseases only in passing).
"""

from __future__ import annotations

from typing import Any

Texts = list[tuple[str, str]]
"""(field, text) pairs of one trial, most telling first."""

_NAMES = ("title", "official_title", "acronym", "intervention", "arm", "summary", "keyword")
_DESCRIPTIONS = ("intervention_description", "arm_description", "detailed_description")
_WHAT_IS_TESTED = ("title", "official_title", "intervention", "arm", "summary")
_LABELS = ("title", "intervention", "arm")

READS: dict[str, tuple[tuple[str, ...], ...]] = {
    "car": (_WHAT_IS_TESTED + ("keyword",) + _DESCRIPTIONS, ("outcome",)),  # CAR phrases: is_car_therapy, cell
    "plain_cells": (_LABELS,),                                     # unmodified or antigen-targeted cells
    "target": (_LABELS + ("official_title", "acronym", "keyword"), ("summary",), _DESCRIPTIONS + ("outcome",)),
    "target_selection": (("title", "official_title", "condition", "summary", "keyword"),),  # 'CD19-positive lymphoma'
    "product": (_NAMES, _DESCRIPTIONS + ("outcome", "condition")),  # tier 2 only for a trial that names a CAR
    "product_code": (_LABELS,),                                    # codes not in the lexicon, by their shape
    "short_code": (_LABELS,),                                      # lexicon codes of 3 characters ('F01')
    "drug_name": (("intervention",),),                             # antibody and fusion-protein INNs
    "origin": (_WHAT_IS_TESTED, _DESCRIPTIONS),
    "lymphodepletion": (_WHAT_IS_TESTED + _DESCRIPTIONS,),
    "dose_level": (_WHAT_IS_TESTED + _DESCRIPTIONS,),
    "disease": (("condition", "title", "official_title", "keyword", "eligibility_cohort"), ("summary",)),
}


_TIERS = {kind: [frozenset(fields) for fields in tiers] for kind, tiers in READS.items()}
_ALL_TIERS = {kind: frozenset().union(*tiers) for kind, tiers in _TIERS.items()}


def tier(texts: Texts, kind: str, number: int = 0) -> list[tuple[str, str]]:
    """The texts of one tier of ``kind``, in the trial's order."""
    fields = _TIERS[kind][number] if number < len(_TIERS[kind]) else frozenset()
    return [(where, text) for where, text in texts if where in fields]


def reads(texts: Texts, kind: str) -> list[tuple[str, str]]:
    """Every text that ``kind`` may read, all tiers."""
    fields = _ALL_TIERS[kind]
    return [(where, text) for where, text in texts if where in fields]


def trial_texts(trial: dict[str, Any], children: dict[str, list[dict]]) -> Texts:
    """(field, text) pairs of every text extraction reads, most telling first."""
    out: Texts = []
    for name, column in (("title", "brief_title"), ("official_title", "official_title"), ("acronym", "acronym")):
        if trial.get(column):
            out.append((name, trial[column]))
    for iv in children["intervention"]:
        for text in filter(None, [iv["name"], *(iv["other_names"] or [])]):
            out.append(("intervention", text))
        if iv["description"]:
            out.append(("intervention_description", iv["description"]))
    for arm in children["arm_group"]:
        if arm["label"]:
            out.append(("arm", arm["label"]))
        if arm["description"]:
            out.append(("arm_description", arm["description"]))
    for name, column in (("summary", "brief_summary"), ("detailed_description", "detailed_description")):
        if trial.get(column):
            out.append((name, trial[column]))
    for outcome in children["outcome"]:
        for text in filter(None, (outcome["measure"], outcome["description"])):
            out.append(("outcome", text))
    out += [("condition", c["name"]) for c in children["trial_condition"]]
    out += [("keyword", k) for k in trial.get("keywords") or []]
    if trial.get("eligibility_criteria"):
        out.append(("eligibility", trial["eligibility_criteria"]))
    return out
