"""Failures a user understands: offline, blocked, refused, rejected records, a dead worker, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
from sqlalchemy import func, select

from kb.process.lock import CrawlLock
from crawler.plan import watermark_key
from crawler.searches import query_named
from tests.support.ctgov_server import Fault, _markdown
from kb.store.db import open_store
from kb.store.models import RejectedRecord
from kb.store.runlog import get_state, last_run, start_run
from kb.store.write import decompress
from tests.conftest import load
from tests.crawler.conftest import FAST, TRIALKB, crawl, fixture_studies, wait_for_trials
from tests.crawler.test_ctgov import _descendants, run_log, stored_ids


@pytest.mark.slow
def test_offline_is_one_line_within_a_minute(db):
    started = time.monotonic()
    result = subprocess.run([TRIALKB, "--db", db, "crawl", "--api-url", "https://nonexistent.invalid/api/v2"],
                            capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    print(f"offline: {seconds:.1f} s: {result.stderr.strip()}")
    assert seconds < 60
    assert result.returncode == 1
    assert result.stderr == "crawl failed (run 1): cannot reach nonexistent.invalid: DNS lookup failed; offline?\n"
    assert result.stdout == ""  # an error goes to stderr, like every command's
    assert run_log(db)["status"] == "failed"
    CrawlLock(open_store(db)).acquire()  # released


@pytest.mark.slow
def test_a_bot_filter_that_never_lets_go_stops_the_run_with_advice(db, server):
    server.add_fault(Fault("403", times=1000))
    result = crawl(db, server)
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr and "DOWNLOAD_TLS_MAX_VERSION" in result.stderr
    assert "USER_AGENT" in result.stderr and "H2DownloadHandler" in result.stderr
    assert [r.status for r in server.log] == [403] * 4  # the first answer and three retries, then it stops
    waits = [b.at - a.at for a, b in zip(server.log, server.log[1:])]
    for wait, backoff in zip(waits, [0.2, 0.4, 0.8]):  # RETRY_BACKOFF_BASE=0.2, doubled: the waits really made
        assert backoff - 0.02 <= wait < backoff + 0.5
    assert "answered HTTP 403; retrying in 0.4 s (retry 2 of 3)" in result.stderr
    run = run_log(db)
    assert run["status"] == "failed" and run["counts"]["new"] == 0
    assert stored_ids(db) == []


@pytest.mark.slow
def test_the_user_agent_names_the_real_version(db, server):
    from importlib.metadata import version
    assert crawl(db, server, "--no-related").returncode == 0
    assert {r.user_agent.split(" ")[0] for r in server.log} == {f"trialkb/{version('trialkb')}"}


@pytest.mark.slow
def test_the_real_robots_txt_does_not_stop_the_api_crawl(db, server):
    from protego import Protego
    robots = Protego.parse(server.robots_txt)
    assert not robots.can_fetch(f"{server.url}/studies", "trialkb")  # the registry's robots.txt: Disallow: /api/
    assert robots.crawl_delay("trialkb") == 1.0
    result = crawl(db, server, "--no-related")
    assert result.returncode == 0, result.stderr
    assert stored_ids(db) == ["NCT06464679"]
    assert server.requests("/robots.txt") == []  # the API is not asked about


@pytest.mark.parametrize("value", ["NCT123", "NCT\u0660\u0666\u0664\u0666\u0664\u0666\u0667\u0669", "ISRCTN13281214"])
@pytest.mark.slow
def test_an_nct_argument_that_is_no_nct_id_is_refused_before_any_request(db, server, value):
    result = crawl(db, server, "--no-related", "--nct", value)
    assert result.returncode == 1
    message = (f"--nct takes a ClinicalTrials.gov id (NCT and 8 digits) or a CTIS number, got {value!r}"
               if value.startswith("ISRCTN") else f"{value!r} is not a trial id")
    assert result.stderr.startswith(f"Error: {message}") and result.stderr.count("\n") == 1
    assert server.log == []


def _malformed() -> dict:
    """A CAR trial in a shape the normalizer refuses (conditions as a string), under an unused id."""
    study = load("domain/NCT06464679.json")
    study["protocolSection"]["identificationModule"]["nctId"] = "NCT98000009"
    study["protocolSection"]["conditionsModule"]["conditions"] = "Lupus"
    return study


@pytest.mark.slow
def test_rejected_records_are_kept_hold_the_watermark_and_rebuild_recovers_them(db, server):
    server.put(_malformed())
    result = crawl(db, server, "-s", "TRIALKB_MAX_REJECTED_SHARE=0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    engine = open_store(db)
    with engine.connect() as conn:
        kept = conn.execute(select(RejectedRecord)).all()
    assert [(r.trial_id, r.run_id, r.reason) for r in kept] == [
        ("NCT98000009", 1, "conditions: expected list, got str 'Lupus'")]
    assert orjson.loads(decompress(kept[0].body)) == _markdown(_malformed())  # kept as fetched (CommonMark text)
    assert get_state(engine, watermark_key(query_named("car_therapies").key)) is None  # its searches run again next time
    assert get_state(engine, watermark_key(query_named("in_vivo_car").key)) is not None  # a search that did not meet it moves on
    assert "NCT98000009" not in stored_ids(db)

    from kb.store.rejects import recover_rejected
    fixed = [lambda study: {**study, "protocolSection": {**study["protocolSection"], "conditionsModule": {
        "conditions": [study["protocolSection"]["conditionsModule"]["conditions"]]}}}]
    assert recover_rejected(engine, transform=fixed[0]).new == 1  # after a fix, the record is stored
    assert "NCT98000009" in stored_ids(db)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RejectedRecord)).scalar_one() == 0


@pytest.mark.slow
def test_a_warning_is_named_in_the_run_log_and_under_the_summary(db, server):
    """A study whose status the registry added since: stored, kept as is, and the warning named (it was counted only)."""
    study = load("domain/NCT06464679.json")
    study["protocolSection"]["identificationModule"]["nctId"] = "NCT98000010"
    study["protocolSection"]["statusModule"]["overallStatus"] = "PAUSED_FOR_REVIEW"
    server.put(study)
    result = crawl(db, server)
    assert result.returncode == 0, result.stdout + result.stderr
    line = "warning NCT98000010: unknown overallStatus value 'PAUSED_FOR_REVIEW' kept as is"
    run = run_log(db)
    assert (run["status"], run["counts"]["warnings"], run["errors"]) == ("ok", 1, [line])
    lines = result.stdout.splitlines()
    assert lines[-1] == f"  {line}" and lines[-2].endswith(" 0 rejected, 0 retries, 1 warning")
    assert "NCT98000010" in stored_ids(db)


@pytest.mark.slow
def test_a_run_rejecting_too_much_fails(db, server):
    server.put(_malformed())
    result = crawl(db, server, "-s", "TRIALKB_MAX_REJECTED_SHARE=0.01")
    assert result.returncode == 1
    assert "1 of 38 records rejected (more than 1%): has the registry's format changed?" in result.stderr


@pytest.mark.slow
def test_a_store_with_no_room_stops_the_crawl_after_three_refused_pages(db, server):
    """A full disk refuses every write: after three pages in a row are refused the crawl stops with the cause in
    one line (the registry is not asked for pages that cannot be stored); what was stored before stays. The
    room is SQLite's own page limit, set on every connection of the real command's process."""
    engine = open_store(db)
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    engine.dispose()
    limited = ("import sys; from sqlalchemy import event; from sqlalchemy.pool import Pool; "
               f"event.listen(Pool, 'connect', lambda dbapi, _: dbapi.execute('PRAGMA max_page_count={pages + 3}')); "
               "from apps.cli import main; sys.argv[0] = 'trialkb'; main()")
    result = subprocess.run([sys.executable, "-c", limited, "--db", db, "crawl", "--api-url", server.url, *FAST,
                             "-s", "TRIALKB_PAGE_SIZE=3", "-s", "CONCURRENT_REQUESTS=1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-3000:]
    assert ("crawl failed (run 1): the store refused 3 pages in a row (database or disk is full); the pages stored "
            "before are kept and the searches left run again next time") in result.stderr.splitlines()
    assert result.stderr.count("not stored: database or disk is full") >= 3  # a small page may still fit between
    assert run_log(db)["status"] == "failed"
    assert 0 < len(stored_ids(db)) < len(fixture_studies())


@pytest.mark.slow
def test_a_killed_worker_fails_the_run_within_a_minute_and_frees_the_lock(db, server):
    server.add_fault(Fault("slow", path="/api/v2/studies?", times=1000, seconds=0.3))
    process = subprocess.Popen([TRIALKB, "--db", db, "crawl", "--api-url", server.url, *FAST, "-s", "TRIALKB_PAGE_SIZE=3",
                                "-s", "TRIALKB_WORKERS=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_trials(db, 2)
    helpers = {p for p in _descendants(process.pid) if b"crawler.page_workers" in _cmdline(p)}  # forkserver and workers
    workers = [p for p in helpers if _parent(p) in helpers]  # forked by the forkserver: the pool's workers
    assert workers
    killed = time.monotonic()
    os.kill(workers[-1], signal.SIGKILL)
    out, err = process.communicate(timeout=60)
    print(f"worker killed: run ended after {time.monotonic() - killed:.1f} s")
    assert time.monotonic() - killed < 60
    assert process.returncode == 1, out + err
    assert "a worker process died" in err
    assert run_log(db)["status"] == "failed"
    CrawlLock(open_store(db)).acquire()  # the lock is free


def _cmdline(pid: int) -> bytes:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return b""


def _parent(pid: int) -> int | None:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _interrupt(db: str, server, sig: int) -> tuple[subprocess.CompletedProcess, float]:  # type: ignore[no-untyped-def]
    server.add_fault(Fault("slow", path="/api/v2/studies?", times=1000, seconds=0.5))
    process = subprocess.Popen([TRIALKB, "--db", db, "crawl", "--api-url", server.url, *FAST, "-s", "TRIALKB_PAGE_SIZE=3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([r for r in server.requests("/api/v2/studies") if r.params]) < 4:
        time.sleep(0.05)  # searches are being paged
    sent = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err), time.monotonic() - sent


@pytest.mark.slow
def test_ctrl_c_stops_within_seconds_and_marks_the_run_interrupted(db, server):
    result, seconds = _interrupt(db, server, signal.SIGINT)
    print(f"SIGINT: stopped after {seconds:.1f} s: {result.stderr.strip()}")
    assert seconds < 10  # 1.8 s on an idle machine
    assert result.returncode == 130
    lines = result.stderr.strip().splitlines()  # progress lines (one per completed search), then one line
    assert lines[-1] == "crawl interrupted (run 1): interrupted: what was complete is stored, the rest rolled back"
    assert all(line.startswith("searches ") for line in lines[:-1]) and result.stdout == ""
    assert run_log(db)["status"] == "interrupted"
    CrawlLock(open_store(db)).acquire()


@pytest.mark.slow
def test_sigterm_does_the_same_and_the_next_run_completes(db, server):
    result, seconds = _interrupt(db, server, signal.SIGTERM)
    assert (result.returncode, seconds < 10) == (130, True)
    server.faults.clear()
    assert crawl(db, server).returncode == 0
    assert len(stored_ids(db)) == 37


@pytest.mark.slow
def test_a_run_left_running_by_a_dead_process_is_marked_abandoned(db, server):
    engine = open_store(db)
    gone = start_run(engine, "crawl", {})  # as a SIGKILLed crawl leaves it
    result = crawl(db, server, "--no-related")
    assert result.returncode == 0
    assert f"run {gone} was left 'running' by a crawl that is gone: marked abandoned" in result.stderr
    assert last_run(engine, "crawl", status="abandoned")["id"] == gone


@pytest.mark.slow
def test_requests_to_the_registry_are_a_second_apart(db, server):
    result = subprocess.run([TRIALKB, "--db", db, "crawl", "--api-url", server.url, "--no-related", "--nct", "NCT06010472"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    times = [r.at for r in server.log]
    assert len(times) == 3
    # DOWNLOAD_DELAY (robots.txt's Crawl-delay) counts between sends; arrival adds the first connection's set-up
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:]))
