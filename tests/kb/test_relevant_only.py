"""import --relevant-only: the same relevant trials as a full import, a ledger of every study read, a second
import that reads only what changed, and an interrupted import that resumes."""

import json
import os
import re
import signal
import zipfile

import pytest
from sqlalchemy import select

from kb.core.errors import Interrupted
from kb.ingest.importer import import_paths
from kb.store.models import ImportLedger, Trial
from tests.conftest import CTGOV

FOLDERS = ("registry_samples", "realworld", "domain")


def _members() -> dict[str, bytes]:
    """Every real record, as a member of a registry-like archive (folders by the id's last digits)."""
    out = {}
    for folder in FOLDERS:
        for path in sorted((CTGOV / folder).rglob("NCT*.json")):
            out[f"{path.name[:9]}xx/{path.name}"] = path.read_bytes()
    return out


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return path


@pytest.fixture(scope="module")
def members():
    return _members()


def _relevant(engine):
    with engine.connect() as conn:
        return set(conn.execute(select(Trial.trial_id).where(Trial.is_relevant)).scalars())


def _trials(engine):
    with engine.connect() as conn:
        return set(conn.execute(select(Trial.trial_id)).scalars())


def _ledger(engine):
    with engine.connect() as conn:
        return {r.trial_id: r for r in conn.execute(select(ImportLedger))}


@pytest.mark.slow
def test_relevant_only_stores_the_relevant_trials_of_a_full_import(engine, members, tmp_path):
    archive = _zip(tmp_path / "ctg-studies.json.zip", members)
    summary = import_paths(engine, [archive], selection="car", workers=0)
    c = summary.counts()
    assert (c["read"], c["new"], c["skipped"], c["rejected"]) == (1295, 1179, 116, 0)
    relevant, stored = _relevant(engine), _trials(engine)
    assert len(relevant) == 157 and "NCT06464679" in relevant
    with engine.connect() as conn:  # only CAR cell therapies are stored
        assert set(conn.execute(select(Trial.is_car_therapy).distinct()).scalars()) == {True}
    ledger = _ledger(engine)
    assert len(ledger) == 1295 and {t for t, r in ledger.items() if r.decision == "stored"} == stored
    sample = ledger["NCT03475563"]  # a registry sample: skipped unparsed, its date read from the bytes
    assert (sample.decision, sample.reason, sample.last_update, sample.member) == (
        "skipped", "no CAR cue", "2019-11-27", "NCT034755xx/NCT03475563.json")
    after_car_t = ledger["NCT98000003"]  # a cue ('CAR-T' in the text), then the full rules said no
    assert after_car_t.decision == "skipped" and after_car_t.reason.startswith("not a CAR cell therapy: ")
    listed = ledger["NCT07715136"]  # a JSON array in a member: parsed, no member CRC (it could hold more)
    assert (listed.decision, listed.member) == ("stored", None)

    full = import_paths(engine, [archive], workers=0)  # the rest: every study stored
    assert (full.counts()["new"], full.counts()["unchanged"], full.unread) == (116, 1179, 1178)
    assert _relevant(engine) == relevant  # no skipped study was relevant
    assert len(_trials(engine)) == 1295


@pytest.mark.slow
def test_a_second_import_reads_only_what_changed(engine, members, tmp_path):
    first = _zip(tmp_path / "day1.zip", members)
    import_paths(engine, [first], selection="car", workers=0)
    again = import_paths(engine, [first], selection="car", workers=0)  # the same archive: nothing read
    assert (again.read, again.unread, again.counts()["unchanged"], again.counts()["skipped"]) == (1, 1294, 1179, 116)

    day2 = dict(members)  # the next day: every versionHolder moved, one CAR trial and one other study changed
    for name, body in day2.items():
        day2[name] = re.sub(rb'"versionHolder": "[^"]*"', b'"versionHolder": "2026-09-01"', body)
    seed = json.loads(day2["NCT064646xx/NCT06464679.json"])
    seed["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    seed["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-09-01", "type": "ACTUAL"}
    day2["NCT064646xx/NCT06464679.json"] = json.dumps(seed).encode()
    day2["NCT034755xx/NCT03475563.json"] = day2["NCT034755xx/NCT03475563.json"].replace(b"BiOSS", b"BIOSS")
    summary = import_paths(engine, [_zip(tmp_path / "day2.zip", day2)], selection="car", workers=0)
    c = summary.counts()
    # the 10 registry samples (their versionHolder moved) are read and hashed, not classified again
    assert (c["changed"], c["new"], c["unchanged"], c["skipped"], c["unread"]) == (1, 0, 1178, 116, 1283)
    ledger = _ledger(engine)
    assert ledger["NCT03475563"].run_id == summary.run_id and ledger["NCT03475563"].reason == "no CAR cue"
    assert ledger["NCT06464679"].last_update == "2026-09-01"


@pytest.mark.slow
def test_a_ledger_of_sha256_hashes_is_read_once_more_and_takes_the_new_hash(engine, members, tmp_path):
    """Ledger rows written before the record hash was XXH3-128 (SHA-256, 64 hex digits) match no record:
    a record read again (its member changed) is found unchanged by its content hash or classified again,
    and its row takes the new hash; a member unchanged by CRC-32 and size is still not read."""
    import_paths(engine, [_zip(tmp_path / "day1.zip", members)], selection="car", workers=0)
    with engine.begin() as conn:
        conn.execute(ImportLedger.__table__.update().values(record_hash="0" * 64))
    day2 = {name: re.sub(rb'"versionHolder": "[^"]*"', b'"versionHolder": "2026-09-01"', body)
            for name, body in members.items()}  # the registry samples' members change
    summary = import_paths(engine, [_zip(tmp_path / "day2.zip", day2)], selection="car", workers=0)
    c = summary.counts()
    assert (c["new"], c["changed"], c["unchanged"], c["skipped"], c["unread"]) == (0, 0, 1179, 116, 1284)
    ledger = _ledger(engine)
    read_again = {t for t, row in ledger.items() if row.run_id == summary.run_id}
    assert len(read_again) == 11 and {"NCT03475563", "NCT07715136"} <= read_again
    assert {len(ledger[t].record_hash) for t in read_again} == {32}
    assert {ledger[t].record_hash for t in set(ledger) - read_again} == {"0" * 64}
    assert (ledger["NCT03475563"].decision, ledger["NCT03475563"].reason) == ("skipped", "no CAR cue")


@pytest.mark.slow
def test_an_interrupted_import_resumes_where_it_stopped(sqlite_engine, members, tmp_path):
    archive = _zip(tmp_path / "ctg-studies.json.zip", members)
    batches = []

    def interrupt_after_two(n):
        batches.append(n)
        if len(batches) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does: the import stops before the next batch

    with pytest.raises(Interrupted):
        import_paths(sqlite_engine, [archive], selection="car", workers=0, batch_size=200,
                     on_batch=interrupt_after_two)
    assert batches == [200, 200] and len(_ledger(sqlite_engine)) == 400
    stored_first = _trials(sqlite_engine)
    summary = import_paths(sqlite_engine, [archive], selection="car", workers=0, batch_size=200)
    assert summary.unread == 399 and summary.read == 896  # the JSON array member is read again
    assert len(_ledger(sqlite_engine)) == 1295 and stored_first <= _trials(sqlite_engine)
    assert len(_relevant(sqlite_engine)) == 157


def test_the_command_says_what_it_skipped_and_refuses_a_lone_cell_therapy_flag(tmp_path):
    from typer.testing import CliRunner

    from apps.cli import app

    db = f"sqlite:///{tmp_path / 'kb.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["--db", db, "import", str(CTGOV / "domain"), "--relevant-only"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ("read 42, new 32, changed 0, unchanged 0, skipped (not relevant) 10, "
                                     "rejected 0, warnings 0")
    result = runner.invoke(app, ["--db", db, "import", str(CTGOV / "domain"), "--cell-therapy"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: --cell-therapy selects what --relevant-only keeps: give both"
