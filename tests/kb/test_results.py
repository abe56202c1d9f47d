"""Posted results: normalized from real records (registry_samples), stored on SQLite and PostgreSQL
through the one write path, shown by ``show``; endpoint kinds of outcome measures."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from apps.cli import app
from kb.analysis.card import trial_card
from kb.domain.extract.endpoints import classify_measure
from kb.domain.normalize import normalize_study
from kb.domain.results import RESULT_TABLES, parse_results
from kb.ingest.importer import import_paths
from kb.store.models import Trial
from kb.store.write import renormalize
from tests.conftest import CTGOV, load

SAMPLES = CTGOV / "registry_samples"
DUPILUMAB = "NCT02210780"  # Regeneron, atopic dermatitis: 2 arms, 3 serious adverse events
CERTOLIZUMAB = "NCT02552212"  # UCB, axial spondyloarthritis: 5 adverse-event groups, 36 serious terms


def test_a_record_with_results_gives_rows_of_every_table():
    rows = parse_results(load(f"registry_samples/{CERTOLIZUMAB}.json"))
    assert {name: len(rows[name]) for name in RESULT_TABLES} == {
        "result_group": 11, "result_flow": 87, "result_baseline": 30, "result_outcome": 31, "result_value": 66,
        "result_event": 225}
    assert rows["result_flow"][0] == {"position": 0, "period": "Double-Blind Period (Week 0 - 52)", "step": "milestone",
                                      "label": "STARTED", "group_code": "FG000", "count": 158}
    placebo = next(g for g in rows["result_group"] if g["module"] == "adverse" and g["group_code"] == "EG000")
    assert (placebo["title"], placebo["serious_affected"], placebo["serious_at_risk"], placebo["deaths_affected"]) == (
        "Placebo (SS)", 4, 158, 0)
    assert rows["result_event"][0] == {"seriousness": "serious", "position": 0, "group_code": "EG000", "term": "Glaucoma",
                                       "organ_system": "Eye disorders", "num_events": 0, "num_affected": 0,
                                       "num_at_risk": 158}
    assert rows["result_value"][0]["value"] == "7.0" and rows["result_value"][0]["participants"] == 158


def test_values_stay_as_posted_and_escapes_are_decoded():
    rows = parse_results(load(f"registry_samples/{DUPILUMAB}.json"))
    first = rows["result_outcome"][0]
    assert first["title"].startswith("Percentage of Participants With a Positive Response (≥4-Fold Increase)")
    assert "titers of <0.1 IU/ml" in first["description"]  # CommonMark '\<' decoded
    assert [(v["group_title"], v["participants"], v["value"]) for v in rows["result_value"][:2]] == [
        ("Placebo qw", 92, "83.7"), ("Dupilumab 300 mg qw", 90, "83.3")]


def test_a_record_without_results_has_no_rows():
    study = normalize_study(load("registry_samples/NCT00973089.json"))
    assert all(study.children[name] == [] for name in RESULT_TABLES)


def test_malformed_results_are_skipped_not_fatal():
    record = load(f"registry_samples/{DUPILUMAB}.json")
    record["resultsSection"] = {"adverseEventsModule": {"eventGroups": "oops", "seriousEvents": [1, {"stats": None}]},
                                "participantFlowModule": []}
    assert {name: len(rows) for name, rows in parse_results(record).items()} == dict.fromkeys(RESULT_TABLES, 0)


@pytest.fixture
def store(engine):
    import_paths(engine, [SAMPLES / f"{DUPILUMAB}.json", SAMPLES / f"{CERTOLIZUMAB}.json"], workers=0)
    return engine


def test_stored_results_read_back_as_adverse_events_by_arm(store):
    results = trial_card(store, DUPILUMAB)["results"]
    assert results["arms"] == [
        {"group": "EG000", "title": "Placebo qw", "deaths": "0/97", "serious": "0/97", "other": "29/97"},
        {"group": "EG001", "title": "Dupilumab 300 mg qw", "deaths": "0/97", "serious": "3/97", "other": "30/97"}]
    assert [(e["term"], e["by_arm"]) for e in results["serious_events"]] == [
        ("Mycosis fungoides stage iv", ["0/97", "1/97"]), ("Serum sickness-like reaction", ["0/97", "1/97"]),
        ("Squamous cell carcinoma", ["0/97", "1/97"])]
    assert results["started"] == [{"group": "FG000", "title": "Placebo qw", "started": 97},
                                  {"group": "FG001", "title": "Dupilumab 300 mg qw", "started": 97}]
    assert len(results["outcomes"]) == 11


def test_reimport_and_rebuild_keep_the_same_rows(store):
    from kb.store.models import ResultEvent

    def count() -> int:
        with store.connect() as conn:
            return conn.execute(select(func.count()).select_from(ResultEvent)).scalar()

    assert count() == 18 + 225
    import_paths(store, [SAMPLES / f"{DUPILUMAB}.json"], workers=0)  # unchanged: nothing rewritten
    with store.begin() as conn:
        renormalize(conn, [DUPILUMAB, CERTOLIZUMAB])  # trialkb rebuild: rows replaced, not added
    assert count() == 18 + 225
    with store.begin() as conn:  # deleting a trial deletes its results
        conn.execute(Trial.__table__.delete().where(Trial.trial_id == CERTOLIZUMAB))
    assert count() == 18


def test_show_prints_serious_adverse_events_by_arm(tmp_path):
    db = f"sqlite:///{tmp_path / 'kb.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "import", str(SAMPLES / f"{DUPILUMAB}.json")]).exit_code == 0
    result = runner.invoke(app, ["--db", db, "show", DUPILUMAB], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "Serious adverse events by term and arm (affected/at risk)" in lines
    assert "Dupilumab 300 mg qw 0/97 3/97 30/97" in lines
    assert "Mycosis fungoides stage iv 0/97 1/97" in lines


@pytest.mark.parametrize("measure, description, kinds", [
    ("Incidence of cytokine release syndrome (CRS) and ICANS", None, ["crs", "icans"]),
    ("Change from baseline in SLEDAI-2K score", None, ["sledai"]),
    ("Proportion of patients achieving DORIS remission", None, ["doris"]),
    ("Percentage of participants achieving LLDAS", None, ["lldas"]),
    ("Change in modified Rodnan Skin Score (mRSS)", None, ["mrss"]),
    ("Change from baseline in MG-ADL total score", None, ["mg_adl"]),
    ("Duration of B-cell aplasia", None, ["b_cell_depletion"]),
    ("Drug-free remission at month 12", None, ["drug_free_remission"]),
    ("Primary endpoint", "Dose-limiting toxicities within 28 days", ["dlt"]),  # the description when the title says nothing
    ("Body mass index", "measured at each visit", []),
])
def test_outcome_measures_are_classified_into_kinds(measure, description, kinds):
    assert [kind for kind, _ in classify_measure(measure, description)] == kinds


def test_the_seed_has_endpoint_facts_with_their_evidence():
    facts = [r for r in normalize_study(load("domain/NCT06464679.json")).children["trial_fact"] if r["kind"] == "endpoint"]
    assert [(f["value"], f["field"], f["evidence"]) for f in facts] == [
        ("dlt", "primary_outcome", "Incidence of Dose-Limiting Toxicity (DLT)"),
        ("adverse_events", "primary_outcome", "Incidence of Treatment Emergent Adverse Events (TEAEs)"),
        ("response_rate", "secondary_outcome", "The overall response rate (ORR)")]


def test_every_endpoint_kind_names_its_source():
    from kb.domain.lexicon import ENDPOINTS

    assert len(ENDPOINTS) >= 25 and all(e.source and e.patterns for e in ENDPOINTS)
    assert {"crs", "icans", "dlt", "b_cell_depletion", "drug_free_remission", "sledai", "doris", "lldas", "mrss",
            "mg_adl"} <= {e.key for e in ENDPOINTS}


def test_every_endpoint_pattern_starts_with_a_word_character():
    """The classifier tries its patterns only where a word starts (kb.domain.extract.endpoints._pattern)."""
    import re

    from kb.domain.lexicon import ENDPOINTS

    for endpoint in ENDPOINTS:
        for pattern in endpoint.patterns:
            assert re.match(r"(?:\\b)?(?:\(\?:)*\(?[\w\\]", pattern) and not pattern.startswith(("\\s", "\\W", "\\<")), \
                (endpoint.key, pattern)


def test_posted_outcomes_are_classified_for_cell_therapies_only():
    record = load(f"registry_samples/{CERTOLIZUMAB}.json")
    kinds = [(o["position"], o["endpoint_kinds"]) for o in parse_results(record)["result_outcome"] if o["endpoint_kinds"]]
    assert kinds == [(18, ["quality_of_life"]), (28, ["adverse_events"]), (29, ["adverse_events"]),
                     (30, ["adverse_events"])]
    stored = normalize_study(record).children["result_outcome"]  # an antibody trial: its kinds are not read
    assert all(o["endpoint_kinds"] is None for o in stored)


def test_a_crawled_page_stores_results_through_the_same_path(engine):
    """The crawl's page transaction (crawler.pipelines) writes the results tables as the import does."""
    import orjson

    from crawler.items import StudyPage
    from crawler.page_workers import prepare_slice
    from crawler.pipelines import PageTransaction

    records = [orjson.dumps(load(f"registry_samples/{DUPILUMAB}.json"))]
    page = StudyPage("http://127.0.0.1/api/v2/studies", "car_therapies", 1, records, True, [], [DUPILUMAB])
    transaction = PageTransaction(engine)
    transaction.write(prepare_slice(page.url, 0, page.records, {}))
    transaction.commit(page)
    assert trial_card(engine, DUPILUMAB)["results"]["arms"][1]["serious"] == "3/97"
