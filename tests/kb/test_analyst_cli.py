"""find, sql, runs and show as a user runs them, in each format, on the real domain records.

CliRunner's output is not a terminal, so the default there is CSV (a table needs --format table).
"""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from apps.cli import app
from kb.store.db import open_store
from kb.ingest.importer import import_paths
from tests.conftest import CTGOV

runner = CliRunner()
SEED = "NCT06464679"
LUPUS_CD19_NK = ["NCT07490041", "NCT06614270", "NCT06557265", "NCT06010472"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """The seed's 2024 record, then every domain record (the seed changes once)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('analyst') / 'kb.db'}"
    engine = open_store(url)
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"], workers=0)
    import_paths(engine, [CTGOV / "domain"], workers=0)
    engine.dispose()
    return url


def run(db, *args):
    result = runner.invoke(app, [*args, "--db", db])
    assert result.exit_code == 0, result.output
    return result.stdout


FIND = ("find", "--status", "recruiting", "--target", "CD19", "--disease", "lupus", "--cell", "NK")


def test_find_piped_is_csv(db):
    rows = list(csv.DictReader(io.StringIO(run(db, *FIND))))
    assert [r["trial_id"] for r in rows] == LUPUS_CD19_NK
    assert rows[2] == {
        "trial_id": "NCT06557265", "title": "A Phase 1/2 Study of NKX019 in Subjects With Autoimmune Disease (Ntrust-1)",
        "status": "RECRUITING", "phases": "PHASE1; PHASE2", "start_date": "2024-06-13", "modality": "CAR-NK",
        "cell_type": "NK", "origin": "allogeneic", "targets": "CD19",
        "diseases": "lupus_nephritis; membranous_nephropathy",
        "countries": "Australia; Puerto Rico; United States", "sponsor": "Nkarta, Inc.", "other_ids": ""}


def test_find_tsv_exact(db):
    lines = run(db, *FIND, "--format", "tsv").splitlines()
    assert lines[0] == "\t".join(["trial_id", "title", "status", "phases", "start_date", "modality", "cell_type",
                                  "origin", "targets", "diseases", "countries", "sponsor", "other_ids"])
    assert lines[4] == "\t".join(["NCT06010472", "An Exploratory Clinical Study of Anti-CD19 CAR NK Cells in the "
                                  "Treatment of Systemic Lupus Erythematosus", "RECRUITING", "EARLY_PHASE1",
                                  "2023-08-20", "CAR-NK", "NK", "", "CD19", "sle", "China",
                                  "Changhai Hospital", ""])
    assert len(lines) == 5


def test_find_json_has_real_lists_and_nulls(db):
    found = json.loads(run(db, "find", "--target", "bcma", "--origin", "allogeneic", "--format", "json"))
    assert found == [{"trial_id": "NCT07246096",
                      "title": "Exploratory Clinical Study on the Safety and Efficacy of Anti- CD19/BCMA U CAR-T Cell "
                               "Injection for the Treatment of Relapsed/Refractory Autoimmune Diseases",
                      "status": None, "phases": None, "start_date": None, "modality": "allogeneic CAR-T",
                      "cell_type": "T", "origin": "allogeneic", "targets": ["CD19", "BCMA"],
                      "diseases": ["autoimmune"], "countries": [], "sponsor": None, "other_ids": []}]


def test_find_table_on_request(db):
    lines = run(db, *FIND, "--format", "table").splitlines()
    assert lines[1].split() == ["trial_id", "status", "start_date", "targets", "diseases", "title"]
    assert [line.split()[0] for line in lines[3:] if line.strip().startswith("NCT")] == LUPUS_CD19_NK


@pytest.mark.parametrize("args, message", [
    (("--disease", "gout"), "unknown disease 'gout'"),
    (("--phase", "7"), "unknown phase '7'"),
    (("--started-after", "last year"), "not a date: 'last year'"),
    (("--modality", "car-x"), "unknown modality 'car-x'"),
    (("--format", "xml"), "unknown format 'xml'"),
])
def test_find_bad_input_is_a_clean_error(db, args, message):
    result = runner.invoke(app, ["find", *args, "--db", db])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_find_modality_word_and_started_after(db):
    rows = list(csv.DictReader(io.StringIO(run(db, "find", "--modality", "car-t", "--started-after", "2025"))))
    assert [(r["trial_id"], r["start_date"], r["modality"]) for r in rows] == [
        ("NCT07659704", "2026-10-01", "autologous CAR-T"), ("NCT07570862", "2026-07-27", "allogeneic CAR-T"),
        ("NCT07493395", "2026-06-11", "autologous CAR-T"), ("NCT06622694", "2025-06-19", "autologous CAR-T"),
        ("NCT06704269", "2025-04-22", "autologous CAR-T")]
    either = json.loads(run(db, "find", "--modality", "car-nk", "--modality", "allogeneic", "--format", "json"))
    assert len(either) == 19 + 2 and {t["modality"] for t in either} == {"CAR-NK", "allogeneic CAR-T"}


SQL = ("sql", "SELECT trial_id, is_car_therapy, is_relevant, phases, targets, enrollment_count FROM trial "
              "WHERE trial_id IN ('NCT06464679', 'NCT98000001') ORDER BY trial_id")


def test_sql_formats(db):
    assert run(db, *SQL) == (
        "trial_id,is_car_therapy,is_relevant,phases,targets,enrollment_count\n"
        "NCT06464679,true,true,PHASE1,CD19,72\n"
        "NCT98000001,false,false,PHASE3,,190\n")
    assert run(db, *SQL, "--format", "tsv") == (
        "trial_id\tis_car_therapy\tis_relevant\tphases\ttargets\tenrollment_count\n"
        "NCT06464679\ttrue\ttrue\tPHASE1\tCD19\t72\n"
        "NCT98000001\tfalse\tfalse\tPHASE3\t\t190\n")
    assert json.loads(run(db, *SQL, "--json")) == json.loads(run(db, *SQL, "--format", "json")) == [
        {"trial_id": "NCT06464679", "is_car_therapy": True, "is_relevant": True, "phases": ["PHASE1"],
         "targets": ["CD19"], "enrollment_count": 72},
        {"trial_id": "NCT98000001", "is_car_therapy": False, "is_relevant": False, "phases": ["PHASE3"],
         "targets": [], "enrollment_count": 190}]


def test_sql_json_nests_the_diff(db):
    versions = json.loads(run(db, "sql", "SELECT trial_id, diff FROM trial_version", "--format", "json"))
    assert versions == [{"trial_id": SEED, "diff": {
        "overall_status": ["NOT_YET_RECRUITING", "RECRUITING"], "start_date": ["2024-06-30", "2024-06-27"],
        "start_date_type": ["ESTIMATED", "ACTUAL"], "last_update_posted_date": [None, "2025-08-29"]}}]


def test_tsv_escapes_tabs_and_newlines(db):
    assert run(db, "sql", "SELECT 'a' || char(9) || 'b' || char(10) || 'c\\d' AS x", "-f", "tsv") == "x\na\\tb\\nc\\\\d\n"


def test_runs_shows_every_count(db):
    runs = json.loads(run(db, "runs", "--json"))
    assert [(r["id"], r["kind"], r["status"], r["counts"], r["errors"]) for r in runs] == [
        (2, "import", "ok", {"read": 42, "unread": 0, "new": 41, "changed": 1, "unchanged": 0, "skipped": 0, "history": 0, "rejected": 0, "warnings": 0, "duplicate_keys": 0}, []),
        (1, "import", "ok", {"read": 1, "unread": 0, "new": 1, "changed": 0, "unchanged": 0, "skipped": 0, "history": 0, "rejected": 0, "warnings": 0, "duplicate_keys": 0}, [])]
    assert runs[0]["started_at"][10] == "T"
    rows = list(csv.DictReader(io.StringIO(run(db, "runs"))))
    assert [(r["id"], r["kind"], r["counts"]) for r in rows] == [
        ("2", "import", '{"read":42,"unread":0,"new":41,"changed":1,"unchanged":0,"skipped":0,"history":0,"rejected":0,"warnings":0,"duplicate_keys":0}'),
        ("1", "import", '{"read":1,"unread":0,"new":1,"changed":0,"unchanged":0,"skipped":0,"history":0,"rejected":0,"warnings":0,"duplicate_keys":0}')]
    table = run(db, "runs", "--format", "table")
    assert "unchanged: 0" in table and "…" not in table


def test_show_card(db):
    lines = [line.rstrip() for line in run(db, "show", SEED).splitlines()]
    assert lines[:3] == ["NCT06464679  An Exploratory Clinical Study of CD19 CAR NK Cell Injection for the",
                         "Treatment of Relapsed/Refractory Autoimmune Diseases",
                         "status            RECRUITING"]
    for line in ("dates             start 2024-06-27 (actual), primary completion 2025-06-30",
                 "enrollment        72 (estimated)",
                 "modality          CAR-NK",
                 "targets           CD19",
                 "products          KN5501",
                 "diseases          Sjogren's syndrome (sjogren), systemic sclerosis, idiopathic",
                 "                  inflammatory myopathy (myositis), rheumatoid arthritis",
                 "sites             China",
                 "registry          https://clinicaltrials.gov/study/NCT06464679",
                 "- CD19 CAR NK cells: anti-CD19 CAR NK cells",
                 "disease Sjogren's syndrome (sjogren)",
                 "    eligibility_cohort: “Relapsing refractory dry syndrome”",
                 "product KN5501"):
        assert line in lines, line
    assert lines[lines.index("disease Sjogren's syndrome (sjogren)") + 1] == "    eligibility_cohort: “Relapsing refractory dry syndrome”"


def test_show_card_dose_levels(db):
    assert "dose levels       6x10^9 cells, 9x10^9 cells" in [line.rstrip() for line in run(db, "show", "NCT06318533").splitlines()]
    assert json.loads(run(db, "show", "NCT06318533", "--json"))["dose_levels"] == ["6x10^9 cells", "9x10^9 cells"]


def test_show_json_adds_evidence_quotes_arms_and_sites(db):
    shown = json.loads(run(db, "show", SEED, "--json"))
    assert shown["url"] == "https://clinicaltrials.gov/study/NCT06464679"
    assert shown["sites"] == [{"country": "China", "sites": 1}]
    assert shown["arms"] == [{"label": "CD19 CAR NK cells", "type": None, "description": None,
                              "interventions": ["anti-CD19 CAR NK cells"]}]
    assert {"kind": "disease", "value": "sjogren", "field": "eligibility_cohort",
            "evidence": "Relapsing refractory dry syndrome"} in shown["facts"]
