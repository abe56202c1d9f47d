"""The CTIS normalizer on the real CTIS records of ../shared/data/registries/ctis and constructed ones."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select

from kb.domain.ctis import check_trial, iso_date, normalize_trial
from kb.domain.normalize import RecordError
from kb.store.models import RawRecord, Trial
from kb.store.write import load_raw, write_studies
from tests.conftest import DATA, FILES

CTIS = DATA / "registries" / "ctis"


def real(ct_number: str) -> dict:
    return json.loads((CTIS / f"{ct_number}.ctrdata-demo.json").read_text())


def constructed(ct_number: str) -> dict:
    return json.loads((FILES / "ctis" / f"{ct_number}.constructed.json").read_text())


@pytest.fixture(scope="module")
def posaconazole():
    return normalize_trial(real("2023-505613-24-00"))


@pytest.fixture(scope="module")
def zanamivir():
    return normalize_trial(real("2024-510663-34-00"))


def test_the_ctis_number_is_the_trial_id_and_the_nct_id_stays_empty(posaconazole):
    assert posaconazole.trial_id == "2023-505613-24-00"
    assert (posaconazole.trial["trial_id"], posaconazole.trial["registry_name"], posaconazole.trial["nct_id"]) == \
        ("2023-505613-24-00", "ctis", None)
    assert {row["trial_id"] for rows in posaconazole.children.values() for row in rows} == {"2023-505613-24-00"}


def test_other_registrations_in_ctgov_secondary_id_shape(posaconazole, zanamivir):
    assert posaconazole.trial["secondary_ids"] == [
        {"id": "2019-003842-34", "type": "EUDRACT_NUMBER", "domain": "EudraCT"},
        {"id": "NCT04665037", "type": "REGISTRY", "domain": "ClinicalTrials.gov"},
        {"id": "75,061; 125,097", "type": "OTHER", "domain": "IND"}]
    assert zanamivir.trial["secondary_ids"] == [
        {"id": "2019-001588-63", "type": "EUDRACT_NUMBER", "domain": "EudraCT"},
        {"id": "NCT04494412", "type": "REGISTRY", "domain": "ClinicalTrials.gov"}]


def test_titles_codes_status_and_phase(posaconazole):
    t = posaconazole.trial
    assert t["brief_title"] == "Posaconazole (MK-5592) IV and oral in children (less than 2 years) with IFI"
    assert t["official_title"].startswith("A Phase 2, Open-Label, Single-Arm, Sequential-Panel Study")
    assert t["org_study_id"] == "MK-5592-127"
    assert (t["overall_status"], t["phases"], t["study_type"]) == ("RECRUITING", ["PHASE2"], "INTERVENTIONAL")


def test_dates_are_iso(posaconazole):
    t = posaconazole.trial
    assert (t["start_date"], t["start_date_type"], t["start_date_precision"]) == ("2021-04-28", "ACTUAL", "day")
    assert (t["completion_date"], t["completion_date_type"]) == ("2025-09-22", "ESTIMATED")
    assert (t["first_posted_date"], t["last_update_posted_date"]) == ("2024-04-12", "2025-08-19")


def test_population_and_enrollment(posaconazole, zanamivir):
    t = posaconazole.trial
    assert (t["sex"], t["std_ages"]) == ("ALL", ["CHILD"])
    assert (t["enrollment_count"], t["enrollment_type"]) == (32, "ESTIMATED")  # 6 + 3 + 4 in the EEA, 19 elsewhere
    assert zanamivir.trial["enrollment_count"] == 11
    assert t["eligibility_criteria"].startswith("Inclusion Criteria:\n\n* Panel A: Is undergoing treatment")
    assert "\n\nExclusion Criteria:\n\n* Has received POS within 30 days before Day 1" in t["eligibility_criteria"]


def test_sponsor_sites_and_countries(posaconazole):
    t = posaconazole.trial
    assert (t["sponsor"], t["sponsor_class"]) == ("Merck Sharp & Dohme LLC", "INDUSTRY")
    assert posaconazole.children["trial_sponsor"] == [
        {"sponsor_name": "Merck Sharp & Dohme LLC", "role": "lead", "trial_id": "2023-505613-24-00"}]
    assert t["countries"] == ["Belgium", "Greece", "Israel", "Mexico", "Peru", "Philippines", "Poland",
                              "Russian Federation", "United States"]
    assert t["site_count"] == 6
    assert posaconazole.children["location"][0] | {"trial_id": None} == {
        "position": 0, "facility": "Universitair Ziekenhuis Gent", "city": "Gent", "state": None, "country": "Belgium",
        "status": None, "trial_id": None}


def test_products_conditions_and_end_points(posaconazole, zanamivir):
    first = posaconazole.children["intervention"][0]
    assert (first["type"], first["name"], first["other_names"], first["description"]) == (
        "DRUG", "Noxafil 300 mg concentrate for solution for infusion", ["POSACONAZOLE"],
        "Test product; SOLUTION FOR INFUSION; INTRAVENOUS INJECTION")
    assert zanamivir.children["intervention"][0]["other_names"] == ["ZANAMIVIR"]  # "NA" is a placeholder
    assert [c["name"] for c in posaconazole.children["trial_condition"]] == ["Fungal infection"]
    assert posaconazole.trial["keywords"] == ["Fungal infection NOS", "Diseases [C] - Bacterial Infections and Mycoses [C01]"]
    assert posaconazole.children["outcome"][0]["measure"] == "Average concentration (Cavg) of single-dose IV POS (Panel A)"
    assert {o["kind"] for o in posaconazole.children["outcome"]} == {"primary", "secondary"}


def test_a_car_t_trial_in_lupus_is_relevant():
    t = normalize_trial(constructed("2025-590001-11-00")).trial
    assert (t["is_car_therapy"], t["is_relevant"], t["targets"], t["cell_type"], t["modality"], t["disease_categories"]) \
        == (True, True, ["CD19"], "T", "autologous CAR-T", ["sle"])
    assert t["phases"] == ["PHASE1", "PHASE2"]


@pytest.mark.parametrize("ct_number,car,relevant", [("2025-590002-22-00", True, False), ("2025-590003-33-00", False, False)])
def test_decided_locally(ct_number, car, relevant):
    t = normalize_trial(constructed(ct_number)).trial
    assert (t["is_car_therapy"], t["is_relevant"]) == (car, relevant)


def test_the_older_record_generation_is_read():
    """Records before mid-2024 hold Part I at the top and the EudraCT number in eudraCtInfo (ctrdata)."""
    record = real("2024-510663-34-00")
    application = record.pop("authorizedApplication")
    record["authorizedPartI"] = application["authorizedPartI"]
    record["authorizedPartsII"] = application["authorizedPartsII"]
    record["eudraCtInfo"] = {"eudraCtCode": "2019-001588-63"}
    t = normalize_trial(record).trial
    assert t["secondary_ids"][:2] == [{"id": "2019-001588-63", "type": "EUDRACT_NUMBER", "domain": "EudraCT"},
                                      {"id": "NCT04494412", "type": "REGISTRY", "domain": "ClinicalTrials.gov"}]
    assert (t["sponsor"], t["site_count"]) == ("Glaxosmithkline Research & Development Limited", 6)


def test_an_ended_trial_with_an_early_termination_is_terminated():
    record = copy.deepcopy(real("2024-510663-34-00"))
    record["ctPublicStatusCode"] = record["ctStatus"] = 8
    record["events"]["trialEvents"][0]["events"].append({"notificationType": "EARLY_TERMINATION", "date": "2025-06-01"})
    assert normalize_trial(record).trial["overall_status"] == "TERMINATED"


def test_an_unknown_status_code_is_kept_out_with_a_warning():
    record = real("2024-510663-34-00") | {"ctPublicStatusCode": 99, "ctStatus": 99}
    study = normalize_trial(record)
    assert study.trial["overall_status"] is None
    assert study.warnings == ["unknown CTIS status 99: no overall status stored"]


@pytest.mark.parametrize("record,reason", [
    ([], "expected a CTIS trial object, got list"),
    ({"ctStatus": 4}, "not a CTIS trial: no ctNumber"),
    ({"ctNumber": "2021-004994-30"}, "invalid ctNumber '2021-004994-30' (expected a CTIS number such as 2023-505613-24-00)"),
    ({"ctNumber": "2023-50561\u0663-24-00"}, "invalid ctNumber"),
])
def test_not_a_ctis_trial(record, reason):
    with pytest.raises(RecordError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_trial(record)


def test_iso_dates():
    assert [iso_date(v) for v in ("19/08/2025", "2024-04-12T09:35:07.009", "2025-09-22", "32/13", None)] == \
        ["2025-08-19", "2024-04-12", "2025-09-22", None, None]


def test_stored_beside_ctgov_studies_and_unchanged_on_a_second_write(engine):
    records = [(path.name, json.loads(path.read_text())) for path in sorted(CTIS.glob("*.json"))]
    with engine.begin() as conn:
        assert write_studies(conn, records, source="test").counts()["new"] == 2
    with engine.begin() as conn:
        assert write_studies(conn, records, source="test").counts()["unchanged"] == 2
    with engine.connect() as conn:
        rows = conn.execute(select(Trial.trial_id, Trial.registry_name, Trial.nct_id, Trial.secondary_ids)
                            .order_by(Trial.trial_id)).all()
        body = conn.execute(select(RawRecord.body).where(RawRecord.trial_id == "2023-505613-24-00")).scalar_one()
    assert [(r[0], r[1], r[2]) for r in rows] == [("2023-505613-24-00", "ctis", None), ("2024-510663-34-00", "ctis", None)]
    assert rows[1][3][1] == {"id": "NCT04494412", "type": "REGISTRY", "domain": "ClinicalTrials.gov"}
    assert load_raw(body) == real("2023-505613-24-00")


def test_trialkb_import_reads_ctis_trials(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    trialkb = str(Path(sys.executable).with_name("trialkb"))
    db = f"sqlite:///{tmp_path / 'kb.db'}"
    result = subprocess.run([trialkb, "--db", db, "import", str(CTIS), str(FILES / "ctis")], capture_output=True,
                            text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "read 5, new 5, changed 0, unchanged 0, rejected 0, warnings 0\n")
    shown = subprocess.run([trialkb, "--db", db, "show", "2025-590001-11-00", "--json"], capture_output=True, text=True)
    card = json.loads(shown.stdout)
    assert (card["trial_id"], card["registry"], card["nct_id"], card["targets"]) == (
        "2025-590001-11-00", "ctis", None, ["CD19"])
