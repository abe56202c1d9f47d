"""A real ``trialkb import`` process stopped by SIGINT / SIGTERM / SIGKILL; run rows never stay running."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select

from kb.store.models import RunLog
from kb.store.runlog import abandon_dead_runs, start_run
from tests.conftest import CTGOV, ROOT
from tests.support.records import renumbered, write_jsonl

STUDIES = 12000
BATCH = 200


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory):
    """Real records under new NCT ids, as one JSON Lines file: long enough to interrupt."""
    return write_jsonl(tmp_path_factory.mktemp("big") / "studies.jsonl", renumbered(CTGOV / "realworld", STUDIES, "*.json"))


def _start_import(db, path):
    return subprocess.Popen([sys.executable, "-m", "apps.cli", "--db", str(db), "import", str(path),
                             "--batch-size", str(BATCH)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _count(db, table="trial"):
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_for_rows(db, process, at_least=BATCH, timeout=120):
    deadline = time.monotonic() + timeout
    while _count(db) < at_least:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the import stored nothing in time"
        time.sleep(0.1)


def _runs(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT status, counts FROM run_log ORDER BY id").fetchall()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.slow
def test_first_signal_stops_the_import_cleanly(tmp_path, big_jsonl, signum):
    db = tmp_path / "kb.db"
    process = _start_import(db, big_jsonl)
    _wait_for_rows(db, process)
    process.send_signal(signum)
    sent = time.monotonic()
    out, err = process.communicate(timeout=30)
    took = time.monotonic() - sent
    assert process.returncode == 130, err
    assert took < 5, f"took {took:.1f} s to stop"
    assert err.splitlines() == [err.strip()] and err.startswith(f"Error: interrupted by {signal.Signals(signum).name}")
    assert "Traceback" not in out + err
    stored = _count(db)
    assert BATCH <= stored < STUDIES and stored % BATCH == 0  # whole batches only
    assert _count(db, "raw_record") == stored
    [(status, counts)] = _runs(db)
    assert status == "interrupted" and json.loads(counts)["new"] == stored
    if signum == signal.SIGTERM:  # the re-run completes the store, nothing lost or doubled
        rerun = _start_import(db, big_jsonl)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err
        assert _count(db) == _count(db, "raw_record") == STUDIES
        assert [s for s, _ in _runs(db)] == ["interrupted", "ok"]


@pytest.mark.slow
def test_a_killed_import_is_marked_abandoned_by_the_next_run(tmp_path, big_jsonl):
    db = tmp_path / "kb.db"
    process = _start_import(db, big_jsonl)
    _wait_for_rows(db, process)
    process.kill()
    process.communicate()
    assert [s for s, _ in _runs(db)] == ["running"]
    committed = _count(db)
    again = subprocess.run([sys.executable, "-m", "apps.cli", "--db", str(db), "import",
                            str(CTGOV / "domain/NCT06464679.json")], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert [s for s, _ in _runs(db)] == ["abandoned", "ok"]
    with sqlite3.connect(db) as conn:  # what it committed, from its ledger rows (its counts had stayed empty)
        counts, errors = conn.execute("SELECT counts, errors FROM run_log WHERE id = 1").fetchone()
    assert BATCH <= committed < STUDIES
    assert json.loads(counts) == {"stored": committed, "skipped": 0}
    assert json.loads(errors) == [f"abandoned: the process running it ended without finishing it; its ledger rows "
                                  f"record {committed} studies it committed ({committed} stored, 0 skipped), which the next import need "
                                  "not store again"]


def test_only_dead_processes_of_this_host_are_abandoned(engine):
    gone = subprocess.Popen(["true"])
    gone.wait()
    now = datetime.now(timezone.utc)
    rows = [{"kind": "crawl", "started_at": now, "status": "running", "pid": gone.pid, "host": socket.gethostname()},
            {"kind": "crawl", "started_at": now, "status": "running", "pid": os.getpid(), "host": socket.gethostname()},
            {"kind": "crawl", "started_at": now, "status": "running", "pid": gone.pid, "host": "elsewhere"},
            {"kind": "import", "started_at": now, "status": "running", "pid": None, "host": None},
            {"kind": "import", "started_at": now, "status": "ok", "pid": gone.pid, "host": socket.gethostname()}]
    with engine.begin() as conn:
        conn.execute(insert(RunLog.__table__), rows)
    assert abandon_dead_runs(engine) == [1, 4]
    start_run(engine, "import", {})
    with engine.connect() as conn:
        statuses = conn.execute(select(RunLog.status).order_by(RunLog.id)).scalars().all()
    assert statuses == ["abandoned", "running", "running", "abandoned", "ok", "running"]



def test_a_stop_while_products_are_relearned_ends_the_run_interrupted_with_its_counts(sqlite_engine, monkeypatch):
    """Ctrl-C after the last batch, while the products are relearned: the relearning finishes (one short
    transaction: ADI-270 is learned from the real NCT06480565), the run is marked interrupted with its
    counts, and the job says it stopped (a KeyboardInterrupt there left the run ``running``)."""
    from kb.core.errors import Interrupted
    from kb.ingest import importer
    from kb.store.models import StoredProduct

    relearn = importer.relearn_if_stale

    def ctrl_c_while_relearning(engine):  # a real SIGINT, delivered to this process as the relearning starts
        os.kill(os.getpid(), signal.SIGINT)
        return relearn(engine)

    monkeypatch.setattr(importer, "relearn_if_stale", ctrl_c_while_relearning)
    with pytest.raises(Interrupted, match=r"every study is read and committed \(1 stored\) and the products relearned"):
        try:
            importer.import_paths(sqlite_engine, [CTGOV / "realworld" / "oncology" / "NCT06480565.json"], workers=0)
        except KeyboardInterrupt:
            pytest.fail("the Ctrl-C escaped the import, leaving its run running")
    with sqlite_engine.connect() as conn:
        [(status, counts)] = conn.execute(select(RunLog.status, RunLog.counts)).all()
        learned = conn.execute(select(StoredProduct.code, StoredProduct.status)).all()
    assert status == "interrupted"
    assert counts["new"] == counts["read"] == 1
    assert [tuple(row) for row in learned] == [("ADI-270", "learned")]



def test_a_relearning_that_never_ran_is_made_by_the_next_import_and_only_then(sqlite_engine, monkeypatch, tmp_path):
    """A second Ctrl-C during the relearning (or a killed job) leaves the products as they were, and the
    mark that trials were stored since: the archive's re-run, which writes nothing, relearns (ADI-270,
    learned from the real NCT06480565); a run after that, with nothing stale, does not relearn (it
    did after every import that saw a study, though only stored trials change what is learned)."""
    import zipfile

    from kb.ingest import importer
    from kb.store import products
    from kb.store.models import StoredProduct

    study = tmp_path / "registry.zip"
    with zipfile.ZipFile(study, "w") as archive:
        archive.write(CTGOV / "realworld" / "oncology" / "NCT06480565.json", "NCT06480565.json")

    def second_ctrl_c(conn):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(products, "relearn", second_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            importer.import_paths(sqlite_engine, [study], workers=0)
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(StoredProduct.code)).all() == []
        assert products.is_stale(conn)
    again = importer.import_paths(sqlite_engine, [study], workers=0)
    assert (again.result.new, again.result.changed, again.result.unchanged) == (0, 0, 1)
    assert again.products == {"learned": 1, "candidates": 0, "filled": 1}  # the trial itself, by its product
    with sqlite_engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(StoredProduct.code, StoredProduct.status))] == [("ADI-270", "learned")]
        assert not products.is_stale(conn)
    assert importer.import_paths(sqlite_engine, [study], workers=0).products is None


@pytest.mark.parametrize("workers", [0, 2])
def test_a_stop_after_the_last_batch_still_relearns_the_products(sqlite_engine, workers, monkeypatch):
    """Ctrl-C as the last batch is counted, before the relearning: it still runs (a re-run would store
    nothing, so it would never relearn), then the run ends interrupted, with nothing left to do. The
    workers' last tasks end a moment after their last write, so the job sees the stop while it waits
    for them (as with a large import)."""
    import functools
    import time

    from kb.core.errors import Interrupted
    from kb.ingest import importer
    from kb.ingest.importer import import_paths
    from kb.store.models import StoredProduct

    flush = importer.flush_in_worker

    @functools.wraps(flush)  # the workers (forked) find it under the function's own name
    def flush_then_linger(*args):
        flush(*args)
        time.sleep(0.5)

    monkeypatch.setattr(importer, "flush_in_worker", flush_then_linger)

    inputs = [CTGOV / "domain", CTGOV / "realworld" / "oncology" / "NCT06480565.json"]
    counted = []

    def ctrl_c_at_the_last_batch(studies):
        counted.append(studies)
        if sum(counted) == 43:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match=r"every study is read and committed \(43 stored\) and the products "
                                          r"relearned; nothing is left to do"):
        try:
            import_paths(sqlite_engine, inputs, workers=workers, batch_size=10, on_batch=ctrl_c_at_the_last_batch)
        except KeyboardInterrupt:
            pytest.fail("the Ctrl-C escaped the import")
    with sqlite_engine.connect() as conn:
        [(status, errors)] = conn.execute(select(RunLog.status, RunLog.errors)).all()
        assert "ADI-270" in conn.execute(select(StoredProduct.code)).scalars().all()
    assert status == "interrupted" and "nothing is left to do" in errors[0]
