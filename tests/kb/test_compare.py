"""trialkb compare: the library's comparison on SQLite and PostgreSQL, the command as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from graph.pick import pick_trials
from kb.analysis.compare import compare_trials
from kb.analysis.find import Filters
from kb.core.errors import BadArgument, NotFound
from kb.ingest.importer import import_paths
from kb.store.db import open_store
from tests.conftest import CTGOV

SEED, NANJING, LUPUS = "NCT06464679", "NCT06613490", "NCT06010472"
DUPILUMAB = "NCT02210780"
PATHS = [CTGOV / "domain", CTGOV / f"realworld/autoimmune/{NANJING}.json", CTGOV / f"registry_samples/{DUPILUMAB}.json"]
TRIALKB = str(Path(sys.executable).with_name("trialkb"))
LYMPHODEPLETION = ["fludarabine 25 mg/m2 days -5, -4, -3", "cyclophosphamide 300 mg/m2 days -5, -4, -3"]


@pytest.fixture
def store(engine):
    import_paths(engine, PATHS, workers=0)
    return engine


def test_three_car_nk_trials_side_by_side(store):
    comparison = compare_trials(store, [SEED, NANJING, LUPUS])
    trials = {t["trial_id"]: t for t in comparison.as_dict()["trials"]}
    assert list(trials) == [SEED, NANJING, LUPUS]
    assert [trials[t]["targets"] for t in trials] == [["CD19"]] * 3
    assert [(trials[t]["cell_type"], trials[t]["modality"], trials[t]["products"]) for t in trials] == [
        ("NK", "CAR-NK", ["KN5501"])] * 3
    assert [trials[t]["diseases"] for t in trials] == [
        ["sjogren", "systemic_sclerosis", "myositis", "rheumatoid_arthritis"], ["myositis", "rheumatoid_arthritis"], ["sle"]]
    assert trials[SEED]["cohorts"] == ["myositis", "rheumatoid_arthritis", "sjogren", "systemic_sclerosis"]
    assert [trials[t]["lymphodepletion"] for t in trials] == [LYMPHODEPLETION, [], []]
    assert trials[SEED]["primary_endpoints"] == ["dose-limiting toxicity / MTD", "adverse events (incidence, severity)"]
    assert [trials[t]["enrollment"] for t in trials] == ["72 (estimated)", "24 (estimated)", "36 (estimated)"]
    differs = comparison.differs
    assert not differs["targets"] and not differs["cell_type"] and not differs["products"]
    assert differs["diseases"] and differs["lymphodepletion"] and differs["sponsor"] and differs["start_date"]


def test_evidence_names_the_field_and_the_words(store):
    evidence = compare_trials(store, [SEED, LUPUS], evidence=True).evidence[0]
    assert {"value": "sjogren", "field": "eligibility_cohort", "quote": "Relapsing refractory dry syndrome"} \
        in evidence["cohorts"]
    assert {"value": "dlt", "field": "primary_outcome", "quote": "Incidence of Dose-Limiting Toxicity (DLT)"} \
        in evidence["primary_endpoints"]
    assert all(q["field"] != "eligibility_cohort" for q in evidence["primary_endpoints"])


def test_posted_results_are_rows_of_the_comparison(store):
    trials = compare_trials(store, [SEED, DUPILUMAB]).as_dict()["trials"]
    assert [t["has_results"] for t in trials] == [False, True]
    assert trials[1]["serious_aes"] == ["Placebo qw: 0/97", "Dupilumab 300 mg qw: 3/97"]
    assert trials[1]["started"] == ["Placebo qw: 97", "Dupilumab 300 mg qw: 97"]


def test_bad_requests_are_domain_errors(store):
    with pytest.raises(NotFound, match="NCT99999999 is not in the store"):
        compare_trials(store, [SEED, "NCT99999999"])
    with pytest.raises(BadArgument, match="nothing to compare"):
        compare_trials(store, [])
    with pytest.raises(BadArgument):
        compare_trials(store, ["NCT123"])


def test_trials_picked_by_filters_are_find_s_trials(store):
    picked = pick_trials(store, filters=Filters(sponsor=["changhai"], modality=["car-nk"]), top=10)
    assert picked == ["NCT06464679", "NCT06469190", "NCT06010472"]  # as trialkb find orders them


# ---------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('compare') / 'kb.db'}"
    engine = open_store(url)
    import_paths(engine, PATHS, workers=0)
    engine.dispose()
    return url


def trialkb(db: str, *args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it, its output piped."""
    return subprocess.run([TRIALKB, "--db", db, *args], capture_output=True, text=True, timeout=120)


def test_json_names_each_trials_facts(db):
    done = trialkb(db, "compare", SEED, NANJING, LUPUS, "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [(t["trial_id"], t["targets"], t["cell_type"], t["products"], t["diseases"], t["lymphodepletion"])
            for t in data["trials"]] == [
        (SEED, ["CD19"], "NK", ["KN5501"], ["sjogren", "systemic_sclerosis", "myositis", "rheumatoid_arthritis"],
         LYMPHODEPLETION),
        (NANJING, ["CD19"], "NK", ["KN5501"], ["myositis", "rheumatoid_arthritis"], []),
        (LUPUS, ["CD19"], "NK", ["KN5501"], ["sle"], [])]
    assert {"key": "lymphodepletion", "label": "lymphodepletion", "differs": True} in data["attributes"]


def test_piped_it_is_csv_with_one_column_per_trial(db):
    done = trialkb(db, "compare", SEED, NANJING, LUPUS)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["attribute", "differs", SEED, NANJING, LUPUS]
    by_label = {row[0]: row[1:] for row in rows[1:]}
    assert by_label["targets"] == ["false", "CD19", "CD19", "CD19"]
    assert by_label["cell"] == ["false", "NK", "NK", "NK"]
    assert by_label["lymphodepletion"] == ["true", "; ".join(LYMPHODEPLETION), "-", "-"]
    assert by_label["diseases"] == ["true", "sjogren; systemic_sclerosis; myositis; rheumatoid_arthritis",
                                    "myositis; rheumatoid_arthritis", "sle"]


def test_markdown_with_evidence_and_only_the_differences(db):
    done = trialkb(db, "compare", SEED, LUPUS, "--format", "markdown", "--evidence", "--differences")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [f"| attribute | differs | {SEED} | {LUPUS} |", "| --- | --- | --- | --- |"]
    assert "| targets |" not in done.stdout  # the same in both
    assert "| diseases | true | sjogren; systemic_sclerosis; myositis; rheumatoid_arthritis | sle |" in lines
    evidence = next(line for line in lines if line.startswith("| cohorts (eligibility): evidence |"))
    assert "sjogren [eligibility_cohort]: “Relapsing refractory dry syndrome”" in evidence


def test_similar_to_compares_the_trial_with_its_ranking(db):
    from graph.cache import load_index
    from kb.store.db import readonly_engine

    expected = [r["trial_id"] for r in load_index(readonly_engine(db))[0].similar(SEED, top=3)]
    done = trialkb(db, "compare", "--similar-to", SEED, "--top", "3", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ",".join(["attribute", "differs", SEED, *expected])


@pytest.mark.parametrize("args, message", [
    (["NCT99999999"], "Error: NCT99999999 is not in the store"),
    (["--disease", "gout"], "Error: unknown disease 'gout'"),
    ([], "Error: nothing to compare"),
    ([SEED, "--format", "xml"], "Error: unknown format 'xml'"),
    (["--similar-to", "NCT99999998"], "Error: NCT99999998"),
])
def test_bad_input_is_one_line_and_exit_1(db, args, message):
    from typer.testing import CliRunner

    from apps.cli import app

    result = CliRunner().invoke(app, ["--db", db, "compare", *args])
    assert result.exit_code == 1 and result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_named_trials_are_compared_without_sqlalchemy(db):
    code = ("import sys; from apps.cli import main; sys.argv = ['trialkb', '--db', %r, 'compare', %r, %r]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'networkx', 'numpy') if m in sys.modules), file=sys.stderr)"
            ) % (db, SEED, LUPUS)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[0] == f"attribute,differs,{SEED},{LUPUS}"
    assert done.stderr.strip().splitlines()[-1] == "[]"  # a lookup starts fast
