"""The normalizer on real API v2 records: exact values."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.domain.normalize import RecordError, content_hash, normalize_study
from tests.conftest import load


@pytest.fixture(scope="module")
def alliance():
    return normalize_study(load("registry_samples/NCT04267848.json"))


def test_all_sites_kept(alliance):
    assert alliance.trial["site_count"] == 1148
    assert len(alliance.children["location"]) == 1148


def test_countries_are_distinct_and_sorted(alliance):
    assert alliance.trial["countries"] == ["Guam", "United States"]


def test_estimated_last_update_date(alliance):
    assert alliance.trial["last_update_posted_date"] == "2025-09-10"


def test_mesh_terms_with_ancestors(alliance):
    links = {(m["domain"], m["mesh_id"]): m["is_ancestor"] for m in alliance.children["trial_mesh"]}
    assert links[("condition", "D002289")] is False
    assert links[("condition", "D002283")] is True
    assert alliance.mesh_terms["D002289"] == "Carcinoma, Non-Small-Cell Lung"


def test_unknown_status_keeps_last_known_status():
    trial = normalize_study(load("registry_samples/NCT03475563.json")).trial
    assert (trial["overall_status"], trial["last_known_status"]) == ("UNKNOWN", "RECRUITING")


@pytest.mark.parametrize("trial_id,has_results", [("NCT00763412", True), ("NCT02552212", True),
                                                ("NCT05594173", True), ("NCT00973089", False)])
def test_results_flag(trial_id, has_results):
    assert normalize_study(load(f"registry_samples/{trial_id}.json")).trial["has_results"] is has_results


def test_observational_study_has_no_phases():
    trial = normalize_study(load("registry_samples/NCT05594173.json")).trial
    assert (trial["study_type"], trial["phases"]) == ("OBSERVATIONAL", None)


def test_partial_date_without_type_stays_partial():
    trial = normalize_study(load("registry_samples/NCT00973089.json")).trial
    assert (trial["start_date"], trial["start_date_precision"], trial["start_date_type"]) == ("2010-05", "month", None)
    assert trial["overall_status"] == "WITHDRAWN"


def test_fields_subset_record():
    study = normalize_study(load("registry_samples/NCT07715136.fields_subset.json"))
    assert study.trial["start_date"] == "2025-03-20"
    assert study.trial["start_date_type"] is None
    assert study.trial["enrollment_count"] == 10
    assert study.trial["sponsor"] == "iCell Gene Therapeutics"
    assert study.trial["has_results"] is None


def test_html_entities_decoded_in_conditions():
    study = normalize_study(load("domain/NCT06614270.json"))
    assert "Sjogren's Syndrome" in [c["name"] for c in study.children["trial_condition"]]


def test_seed_trial_core_fields():
    study = normalize_study(load("domain/NCT06464679.json"))
    t = study.trial
    assert (t["overall_status"], t["phases"], t["enrollment_count"], t["enrollment_type"]) == \
        ("RECRUITING", ["PHASE1"], 72, "ESTIMATED")
    assert (t["start_date"], t["start_date_type"], t["verified_date"]) == ("2024-06-27", "ACTUAL", "2024-06")
    assert (t["sponsor"], t["org_study_id"], t["minimum_age"], t["maximum_age"]) == \
        ("Changhai Hospital", "CHEC2024-181", "18 Years", "65 Years")
    assert study.sponsors == {"Changhai Hospital": "OTHER", "Rui Therapeutics": "UNKNOWN"}


def test_unknown_enum_value_is_kept_with_a_warning():
    record = copy.deepcopy(load("domain/NCT06464679.json"))
    record["protocolSection"]["designModule"]["phases"] = ["PHASE1", "PHASE5"]
    study = normalize_study(record)
    assert study.trial["phases"] == ["PHASE1", "PHASE5"]
    assert study.warnings == ["unknown phase value 'PHASE5' kept as is"]


def test_wrong_type_is_a_record_error():
    record = copy.deepcopy(load("domain/NCT06464679.json"))
    record["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "seventy-two"
    with pytest.raises(RecordError, match=r"enrollmentInfo.count: expected int, got str"):
        normalize_study(record)


def test_synthetic_bad_phase_record_is_rejected_for_its_id():
    with pytest.raises(RecordError, match=r"invalid nctId 'NCT000001'"):
        normalize_study(load("registry_samples/synthetic_bad_phase.json"))


def test_retired_classic_api_format_is_named():
    classic = {"FullStudiesResponse": {"APIVrs": "1.01.05", "FullStudies": [
        {"Rank": 1, "Study": {"ProtocolSection": {"IdentificationModule": {"NCTId": "NCT06464679"}}}}]}}
    with pytest.raises(RecordError, match="retired pre-v2 API format"):
        normalize_study(classic)


def test_hash_ignores_the_daily_version_holder():
    record = load("registry_samples/NCT04267848.json")
    bumped = copy.deepcopy(record)
    bumped["derivedSection"]["miscInfoModule"]["versionHolder"] = "2099-01-01"
    assert content_hash(record) == content_hash(bumped)
    bumped["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    assert content_hash(record) != content_hash(bumped)


def _outcome(call):
    try:
        return ("value", call())
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return (type(exc).__name__, str(exc))


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3),
                    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
                    max_leaves=8),
       st.sampled_from(["a", "a.b", "a.b.c", "c.a"]), st.sampled_from([str, int, list, dict, (str, int)]))
def test_get_straight_indexing_gives_what_the_careful_walk_gives(obj, path, kind):
    """The fast way of reading a dotted path equals the step-by-step one: the value, the default, or the
    same RecordError, on any JSON shape."""
    from kb.domain.normalize import _get, _get_careful

    assert _outcome(lambda: _get(obj, path, kind, "missing")) == _outcome(lambda: _get_careful(obj, path, kind, "missing"))
