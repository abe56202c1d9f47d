"""Domain extraction: exact facts from the real records and from the spellings registries use."""

import pytest

from kb.domain.extract.regimen import parse_days as _parse_days
from kb.domain.lexicon import DISEASES
from kb.domain.normalize import normalize_study
from tests.conftest import load


def trial(relative: str) -> dict:
    return normalize_study(load(relative)).trial


def facts(relative: str) -> set[tuple[str, str, str]]:
    return {(f["kind"], f["value"], f["field"]) for f in normalize_study(load(relative)).children["trial_fact"]}


def minimal(title: str, interventions: list[tuple[str, str]] = (), summary: str | None = None,
            conditions: list[str] = ("Systemic Lupus Erythematosus",)) -> dict:
    """A small API v2 record with the given text."""
    protocol = {"identificationModule": {"nctId": "NCT90000001", "briefTitle": title},
                "conditionsModule": {"conditions": list(conditions)},
                "armsInterventionsModule": {"interventions": [{"type": t, "name": n} for t, n in interventions]}}
    if summary:
        protocol["descriptionModule"] = {"briefSummary": summary}
    return normalize_study({"protocolSection": protocol}).trial


@pytest.fixture(scope="module")
def seed():
    return trial("domain/NCT06464679.json")


class TestSeed:
    def test_core_facts(self, seed):
        assert (seed["is_car_therapy"], seed["cell_type"], seed["origin"], seed["targets"], seed["products"]) == \
            (True, "NK", None, ["CD19"], ["KN5501"])

    def test_cohorts_named_only_in_eligibility(self, seed):
        assert seed["disease_categories"] == ["sjogren", "systemic_sclerosis", "myositis", "rheumatoid_arthritis"]
        assert ("disease", "sjogren", "eligibility_cohort") in facts("domain/NCT06464679.json")

    def test_lymphodepletion(self, seed):
        assert seed["lymphodepletion"] == [
            {"drug": "fludarabine", "dose_mg_m2": 25, "days": [-5, -4, -3]},
            {"drug": "cyclophosphamide", "dose_mg_m2": 300, "days": [-5, -4, -3]}]

    def test_product_found_in_outcomes(self):
        assert ("product", "KN5501", "outcome") in facts("domain/NCT06464679.json")

    def test_relevant(self, seed):
        assert seed["is_relevant"] is True


@pytest.mark.parametrize("relative,is_car,cell,targets", [
    ("domain/NCT98000001.json", False, None, []),      # anti-CD19 antibody
    ("domain/NCT98000002.json", False, None, []),      # CD19 x CD3 T-cell engager
    ("domain/NCT98000003.json", False, None, []),      # ADC after CAR-T failure
    ("domain/NCT06434363.json", False, "NK", []),      # NK cells with tafasitamab
    ("domain/NCT07389499.json", None, "iNKT", ["CD19"]),  # CD19-targeted iNKT, receptor not stated
    ("domain/NCT07333118.json", None, None, []),       # bare product code unknown to the lexicon
    ("domain/NCT06208280.json", True, "NK", []),       # bare code the lexicon knows (F01)
    ("domain/NCT07283315.json", True, "NK", ["CD19", "BCMA"]),  # bispecific
    ("domain/NCT06255028.json", True, "NK", ["CD19"]),  # target from the product lexicon (CNTY-101)
])
def test_is_car_cell_and_targets(relative, is_car, cell, targets):
    t = trial(relative)
    assert (t["is_car_therapy"], t["cell_type"], t["targets"]) == (is_car, cell, targets)


def test_armoring_is_not_a_target():
    t = trial("domain/NCT06614270.json")
    assert (t["targets"], t["armoring"]) == (["CD19"], ["IL-10", "IL-15"])


def test_outcome_marker_is_not_a_target():
    assert trial("domain/NCT98000001.json")["targets"] == []  # 'CD19+ B cell counts'


@pytest.mark.parametrize("relative,origin", [
    ("domain/NCT07246096.json", "allogeneic"),   # 'U CAR-T'
    ("domain/NCT07659704.json", "autologous"),
    ("domain/NCT07389499.json", "allogeneic"),   # 'Universal Cell Injection'
    ("domain/NCT07570862.json", "allogeneic"),   # FT819, iPSC-derived (lexicon)
    ("domain/NCT06010472.json", None),
])
def test_origin(relative, origin):
    assert trial(relative)["origin"] == origin


@pytest.mark.parametrize("relative,categories", [
    ("domain/NCT06468683.json", ["sle"]),                    # 'Lupus Erythematosis'
    ("domain/NCT07358988.json", ["sle"]),                    # 'Lupus Erthematosus'
    ("domain/NCT06337474.json", ["itp"]),                    # filed as 'Thrombocytopenia Alloimmune'
    ("domain/NCT06614270.json", ["systemic_sclerosis", "aav", "myositis", "sjogren", "antiphospholipid", "sle"]),
    ("domain/NCT06208280.json", ["autoimmune"]),             # the umbrella only when nothing specific
    ("domain/NCT07389499.json", ["glomerulonephritis", "iga_nephropathy", "membranous_nephropathy", "aav"]),
])
def test_disease_categories(relative, categories):
    assert trial(relative)["disease_categories"] == categories


@pytest.mark.parametrize("title,targets", [
    ("Anti-CD19/BCMA CAR-T Cells in Lupus", ["CD19", "BCMA"]),
    ("BCMA-CD19 cCAR-T in Myositis", ["BCMA", "CD19"]),
    ("CD19-CAR-NK Cells in Lupus", ["CD19"]),
    ("CD19 Chimeric Antigen Receptor T Cells in SLE", ["CD19"]),
    ("Anti CD19 CAR T in Lupus", ["CD19"]),
    ("CD20/CD19 Tandem CAR T Cells in SLE", ["CD20", "CD19"]),
    ("Anti-BAFF-R CAR-T in Lupus", ["BAFF-R"]),
    ("CAR T Cells Targeting CD7 in Aplastic Anemia", ["CD7"]),
])
def test_target_spellings(title, targets):
    t = minimal(title)
    assert (t["is_car_therapy"], t["targets"]) == (True, targets)


@pytest.mark.parametrize("title,cell", [
    ("CD19 CAR-NK Cells in SLE", "NK"), ("CD19 CAR-iNKT Cells in SLE", "iNKT"),
    ("CAR-Treg Cells in Lupus", "Treg"), ("CAR-DNT Cells in SLE", "DNT"),
    ("CD19 CAR T Cells in SLE", "T"), ("DSG3 CAAR-T Cells in Pemphigus", "T"),
])
def test_effector_cells(title, cell):
    assert minimal(title)["cell_type"] == cell


def test_prior_car_t_is_not_evidence():
    t = minimal("Rituximab in Lupus After Prior CAR-T Therapy", [("DRUG", "Rituximab")])
    assert (t["is_car_therapy"], t["products"]) == (False, ["Rituximab"])  # no CAR: the antibody is what it tests


def test_icd_code_f01_in_a_description_is_not_the_product():
    t = minimal("Memantine in Dementia", [("DRUG", "Memantine")],
                summary="Patients with vascular dementia (ICD-10 F01) receive memantine.", conditions=["Dementia"])
    assert (t["is_car_therapy"], t["products"]) == (False, [])


@pytest.mark.parametrize("text,days", [("-5, -4, and -3", [-5, -4, -3]), ("-5 to -3", [-5, -4, -3]),
                                       ("-6 through -4", [-6, -5, -4]), ("-3", [-3])])
def test_parse_days(text, days):
    assert _parse_days(text) == days


@pytest.mark.parametrize("disease", DISEASES, ids=lambda d: d.key)
def test_every_disease_label_finds_its_own_category(disease):
    t = minimal("CD19 CAR T Cells", conditions=[disease.label])
    assert disease.key in t["disease_categories"] or (disease.key == "autoimmune" and t["disease_categories"] == ["autoimmune"])
