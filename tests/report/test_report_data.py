"""The report's figures and tables from the domain store, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli import app
from apps.report import build_report
from apps.report import data as rd
from apps.report.page import csv_text


def test_headline_ledger_and_pipeline(store):
    data = rd.load_report_data(store.engine)
    assert rd.headline(data) == {"trials": 32, "recruiting": 19, "planned enrollment": 912, "products": 14,
                                 "sponsors": 20, "countries": 8}
    funnel, ledger = rd.ledger(data)
    assert funnel == [("fetched", 42), ("CAR cell therapy", 32), ("immune-mediated", 32), ("included", 32)]
    rows = {r[0]: r for r in ledger.rows}
    assert rows["NCT98000002"][1:4] == ["excluded: not a CAR cell therapy",
                                        "Blinatumomab (CD19 x CD3 T-cell Engager) in Refractory Rheumatoid Arthritis",
                                        "tests an antibody or drug, no CAR named"]
    assert rows["NCT07389499"][1] == "undecided: CAR cell therapy unknown"
    assert rows["NCT06464679"][1] == "included"
    assert rows["NCT06464679"][4] == ("immune-mediated: sjogren (eligibility_cohort: Relapsing refractory dry "
                                      "syndrome); "
                                      "diseases read: idiopathic inflammatory myopathy, rheumatoid arthritis, "
                                      "Sjogren's syndrome, systemic sclerosis")
    pipeline = {r[0]: r for r in rd.pipeline(data).rows}
    assert pipeline["KN5501"][1:7] == ["Changhai Hospital", "CD19", "CAR-NK", pipeline["KN5501"][4], "Phase 1", 6]
    assert pipeline["NKX019"][1:3] == ["Nkarta", "CD19"] and pipeline["NKX019"][5:7] == ["Phase 1/2", 3]
    assert rd.pipeline(data).rows[0][:6] == ["FT819", "Fate Therapeutics", "CD19", "allogeneic CAR-T",
                                             "lupus nephritis", "Phase 2"]  # the furthest phase first
    assert rd.by_status(data).rows[:2] == [["RECRUITING", 19], ["not given", 4]]
    assert rd.by_country(data).rows[:2] == [["China", 16], ["United States", 7]]


@pytest.mark.slow
def test_report_page(store):
    result = build_report(store.engine, store.between)
    html = result.html
    assert (result.included, result.fetched) == (32, 42)
    assert result.charts == ["starts-modality", "starts-disease", "target-disease", "phase-sponsor", "status",
                             "countries", "network", "funnel"]
    assert "<script src" not in html and "<link" not in html and "http://" not in html.replace(
        "http://www.w3.org", "")  # nothing to fetch
    assert re.search(r"1 status, 0 phase, 0 enrollment, 1 date and 0 other change", html)
    assert "overall_status: NOT_YET_RECRUITING -&gt; RECRUITING" in html
    assert 'id="csv-pipeline"' in html and 'id="csv-ledger"' in html
    assert len(html) < 3_000_000, len(html)


def test_the_data_date_is_the_crawled_timestamp(sqlite_store):
    from crawler.plan import DATA_TIMESTAMP_KEY
    from kb.store.runlog import set_state

    assert rd.DATA_TIMESTAMP_KEY == DATA_TIMESTAMP_KEY
    assert "registry records last updated up to 2025-" in build_report(sqlite_store.engine).html
    set_state(sqlite_store.engine, {DATA_TIMESTAMP_KEY: "2026-11-27T09:00:05"})
    html = build_report(sqlite_store.engine).html
    assert "Data: ClinicalTrials.gov data of 2026-11-27T09:00:05" in html
    assert re.search(r"Run behind it: import #2 finished \S+ \S+ UTC "
                     r"\(read 42, new 41, changed 1, unchanged 0, rejected 0\)", html)


def test_csv_text_quotes_like_rfc4180():
    table = rd.Table(["a", "b"], [["x, y", 'say "hi"'], [None, 3]])
    assert csv_text(table) == 'a,b\n"x, y","say ""hi"""\n,3\n'


def test_cli_report(sqlite_store, tmp_path: Path):
    db = sqlite_store.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "landscape.html"
    result = CliRunner().invoke(app, ["report", "--db", db, "--out", str(out), "--since", "2024-01-01"])
    assert result.exit_code == 0, result.output
    assert re.match(r"wrote .*landscape\.html \(\d\.\d MB, [\d.]+ s\): 32 of 42 trials included, 8 charts, "
                    r"changes since 2024-01-01T00:00:00\+00:00", " ".join(result.output.split()))
    assert out.read_text().startswith("<!DOCTYPE html>")
    bad = CliRunner().invoke(app, ["report", "--db", db, "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "is a directory" in bad.output


def test_a_store_without_the_seed_has_no_graph(sqlite_engine):
    from kb.ingest.importer import import_paths
    from tests.conftest import CTGOV

    import_paths(sqlite_engine, [CTGOV / "domain/NCT06518668.json", CTGOV / "domain/NCT98000002.json"])
    result = build_report(sqlite_engine)
    assert "network" not in result.charts and (result.included, result.fetched) == (1, 2)
    assert "The seed trial is not in this store: no graph." in result.html
