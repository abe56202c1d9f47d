"""Writers that meet: imports, crawls and ``rebuild`` into one store take turns through one lock,
and every way an import ends is told truthfully in the run log. Real processes, both databases.
"""

from __future__ import annotations

import multiprocessing
import os
import select as fd_select  # sqlalchemy's select is the name select here
import signal
import sqlite3
import subprocess
import threading
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from kb.ingest.importer import import_paths, rebuild_store
from kb.process.lock import LockBusy, WriterLock
from kb.store.db import init_db, make_engine
from kb.store.models import RawRecord, RunLog, Trial, TrialCondition
from kb.store.runlog import last_run
from tests.conftest import CTGOV, ROOT, _pg_engine
from tests.support.records import renumbered, write_jsonl

AUTOIMMUNE = sorted((CTGOV / "realworld" / "autoimmune").glob("NCT*.json"))
ONCOLOGY = sorted((CTGOV / "realworld" / "oncology").glob("NCT*.json"))
SEED = CTGOV / "domain" / "NCT06464679.json"


def start_import(url: str, *paths: Path | str, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "apps.cli", "--db", url, "import", *map(str, paths), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def folder_of(tmp_path: Path, name: str, files: list[Path]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for path in files:
        (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):  # type: ignore[no-untyped-def]
    """(URL for a subprocess, engine) of a store that does not exist yet, on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.db'}"
        engine = make_engine(url)
        yield url, engine
        engine.dispose()
        return
    pg_url = request.getfixturevalue("pg_url")
    engine, admin, schema = _pg_engine(pg_url)
    yield f"{pg_url}?options=-csearch_path%3D{schema}", engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def stored(engine) -> tuple[list[str], int, int]:  # type: ignore[no-untyped-def]
    """Stored trial ids, raw records and condition rows."""
    with engine.connect() as conn:
        ids = conn.execute(select(Trial.trial_id).order_by(Trial.trial_id)).scalars().all()
        raws = conn.execute(select(func.count()).select_from(RawRecord)).scalar_one()
        conditions = conn.execute(select(func.count()).select_from(TrialCondition)).scalar_one()
    return ids, raws, conditions


def _connect_at_the_barrier(url: str, barrier, answers) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    barrier.wait()
    try:
        with engine.connect() as conn:
            answers.put(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
    except Exception as exc:  # noqa: BLE001  (the answer the test reports)
        answers.put(str(exc).splitlines()[0])


def test_two_connections_to_a_new_store_at_the_same_moment_both_open_it_in_wal_mode(tmp_path):
    """Both switch the empty file to WAL at once; the second's upgrade to a write fails at once with
    "database is locked" (SQLite calls no busy handler for it): before the retry, in a few rounds in a
    hundred on this machine."""
    context = multiprocessing.get_context("fork")
    answers = []
    for round_ in range(60):
        url = f"sqlite:///{tmp_path / f'kb{round_}.db'}"
        barrier, queue = context.Barrier(2), context.Queue()
        processes = [context.Process(target=_connect_at_the_barrier, args=(url, barrier, queue)) for _ in range(2)]
        for process in processes:
            process.start()
        answers += [queue.get(timeout=60), queue.get(timeout=60)]
        for process in processes:
            process.join(timeout=60)
    assert answers == ["wal"] * 120


def test_a_connection_to_a_new_store_waits_while_another_writes_its_first_page(tmp_path):
    """Another connection writes the new file's first page (in its rollback journal) for 0.3 s: the
    switch to WAL reads the header, cannot upgrade to a write, and tries again until the writer commits
    (before, it failed at once with "database is locked")."""
    path = tmp_path / "kb.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE first_page (x)")
    commit = threading.Timer(0.3, writer.execute, ("COMMIT",))
    commit.start()
    engine = make_engine(f"sqlite:///{path}")
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        commit.join()
        writer.close()
        engine.dispose()
    assert mode == "wal" and time.monotonic() - started >= 0.25


@pytest.mark.slow
def test_two_imports_at_once_both_finish_and_the_store_holds_the_union(store, tmp_path):
    url, engine = store
    first = folder_of(tmp_path, "a", AUTOIMMUNE[:80] + ONCOLOGY[:100])
    second = folder_of(tmp_path, "b", AUTOIMMUNE[40:] + ONCOLOGY[60:160])
    union = sorted({p.stem for p in AUTOIMMUNE + ONCOLOGY[:160]})
    assert len(union) == 280
    for round_ in range(3):  # the store is new in round one, then both re-import over each other
        a, b = start_import(url, first), start_import(url, second)
        (_, err_a), (_, err_b) = a.communicate(timeout=300), b.communicate(timeout=300)
        assert (a.returncode, b.returncode) == (0, 0), err_a + err_b
        for err in (err_a, err_b):
            assert err == "" or err.startswith("waiting for another trialkb writer ("), err  # its name, or the lock file while it starts
        ids, raws, conditions = stored(engine)
        assert ids == union and raws == 280
        if round_ == 0:
            expected_conditions = conditions
        assert conditions == expected_conditions
    with engine.connect() as conn:
        assert conn.execute(select(RunLog.status)).scalars().all() == ["ok"] * 6


@pytest.mark.slow
def test_an_import_waits_for_the_lock_and_says_so(store, tmp_path):
    url, engine = store
    init_db(engine)
    import_paths(engine, [SEED], workers=0)  # the store exists
    lock = WriterLock(engine, "crawl")
    lock.acquire()
    try:
        waiting = start_import(url, CTGOV / "domain" / "NCT05030779.json")
        deadline = time.monotonic() + 30
        line = waiting.stderr.readline()
        assert time.monotonic() < deadline
        assert line.startswith(f"waiting for another trialkb writer (trialkb crawl pid {os.getpid()} on ")
        time.sleep(0.5)
        assert waiting.poll() is None
    finally:
        lock.release()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert stored(engine)[0] == ["NCT05030779", "NCT06464679"]


BUSY = "is writing to this store; run again later, or without --no-wait to wait for it\n"
"""How the refusal of ``--no-wait`` ends."""


def import_no_wait(url: str) -> subprocess.CompletedProcess:
    """``trialkb import --no-wait`` of the seed, which returns at once (within 15 s) while the lock is held."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "apps.cli", "--db", url, "import", "--no-wait", str(SEED)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 15
    return result


def test_no_wait_fails_at_once_in_one_line(store):
    url, engine = store
    init_db(engine)
    import_paths(engine, [SEED], workers=0)
    lock = WriterLock(engine, "rebuild")
    lock.acquire()
    try:
        result = import_no_wait(url)
        with pytest.raises(LockBusy, match="another trialkb writer"):
            rebuild_store(engine, wait=False)
    finally:
        lock.release()
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: another trialkb writer (trialkb rebuild pid {os.getpid()} on ")
    assert result.stderr.endswith(BUSY)
    assert [status for _, status, _ in run_rows(engine)] == ["ok"]  # the refused import has no run row


def test_a_new_store_being_written_is_waited_for_saying_so_or_refused_with_no_wait(tmp_path):
    """The schema of a new store is made under the writer lock: a second command that finds it held (the
    first import already writing) says whom it waits for, and --no-wait fails at once (both had waited
    silently, --no-wait too, until the first import ended)."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    lock = WriterLock(make_engine(url), "import")  # a first import of a store with no schema yet
    lock.acquire()
    try:
        refused = import_no_wait(url)
        waiting = start_import(url, SEED)
        said = fd_select.select([waiting.stderr], [], [], 30)[0]  # silent, it would wait for the lock forever
        line = waiting.stderr.readline() if said else ""
        assert waiting.poll() is None
    finally:
        lock.release()
    out, err = waiting.communicate(timeout=60)
    holder = f"another trialkb writer (trialkb import pid {os.getpid()} on "
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"Error: {holder}")
    assert refused.stderr.endswith(BUSY)
    assert line.startswith(f"waiting for {holder}") and line.endswith("to finish with this store...\n")
    assert (waiting.returncode, out.splitlines()[0]) == (0, "read 1, new 1, changed 0, unchanged 0, rejected 0, warnings 0")


@pytest.mark.slow
def test_an_import_during_a_crawl_waits_and_both_are_stored(tmp_path):
    from tests.crawler.conftest import FAST, TRIALKB, fixture_studies, wait_for_trials
    from tests.support.ctgov_server import CtgovTestServer, Fault

    url = f"sqlite:///{tmp_path / 'kb.db'}"
    released = threading.Event()
    with CtgovTestServer(fixture_studies()) as server:
        # one of the crawl's searches waits until the import has said it waits, while the others store trials
        # (a crawl that ended before the import started would let it through: under load it did)
        server.add_fault(Fault("hold", path="/studies", after=4, until=released, seconds=120))
        crawl = subprocess.Popen([TRIALKB, "--db", url, "crawl", "--api-url", server.url, *FAST],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for_trials(url, 1) >= 1
            importing = start_import(url, folder_of(tmp_path, "in", ONCOLOGY[:50]))
            line = importing.stderr.readline()
        finally:
            released.set()
        crawled = crawl.communicate(timeout=300)
        imported = importing.communicate(timeout=300)
    assert line.startswith("waiting for another trialkb writer (trialkb crawl pid ")
    assert crawl.returncode == 0, crawled[1][-2000:]
    assert importing.returncode == 0, imported[1]
    engine = create_engine(url)
    ids = stored(engine)[0]
    assert {p.stem for p in ONCOLOGY[:50]} <= set(ids) and "NCT06464679" in ids
    with engine.connect() as conn:
        runs = conn.execute(select(RunLog.kind, RunLog.status).order_by(RunLog.id)).all()
    assert runs == [("crawl", "ok"), ("import", "ok")]


# ---------------------------------------------------------------- the run log tells the truth

def run_rows(engine) -> list[tuple[str, str, list]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(RunLog.kind, RunLog.status, RunLog.errors).order_by(RunLog.id))]


def test_an_empty_folder_is_an_empty_run_and_exit_1(store, tmp_path):
    url, engine = store
    init_db(engine)
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, "-m", "apps.cli", "--db", url, "import", str(tmp_path / "empty")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    reason = ("nothing imported: no API v2 study JSON or WHO ICTRP export found "
              "(.json, .jsonl, .ndjson, .xml, .csv or .zip)")
    assert result.stderr == f"Error: {reason}\n"
    assert run_rows(engine) == [("import", "empty", [reason])]


def test_every_record_rejected_is_a_failed_run(store, tmp_path):
    url, engine = store
    init_db(engine)
    path = tmp_path / "bad.json"
    path.write_text('[{"protocolSection": {}}, 7]')
    result = subprocess.run([sys.executable, "-m", "apps.cli", "--db", url, "import", str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    [(kind, status, errors)] = run_rows(engine)
    assert (kind, status) == ("import", "failed")
    assert errors == [f"nothing imported: all 2 records were rejected (first: {path}[0]: no "
                      "protocolSection.identificationModule.nctId)",
                      f"{path}[0]: no protocolSection.identificationModule.nctId",
                      f"{path}[1]: expected a study object, got int"]


def _big_jsonl(tmp_path: Path, count: int) -> Path:
    return write_jsonl(tmp_path / "big.jsonl", renumbered(CTGOV / "domain", count))


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _wait_for_workers(process: subprocess.Popen, count: int = 2, busy: float = 1.0) -> list[int]:
    deadline = time.monotonic() + 60
    while len(children := _children(process.pid)) < count:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(busy)  # the workers are busy with their first batch
    return children


@pytest.mark.slow
def test_sigterm_while_the_workers_are_busy_stops_within_seconds(tmp_path):
    """A batch of 3,000 studies keeps each worker busy for seconds: the stop does not wait for it."""
    db = tmp_path / "kb.db"
    process = start_import(f"sqlite:///{db}", _big_jsonl(tmp_path, 6000), extra=("--batch-size", "3000"))
    workers = _wait_for_workers(process)
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - sent
    print(f"stopped {took:.2f} s after SIGTERM")
    assert took < 3 and process.returncode == 130
    assert err.startswith("Error: interrupted by SIGTERM") and err.count("\n") == 1
    time.sleep(0.5)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # no orphan workers
    engine = create_engine(f"sqlite:///{db}")
    [(kind, status, errors)] = run_rows(engine)
    assert (kind, status) == ("import", "interrupted") and errors[0].startswith("interrupted by SIGTERM")


@pytest.mark.slow
def test_a_worker_that_dies_fails_the_run_in_one_line(tmp_path):
    db = tmp_path / "kb.db"
    process = start_import(f"sqlite:///{db}", _big_jsonl(tmp_path, 6000), extra=("--batch-size", "3000"))
    workers = _wait_for_workers(process, busy=0.0)  # killed while its batch is pending, however fast triage is
    os.kill(workers[0], signal.SIGKILL)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.startswith("Error: a worker process ended unexpectedly (killed, or out of memory?)")
    assert err.count("\n") == 1 and "Traceback" not in err
    [(kind, status, errors)] = run_rows(create_engine(f"sqlite:///{db}"))
    assert (kind, status) == ("import", "failed") and errors[0].startswith("WorkerFailed: a worker process ended")


# ---------------------------------------------------------------- ids stored before they were checked

def test_rebuild_reports_stored_ids_that_are_no_registry_id(engine):
    import_paths(engine, [SEED], workers=0)
    with engine.begin() as conn:
        raw = conn.execute(select(RawRecord.__table__)).mappings().one()
        trial = conn.execute(select(Trial.__table__)).mappings().one()
        for bad in ("NCT\u0660\u0666\u0664\u0666\u0664\u0666\u0667\u0669", "NCT91000009\n"):  # as 0.1 stored them
            conn.execute(insert(Trial.__table__).values({**trial, "trial_id": bad, "nct_id": None}))
            conn.execute(insert(RawRecord.__table__).values({**raw, "trial_id": bad}))
    result = rebuild_store(engine)
    assert [m for t, m in result.warnings if t == ""] == [
        "trial.trial_id 'NCT91000009\\n': blanks or a newline around the id",
        "trial.trial_id 'NCT٠٦٤٦٤٦٧٩': not ASCII (look-alike digits or letters): no registry's id",
        "raw_record.trial_id 'NCT91000009\\n': blanks or a newline around the id",
        "raw_record.trial_id 'NCT٠٦٤٦٤٦٧٩': not ASCII (look-alike digits or letters): no registry's id"]
    run = last_run(engine, "rebuild", status=None)
    assert (run["status"], run["counts"]["bad_ids"]) == ("ok", 4)


def _end_session(pg_schema_url: str, pid: int) -> None:
    """End one PostgreSQL session as a server restart or an administrator would."""
    admin = create_engine(pg_schema_url)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() is True
    admin.dispose()


@pytest.mark.postgres
def test_a_writer_lock_whose_session_the_server_ended_lets_go_without_an_error(pg_schema_url):
    """The server frees a session's advisory lock with the session: releasing it then is no error (it used to
    raise, and hide the error that had stopped the job), and the next writer takes the lock at once."""
    engine = make_engine(pg_schema_url)
    lock = WriterLock(engine, "import")
    lock.acquire(wait=False)
    assert lock._conn is not None
    _end_session(pg_schema_url, lock._conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    lock.release()
    WriterLock(engine, "crawl").acquire(wait=False)  # no LockBusy
    engine.dispose()


@pytest.mark.postgres
def test_a_postgresql_connection_the_server_ended_is_replaced_at_the_next_checkout(pg_schema_url):
    """A store's pooled connection whose session the server ended (a restart, a failover) is tested before use and
    replaced: a job that outlives a server restart writes its run log instead of failing on a dead connection."""
    engine = make_engine(pg_schema_url)
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    _end_session(pg_schema_url, first)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
    engine.dispose()
