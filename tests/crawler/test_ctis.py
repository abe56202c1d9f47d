"""The CTIS crawl: the real command (a subprocess per crawl) against a CTIS look-alike on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
from datetime import datetime

import pytest
from sqlalchemy import create_engine, select, text

from kb.analysis.changes import previous_run_start
from kb.store.db import open_store
from kb.store.models import CrawlState, RawRecord, Trial, TrialVersion
from kb.store.runlog import last_run
from kb.store.write import load_raw
from tests.conftest import DATA, FILES
from tests.crawler.conftest import FAST, TRIALKB, crawl
from tests.support.ctgov_server import CtgovTestServer, Fault, load_studies
from tests.support.ctis_server import CtisTestServer, load_trials

pytestmark = pytest.mark.slow  # real CTIS crawls against the look-alike: 1-3 s each

REAL = DATA / "registries" / "ctis"
CONSTRUCTED = ["2025-590001-11-00", "2025-590002-22-00", "2025-590003-33-00"]  # found by the CAR and disease searches
SEARCHES = 33


@pytest.fixture
def ctis():
    with CtisTestServer(load_trials(REAL, FILES / "ctis")) as server:
        yield server


def stored(db: str) -> dict[str, dict]:
    """Stored trials by id: registry, relevance, status, last update."""
    engine = create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(select(Trial.trial_id, Trial.registry_name, Trial.is_relevant, Trial.overall_status,
                                   Trial.last_update_posted_date)).all()
    engine.dispose()
    return {r[0]: {"registry": r[1], "relevant": r[2], "status": r[3], "updated": r[4]} for r in rows}


def retrieved(server: CtisTestServer) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in server.requests("/retrieve/")]


def search_pages(server: CtisTestServer) -> list[dict]:
    return [json.loads(r.params["body"]) for r in server.requests("/search")]


def test_a_crawl_searches_broadly_and_decides_locally(db, ctis):
    result = crawl(db, ctis)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"ctis crawl ok (run 1): {SEARCHES} searches, 3 trials retrieved (3 new, ")
    trials = stored(db)
    assert sorted(trials) == CONSTRUCTED  # the real trials (antifungal, antiviral) match no search
    assert [t for t, v in trials.items() if v["relevant"]] == ["2025-590001-11-00"]  # CAR-T in lupus
    assert {v["registry"] for v in trials.values()} == {"ctis"}
    assert sorted(retrieved(ctis)) == CONSTRUCTED  # each once, though several searches found them
    pages = search_pages(ctis)
    assert len(pages) == SEARCHES and {p["pagination"]["page"] for p in pages} == {1}
    assert {"containAny": "chimeric antigen receptor, chimeric antigen receptors, chimeric antigen-receptor, CAR-T, "
                          "CART, CARTs, CAR-T-cell, CAR-NK, CARNK, CAR-NKT, CAR-iNKT, CAR-DNT, CAR-M, CAR-macrophage, "
                          "CAR-engineered, CAR-modified, CAR-expressing, CAR-transduced, CAR cells, CAR T-cells, cCAR, "
                          "UCAR, UCART, U CAR-T, universal CAR, allogeneic CAR, autologous CAR, bispecific CAR, "
                          "tandem CAR, dual CAR, armored CAR, mRNA CAR, chimeric autoantibody receptor, CAAR, CAAR-T, "
                          "CAR-Treg, CAR Tregs, CAR regulatory, CAR-γδ, CAR-γδT, γδ CAR, CAR-gamma delta, "
                          "gamma delta CAR, CAR-gd, CAR-gdT"} in [p["searchCriteria"] for p in pages]
    run = last_run(open_store(db), "crawl")
    assert run["args"]["registry"] == "ctis" and run["counts"]["current"] == 0
    engine = open_store(db)
    with engine.connect() as conn:
        keys = conn.execute(select(CrawlState.key)).scalars().all()
    assert len(keys) == SEARCHES and all(k.startswith("ctis:watermark:") for k in keys)


def test_a_trial_asked_by_its_number_is_stored_as_ctrdata_stores_it(db, ctis):
    result = crawl(db, ctis, "--no-related", "--id", "2023-505613-24-00")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p["searchCriteria"] for p in search_pages(ctis)] == [{"number": "2023-505613-24-00"}]
    engine = open_store(db)
    with engine.connect() as conn:
        body = conn.execute(select(RawRecord.body).where(RawRecord.trial_id == "2023-505613-24-00")).scalar_one()
    copy_of_ctrdata = json.loads((REAL / "2023-505613-24-00.ctrdata-demo.json").read_text())
    for key in ("ctrname", "record_last_import"):
        del copy_of_ctrdata[key]
    assert load_raw(body) == copy_of_ctrdata  # the retrieve answer and its search row, merged as ctrdata does
    assert stored(db)["2023-505613-24-00"]["updated"] == "2025-08-19"


def test_an_unknown_number_is_a_warning(db, ctis):
    result = crawl(db, ctis, "--no-related", "--id", "2023-599999-99-00")
    assert result.returncode == 0
    assert "WARNING: 2023-599999-99-00 is not in the registry (HTTP 404)" in result.stderr


@pytest.mark.slow
def test_a_second_run_retrieves_only_the_changed_trial(db, ctis):
    assert crawl(db, ctis).returncode == 0
    changed = copy.deepcopy(ctis.trials["2025-590001-11-00"])
    changed |= {"ctStatus": 5, "ctPublicStatusCode": 5, "lastUpdated": "02/11/2026"}
    ctis.put(changed)
    ctis.log.clear()
    result = crawl(db, ctis)
    assert result.returncode == 0, result.stdout + result.stderr
    assert retrieved(ctis) == ["2025-590001-11-00"]
    assert result.stdout.startswith(f"ctis crawl ok (run 2): {SEARCHES} searches, 1 trials retrieved (0 new, 1 changed, "
                                    "0 unchanged, 2 up to date, not retrieved)")
    trial = stored(db)["2025-590001-11-00"]
    assert (trial["status"], trial["updated"]) == ("ACTIVE_NOT_RECRUITING", "2026-11-02")
    engine = open_store(db)
    with engine.connect() as conn:
        diff = conn.execute(select(TrialVersion.diff).where(TrialVersion.trial_id == "2025-590001-11-00")).scalar_one()
    assert diff["overall_status"] == ["RECRUITING", "ACTIVE_NOT_RECRUITING"]
    ctis.log.clear()
    assert crawl(db, ctis, "--full").returncode == 0  # --full retrieves every trial found
    assert sorted(retrieved(ctis)) == CONSTRUCTED


def test_small_pages_are_followed_from_page_one(db, ctis):
    result = crawl(db, ctis, "-s", "TRIALKB_CTIS_PAGE_SIZE=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(stored(db)) == CONSTRUCTED
    pages = [(json.dumps(p["searchCriteria"]), p["pagination"]["page"]) for p in search_pages(ctis)]
    car = json.dumps({"containAny": "autoleucel, ciloleucel"})[:30]
    assert sorted(page for criteria, page in pages if criteria.startswith(car)) == [1]  # no trial: one page
    most = max(sum(1 for c, _ in pages if c == criteria) for criteria, _ in pages)
    assert most == 2  # CAR wordings find the two CAR-T trials: pages 1 and 2 of one row each
    assert all(page >= 1 for _, page in pages)


@pytest.mark.slow
def test_faults_are_retried_and_the_crawl_completes(db, ctis):
    ctis.add_fault(Fault("429", path="POST /ctis-public-api/search", retry_after=1))
    ctis.add_fault(Fault("500", path="/retrieve/2025-590001-11-00"))
    ctis.add_fault(Fault("503", path="POST /ctis-public-api/search", times=2))
    ctis.add_fault(Fault("truncate", path="/retrieve/2025-590002-22-00"))
    ctis.add_fault(Fault("truncate", path='"medicalCondition":"lupus"'))
    result = crawl(db, ctis)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(stored(db)) == CONSTRUCTED
    statuses = [r.status for r in ctis.log]
    assert (statuses.count(429), statuses.count(500), statuses.count(503)) == (1, 1, 2)
    assert "answered HTTP 429; retrying in 1.0 s (retry 1 of 5)" in result.stderr
    assert "trial 2025-590002-22-00: body is not valid JSON" in result.stderr
    assert re.search(r"WARNING: search cell_therapy_x_lupus page 1: body is not valid JSON .*; fetching it again",
                     result.stderr)
    assert result.stdout.startswith(f"ctis crawl ok (run 1): {SEARCHES} searches, 3 trials retrieved (3 new, 0 changed, "
                                    "0 unchanged, 0 up to date, not retrieved), 0 rejected, 6 retries")


def summary_line(result: subprocess.CompletedProcess) -> str:
    """The run's summary among a failed crawl's stderr lines (warnings and progress come before it)."""
    return next(line for line in result.stderr.splitlines() if line.startswith("ctis crawl "))


@pytest.mark.slow
def test_a_search_that_fails_for_good_does_not_hold_back_the_others(db, ctis):
    ctis.add_fault(Fault("500", times=3, path="POST"))  # the first search: its answer and two retries
    result = crawl(db, ctis, "-s", "RETRY_TIMES=2")
    assert result.returncode == 1
    assert "\nctis crawl failed (run 1): 1 request(s) failed for good; their searches run again next time\n" in result.stderr
    assert re.search(r"  search \w+ page 1: HTTP 500\n", result.stderr)
    assert sorted(stored(db)) == CONSTRUCTED  # the other searches found them all


def test_a_search_past_ten_thousand_trials_fails_and_says_so(db, ctis):
    ctis.add_fault(Fault("oversize", path='"medicalCondition":"lupus"'))
    result = crawl(db, ctis)
    assert result.returncode == 1
    assert summary_line(result) == ("ctis crawl failed (run 1): searches that did not complete: "
                                             "cell_therapy_x_lupus; they run again next time")
    assert "  search cell_therapy_x_lupus: 10,001 trials, but CTIS answers only the first 10,000 of a search: " \
           "narrow it" in result.stderr
    assert sorted(stored(db)) == CONSTRUCTED  # what it answered is stored


def test_a_firewall_that_never_lets_go_stops_the_run_cleanly(db, ctis):
    ctis.add_fault(Fault("403", times=1000))
    result = crawl(db, ctis)
    assert result.returncode == 1
    assert summary_line(result) == (
        "ctis crawl failed (run 1): CTIS's firewall refused the crawl (HTTP 403, after retries); it blocks clients "
        "that send too much: run again later, or slower (-s DOWNLOAD_DELAY=2)")
    assert stored(db) == {}
    run = last_run(open_store(db), "crawl", status=None)
    assert run["status"] == "failed" and run["counts"]["new"] == 0
    assert [r.status for r in ctis.log] == [403] * 4  # the first search and three retries, then it stops


def test_a_changed_answer_is_not_read_as_no_trials(db, ctis):
    ctis.add_fault(Fault("shape", times=1000, path="POST"))
    result = crawl(db, ctis)
    assert (result.returncode, summary_line(result) + "\n") == (1, (
        "ctis crawl failed (run 1): CTIS's search answer has changed shape (no pagination.totalRecords or no data "
        "list); nothing was read as 'no trials': trialkb needs an update\n"))
    assert len(ctis.log) == 1


def test_answers_that_stay_truncated_fail_the_run(db, ctis):
    ctis.add_fault(Fault("truncate", times=1000, path="POST"))
    result = crawl(db, ctis, "-s", "TRIALKB_PAGE_RETRIES=1")
    assert (result.returncode, summary_line(result) + "\n") == (1, "ctis crawl failed (run 1): every request was refused (33); "
                                                     "nothing stored\n")
    assert len(ctis.log) == 66  # each search and its one re-fetch


def test_offline_is_one_line_within_seconds(db):
    started = time.monotonic()
    result = subprocess.run([TRIALKB, "--db", db, "crawl", "--registry", "ctis",
                             "--ctis-url", "https://nonexistent.invalid/ctis-public-api"],
                            capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    print(f"offline: {seconds:.1f} s: {result.stderr.strip()}")
    assert seconds < 30
    assert result.returncode == 1
    assert result.stderr == "ctis crawl failed (run 1): cannot reach nonexistent.invalid: DNS lookup failed; offline?\n"
    assert result.stdout == ""


def test_both_registries_run_one_after_the_other(db, ctis):
    with CtgovTestServer(load_studies(DATA / "ctgov_v2" / "domain")) as ctgov:
        result = subprocess.run([TRIALKB, "--db", db, "crawl", "--api-url", ctgov.url, "--ctis-url", ctis.url, *FAST],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("crawl ok (run 1): ") and lines[1].startswith("ctis crawl ok (run 2): ")
    registries = {v["registry"] for v in stored(db).values()}
    assert registries == {"ctgov", "ctis"}
    assert ctgov.requests("/api/v2/studies") and ctis.requests("/search")
    engine = open_store(db)
    first = last_run(engine, "crawl", status=None)["id"] - 1
    with engine.connect() as conn:
        started = conn.execute(text("SELECT started_at FROM run_log WHERE id = :i"), {"i": first}).scalar_one()
    assert previous_run_start(engine).replace(tzinfo=None) == datetime.fromisoformat(str(started))  # changes: both


def test_a_url_for_one_registry_crawls_only_that_one(db, ctis):
    result = crawl(db, ctis, "--no-related")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1  # the real ClinicalTrials.gov was not asked


def test_a_registry_that_is_not_crawled_is_refused(db):
    result = subprocess.run([TRIALKB, "--db", db, "crawl", "--registry", "chictr"], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (1, "Error: --registry takes ctgov or ctis, got 'chictr'\n")


@pytest.mark.postgres
@pytest.mark.slow
def test_a_crawl_into_postgresql(ctis, pg_schema_url):
    assert crawl(pg_schema_url, ctis).returncode == 0
    result = crawl(pg_schema_url, ctis)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 trials retrieved (0 new, 0 changed, 0 unchanged, 3 up to date" in result.stdout
    assert sorted(stored(pg_schema_url)) == CONSTRUCTED


@pytest.mark.slow
def test_requests_are_a_second_apart_and_say_who_sends_them(db, ctis):
    from importlib.metadata import version
    result = subprocess.run([TRIALKB, "--db", db, "crawl", "--ctis-url", ctis.url, "--no-related",
                             "--id", "2023-505613-24-00", "--id", "2024-510663-34-00"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    gaps = [b.at - a.at for a, b in zip(ctis.log, ctis.log[1:])]
    # DOWNLOAD_DELAY counts between sends; a loaded machine may start handling one a little late
    assert len(ctis.log) == 4 and sum(gaps) / len(gaps) >= 0.98 and min(gaps) >= 0.85
    assert {r.user_agent.split(" ")[0] for r in ctis.log} == {f"trialkb/{version('trialkb')}"}


def test_scrapy_crawl_ctis_from_the_project_root(db, ctis):
    from pathlib import Path

    from tests.conftest import ROOT
    scrapy = str(Path(TRIALKB).with_name("scrapy"))
    result = subprocess.run([scrapy, "crawl", "ctis", "-a", f"api_url={ctis.url}", "-a", "ids=2024-510663-34-00",
                             "-a", "related=0", "-s", f"TRIALKB_DB={db}", "-s", "DOWNLOAD_DELAY=0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(stored(db)) == ["2024-510663-34-00"]
    assert last_run(open_store(db), "crawl")["args"]["registry"] == "ctis"
