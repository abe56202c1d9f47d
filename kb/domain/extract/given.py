"""CAR only where a CAR is given: a CAR named as the patients' history or setting ('patients planned
for cellular therapy such as CAR-T') does not make a trial of exercise, a device or a survey a CAR
trial. And the registry's own intervention vocabulary (MeSH) as evidence where the text is silent."""

from __future__ import annotations

import re
from typing import Any

from kb.domain.extract.car import CAR_PHRASE, PLAIN_CELLS
from kb.domain.extract.fields import Texts

GIVEN_FIELDS = frozenset({"title", "official_title", "acronym", "intervention", "intervention_description", "arm"})
"""Where a trial names what it gives; a CAR named only elsewhere (summary, description, outcomes)
may be the patients' setting."""
NOT_A_PRODUCT_TYPES = frozenset({"BEHAVIORAL", "DEVICE", "PROCEDURE", "DIAGNOSTIC_TEST", "RADIATION",
                                 "DIETARY_SUPPLEMENT", "OTHER"})
"""Intervention types (ClinicalTrials.gov's enum) that are not a drug or biological product."""
ACTIVITY = re.compile(
    r"(?i:\b(?:virtual[\s\-]reality|exercis\w*|relaxation|yoga|tai[\s\-]?chi|mindfulness|meditation|education\w*|"
    r"training|counsel\w*|coaching|psycho\w*|questionnaires?|surveys?|interviews?|apps?|smartphone|mobile|"
    r"web[\s\-]?based|online|music|massage|acupuncture|diet\w*|nutrition\w*|rehabilitation|physical\s+activity|"
    r"walking|sleep|tele\w+|wearable|monitoring|navigation|decision\s+aid|support\s+group|art\s+therapy|"
    r"cognitive|behaviou?ral|play|video|game\w*|booklet|brochure|imaging|scan|biopsy|blood\s+(?:draw|sample)\w*|"
    r"specimen\w*|sample\s+collection|observation\w*|standard\s+of\s+care|usual\s+care)\b)")
"""What a non-product intervention is named ('Progressive Muscle Relaxation delivered via Virtual Reality')."""
PRODUCT_WORDS = re.compile(r"(?i:\bcells?\b|\bcellular\b|lymphocytes?|infusion|injection|\bvector|\bmrna\b|"
                           r"\bgene\b|transduced|autoleucel|-cel\b|cabtagene)")
"""Words of an intervention that gives a cell or gene product."""
CAR_MESH_TERMS = frozenset({"Receptors, Chimeric Antigen"})
"""MeSH terms of the registry's intervention browse that say a CAR is given."""


def car_only_as_setting(car: list, texts: Texts, trial: dict[str, Any], children: dict[str, list[dict]],
                        codes: list[str]) -> str | None:
    """Why a trial whose text names a CAR does not give one, or None when it may.

    It does not when the CAR is named only outside what the trial gives (``GIVEN_FIELDS``), the
    trial lists interventions, none of them names a CAR, cells, a cell or gene product, or a product
    code, and either the design is observational, every intervention is of a non-product type, or
    every intervention is named as an activity (exercise, virtual reality, education, a survey...).
    """
    interventions = children.get("intervention") or []
    if not car or not interventions or any(where in GIVEN_FIELDS for where, _, _ in car):
        return None
    named = [t for where, t in texts if where in ("intervention", "intervention_description", "arm")]
    if codes or any(CAR_PHRASE.search(t) or PLAIN_CELLS.search(t) or PRODUCT_WORDS.search(t) for t in named):
        return None
    names = [iv.get("name") or "" for iv in interventions]
    types = sorted({(iv.get("type") or "").upper() for iv in interventions})
    if trial.get("study_type") == "OBSERVATIONAL":
        why = "an observational design"
    elif types and all(t in NOT_A_PRODUCT_TYPES for t in types):
        why = f"interventions of type {', '.join(t.lower() for t in types)}"
    elif all(ACTIVITY.search(name) for name in names):
        why = "interventions that are activities"
    else:
        return None
    where = car[0][0]
    return (f"CAR named only as the patients' setting ({where}); {why} that name no cell product: "
            f"{'; '.join(names)[:200]}")


def mesh_says_car(children: dict[str, list[dict]], mesh_terms: dict[str, str]) -> str | None:
    """The registry's intervention MeSH term that says a CAR is given, or None."""
    for link in children.get("trial_mesh") or []:
        term = mesh_terms.get(link["mesh_id"])
        if link["domain"] == "intervention" and term in CAR_MESH_TERMS:
            return f"registry intervention MeSH: {term} ({link['mesh_id']})"
    return None
