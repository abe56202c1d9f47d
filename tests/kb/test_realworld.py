"""Extraction on real CAR trials nobody here labelled (../shared/data/ctgov_v2/realworld): exact
facts per rule, each checked against the record's own text (quoted beside each case)."""

from __future__ import annotations

import json
from functools import cache

import pytest

from kb.domain.normalize import NormalizedStudy, normalize_study
from tests.conftest import CTGOV


@cache
def study(trial_id: str) -> NormalizedStudy:
    path = next((CTGOV / "realworld").glob(f"*/{trial_id}.json"))
    return normalize_study(json.loads(path.read_text()))


def trial(trial_id: str) -> dict:
    return study(trial_id).trial


def evidence(trial_id: str, kind: str) -> list[str]:
    return [f["evidence"] for f in study(trial_id).children["trial_fact"] if f["kind"] == kind]


def minimal(title: str, interventions: tuple[str, ...] = (), summary: str | None = None,
            conditions: tuple[str, ...] = ("Systemic Lupus Erythematosus",)) -> dict:
    """A small API v2 record with the given text."""
    protocol = {"identificationModule": {"nctId": "NCT90000001", "briefTitle": title},
                "conditionsModule": {"conditions": list(conditions)},
                "armsInterventionsModule": {"interventions": [{"type": "BIOLOGICAL", "name": n}
                                                              for n in interventions]}}
    if summary:
        protocol["descriptionModule"] = {"briefSummary": summary}
    return normalize_study({"protocolSection": protocol}).trial


@pytest.mark.parametrize("trial_id,origin,modality", [
    ("NCT07613411", "in_vivo", "in vivo CAR"),          # 'an in vivo Chimeric Antigen Receptor T-Cell ... product'
    ("NCT07413341", "in_vivo", "in vivo CAR"),          # 'lipid nanoparticles (LNPs) ... encoding the CD19 CAR'
    ("NCT07383233", "in_vivo", "in vivo CAR"),          # also says 'expansion of CAR-T cells in vivo'
    ("NCT06801119", "in_vivo", "in vivo CAR"),          # HN2301: mRNA-LNP in vivo CAR-T (product lexicon)
    ("NCT05666700", "autologous", "autologous CAR-T"),  # 'in vivo trafficking of cilta-cel': made outside the body
    ("NCT06681337", "allogeneic", "allogeneic CAR-T"),  # 'Universal CAR-T Cell Therapy'
    ("NCT07243366", "allogeneic", "CAR-NK"),
    ("NCT07395050", "autologous", "CAR-Treg"),          # 'Autologous CD6-CAR Treg Cells'
    ("NCT06828042", "allogeneic", "CAR-gamma-delta T"),
    ("NCT03294954", "autologous", "CAR-iNKT"),          # 'GD2 Specific CAR ... Autologous NKT Cells'
    ("NCT07553793", None, "CAR-M"),                     # 'Chimeric Antigen Receptor Macrophages'
    ("NCT04660929", None, "CAR-M"),                     # 'CAR-macrophages'
])
def test_origin_and_modality(trial_id, origin, modality):
    assert (trial(trial_id)["origin"], trial(trial_id)["modality"]) == (origin, modality)


def test_modality_of_a_car_t_of_unstated_origin_says_it_is_the_default():
    assert trial("NCT05828225")["modality"] == "autologous CAR-T"
    assert evidence("NCT05828225", "modality")[0].startswith("origin not stated, autologous by default; ")


@pytest.mark.parametrize("trial_id,domain,relevant", [
    ("NCT05474885", "immune-mediated", True),   # BCMA-CD19 cCAR T in SLE
    ("NCT06967038", "mixed", True),             # lymphoma in patients with primary Sjogren's syndrome
    ("NCT06567080", "mixed", True),             # 'Hematology Malignancy and Autoimmune Diseases'
    ("NCT00924326", "oncology", False),         # CAR T for B-cell lymphoma
    ("NCT07406984", "oncology", False),         # 'Adenocarcinoma of Gastric' (a cancer word inside a word)
    ("NCT06412458", "oncology", False),         # 'Refractory Osteosarcoma'
    ("NCT07203404", "immune-mediated", True),   # 'Anti-GBM Disease' is not glioblastoma
    ("NCT07448298", "immune-mediated", False),  # AFN50: nature not stated, so not a CAR trial (yet)
])
def test_domain_and_relevance(trial_id, domain, relevant):
    assert (trial(trial_id)["domain"], trial(trial_id)["is_relevant"]) == (domain, relevant)


def test_a_mixed_trial_says_why_it_is_relevant():
    assert evidence("NCT06967038", "domain") == [
        "immune-mediated: sjogren (title: …igh-risk Lymphoma Patients With Primary Sjogren's Syndrome); "
        "oncology: lymphoma (title: …tural Killer Cell Therapy for High-risk Lymphoma Patients With Primary "
        "Sjogren's Syndrom…)"]


@pytest.mark.parametrize("trial_id,is_car,origin,products", [
    ("NCT06142175", True, "autologous", ["JWCAR029"]),    # 'Relmacabtagene Autoleucel in Patients With LBCL'
    ("NCT06876688", True, "autologous", ["JWCAR029"]),    # 'Relma-cel Followed by Tislelizumab' (a co-medication)
    ("NCT07577583", True, "allogeneic", ["azer-cel"]),    # 'LTFU of Participants Who Received Azer-Cel'
    ("NCT07752264", True, "autologous", ["CT103A"]),      # 'Eque-cel' (equecabtagene autoleucel)
    ("NCT06375993", True, "allogeneic", ["ADI-001"]),     # 'Prulacabtagene Leucel (Prula-cel, Formerly ADI-001)'
])
def test_car_named_by_its_inn_or_short_form(trial_id, is_car, origin, products):
    t = trial(trial_id)
    assert (t["is_car_therapy"], t["origin"], t["products"]) == (is_car, origin, products)


def test_autoleucel_says_autologous():
    t = minimal("Foocabtagene Autoleucel in Lupus")
    assert (t["is_car_therapy"], t["cell_type"], t["origin"]) == (True, "T", "autologous")


@pytest.mark.parametrize("trial_id,cell,products", [
    ("NCT06653556", "T", ["LCAR-AIO"]),       # 'LCAR-AIO T cells': not unmodified T cells
    ("NCT07049081", "T", ["LUCAR-G79"]),
    ("NCT06508775", "T", ["MB-CART19.1", "MB-CART20.1", "MB-CART2019.1"]),
])
def test_car_inside_a_product_code(trial_id, cell, products):
    t = trial(trial_id)
    assert (t["is_car_therapy"], t["cell_type"], t["products"]) == (True, cell, products)


@pytest.mark.parametrize("title,interventions", [
    ("Rituximab in Lupus After Prior CAR-T Therapy", ("Rituximab",)),
    ("Tocilizumab for CAR-T-associated Cytokine Release Syndrome in Lymphoma", ("Tocilizumab",)),
    ("Glofitamab in Patients Refractory to Tisagenlecleucel", ("Glofitamab",)),
])
def test_car_t_as_a_cause_or_prior_treatment_is_not_a_car_trial(title, interventions):
    assert minimal(title, interventions)["is_car_therapy"] is False


@pytest.mark.parametrize("trial_id,is_car,evidence_start", [
    ("NCT04696731", None, "product code not in the lexicon"),  # ALLO-316 beside ALLO-647 (an antibody): unknown
    ("NCT00621452", None, "engineered cells"),                 # 'Genetically Engineered Lymphocytes'
    ("NCT02414269", None, "T cells: engineered"),              # 'T Cells Genetically Engineered to Target' + pembrolizumab
    ("NCT06367673", None, "NK cells: engineered"),             # 'NK Cell Therapy Targeting CLL1 or CD33'
    ("NCT05483491", False, "TCR-engineered T cells"),          # 'KK-LC-1 TCR-T Cell Therapy'
])
def test_engineered_cells_of_unstated_receptor_are_unknown(trial_id, is_car, evidence_start):
    t = trial(trial_id)
    assert t["is_car_therapy"] is is_car and t["car_evidence"].startswith(evidence_start)


@pytest.mark.parametrize("title,is_car", [
    ("CD30 CAR for Relapsed CD30+ Lymphoma", True),                      # NCT04083495's title
    ("Constitutive Androstane Receptor (CAR) Activation by Phenobarbital", False),
    ("Coxsackie and Adenovirus Receptor (CAR) in Lupus Nephritis", False),
])
def test_a_bare_car_is_a_chimeric_antigen_receptor_only_in_its_context(title, is_car):
    assert minimal(title)["is_car_therapy"] is is_car


def test_a_bispecific_after_car_t_is_not_a_car_trial():
    # 'Treatment by a Bispecific CD3xCD20 Antibody for Relapse/Refractory Lymphomas After CAR T-cells Therapy'
    t = trial("NCT04703686")
    assert (t["is_car_therapy"], t["targets"], t["modality"]) == (False, [], None)


@pytest.mark.parametrize("trial_id,evidence_", [
    ("NCT07448298", "product lexicon: AFN50, nature not stated"),  # the record never says what AFN50 is
    ("NCT07748637", "product lexicon: GT802, nature not stated"),  # nor what GT802 is
])
def test_a_bare_code_stays_unknown(trial_id, evidence_):
    assert (trial(trial_id)["is_car_therapy"], trial(trial_id)["car_evidence"]) == (None, evidence_)


def test_a_code_unknown_to_the_lexicon_stays_unknown():
    t = minimal("ZQX-4471 Injection in Lupus", ("ZQX-4471 Injection",))
    assert (t["is_car_therapy"], t["car_evidence"]) == (None, "product code not in the lexicon; nature not stated")


@pytest.mark.parametrize("trial_id,targets", [
    ("NCT07339332", ["CD19", "CD20"]),            # 'Universal CD19 / 20 Car-t Cell Injection'
    ("NCT05474885", ["BCMA", "CD19"]),            # 'BCMA-CD19 cCAR T Cell'
    ("NCT06733610", ["CD19", "BCMA"]),            # 'CAR T-cell Therapy Targeting CD19 and BCMA'
    ("NCT05325801", ["BCMA", "GPRC5D"]),          # 'CAR-T Cells Targeting Both BCMA and GPRC5D'
    ("NCT05467254", ["CLL-1", "CD33"]),           # 'CLL1+CD33 CAR-T'
    ("NCT05098613", ["CD19", "CD22"]),            # 'CD19x22 CAR T Cells'
    ("NCT07696481", ["CD19", "BCMA", "CD70"]),    # 'encoding three targets (CD19, BCMA, and CD70)'
    ("NCT07008378", ["CD19", "CD20"]),            # 'P-CD19CD20-ALLO1'
    ("NCT06879340", ["CD20", "CD19", "CD22"]),    # 'DuoCAR20.19.22-D95'
    ("NCT05219721", ["GPRC5D"]),                  # 'CAR-GPRC5D'
    ("NCT07729995", ["BAFF-R"]),                  # 'BAFF CAR-T Cells (LMY-922)': BAFF ligand CAR -> BAFF-R
    ("NCT06825455", ["B7-H3"]),                   # 'Allogeneic B7H3 CAR-γδT'
    ("NCT03294954", ["GD2"]),
    ("NCT02932956", ["GPC3"]),                    # 'Glypican 3-specific Chimeric Antigen Receptor'
    ("NCT04404595", ["Claudin18.2"]),             # 'Claudin18.2 CAR-T (CT041)'
    ("NCT04660929", ["HER2"]),                    # 'CAR-macrophages for ... HER2 Overexpressing Solid Tumors'
    ("NCT06128044", ["CLL-1"]),                   # 'Anti-CLL-1 CAR-T'
    ("NCT02623582", ["CD123"]),                   # 'CD123 Redirected Autologous T Cells'
    ("NCT01865617", ["CD19"]),                    # 'Anti-CD19CAR-4-1BB-CD3zeta-EGFRt': not CD4 from 4-1BB
    ("NCT05805371", ["PSCA"]),                    # '...-CD19t-expressing': a truncated CD19 tag, not a target
    ("NCT03086954", ["CD19"]),                    # 'CAR-T Immunotherapy for CD19 Positive Lymphoma'
    ("NCT04016129", ["CD22", "CD123", "CD38", "CD10", "CD20"]),  # '4SCAR-CD22/CD123/...' for 'CD19- ALL'
    ("NCT03407859", ["CD20", "CD22", "CD10"]),    # 'CD20/CD22/CD10-CART After CD19-CART': CD19 came before
    ("NCT04204161", ["CD19", "CD22"]),            # 'CAR-T19/CAR-T22'
    ("NCT07519187", ["BCMA", "CD70"]),            # 'CAR 70-BCMA CAR-T'
    ("NCT07598955", ["CD30", "CD5", "Mesothelin"]),  # 'EB-CAR30-NK', 'EB-CAR5-NK', 'EB-CARMSLN-NK'
    ("NCT04500431", ["BCMA"]),                    # 'Targeting CD269 chimeric antigen receptor'
    ("NCT03318861", ["BCMA"]),                    # 'targeting a protein ... called B-cell maturation antigen'
])
def test_targets_in_every_spelling(trial_id, targets):
    assert trial(trial_id)["targets"] == targets


def test_the_antigen_of_the_selected_tumours_is_marked_as_such():
    assert ("target", "CD19", "title:selection") in {
        (f["kind"], f["value"], f["field"]) for f in study("NCT03086954").children["trial_fact"]}


@pytest.mark.parametrize("title,targets", [
    ("CD19CAR-T Cells in Lupus", ["CD19"]),
    ("CAR-T Cells Directed at Cluster of Differentiation (CD)19 in Lupus", ["CD19"]),
    ("Anti-CD19/20 CAR-T Cells in Lupus", ["CD19", "CD20"]),
    ("CAR-T Cells Targeting CD19 and BCMA in Lupus", ["CD19", "BCMA"]),
    ("(CD19+CD22) CAR-T Cells in Lupus", ["CD19", "CD22"]),
    ("Mesothelin CAR-T Cells in Lupus", ["Mesothelin"]),
])
def test_target_spellings(title, targets):
    assert minimal(title)["targets"] == targets


@pytest.mark.parametrize("trial_id,cell", [
    ("NCT07473154", "Treg"),   # 'CAR T regulatory cells' (QEL-005)
    ("NCT07395050", "Treg"),   # 'CD6-CAR Treg Cells'
    ("NCT06201416", "Treg"),   # SBT777101 (product lexicon)
])
def test_car_treg_is_treg(trial_id, cell):
    assert trial(trial_id)["cell_type"] == cell


@pytest.mark.parametrize("trial_id,categories", [
    ("NCT07395050", ["type1_diabetes"]),                                  # 'Stage 3 Type 1 Diabetes'
    ("NCT06939166", ["nmosd", "myasthenia_gravis", "multiple_sclerosis", "cidp", "autoimmune_encephalitis"]),
    ("NCT06787989", ["itp", "immune_cytopenia"]),                         # 'Refractory Immune Cytopenia'
    ("NCT07752264", ["imnm"]),                                            # 'Withimmune-mediated Necrotizing Myopathy'
    ("NCT07203404", ["sle", "lupus_nephritis", "aav", "glomerulonephritis", "anti_gbm", "membranous_nephropathy",
                     "systemic_sclerosis", "myositis", "iga_nephropathy"]),  # a basket naming 'Anti-GBM Disease'
])
def test_disease_families(trial_id, categories):
    assert trial(trial_id)["disease_categories"] == categories


@pytest.mark.parametrize("condition,key,mesh", [
    ("Stiff Person Syndrome", "stiff_person", "D016750"), ("MOG Antibody-Associated Disease", "mogad", "D020274"),
    ("Autoimmune Thyroid Disease", "autoimmune_thyroid", "D013967"), ("Bullous Pemphigoid", "pemphigoid", "D010391"),
    ("Chronic Graft-versus-Host Disease", "gvhd", "D006086"), ("Behçet's Disease", "behcet", "D001528"),
    ("Undifferentiated Connective Tissue Disease", "ctd", "D003240"),
    ("Pure Red Cell Aplasia", "immune_cytopenia", "D006402"),
])
def test_new_disease_categories_carry_their_mesh_id(condition, key, mesh):
    identification = {"nctId": "NCT90000001", "briefTitle": "CD19 CAR-T"}
    t = normalize_study({"protocolSection": {"identificationModule": identification,
                                             "conditionsModule": {"conditions": [condition]}}})
    assert {(f["value"], f["code"]) for f in t.children["trial_fact"] if f["kind"] == "disease"} == {(key, mesh)}
