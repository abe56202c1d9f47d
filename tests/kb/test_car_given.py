"""CAR only where a CAR is given (issue 18): a CAR named as the patients' setting does not make a
trial of relaxation in virtual reality or of imaging a CAR trial; the registry's own intervention
MeSH settles a trial whose text names only an unknown code."""

import copy

import pytest

from kb.domain.normalize import normalize_study
from tests.conftest import load


@pytest.mark.parametrize("trial_id, names", [
    ("NCT07649512", "Progressive Muscle Relaxation delivered via Virtual Reality"),
    ("NCT07646873", "PET-enabled dual-energy CT imaging; X-ray dual-energy CT imaging"),
])
def test_a_car_named_only_as_the_setting_is_not_a_car_trial(trial_id, names):
    trial = normalize_study(load(f"realworld/oncology/{trial_id}.json")).trial
    assert (trial["is_car_therapy"], trial["is_relevant"], trial["cell_type"], trial["targets"]) == (False, False, None, [])
    assert trial["car_evidence"] == (f"CAR named only as the patients' setting (summary); interventions that are "
                                     f"activities that name no cell product: {names}")


def test_a_behavioural_design_naming_no_cell_product_is_not_car():
    record = copy.deepcopy(load("realworld/oncology/NCT07649512.json"))
    record["protocolSection"]["armsInterventionsModule"]["interventions"] = [
        {"type": "BEHAVIORAL", "name": "Supervised home programme"}]
    assert normalize_study(record).trial["car_evidence"].startswith(
        "CAR named only as the patients' setting (summary); interventions of type behavioral")


def test_a_cell_product_among_the_interventions_keeps_the_trial_car():
    record = copy.deepcopy(load("realworld/oncology/NCT07649512.json"))
    record["protocolSection"]["armsInterventionsModule"]["interventions"].append(
        {"type": "BIOLOGICAL", "name": "Autologous T cell infusion"})
    assert normalize_study(record).trial["is_car_therapy"] is True


def test_the_registrys_intervention_mesh_says_car_where_the_text_does_not():
    record = copy.deepcopy(load("realworld/autoimmune/NCT07748637.json"))  # 'GT802 Injection': nature not stated
    assert normalize_study(record).trial["is_car_therapy"] is None
    record["derivedSection"] = {"interventionBrowseModule": {"meshes": [
        {"id": "D000078082", "term": "Receptors, Chimeric Antigen"}]}}
    trial = normalize_study(record).trial
    assert (trial["is_car_therapy"], trial["is_relevant"]) == (True, True)
    assert trial["car_evidence"] == "registry intervention MeSH: Receptors, Chimeric Antigen (D000078082)"
