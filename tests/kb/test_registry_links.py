"""One trial registered twice is one trial: the ids records name, normalised as ctrdata does, link
registrations in both directions (SQLite and PostgreSQL); a likeness only proposes a link."""

from __future__ import annotations

import csv

import pytest
from alembic import command
from sqlalchemy import text

from kb.analysis.card import trial_card
from kb.analysis.find import Filters, find_trials
from kb.analysis.links import decide, propose_links
from kb.core.errors import BadArgument, NotFound
from kb.domain.links import ids_named, link_key, link_rows
from kb.ingest.importer import import_paths
from kb.store.db import alembic_config
from tests.conftest import CTGOV, DATA, ROOT

FILES = ROOT / "tests" / "files" / "ictrp"
LABELLED = DATA / "registries" / "cross_registry_links_real.csv"
NCT = CTGOV / "domain" / "NCT06010472.json"


def _label(row: dict) -> str | None:
    """The key the labelled row expects (None: the value must link nothing)."""
    value = row["linked_id_normalized"]
    if not value or row["linked_registry_guess"] in ("WHO-UTN", "other(sponsor/grant/placeholder)"):
        return None
    return value.removeprefix("JPRN-")


def test_the_labelled_real_links_give_no_false_merge():
    """Every row of the real labelled set: a registry id is found and normalised to the labelled key;
    placeholders ('Nil known'), sponsor codes, grants and WHO UTNs link nothing."""
    rows = list(csv.DictReader(LABELLED.open(encoding="utf-8")))
    found = {(r["source_id"], r["field"], r["linked_value_raw"]): [link_key(i) for i in ids_named(r["linked_value_raw"])]
             for r in rows}
    expected = {(r["source_id"], r["field"], r["linked_value_raw"]): _label(r) for r in rows}
    false_merges = [k for k, keys in found.items() if keys and keys != [expected[k]]]
    missed = [k for k, want in expected.items() if want and found[k] != [want]]
    assert (len(rows), false_merges, missed) == (124, [], [])
    assert sum(1 for want in expected.values() if want) == 52


@pytest.mark.parametrize("raw, domain, ids", [
    ("EudraCT 2017-002227-13", None, ["2017-002227-13"]),
    ("EUCTR2016-005141-23-ES", None, ["2016-005141-23"]),
    ("2023-505613-24-00", None, ["2023-505613-24-00"]),  # CTIS before EudraCT
    ("JPRN-jRCT2031210123", None, ["jRCT2031210123"]),
    ("13281214", "ISRCTN", ["ISRCTN13281214"]),
    ("13281214", "Sponsor", []),
    ("Nil known", None, []), ("XL184–313", None, []), ("75,061; 125,097", None, []),
])
def test_ids_named(raw, domain, ids):
    assert ids_named(raw, domain) == ids


def test_a_ctis_number_meets_its_resubmissions_and_never_a_eudract_number():
    assert link_key("2023-505613-24-00") == link_key("2023-505613-24-01") == "CTIS:2023-505613-24"
    assert link_key("2023-505613-24") == "2023-505613-24"  # a EudraCT number of the same shape
    rows = link_rows({"trial_id": "2024-510663-34-00", "secondary_ids": [
        {"id": "NCT04494412", "type": "REGISTRY", "domain": None},
        {"id": "2019-001588-63", "type": "EUDRACT_NUMBER", "domain": None}]})
    assert [(r["key"], r["field"]) for r in rows] == [
        ("CTIS:2024-510663-34", "self"), ("NCT04494412", "secondary_ids REGISTRY"),
        ("2019-001588-63", "secondary_ids EUDRACT_NUMBER")]


@pytest.fixture
def linked(engine):
    """The CT.gov record of NCT06010472 and the ChiCTR export naming it (imported ChiCTR first)."""
    import_paths(engine, [FILES / "chictr_car_autoimmune.xml", NCT, CTGOV / "domain" / "NCT06464679.json"], workers=0)
    return engine


def test_each_registration_names_the_other(linked):
    chictr, nct = trial_card(linked, "chictr2499999901"), trial_card(linked, "NCT06010472")
    assert chictr["linked_ids"] == ["NCT06010472"] and nct["linked_ids"] == ["ChiCTR2499999901"]
    assert [r["trial_id"] for r in nct["registrations"]] == ["NCT06010472", "ChiCTR2499999901"]
    assert nct["differences"] == {"enrollment_count": {"NCT06010472": 36, "ChiCTR2499999901": 12}}
    assert (chictr["is_relevant"], chictr["registry"], chictr["url"]) == (
        True, "chictr", "https://trialsearch.who.int/Trial2.aspx?TrialID=ChiCTR2499999901")
    assert trial_card(linked, "NCT06464679")["linked_ids"] == []


def test_a_registration_not_stored_answers_with_the_trial_that_names_it(engine):
    import_paths(engine, [FILES / "chictr_car_autoimmune.xml"], workers=0)  # the NCT record is not imported
    card = trial_card(engine, "NCT06010472")
    assert (card["trial_id"], card["asked_id"], card["linked_ids"]) == ("ChiCTR2499999901", "NCT06010472",
                                                                        ["NCT06010472"])
    with pytest.raises(NotFound, match="NCT00000009 is not in the store"):
        trial_card(engine, "NCT00000009")


def test_find_counts_a_linked_trial_once_with_all_its_ids(linked):
    columns, rows = find_trials(linked, Filters(disease=["lupus"], relevant_only=True))
    found = {row[0]: row[columns.index("other_ids")] for row in rows}
    assert found == {"NCT06010472": ["ChiCTR2499999901"], "ChiCTR2500105227": [],
                     "ChiCTR2600122319": []}


def test_a_likeness_only_proposes_and_a_person_decides(engine, tmp_path):
    """The ChiCTR record without its secondary id: proposed, not linked; confirmed, one trial; rejected, gone."""
    unnamed = tmp_path / "unnamed.xml"
    unnamed.write_text((FILES / "chictr_car_autoimmune.xml").read_text(encoding="utf-8")
                       .replace("<sec_id>NCT06010472</sec_id>", "<sec_id/>"), encoding="utf-8")
    import_paths(engine, [unnamed, NCT], workers=0)
    assert trial_card(engine, "NCT06010472")["linked_ids"] == []
    proposals = propose_links(engine)
    assert [(p.trial_id, p.other_id) for p in proposals] == [("ChiCTR2499999901", "NCT06010472")]
    assert proposals[0].reasons == ("titles share 7 words (1.00)", "sponsor names 1.00 alike",
                                    "start dates 0 days apart")
    decide(engine, "NCT06010472", "ChiCTR2499999901", "confirmed")
    assert trial_card(engine, "NCT06010472")["linked_ids"] == ["ChiCTR2499999901"]
    assert propose_links(engine) == []
    decide(engine, "NCT06010472", "ChiCTR2499999901", "rejected")
    assert trial_card(engine, "NCT06010472")["linked_ids"] == [] and propose_links(engine) == []


@pytest.mark.parametrize("first, second, error", [
    ("NCT06010472", "NCT06010472", BadArgument), ("NCT06010472", "NCT09999999", NotFound),
    ("NCT06010472", "banana", BadArgument)])
def test_a_decision_needs_two_stored_registrations(linked, first, second, error):
    with pytest.raises(error):
        decide(linked, first, second, "confirmed")


def test_0009_links_the_trials_already_stored(store_url_engine):
    _, engine = store_url_engine
    config = alembic_config(engine)
    command.upgrade(config, "0006")
    with engine.begin() as conn:
        for trial_id, secondary in (("NCT06010472", None), ("ChiCTR2499999901",
                                                           '[{"id": "NCT06010472", "type": null, "domain": null}]')):
            conn.execute(text("INSERT INTO trial (trial_id, registry_name, secondary_ids, site_count, is_relevant, "
                              "normalizer_version, content_hash, first_seen_at, updated_at) VALUES (:t, 'x', :s, 0, "
                              "false, 1, 'h', '2026-01-01', '2026-01-01')"), {"t": trial_id, "s": secondary})
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = sorted(tuple(r) for r in conn.execute(text("SELECT trial_id, key, field FROM trial_link")))
    assert rows == [("ChiCTR2499999901", "ChiCTR2499999901", "self"), ("ChiCTR2499999901", "NCT06010472", "secondary_ids"),
                    ("NCT06010472", "NCT06010472", "self")]


def test_the_commands_on_a_chictr_export_and_the_nct_record(tmp_path):
    """What a user runs: import both, `show --json` of each names the other, `links` proposes nothing."""
    import json

    from typer.testing import CliRunner

    from apps.cli import app

    db = f"sqlite:///{tmp_path / 'kb.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(FILES / "chictr_car_autoimmune.xml"), str(NCT), "--db", db]).exit_code == 0
    for trial_id, other in (("ChiCTR2499999901", "NCT06010472"), ("NCT06010472", "ChiCTR2499999901")):
        shown = json.loads(runner.invoke(app, ["show", trial_id, "--json", "--db", db]).stdout)
        assert (shown["trial_id"], shown["linked_ids"], shown["is_relevant"]) == (trial_id, [other], True)
    assert runner.invoke(app, ["links", "--db", db]).stdout == "trial_id,other_id,score,why\n"
    result = runner.invoke(app, ["links", "confirm", "NCT06010472", "NCT06010472", "--db", db])
    assert (result.exit_code, result.stderr.strip()) == (1, "Error: NCT06010472 is one registration; name two")
