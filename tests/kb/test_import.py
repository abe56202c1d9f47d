"""Bulk import: every input shape, and bad input reported and skipped with nothing else lost."""

import json
import zipfile

import pytest
from sqlalchemy import func, select

from kb.ingest.importer import import_paths
from kb.store.models import RunLog, Trial
from tests.conftest import CTGOV, load

SEED = "domain/NCT06464679.json"
OTHERS = ["domain/NCT06010472.json", "domain/NCT06518668.json", "registry_samples/NCT03475563.json"]


def _ids(engine):
    with engine.connect() as conn:
        return conn.execute(select(Trial.trial_id).order_by(Trial.trial_id)).scalars().all()


def test_directory_of_single_studies(sqlite_engine):
    summary = import_paths(sqlite_engine, [CTGOV / "domain"])
    assert summary.counts() == {"read": 42, "unread": 0, "new": 42, "changed": 0, "unchanged": 0, "skipped": 0, "history": 0, "rejected": 0, "warnings": 0, "duplicate_keys": 0}


def test_search_page_array_and_json_lines(sqlite_engine, tmp_path):
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": [load(SEED), load(OTHERS[0])], "nextPageToken": "abc"}))
    array = tmp_path / "array.json"
    array.write_text(json.dumps([load(OTHERS[1])]))
    lines = tmp_path / "studies.jsonl"
    lines.write_text(json.dumps(load(OTHERS[2])) + "\n\n")
    summary = import_paths(sqlite_engine, [page, array, lines])
    assert (summary.read, summary.result.new) == (4, 4)
    assert _ids(sqlite_engine) == ["NCT03475563", "NCT06010472", "NCT06464679", "NCT06518668"]


def test_zip_archive_with_bad_members(sqlite_engine, tmp_path):
    archive = tmp_path / "ctg-studies.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("NCT06464679.json", json.dumps(load(SEED)))
        zf.writestr("README.txt", "not a study")
        zf.writestr("NCT06010472.json", json.dumps(load(OTHERS[0]))[:500])
        zf.writestr("NCT06518668.json", json.dumps(load(OTHERS[1])))
    summary = import_paths(sqlite_engine, [archive])
    reasons = {r.origin.split(":")[-1]: r.reason for r in summary.rejected}
    assert reasons["README.txt"] == "not a JSON, XML or CSV member (.json, .jsonl, .ndjson, .xml, .csv); skipped"
    assert reasons["NCT06010472.json"].startswith("invalid JSON: unexpected end of data")
    assert _ids(sqlite_engine) == ["NCT06464679", "NCT06518668"]


@pytest.mark.parametrize("name,content,reason", [
    ("empty.json", "", "empty file"),
    ("truncated.json", '{"protocolSection": {"identificationModule": {"nctId": "NCT064', "invalid JSON"),
    ("classic.json", json.dumps({"FullStudiesResponse": {"APIVrs": "1.01.05", "FullStudies": []}}),
     "retired pre-v2 API format"),
    ("not_a_study.json", json.dumps({"hello": "world"}), "not an API v2 study: no protocolSection"),
])
def test_bad_file_is_reported_and_the_rest_stored(sqlite_engine, tmp_path, name, content, reason):
    bad = tmp_path / name
    bad.write_text(content)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(load(SEED)))
    summary = import_paths(sqlite_engine, [bad, good])
    assert [(r.origin, r.reason[:len(reason)]) for r in summary.rejected] == [(str(bad), reason)]
    assert _ids(sqlite_engine) == ["NCT06464679"]


def test_wrong_types_and_bad_phase_records_are_rejected_with_reasons(sqlite_engine, tmp_path):
    wrong = load(OTHERS[0])
    wrong["protocolSection"]["designModule"]["phases"] = "PHASE1"
    lines = tmp_path / "mixed.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in [wrong, load("registry_samples/synthetic_bad_phase.json"),
                                                        load(SEED)]))
    summary = import_paths(sqlite_engine, [lines])
    assert sorted((r.origin.rsplit(":", 1)[-1], r.reason) for r in summary.rejected) == [
        ("1", "phases: expected list, got str 'PHASE1'"),
        ("2", "invalid nctId 'NCT000001' (expected NCT and 8 ASCII digits, nothing around them)")]
    assert _ids(sqlite_engine) == ["NCT06464679"]


def test_run_log_records_counts_and_errors(sqlite_engine, tmp_path):
    bad = tmp_path / "empty.json"
    bad.write_text(" ")
    import_paths(sqlite_engine, [CTGOV / SEED, bad])
    with sqlite_engine.connect() as conn:
        run = conn.execute(select(RunLog.__table__)).mappings().one()
    assert run["kind"] == "import" and run["status"] == "ok"
    assert run["counts"] == {"read": 2, "unread": 0, "new": 1, "changed": 0, "unchanged": 0, "skipped": 0, "history": 0, "rejected": 1, "warnings": 0, "duplicate_keys": 0}
    assert run["errors"] == [f"{bad}: empty file"]


def test_batches_are_committed_as_they_go(sqlite_engine, tmp_path):
    lines = tmp_path / "s.jsonl"
    lines.write_text("\n".join(json.dumps(load(r)) for r in [SEED, *OTHERS]))
    seen = []

    def count(n):
        with sqlite_engine.connect() as conn:
            seen.append(conn.execute(select(func.count()).select_from(Trial)).scalar_one())

    import_paths(sqlite_engine, [lines], batch_size=2, on_batch=count)
    assert seen == [2, 4]


def test_unchanged_studies_are_not_normalized_again(engine):
    from kb.ingest.sources import iter_units
    from kb.ingest.triage import triage_units
    from kb.store.write import PreparedStudy

    import_paths(engine, [CTGOV / SEED], workers=0)
    units = [*iter_units(CTGOV / SEED), *iter_units(CTGOV / OTHERS[0])]
    batch = triage_units(units, engine, None, {})
    assert batch.unchanged == 1 and [type(p) for p in batch.items] == [PreparedStudy]
    again = import_paths(engine, [CTGOV / SEED, CTGOV / OTHERS[0]], workers=0)
    assert (again.result.unchanged, again.result.new) == (1, 1)


@pytest.mark.parametrize("workers", [0, 2])
def test_storing_everything_into_an_empty_store_looks_nothing_up_and_a_second_import_does(tmp_path, monkeypatch,
                                                                                         workers):
    """Into a store of no trial, no study has a stored record to compare with: the stored hashes and ledger rows
    are not read (a worker's look-ups, forked, are counted in a file); the next import reads them and finds
    every study unchanged."""
    from kb.ingest import triage
    from kb.store.db import init_db, make_engine

    looked = tmp_path / "looked"
    real = triage._lookups

    def counted(store, ids):
        if store is not None:
            with looked.open("a") as out:
                out.write(f"{len(ids)}\n")
        return real(store, ids)

    monkeypatch.setattr(triage, "_lookups", counted)
    engine = make_engine(f"sqlite:///{tmp_path}/kb.db")
    init_db(engine)
    first = import_paths(engine, [CTGOV / "domain"], workers=workers, batch_size=10)
    assert first.result.new == 42 and not looked.exists()
    again = import_paths(engine, [CTGOV / "domain"], workers=workers, batch_size=10)
    assert (again.result.new, again.result.unchanged) == (0, 42)
    assert sum(map(int, looked.read_text().split())) == 42


@pytest.mark.slow
def test_workers_of_a_killed_import_exit_too(tmp_path):
    """A SIGKILLed import leaves no worker process behind (they watch the import's process)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.crawler.test_ctgov import _descendants, _gone

    seed = load("history/NCT06464679.2024-06.json")
    with (tmp_path / "studies.jsonl").open("w") as out:
        for i in range(20_000):
            seed["protocolSection"]["identificationModule"]["nctId"] = f"NCT5{i:07d}"
            out.write(json.dumps(seed) + "\n")
    trialkb = str(Path(sys.executable).with_name("trialkb"))
    process = subprocess.Popen([trialkb, "--db", str(tmp_path / "kb.db"), "import", str(tmp_path / "studies.jsonl"),
                                "--batch-size", "50"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, workers = time.monotonic() + 60, set()
    while time.monotonic() < deadline and not workers and process.poll() is None:
        time.sleep(0.05)
        workers = _descendants(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert workers and _gone(workers, within=10)


def test_json_lines_are_read_in_pieces_with_their_line_numbers(sqlite_engine, tmp_path):
    from kb.ingest.sources import iter_units

    lines = tmp_path / "s.jsonl"
    records = [load(r) for r in [SEED, *OTHERS[:2]]] + [{"protocolSection": {}}] + [load(OTHERS[2])]
    lines.write_text("\n".join(json.dumps(r) for r in records))
    units = list(iter_units(lines, lines=2))
    assert [(u.first_line, u.studies) for u in units] == [(1, 2), (3, 2), (5, 1)]
    summary = import_paths(sqlite_engine, [lines], batch_size=2)
    assert [(r.origin, r.reason) for r in summary.rejected] == [
        (f"{lines}:4", "no protocolSection.identificationModule.nctId")]
    assert summary.result.new == 4


def test_a_damaged_archive_member_is_reported_and_the_others_stored(sqlite_engine, tmp_path):
    """Members are read at their offsets (no worker loads the archive's directory); damage is caught by CRC-32."""
    archive = tmp_path / "studies.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a/NCT06464679.json", (CTGOV / SEED).read_bytes())
        zf.writestr("b/NCT06010472.json", (CTGOV / OTHERS[0]).read_bytes())
    body = archive.read_bytes()
    at = body.index(b'"NCT06010472"')
    archive.write_bytes(body[:at] + b'"NCT06010473"' + body[at + 13:])
    summary = import_paths(sqlite_engine, [archive], workers=0)
    assert _ids(sqlite_engine) == ["NCT06464679"]
    assert [(r.origin, r.reason) for r in summary.rejected] == [
        (f"{archive}:b/NCT06010472.json",
         "unreadable archive member: CRC-32 or size does not match the archive's directory")]


def test_a_record_the_normalizer_rejects_is_kept_and_rebuild_recovers_it_once_fixed(engine, tmp_path):
    from kb.ingest.importer import import_status
    from kb.store.models import RejectedRecord
    from kb.store.rejects import recover_rejected

    study = load("domain/NCT06464679.json")
    study["protocolSection"]["conditionsModule"]["conditions"] = "Lupus"  # a string where the API gives a list
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(study))
    assert import_status(import_paths(engine, [path], workers=0))[0] == "failed"
    with engine.connect() as conn:
        kept = conn.execute(select(RejectedRecord.trial_id, RejectedRecord.reason)).all()
    assert [tuple(r) for r in kept] == [("NCT06464679", "conditions: expected list, got str 'Lupus'")]

    def fix(data: dict) -> dict:  # as a better normalizer would read it
        data["protocolSection"]["conditionsModule"]["conditions"] = ["Lupus"]
        return data

    assert recover_rejected(engine, transform=fix).new == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RejectedRecord)).scalar_one() == 0
        assert conn.execute(select(Trial.trial_id)).scalars().all() == ["NCT06464679"]



def test_a_deflated_member_is_stored_as_its_own_gzip_stream(engine, tmp_path):
    """The archive's compressed bytes become the raw record as they are (nothing compressed again); a stored
    (uncompressed) member and a search page are compressed as before; every body reads back as its study."""
    import gzip

    from kb.store.models import RawRecord
    from kb.store.write import GZIP_MAGIC, ZSTD_MAGIC, load_raw

    seed, other, stored = load(SEED), load(OTHERS[0]), load(OTHERS[1])
    seed_bytes = json.dumps(seed, indent=2).encode()
    archive = tmp_path / "ctg-studies.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("NCT06464679.json", seed_bytes)
        zf.writestr("page.json", json.dumps({"studies": [other]}))  # one study, but not the document
        zf.writestr(zipfile.ZipInfo("NCT06518668.json"), json.dumps(stored))  # ZIP_STORED
    assert import_paths(engine, [archive], workers=0).result.new == 3
    with engine.connect() as conn:
        bodies = dict(conn.execute(select(RawRecord.trial_id, RawRecord.body)).all())
    assert bodies["NCT06464679"][:2] == GZIP_MAGIC and gzip.decompress(bodies["NCT06464679"]) == seed_bytes
    assert bodies["NCT06010472"][:4] == ZSTD_MAGIC and bodies["NCT06518668"][:4] == ZSTD_MAGIC
    assert [load_raw(bodies[i]) for i in ("NCT06464679", "NCT06010472", "NCT06518668")] == [seed, other, stored]


def test_workers_write_their_batches_in_input_order(engine, tmp_path):
    """Two records of one trial with the same update date: the later one in the input is the current one,
    whichever worker prepared it (each worker writes its own batch, in turn): the first is the slowest to
    prepare, so the other worker has the rest ready before it."""
    from kb.store.models import TrialVersion

    first, later = load(SEED), load(SEED)
    first["protocolSection"]["identificationModule"]["briefTitle"] = "The first record"
    first["protocolSection"]["descriptionModule"]["detailedDescription"] = " CD19 CAR-NK cells in lupus." * 30_000
    later["protocolSection"]["identificationModule"]["briefTitle"] = "The later record"
    lines = tmp_path / "s.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in [first, *map(load, OTHERS), later]))
    summary = import_paths(engine, [lines], batch_size=1, workers=2)
    assert (summary.read, summary.result.new, summary.result.changed) == (5, 4, 1)
    with engine.connect() as conn:
        assert conn.execute(select(Trial.brief_title).where(Trial.trial_id == "NCT06464679")).scalar_one() == \
            "The later record"
        assert conn.execute(select(func.count()).select_from(TrialVersion)).scalar_one() == 1


def test_relevant_only_with_workers_keeps_a_stored_trial_current_from_a_later_batch(engine, tmp_path):
    """--relevant-only skips a study by whether its trial is stored, so a batch must not be triaged ahead of
    an earlier one's commit: a later, not relevant record of a CAR trial stored two batches before is that
    trial's update (found in review: a worker preparing ahead skipped it, 2 runs in 2)."""
    first, later = load(SEED), load(OTHERS[2])
    first["protocolSection"]["descriptionModule"]["detailedDescription"] = " CD19 CAR-NK cells in lupus." * 30_000
    later["protocolSection"]["identificationModule"]["nctId"] = "NCT06464679"
    later["protocolSection"]["identificationModule"]["briefTitle"] = "The later record"
    later["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2030-01-01", "type": "ACTUAL"}
    lines = tmp_path / "s.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in [first, *map(load, OTHERS[:2]), later]))
    summary = import_paths(engine, [lines], batch_size=1, workers=2, selection="car")
    assert (summary.result.new, summary.result.changed) == (3, 1)  # the two between are CAR trials too
    with engine.connect() as conn:
        assert conn.execute(select(Trial.brief_title).where(Trial.trial_id == "NCT06464679")).scalar_one() == \
            "The later record"


def test_a_worker_keeps_a_batch_until_its_turn_and_writes_it_between_parts_of_the_next(tmp_path, monkeypatch):
    """In one process, as a worker: a batch whose turn has not come is kept, not waited for; it is written
    as soon as its turn comes, between two parts of the next batch's triage, and reported; the last one
    is written by the flush."""
    from multiprocessing import SimpleQueue

    from kb.ingest import importer, triage
    from kb.ingest.sources import iter_units
    from kb.process.turns import Turns
    from kb.store.db import init_db, make_engine

    monkeypatch.setattr(triage, "_worker_engine", None)  # this process's worker engine is this test's store
    monkeypatch.setattr(importer, "PART_SIZE", 1)
    db_url = f"sqlite:///{tmp_path}/kb.db"
    engine = make_engine(db_url)
    init_db(engine)
    turns, reports = Turns(), SimpleQueue()
    importer._start_writer(turns, reports, db_url)
    units = [u for name in [SEED, *OTHERS[:2]] for u in iter_units(CTGOV / name)]

    importer.write_in_worker(units[:1], db_url, None, 1, None, 100)  # turn 0 (another worker's) not written
    assert (len(importer._held), reports.empty(), _ids(engine)) == (1, True, [])
    with turns.turn(0) as go:  # the other worker commits turn 0
        assert go
    seen = []  # what is stored as each part of the next batch is triaged
    triage_part = importer.triage_in_worker
    monkeypatch.setattr(importer, "triage_in_worker", lambda *args: (seen.append(_ids(engine)), triage_part(*args))[1])
    importer.write_in_worker(units[1:], db_url, None, 3, None, 100)
    assert seen == [["NCT06464679"], ["NCT06464679"]]  # written before the first part, not after the last
    written = reports.get()
    assert (written.written.new, written.written_items, written.studies) == (1, 1, 1)
    assert reports.empty() and _ids(engine) == ["NCT06464679"] and [t for t, _ in importer._held] == [3]
    with turns.turn(2) as go:
        assert go
    importer.flush_in_worker(db_url, None, 100)
    assert reports.get().written.new == 2 and not importer._held
    assert _ids(engine) == ["NCT06010472", "NCT06464679", "NCT06518668"]
    triage.worker_engine(db_url).dispose()


def test_the_last_batches_of_an_input_are_split_smaller():
    """The studies of the last ``last`` groups come in groups four times smaller (a unit is never split)."""
    from kb.ingest.importer import _unit_batches
    from kb.ingest.sources import SourceUnit

    units = [SourceUnit(f"u{n}", f"u{n}", studies=1) for n in range(20)]
    assert [len(g) for g in _unit_batches(units, 4, last=2)] == [4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1]
    assert [len(g) for g in _unit_batches(units, 4)] == [4, 4, 4, 4, 4]
    assert [len(g) for g in _unit_batches(units[:3], 4, last=2)] == [1, 1, 1]


@pytest.mark.slow
def test_the_progress_bar_on_a_terminal_counts_the_inputs_and_a_pipe_gets_none(tmp_path):
    """On a terminal the bar shows done/total of the archive's members; without one nothing is drawn, and the
    inputs are not counted beforehand (a nightly job's stderr is a file)."""
    import os
    import pty
    import subprocess
    import sys
    import threading
    from pathlib import Path

    archive = tmp_path / "studies.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((CTGOV / "domain").glob("NCT*.json"))[:12]:
            out.write(path, path.name)
    trialkb = str(Path(sys.executable).with_name("trialkb"))
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    primary, secondary = pty.openpty()
    drawn = bytearray()

    def read_terminal() -> None:  # while the import draws: a full terminal buffer would block it
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the other end is closed: all read
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    process = subprocess.run([trialkb, "--db", str(tmp_path / "tty.db"), "import", str(archive)], env=env,
                             stdout=subprocess.PIPE, stderr=secondary, timeout=120)
    os.close(secondary)
    reader.join(10)
    os.close(primary)
    assert process.returncode == 0 and b"read 12, new 12" in process.stdout
    assert b"importing" in drawn and b"12/12" in drawn
    piped = subprocess.run([trialkb, "--db", str(tmp_path / "pipe.db"), "import", str(archive)], env=env,
                           capture_output=True, timeout=120)
    assert piped.returncode == 0 and b"importing" not in piped.stderr


def test_an_import_the_store_stops_says_what_it_kept_and_the_next_one_finishes(tmp_path):
    """A full store ('database or disk is full': here SQLite's page limit, as a full disk gives it) stops the
    import with one line that says how many studies the committed batches hold and that another import
    finishes; the run is marked failed; with room again, the next import stores only the rest."""
    from sqlalchemy import event

    from kb.core.errors import JobFailed
    from kb.store.db import init_db, make_engine

    url = f"sqlite:///{tmp_path / 'kb.db'}"
    full = make_engine(url)
    init_db(full)
    with full.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    full.dispose()
    event.listen(full, "connect", lambda dbapi, _: dbapi.execute(f"PRAGMA max_page_count={pages + 4}"))
    domain = sorted((CTGOV / "domain").glob("NCT*.json"))
    with pytest.raises(JobFailed) as failed:
        import_paths(full, [CTGOV / "domain"], batch_size=5, workers=0)
    full.dispose()
    stored = _ids(make_engine(url))
    assert 0 < len(stored) < len(domain) and len(stored) % 5 == 0
    assert str(failed.value) == (f"database error: database or disk is full (run 1 marked failed); {len(stored)} "
                                 "studies of complete batches committed; run the import again to finish")
    roomy = make_engine(url)
    with roomy.connect() as conn:
        run = conn.execute(select(RunLog.__table__)).mappings().one()
    assert (run["status"], run["counts"]["new"], run["errors"]) == (
        "failed", len(stored), ["OperationalError: database or disk is full"])
    again = import_paths(roomy, [CTGOV / "domain"], batch_size=5, workers=0)
    assert (again.result.new, again.result.unchanged) == (len(domain) - len(stored), len(stored))
    assert _ids(roomy) == sorted(p.stem for p in domain)
    roomy.dispose()


def test_a_rebuild_the_store_stops_says_how_far_it_came(tmp_path):
    """A rebuild in a store with no room left: one line says how many trials the committed batches
    re-normalized and that another rebuild finishes; the run is marked failed; with room, it does."""
    from sqlalchemy import event

    from kb.core.errors import JobFailed
    from kb.ingest.importer import rebuild_store
    from kb.store.db import init_db, make_engine

    url = f"sqlite:///{tmp_path / 'kb.db'}"
    roomy = make_engine(url)
    init_db(roomy)
    import_paths(roomy, [CTGOV / "domain"], workers=0)
    with roomy.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    full = make_engine(url)
    event.listen(full, "connect", lambda dbapi, _: dbapi.execute(f"PRAGMA max_page_count={pages}"))
    with pytest.raises(JobFailed) as failed:
        rebuild_store(full, batch_size=5)
    full.dispose()
    done = int(str(failed.value).split("; ")[1].split(" of ")[0])
    assert 0 < done < 42 and done % 5 == 0
    assert str(failed.value) == (f"database error: database or disk is full (run 2 marked failed); {done} of 42 trials "
                                 "re-normalized before it, each batch whole; run the rebuild again to finish")
    with roomy.connect() as conn:
        assert conn.execute(select(RunLog.status).where(RunLog.id == 2)).scalar_one() == "failed"
    assert rebuild_store(roomy).changed == 42
    roomy.dispose()
