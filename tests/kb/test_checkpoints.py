"""Write-ahead-log checkpoints: an import's workers leave them to the job's thread, which runs them."""

import sqlite3
import time

from sqlalchemy import func, select

from kb.ingest.importer import import_paths
from kb.store.checkpoints import WalCheckpoints, checkpoint, leave_checkpoints
from kb.store.db import PAGE_SIZE, init_db, make_engine
from kb.store.models import Trial
from tests.conftest import CTGOV, sqlite_store_of_4kb_pages
from tests.support.records import renumbered, write_jsonl

ROWS = 3000  # 3000 rows of 8 KB: about 1,500 pages of 16 KB, over SQLite's automatic checkpoint of 1,000


def _fill(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (n INTEGER PRIMARY KEY, text TEXT)")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO filler (text) VALUES (?)", [("x" * 8000,)] * ROWS)


def _rows_in_the_database_file(path) -> int:
    """Rows of ``filler`` in the database file itself (``immutable``: the log is not read)."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        try:
            return conn.execute("SELECT count(*) FROM filler").fetchone()[0]
        except sqlite3.OperationalError:  # the table itself is still in the log
            return 0


def test_a_commit_checkpoints_by_itself_unless_left_to_the_thread_which_then_copies_the_log(tmp_path):
    alone = make_engine(f"sqlite:///{tmp_path}/alone.db")
    _fill(alone)
    assert _rows_in_the_database_file(tmp_path / "alone.db") == ROWS  # the commit copied the log

    left = make_engine(f"sqlite:///{tmp_path}/left.db")
    leave_checkpoints(left)
    with WalCheckpoints(make_engine(f"sqlite:///{tmp_path}/left.db")) as checkpoints:
        _fill(left)
        assert _rows_in_the_database_file(tmp_path / "left.db") == 0  # still only in the log
        checkpoints.request()
        deadline = time.monotonic() + 5
        while checkpoints.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _rows_in_the_database_file(tmp_path / "left.db") == ROWS  # the thread's copy, before leaving's


def test_leaving_on_an_error_runs_no_last_checkpoint(tmp_path):
    left = make_engine(f"sqlite:///{tmp_path}/left.db")
    leave_checkpoints(left)
    try:
        with WalCheckpoints(make_engine(f"sqlite:///{tmp_path}/left.db")) as checkpoints:
            _fill(left)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert checkpoints.runs == 0 and _rows_in_the_database_file(tmp_path / "left.db") == 0


def test_checkpoint_reports_the_log_copied(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/kb.db")
    leave_checkpoints(engine)
    _fill(engine)
    pages, copied = checkpoint(engine)
    assert pages > 1000 and copied == pages


def test_an_import_with_workers_leaves_its_studies_in_the_database_file(tmp_path):
    """The workers never checkpoint; the job's last checkpoint copies the whole log into the file."""
    engine = make_engine(f"sqlite:///{tmp_path}/kb.db")
    init_db(engine)
    summary = import_paths(engine, [CTGOV / "domain"], workers=2, batch_size=10)
    assert summary.result.new == 42
    with sqlite3.connect(f"file:{tmp_path}/kb.db?immutable=1", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM trial").fetchone()[0] == 42
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Trial)).scalar_one() == 42


def test_the_workers_commits_never_checkpoint_the_log(tmp_path, monkeypatch):
    """With the job's checkpoints taken away, an import whose workers log over 1,000 pages (where a commit
    checkpoints by itself) leaves the database file without a trial: only the job copies the log."""
    from kb.ingest import importer

    class NoCheckpoints:  # the job's thread, taken away
        def __init__(self, engine):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def committed(self, studies):
            pass

    monkeypatch.setattr(importer, "WalCheckpoints", NoCheckpoints)
    studies = write_jsonl(tmp_path / "studies.jsonl", renumbered(CTGOV / "realworld", 800, "*.json"))
    engine = make_engine(f"sqlite:///{tmp_path}/kb.db")
    leave_checkpoints(engine)  # nor do the job's own commits (the run log, the products)
    with engine.connect() as kept_open:  # so that no last close copies the log either
        init_db(engine)
        summary = import_paths(engine, [studies], workers=2, batch_size=50)
        assert summary.result.new == 800
        assert (tmp_path / "kb.db-wal").stat().st_size > 1000 * PAGE_SIZE
        with sqlite3.connect(f"file:{tmp_path}/kb.db?immutable=1", uri=True) as conn:
            in_file = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'trial'").fetchone()[0]
        assert in_file == 0  # not even the schema: nothing was ever copied
        assert kept_open.execute(select(func.count()).select_from(Trial)).scalar_one() == 800


def test_a_checkpoint_that_fails_in_the_thread_is_logged_and_the_next_one_runs(tmp_path, monkeypatch, caplog):
    from kb.store import checkpoints as module

    calls = []
    real = module.checkpoint

    def failing_once(engine):
        calls.append(engine)
        if len(calls) == 1:
            raise RuntimeError("disk gone")
        return real(engine)

    monkeypatch.setattr(module, "checkpoint", failing_once)
    left = make_engine(f"sqlite:///{tmp_path}/left.db")
    leave_checkpoints(left)
    with WalCheckpoints(make_engine(f"sqlite:///{tmp_path}/left.db")) as checkpoints:
        _fill(left)
        checkpoints.request()
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        checkpoints.request()
        while checkpoints.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _rows_in_the_database_file(tmp_path / "left.db") == ROWS  # the thread's second one, not the last
    assert "checkpoint of the store's log failed: RuntimeError: disk gone" in caplog.text


def test_a_connection_left_to_the_job_still_checkpoints_a_log_grown_past_the_backstop(tmp_path, monkeypatch):
    from kb.store import checkpoints as module

    assert module.BACKSTOP_BYTES == 80 * 2**20
    monkeypatch.setattr(module, "BACKSTOP_BYTES", 1000 * PAGE_SIZE)  # SQLite's own 1,000 pages: _fill passes it
    left = make_engine(f"sqlite:///{tmp_path}/left.db")
    leave_checkpoints(left)
    _fill(left)  # no thread: the commit itself copies the log past the backstop
    assert _rows_in_the_database_file(tmp_path / "left.db") == ROWS


def test_the_thread_counts_only_the_checkpoints_made(tmp_path, monkeypatch):
    from kb.store import checkpoints as module

    calls = []
    monkeypatch.setattr(module, "checkpoint", lambda engine: calls.append(1))  # None: the store unreachable
    with WalCheckpoints(make_engine(f"sqlite:///{tmp_path}/kb.db")) as checkpoints:
        checkpoints.request()
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(calls) == 2 and checkpoints.runs == 0  # the thread's and the last one, both failed


def test_leaving_on_an_error_does_not_wait_for_a_slow_checkpoint(tmp_path, monkeypatch):
    from kb.store import checkpoints as module

    started = []
    monkeypatch.setattr(module, "checkpoint", lambda engine: (started.append(1), time.sleep(2)))
    begun = time.monotonic()
    try:
        with WalCheckpoints(make_engine(f"sqlite:///{tmp_path}/kb.db")) as checkpoints:
            checkpoints.request()
            while not started and time.monotonic() - begun < 5:
                time.sleep(0.01)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert started and time.monotonic() - begun < 1.0


def test_an_import_into_a_store_the_workers_cannot_reopen_opens_no_other_store(tmp_path, monkeypatch):
    """An in-memory store: the workers only prepare (the job writes), and never open the default store."""
    monkeypatch.delenv("TRIALKB_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    engine = make_engine("sqlite://")
    init_db(engine)
    summary = import_paths(engine, [CTGOV / "domain"], workers=2, batch_size=10)
    assert summary.result.new == 42 and not (tmp_path / "data").exists()


def test_committed_studies_ask_for_a_checkpoint_only_once_every_so_many(tmp_path, monkeypatch):
    from kb.store import checkpoints as module

    assert module.CHECKPOINT_STUDIES == 2_000
    calls = []
    monkeypatch.setattr(module, "checkpoint", lambda engine: calls.append(1))
    with WalCheckpoints(make_engine(f"sqlite:///{tmp_path}/kb.db"), every=1000) as checkpoints:
        for _ in range(3):
            checkpoints.committed(300)  # 900 studies: no checkpoint yet
        time.sleep(0.2)
        assert calls == []
        checkpoints.committed(300)  # 1,200: one, and the count starts again
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls == [1]
        checkpoints.committed(900)
        time.sleep(0.2)
        assert calls == [1]
    assert calls == [1, 1]  # leaving runs the last one


def test_the_backstop_is_the_same_size_of_log_whatever_the_stores_pages(tmp_path):
    from kb.store import checkpoints as module

    sqlite_store_of_4kb_pages(tmp_path / "old.db")
    assert module.BACKSTOP_BYTES == 80 * 2**20 and PAGE_SIZE == 16_384
    for name, pages in (("new.db", 5120), ("old.db", 20_480)):  # 80 MiB of pages of 16 KB, of 4 KB
        engine = make_engine(f"sqlite:///{tmp_path}/{name}")
        leave_checkpoints(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == pages
        engine.dispose()
