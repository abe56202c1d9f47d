"""The ctgov spider end to end: real Scrapy downloader, real HTTP server, real store."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, func, select

from kb.process.lock import CrawlLock
from crawler.plan import DATA_TIMESTAMP_KEY, watermark_key
from crawler.searches import base_queries, query_named
from tests.support.ctgov_server import Fault
from kb.store.db import make_engine, open_store
from kb.store.models import RawRecord, Trial, TrialCondition
from kb.store.read import get_history, get_trial
from kb.store.runlog import get_state, last_run
from tests.conftest import DATA, load
from tests.crawler.conftest import FAST, TRIALKB, crawl, wait_for_trials

CAR_TRIALS = sorted(r["nct_id"] for r in csv.DictReader((DATA / "labels/car_autoimmune_labels.csv").open())
                    if r["car_therapy"] == "yes")


def stored_ids(db: str) -> list[str]:
    engine = open_store(db)
    with engine.connect() as conn:
        return conn.execute(select(Trial.trial_id).order_by(Trial.trial_id)).scalars().all()


def run_log(db: str) -> dict:
    return last_run(open_store(db), "crawl", status=None)


@pytest.mark.slow
def test_seed_crawl_stores_the_seed_with_exact_values(db, server):
    result = crawl(db, server, "--no-related")
    assert result.returncode == 0, result.stderr[-3000:]
    assert stored_ids(db) == ["NCT06464679"]
    seed = get_trial(open_store(db), "NCT06464679")
    assert (seed["status"], seed["start_date"], seed["start_date_type"], seed["targets"], seed["cell_type"],
            seed["products"], seed["sponsor"]) == ("RECRUITING", "2024-06-27", "ACTUAL", ["CD19"], "NK",
                                                   ["KN5501"], "Changhai Hospital")
    assert run_log(db)["counts"]["new"] == 1
    assert [r.path for r in server.log] == ["/api/v2/version", "/api/v2/studies/NCT06464679"]
    with open_store(db).connect() as conn:  # the API's CommonMark escapes (\< 1.5) are decoded
        criteria = conn.execute(select(Trial.eligibility_criteria)).scalar_one()
    assert criteria == load("domain/NCT06464679.json")["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]


@pytest.mark.slow
def test_related_crawl_stores_every_car_trial_and_counts_match(db, server):
    result = crawl(db, server)
    assert result.returncode == 0, result.stderr[-3000:]
    ids = stored_ids(db)
    assert set(CAR_TRIALS) <= set(ids)
    run = run_log(db)
    assert run["status"] == "ok"
    assert run["counts"]["new"] == len(ids) == 37
    assert run["counts"]["rejected"] == 0
    searches = server.requests("/api/v2/studies")
    assert all(r.params["pageSize"] == "1000" for r in searches if "pageToken" not in r.params and r.params)
    with open_store(db).connect() as conn:
        relevant = conn.execute(select(Trial.trial_id).where(Trial.is_relevant)).scalars().all()
    assert "NCT98000003" in ids and "NCT98000003" not in relevant  # fetched, kept, marked not relevant
    assert set(CAR_TRIALS) <= set(relevant)


@pytest.mark.slow
def test_token_paging_keeps_the_other_parameters(db, server):
    result = crawl(db, server, "-s", "TRIALKB_PAGE_SIZE=7")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(stored_ids(db)) == 37
    pages = [r for r in server.requests("/api/v2/studies") if "pageToken" in r.params]
    assert len(pages) >= 5
    first_pages = {json.dumps({k: v for k, v in r.params.items() if k != "countTotal"}, sort_keys=True)
                   for r in server.requests("/api/v2/studies") if r.params and "pageToken" not in r.params}
    for page in pages:  # the same parameters; countTotal only on page one (the API counts there only)
        without = {k: v for k, v in page.params.items() if k != "pageToken"}
        assert json.dumps(without, sort_keys=True) in first_pages
        assert page.status == 200 and "countTotal" not in page.params
        assert len(page.params["pageToken"]) > 100 and set(page.params["pageToken"]) >= {"-", "_"}


@pytest.mark.slow
def test_second_run_with_nothing_changed_fetches_only_version(db, server):
    assert crawl(db, server).returncode == 0
    seen = len(server.log)
    second = crawl(db, server)
    assert second.returncode == 0
    assert [r.path for r in server.log[seen:]] == ["/api/v2/version"]
    assert run_log(db)["status"] == "skipped"


@pytest.mark.slow
def test_changed_record_yields_one_version_row_and_searches_use_the_watermark(db, server):
    server.put(load("history/NCT06464679.2024-06.json"))
    assert crawl(db, server).returncode == 0
    base_query = base_queries()[0]
    mark = get_state(open_store(db), watermark_key(base_query.key))  # the first run's date, not today's:
    server.put(load("domain/NCT06464679.json"))  # no wall clock in the test (it failed around UTC midnight)
    server.data_timestamp = "2026-11-27T09:00:00"
    seen = len(server.log)
    result = crawl(db, server)
    assert result.returncode == 0, result.stderr[-3000:]
    versions = get_history(open_store(db), "NCT06464679")["versions"]
    assert len(versions) == 1
    assert versions[0]["diff"]["overall_status"] == ["NOT_YET_RECRUITING", "RECRUITING"]
    assert run_log(db)["counts"]["changed"] == 1
    base = base_query.params["query.term"]
    windows = {r.params.get("filter.advanced") for r in server.log[seen:] if r.params.get("query.term") == base}
    day_before = (date.fromisoformat(mark) - timedelta(days=1)).isoformat()
    assert windows == {f"AREA[LastUpdatePostDate]RANGE[{day_before},MAX]"}


@pytest.mark.slow
def test_faults_are_retried_and_counted(db, server):
    server.add_fault(Fault("429", path="/api/v2/studies/NCT06464679", retry_after=1))
    server.add_fault(Fault("500", path="query.intr", times=2))
    server.add_fault(Fault("truncate", path="query.term"))
    server.add_fault(Fault("slow", path="filter.ids", seconds=1.5))
    result = crawl(db, server)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(stored_ids(db)) == 37
    run = run_log(db)
    assert run["status"] == "ok"
    assert run["counts"]["retries"] == 4  # one 429, two 500s, one corrupt page
    assert run["counts"]["corrupt_pages"] == 1
    seed_requests = server.requests("/api/v2/studies/NCT06464679")
    assert [r.status for r in seed_requests] == [429, 200]
    assert seed_requests[1].at - seed_requests[0].at >= 0.95  # Retry-After: 1 was honoured


@pytest.mark.slow
def test_page_that_stays_corrupt_is_reported_not_half_stored(db, server):
    server.add_fault(Fault("truncate", path="KN5501", times=10))
    result = crawl(db, server)
    assert result.returncode == 1
    run = run_log(db)
    assert run["status"] == "failed" and run["counts"]["finish_reason"] == "finished"
    assert run["counts"]["corrupt_pages"] == 4  # the first answer and three re-fetches
    assert any("not valid JSON" in e for e in run["errors"])
    assert {"NCT06010472", "NCT06421701", "NCT05030779"} <= set(stored_ids(db))  # found by the other searches
    assert "NCT06208280" not in stored_ids(db)  # 'F01': only the failed product search finds it
    engine = open_store(db)
    failed = [q for q in base_queries() if q.name.startswith("known_products") and "KN5501" in q.params["query.term"]]
    assert len(failed) == 1 and get_state(engine, watermark_key(failed[0].key)) is None  # searched again next run
    assert get_state(engine, watermark_key(query_named("car_therapies").key)) is not None


@pytest.mark.slow
def test_unknown_nct_id_is_reported(db, server):
    result = crawl(db, server, "--no-related", "--nct", "NCT99999999")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING: NCT99999999 is not in the registry (HTTP 404)\n" == result.stderr
    assert stored_ids(db) == ["NCT06464679"]


@pytest.mark.slow
@pytest.mark.parametrize("schema", [True, False], ids=["a store", "a new store"])
def test_a_crawl_on_a_locked_store_with_no_wait_refuses(db, server, schema):
    """A new store too: its schema is made under the lock (that wait had ignored --no-wait)."""
    lock = CrawlLock(open_store(db) if schema else make_engine(db), "import")
    lock.acquire()
    try:
        result = crawl(db, server, "--no-wait", timeout=30)
    finally:
        lock.release()
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: another trialkb writer (trialkb import pid {os.getpid()} on ")
    assert server.log == []


def _child_counts(db: str) -> dict[str, tuple[int, int]]:
    engine = create_engine(db)
    with engine.connect() as conn:
        conditions = dict(conn.execute(select(TrialCondition.trial_id, func.count()).group_by(TrialCondition.trial_id)).all())
        raws = set(conn.execute(select(RawRecord.trial_id)).scalars())
        ids = conn.execute(select(Trial.trial_id)).scalars().all()
    assert len(ids) == len(set(ids))
    return {i: (conditions.get(i, 0), int(i in raws)) for i in ids}


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            parents[int(entry)] = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    found, grew = {pid}, True
    while grew:
        new = {child for child, parent in parents.items() if parent in found and child not in found}
        found |= new
        grew = bool(new)
    return found - {pid}


def _gone(pids: set[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{p}") for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_killed_crawl_rerun_leaves_the_store_complete_without_duplicates(db, server, tmp_path):
    clean_db = f"sqlite:///{tmp_path / 'clean.db'}"
    assert crawl(clean_db, server, "-s", "TRIALKB_PAGE_SIZE=3").returncode == 0
    expected = _child_counts(clean_db)

    server.add_fault(Fault("slow", path="/api/v2/studies?", times=1000, seconds=0.5))  # every search page
    process = subprocess.Popen([TRIALKB, "--db", db, "crawl", "--api-url", server.url, *FAST,
                                "-s", "TRIALKB_PAGE_SIZE=3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stored = wait_for_trials(db, 3)
    helpers = _descendants(process.pid)  # the forkserver and the worker processes
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 3 <= stored < len(expected)  # killed mid-run
    assert helpers and _gone(helpers, within=10)  # no orphan keeps running (or holds memory) for ever
    assert _child_counts(db) == {i: expected[i] for i in _child_counts(db)}  # nothing half-written

    server.faults.clear()
    result = crawl(db, server, "-s", "TRIALKB_PAGE_SIZE=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _child_counts(db) == expected


def test_scrapy_list_from_the_project_root():
    from tests.conftest import ROOT
    scrapy = str(__import__("pathlib").Path(TRIALKB).with_name("scrapy"))
    result = subprocess.run([scrapy, "list"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["ctgov", "ctis"]


@pytest.mark.slow
def test_scrapy_crawl_from_the_project_root_with_a_jobdir(db, server, tmp_path):
    from pathlib import Path

    from tests.conftest import ROOT
    scrapy = str(Path(TRIALKB).with_name("scrapy"))
    result = subprocess.run([scrapy, "crawl", "ctgov", "-a", f"api_url={server.url}", "-a", "nct=NCT06010472",
                             "-s", f"TRIALKB_DB={db}", "-s", f"JOBDIR={tmp_path / 'job'}", *FAST],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(CAR_TRIALS) <= set(stored_ids(db))
    assert run_log(db)["status"] == "ok"
    assert (tmp_path / "job" / "requests.seen").exists()


@pytest.mark.slow
def test_a_crawl_closed_early_is_failed_and_does_not_mark_the_data_seen(db, server):
    result = crawl(db, server, "-s", "CLOSESPIDER_PAGECOUNT=2")
    run = run_log(db)
    assert result.returncode == 1
    assert (run["status"], run["counts"]["finish_reason"]) == ("failed", "closespider_pagecount")
    assert get_state(open_store(db), DATA_TIMESTAMP_KEY) is None  # the next run is not skipped
