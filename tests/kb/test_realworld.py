"""Extraction on real CAR trials nobody here labelled (../shared/data/ctgov_v2/realworld): exact
facts per rule, each checked against the record's own text."""

from __future__ import annotations

from functools import cache

import pytest

from kb.normalize import NormalizedStudy, normalize_study
from tests.conftest import CTGOV


@cache
def study(nct_id: str) -> NormalizedStudy:
    path = next((CTGOV / "realworld").glob(f"*/{nct_id}.json"))
    return normalize_study(__import__("json").loads(path.read_text()))


def trial(nct_id: str) -> dict:
    return study(nct_id).trial


def evidence(nct_id: str, kind: str) -> list[str]:
    return [f["evidence"] for f in study(nct_id).children["trial_fact"] if f["kind"] == kind]


@pytest.mark.parametrize("nct_id,origin,modality", [
    ("NCT07613411", "in_vivo", "in vivo CAR"),          # 'an in vivo Chimeric Antigen Receptor T-Cell ... product'
    ("NCT07413341", "in_vivo", "in vivo CAR"),          # 'lipid nanoparticles (LNPs) ... encoding the CD19 CAR'
    ("NCT07383233", "in_vivo", "in vivo CAR"),          # also says 'expansion of CAR-T cells in vivo'
    ("NCT05666700", "autologous", "autologous CAR-T"),  # 'in vivo trafficking of cilta-cel': autologous (lexicon)
    ("NCT06681337", "allogeneic", "allogeneic CAR-T"),  # 'Universal CAR-T Cell Therapy'
    ("NCT07243366", "allogeneic", "CAR-NK"),
    ("NCT07395050", "autologous", "CAR-Treg"),          # 'Autologous CD6-CAR Treg Cells'
    ("NCT06828042", "allogeneic", "CAR-gamma-delta T"),
    ("NCT03294954", "autologous", "CAR-iNKT"),          # 'GD2 Specific CAR ... Autologous NKT Cells'
    ("NCT07553793", None, "CAR-M"),                     # 'Chimeric Antigen Receptor Macrophages'
])
def test_origin_and_modality(nct_id, origin, modality):
    assert (trial(nct_id)["origin"], trial(nct_id)["modality"]) == (origin, modality)


def test_modality_of_a_car_t_of_unstated_origin_says_it_is_the_default():
    assert trial("NCT05828225")["modality"] == "autologous CAR-T"
    assert evidence("NCT05828225", "modality")[0].startswith("origin not stated, autologous by default; ")


@pytest.mark.parametrize("nct_id,domain,relevant", [
    ("NCT05474885", "immune-mediated", True),   # BCMA-CD19 cCAR T in SLE
    ("NCT06967038", "mixed", True),             # lymphoma in patients with primary Sjogren's syndrome
    ("NCT06567080", "mixed", True),             # 'Hematology Malignancy and Autoimmune Diseases'
    ("NCT00924326", "oncology", False),         # CAR T for B-cell lymphoma
    ("NCT07203404", "immune-mediated", True),   # 'Anti-GBM Disease' is not glioblastoma
])
def test_domain_and_relevance(nct_id, domain, relevant):
    assert (trial(nct_id)["domain"], trial(nct_id)["is_relevant"]) == (domain, relevant)


def test_a_mixed_trial_says_why_it_is_relevant():
    assert evidence("NCT06967038", "domain") == [
        "immune-mediated: sjogren (title: …igh-risk Lymphoma Patients With Primary Sjogren's Syndrome); "
        "oncology: lymphoma (title: …tural Killer Cell Therapy for High-risk Lymphoma Patients With Primary "
        "Sjogren's Syndrom…)"]
