"""What the analyst reads (issue 22), on real records: CAR products apart from co-medications,
antigen lists in a title, unknown doses said so, disease names for people."""

from __future__ import annotations

from kb.analysis.card import card_lines, regimen_text
from kb.domain.lexicon import category_name
from tests.kb.test_realworld import study, trial


def card_of(trial_id: str) -> dict:
    """What card_lines needs of a card, from the normalized record (no store)."""
    t = trial(trial_id)
    return {**t, "status": t["overall_status"], "conditions": [], "dose_levels": [], "sites": [], "url": "",
            "co_medications": facts(trial_id, "co_medication")}


def facts(trial_id: str, kind: str) -> list[str]:
    return sorted({f["value"] for f in study(trial_id).children["trial_fact"] if f["kind"] == kind})


def test_an_antibody_given_with_a_car_is_a_co_medication_not_a_product():
    # NCT03939026: 'ALLO-501 Anti-CD19 Allogeneic CAR T Cells' given after ALLO-647 (lexicon: anti-CD52, is_car false)
    assert trial("NCT03939026")["products"] == ["ALLO-501"]
    assert facts("NCT03939026", "product") == ["ALLO-501"]
    assert facts("NCT03939026", "co_medication") == ["ALLO-647"]


def test_an_antibody_inn_after_a_car_is_a_co_medication():
    # NCT06876688: 'Relma-cel Followed by Tislelizumab'
    assert (trial("NCT06876688")["products"], facts("NCT06876688", "co_medication")) == (["JWCAR029"], ["Tislelizumab"])


def test_a_bracketed_antigen_list_in_a_car_title_names_the_targets():
    # NCT07617753: 'Dual-Targeting CAR-NK Cells for Recurrent Ovarian Cancer (MSLN, FRα, MUC16) pt2'
    assert trial("NCT07617753")["targets"] == ["Mesothelin", "FRα", "MUC16"]


def test_unknown_doses_read_dose_not_stated():
    # NCT03939026 names fludarabine and cyclophosphamide with no dose
    assert trial("NCT03939026")["lymphodepletion"] == [
        {"drug": "cyclophosphamide", "dose_mg_m2": None, "days": None},
        {"drug": "fludarabine", "dose_mg_m2": None, "days": None}]
    assert dict(card_lines(card_of("NCT03939026")))["lymphodepletion"] == (
        "cyclophosphamide, dose not stated; fludarabine, dose not stated")
    assert regimen_text({"drug": "fludarabine", "dose_mg_m2": 30, "days": [-5, -4, -3]}) == (
        "fludarabine 30 mg/m2 on days -5, -4, -3")


def test_disease_names_for_people_with_the_key_find_takes():
    assert [category_name(k, with_key=True) for k in trial("NCT05798117")["disease_categories"]] == [
        "systemic lupus erythematosus (sle)", "lupus nephritis"]  # a key that says the same is left out
