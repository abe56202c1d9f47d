"""Hostile input: files that are no files, archives that lie, ids that only look like ids, repeated keys.

Real ``trialkb import`` processes where the behaviour is about a process (blocking, memory, exit);
the library where it is about what is read.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from kb.ingest import sources
from kb.ingest.importer import import_paths, rebuild_store
from kb.ingest.sources import duplicate_keys, iter_units, read_path
from kb.store.models import RawRecord, Trial
from kb.store.runlog import MAX_LOGGED_ERRORS, finish_run, last_run, start_run
from kb.store.write import load_raw
from tests.conftest import CTGOV, ROOT
from tests.support.records import renumbered

SEED = CTGOV / "domain" / "NCT06464679.json"
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
"""Runs a command and prints the peak resident memory (KiB) of it and its workers, and its exit code."""


def trialkb(db: Path, *args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apps.cli", "--db", str(db), "import", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def peak_import(db: Path, path: Path, env: dict | None = None) -> tuple[int, int, float, str]:
    """(peak KiB, exit code, seconds, stderr) of ``trialkb import path`` in a fresh parent process."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "apps.cli", "--db", str(db),
                             "import", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **(env or {})})
    peak, code = result.stdout.split()[-2:]
    return int(peak), int(code), time.monotonic() - started, result.stderr


def run_row(db: Path) -> tuple[str, dict, list]:
    with sqlite3.connect(db) as conn:
        status, counts, errors = conn.execute("SELECT status, counts, errors FROM run_log ORDER BY id DESC").fetchone()
    return status, json.loads(counts), json.loads(errors)


def seed_with_id(nct_id: str) -> dict:
    study = json.loads(SEED.read_text())
    study["protocolSection"]["identificationModule"]["nctId"] = nct_id
    return study


# ---------------------------------------------------------------- only regular files

def test_a_fifo_named_on_the_command_line_is_refused_in_one_line(tmp_path):
    fifo = tmp_path / "studies.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = trialkb(tmp_path / "kb.db", str(fifo), timeout=15)
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert result.stderr == (f"Error: nothing imported: all 1 records were rejected (first: {fifo}: a FIFO, not a "
                             "regular file: not read)\n")
    assert run_row(tmp_path / "kb.db")[0] == "failed"


def test_dev_zero_is_refused_at_once(tmp_path):
    started = time.monotonic()
    result = trialkb(tmp_path / "kb.db", "/dev/zero", timeout=15)
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert "/dev/zero: a character device, not a regular file: not read" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_a_fifo_and_a_socket_in_a_folder_are_named_and_the_rest_imported(tmp_path, sqlite_engine):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "NCT06464679.json").write_bytes(SEED.read_bytes())
    os.mkfifo(folder / "pipe.json")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "sock.json"))
    try:
        summary = import_paths(sqlite_engine, [folder], workers=0)
    finally:
        listener.close()
    assert summary.result.new == 1
    assert [(r.origin, r.reason) for r in summary.rejected] == [
        (str(folder / "pipe.json"), "a FIFO, not a regular file: not read"),
        (str(folder / "sock.json"), "a socket, not a regular file: not read")]


# ---------------------------------------------------------------- bounded reads

def test_a_member_above_the_cap_is_rejected_with_its_name_and_size_and_the_rest_imported(tmp_path, monkeypatch):
    archive = tmp_path / "mixed.zip"
    big = json.dumps(seed_with_id("NCT91000001")).encode() + b" " * 2_000_000
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
        out.write(SEED, "NCT06464679.json")
        out.writestr("NCT91000001.json", big)
        out.write(CTGOV / "domain" / "NCT05030779.json", "NCT05030779.json")
    monkeypatch.setenv("TRIALKB_MAX_FILE_MB", "1")
    records = list(read_path(archive))
    assert [(r.origin, r.error) for r in records if r.error] == [
        (f"{archive}:NCT91000001.json", f"archive member of {len(big):,} bytes, above the 1 MiB cap per file "
                                        "and archive member (set TRIALKB_MAX_FILE_MB to read it); skipped")]
    assert [r.data["protocolSection"]["identificationModule"]["nctId"] for r in records if not r.error] == [
        "NCT06464679", "NCT05030779"]


def test_a_file_above_the_cap_is_rejected_with_its_size(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_bytes(SEED.read_bytes() + b" " * 1_100_000)
    monkeypatch.setenv("TRIALKB_MAX_FILE_MB", "1")
    [unit] = iter_units(path)
    assert unit.error == (f"file of {path.stat().st_size:,} bytes, above the 1 MiB cap per file and archive "
                          "member (set TRIALKB_MAX_FILE_MB to read it); skipped")


def test_a_large_search_page_is_streamed_study_by_study_with_exact_origins(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "STREAM_BYTES", 1000)
    page = tmp_path / "page.json"
    studies = [seed_with_id(f"NCT9100000{n}") for n in range(5)]
    page.write_text(json.dumps({"studies": studies, "nextPageToken": "abc"}, indent=1))
    units = list(iter_units(page, lines=2))
    assert [(u.origin, u.first_line, u.studies) for u in units] == [
        (f"{page} item", 1, 2), (f"{page} item", 3, 2), (f"{page} item", 5, 1)]
    records = list(read_path(page))
    assert [(r.origin, r.data["protocolSection"]["identificationModule"]["nctId"]) for r in records] == [
        (f"{page} item:{n + 1}", f"NCT9100000{n}") for n in range(5)]
    assert records[0].data == studies[0]
    page.write_bytes(b"\xef\xbb\xbf" + page.read_bytes())  # a UTF-8 byte-order mark is skipped here too
    assert [r.data for r in read_path(page)] == studies


def test_a_broken_large_array_keeps_the_studies_before_the_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "STREAM_BYTES", 1000)
    path = tmp_path / "array.json"
    path.write_text(json.dumps([seed_with_id("NCT91000001"), seed_with_id("NCT91000002")])[:-40])
    records = list(read_path(path))
    assert [r.data["protocolSection"]["identificationModule"]["nctId"] for r in records if not r.error] == [
        "NCT91000001"]
    assert [r.origin for r in records if r.error] == [f"{path} item 2"]
    assert records[-1].error.startswith("invalid JSON: ")


def test_a_json_lines_line_above_the_stream_size_is_skipped_by_number(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "STREAM_BYTES", 50_000)
    path = tmp_path / "studies.jsonl"
    line = json.dumps(seed_with_id("NCT91000001"))
    path.write_text(line + "\n" + "[" + " " * 60_000 + "]\n" + json.dumps(seed_with_id("NCT91000002")) + "\n")
    records = list(read_path(path))
    assert [(r.origin, r.error) for r in records if r.error] == [(f"{path}:2", "line longer than 0 MiB; skipped")]
    assert [r.origin for r in records if not r.error] == [f"{path}:1", f"{path}:3"]


def _patch_member(archive: Path, name: str, flag_bits: int, method: int) -> None:
    """Set a member's general-purpose flags and compression method in its local and central headers, as
    ``zip -P`` (encrypted) or Windows (Deflate64, method 9) write them; its bytes stay as they are."""
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(name)
    data = bytearray(archive.read_bytes())
    local = info.header_offset
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name.encode():  # the entry of this name
        central = data.index(b"PK\x01\x02", central + 4)
    for flags_at in (local + 6, central + 8):
        data[flags_at:flags_at + 4] = (flag_bits | info.flag_bits).to_bytes(2, "little") + method.to_bytes(2, "little")
    archive.write_bytes(bytes(data))


def test_an_encrypted_or_deflate64_member_is_rejected_by_name_and_the_rest_imported(tmp_path):
    """zipfile raises RuntimeError (encrypted) and NotImplementedError (method 9) for these: each is one line,
    and the members after them are stored (they were lost, batch after batch, behind a traceback)."""
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(SEED, "NCT06464679.json")
        out.writestr("NCT91000001.json", json.dumps(seed_with_id("NCT91000001")))
        out.writestr("NCT91000002.json", json.dumps(seed_with_id("NCT91000002")))
        out.write(CTGOV / "domain" / "NCT05030779.json", "NCT05030779.json")
    _patch_member(archive, "NCT91000001.json", 0x1, zipfile.ZIP_DEFLATED)
    _patch_member(archive, "NCT91000002.json", 0, 9)
    result = trialkb(tmp_path / "kb.db", str(archive))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "read 4, new 2, changed 0, unchanged 0, rejected 2, warnings 0",
        f"  rejected {archive}:NCT91000001.json: encrypted archive member (a password is needed): unzip it and "
        "import the files; skipped",
        f"  rejected {archive}:NCT91000002.json: archive member compressed with method 9 (deflate64), which Python "
        "cannot inflate: zip the files again with Deflate; skipped"]
    with sqlite3.connect(tmp_path / "kb.db") as conn:
        assert sorted(i for (i,) in conn.execute("SELECT trial_id FROM trial")) == ["NCT05030779", "NCT06464679"]


def test_a_corrupt_lzma_member_is_rejected_by_name_and_the_rest_read(tmp_path):
    archive = tmp_path / "lzma.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(SEED, "NCT06464679.json", compress_type=zipfile.ZIP_LZMA)
        out.write(CTGOV / "domain" / "NCT05030779.json", "NCT05030779.json", compress_type=zipfile.ZIP_LZMA)
    with zipfile.ZipFile(archive) as zf:
        at = zf.getinfo("NCT06464679.json").header_offset + 30 + len("NCT06464679.json") + 40
    data = bytearray(archive.read_bytes())
    data[at:at + 64] = bytes(64)  # zeros inside its LZMA stream
    archive.write_bytes(bytes(data))
    records = list(read_path(archive))
    assert [(r.origin, r.error) for r in records if r.error] == [
        (f"{archive}:NCT06464679.json", "unreadable archive member: Corrupt input data")]
    assert [r.data["protocolSection"]["identificationModule"]["nctId"] for r in records if not r.error] == [
        "NCT05030779"]


def test_zipfile_errors_of_a_member_read_are_an_unreadable_member(tmp_path):
    """Whatever zipfile raises when it opens a member (here an encrypted one it was asked to read anyway) is
    the member's error, never the worker's."""
    archive = tmp_path / "one.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(SEED, "NCT06464679.json")
    _patch_member(archive, "NCT06464679.json", 0x1, zipfile.ZIP_DEFLATED)
    unit = sources.SourceUnit(f"{archive}:NCT06464679.json", "NCT06464679.json", str(archive), "NCT06464679.json")
    with pytest.raises(sources.UnreadableUnit, match="^unreadable archive member: File 'NCT06464679.json' is "
                                                     "encrypted, password required for extraction$"):
        sources.read_unit(unit, {})


def _zip_bomb(path: Path, gigabytes: float = 1.0) -> None:
    """A zip whose one member inflates to ``gigabytes`` GB of JSON whitespace (about 1 MB on disk)."""
    block = b" " * 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        with out.open("NCT91000001.json", "w", force_zip64=True) as member:
            for _ in range(int(gigabytes * 1000)):
                member.write(block)


@pytest.mark.slow
@pytest.mark.parametrize(("gigabytes", "reason"), [(1.0, "1,048,576,000 bytes, above the 512 MiB cap"),
                                                   (0.3, "compressed to 305,") ])
def test_a_zip_bomb_is_refused_within_seconds_in_bounded_memory(tmp_path, gigabytes, reason):
    """Above the cap it is refused by its size, below by its compression ratio: never inflated."""
    bomb = tmp_path / "bomb.zip"
    _zip_bomb(bomb, gigabytes)
    assert bomb.stat().st_size < 2_000_000
    peak, code, seconds, stderr = peak_import(tmp_path / "kb.db", bomb)
    print(f"zip bomb ({bomb.stat().st_size:,} bytes -> {gigabytes} GB): {seconds:.1f} s, peak {peak / 1024:.0f} MiB")
    assert code == 1 and seconds < 20 and peak < 1024 * 1024
    assert stderr.count("\n") == 1 and reason in stderr and f"{bomb}:NCT91000001.json" in stderr
    assert run_row(tmp_path / "kb.db")[0] == "failed"


@pytest.mark.slow
def test_a_zip_bomb_under_a_raised_cap_and_ratio_is_streamed_in_bounded_memory(tmp_path, monkeypatch):
    """Even past both guards (cap raised, the member stored uncompressed), memory stays flat."""
    path = tmp_path / "blank.json"
    with path.open("wb") as out:
        out.write(b" " * 2**30)
    peak, code, seconds, stderr = peak_import(tmp_path / "kb.db", path, env={"TRIALKB_MAX_FILE_MB": "2048"})
    print(f"1 GiB of blanks: {seconds:.1f} s, peak {peak / 1024:.0f} MiB")
    assert code == 1 and peak < 1024 * 1024
    assert stderr == f"Error: nothing imported: all 1 records were rejected (first: {path}: empty file)\n"


@pytest.mark.slow
def test_a_large_array_is_imported_in_flat_memory(tmp_path):
    path = tmp_path / "array.json"
    count = 0
    with path.open("w") as out:
        out.write("[")
        for count, study in enumerate(renumbered(CTGOV / "domain", 10**6), 1):
            out.write(("," if count > 1 else "") + json.dumps(study))
            if out.tell() > 40 * 2**20:  # above the 32 MiB from which files are streamed
                break
        out.write("]")
    peak, code, seconds, stderr = peak_import(tmp_path / "kb.db", path)
    size = path.stat().st_size / 2**20
    print(f"{size:.0f} MiB array of {count} studies: {seconds:.1f} s, peak {peak / 1024:.0f} MiB")
    assert code == 0, stderr
    assert peak < 1024 * 1024
    status, counts, _ = run_row(tmp_path / "kb.db")
    assert (status, counts["read"], counts["new"], counts["rejected"]) == ("ok", count, count, 0)


# ---------------------------------------------------------------- ids and keys

@pytest.mark.parametrize("nct_id", ["NCT\u0660\u0666\u0664\u0666\u0664\u0666\u0667\u0669",  # Arabic-Indic digits
                                    "NCT\uff10\uff16\uff14\uff16\uff14\uff16\uff17\uff19",  # full-width digits
                                    "NCT91000009\n", " NCT91000009", "nct91000009"])
def test_an_id_that_only_looks_like_an_nct_id_is_rejected_with_the_reason(engine, tmp_path, nct_id):
    path = tmp_path / "lookalike.json"
    path.write_text(json.dumps([seed_with_id(nct_id), seed_with_id("NCT06464679")]))
    summary = import_paths(engine, [path], workers=0)
    assert [(r.origin, r.reason) for r in summary.rejected] == [
        (f"{path}[0]", f"invalid nctId {nct_id!r} (expected NCT and 8 ASCII digits, nothing around them)")]
    with engine.connect() as conn:
        assert conn.execute(select(Trial.trial_id, Trial.nct_id)).all() == [("NCT06464679", "NCT06464679")]
        assert conn.execute(select(RawRecord.trial_id)).scalars().all() == ["NCT06464679"]


def test_a_repeated_key_is_a_warning_naming_it_and_counted_in_the_run_log(engine, tmp_path):
    text = SEED.read_text()
    path = tmp_path / "NCT06464679.json"
    path.write_text(text.replace('"briefTitle":', '"briefTitle": "an earlier title", "briefTitle":', 1))
    summary = import_paths(engine, [path], workers=0)
    assert summary.result.new == 1
    assert summary.result.warnings == [
        ("NCT06464679", f"duplicate key 'briefTitle' in {path}: the last value was kept")]
    run = last_run(engine, "import", status=None)
    assert (run["status"], run["counts"]["duplicate_keys"], run["counts"]["warnings"]) == ("ok", 1, 1)
    assert run["errors"] == [f"warning NCT06464679: duplicate key 'briefTitle' in {path}: the last value was kept"]


def _unknown_status_studies(tmp_path: Path, count: int) -> Path:
    """``count`` studies with an overall status the normalizer does not know, as JSON Lines."""
    studies = [json.loads(json.dumps(s)) for s in renumbered(CTGOV / "domain", count, "NCT06464679.json")]
    for study in studies:
        study["protocolSection"]["statusModule"]["overallStatus"] = "PAUSED_FOR_REVIEW"
    path = tmp_path / "studies.jsonl"
    path.write_text("".join(json.dumps(study) + "\n" for study in studies))
    return path


UNKNOWN_STATUS = "unknown overallStatus value 'PAUSED_FOR_REVIEW' kept as is"


def test_an_import_names_its_first_20_warnings_and_the_run_log_them_all(tmp_path):
    """A new enum value of the registry in every study: each warning is counted and named (they had been
    counted only: the lines went to the workers' log)."""
    result = trialkb(tmp_path / "kb.db", str(_unknown_status_studies(tmp_path, 25)))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "read 25, new 25, changed 0, unchanged 0, rejected 0, warnings 25",
        *(f"  warning NCT9{n:07d}: {UNKNOWN_STATUS}" for n in range(20)),
        "  ... and 5 more warnings (the first 200 are in the run log: trialkb runs)"]
    status, counts, errors = run_row(tmp_path / "kb.db")
    assert (status, counts["warnings"]) == ("ok", 25)
    assert errors == [f"warning NCT9{n:07d}: {UNKNOWN_STATUS}" for n in range(25)]


def test_a_run_with_many_errors_still_names_its_warnings(engine):
    """Errors fill the run log's thousand lines only up to the room its warnings need."""
    run = start_run(engine, "import", {})
    finish_run(engine, run, "ok", {}, [f"e{n}" for n in range(1500)], [("NCT06464679", "w1"), ("", "w2")])
    errors = last_run(engine, "import")["errors"]
    assert len(errors) == MAX_LOGGED_ERRORS
    assert errors[-4:] == ["e996", "... and 503 more errors", "warning NCT06464679: w1", "warning: w2"]


def test_the_run_log_names_the_first_warnings_and_counts_the_rest(engine, tmp_path, monkeypatch):
    monkeypatch.setattr("kb.store.runlog.WARNINGS_KEPT", 22)  # 200 in real runs
    summary = import_paths(engine, [_unknown_status_studies(tmp_path, 25)], workers=0)
    assert len(summary.result.warnings) == 25
    run = last_run(engine, "import", status=None)
    assert run["errors"] == [f"warning NCT9{n:07d}: {UNKNOWN_STATUS}" for n in range(22)] + ["... and 3 more warnings"]


def test_text_that_is_not_utf8_is_rejected_saying_so_and_a_utf8_bom_is_ignored(engine, tmp_path):
    """orjson called all of these 'str is not valid UTF-8: surrogates not allowed', and refused a UTF-8 BOM
    (which Windows tools write, and RFC 8259 lets a parser ignore)."""
    text = SEED.read_text()
    title = json.loads(text)["protocolSection"]["identificationModule"]["briefTitle"]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bom.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    latin1 = json.dumps(seed_with_id("NCT91000001")).replace(title, "Caf\u00e9 " + title, 1)
    (folder / "latin1.json").write_bytes(latin1.encode("utf-8").replace("Café".encode(), "Café".encode("latin-1")))
    (folder / "utf16.json").write_bytes(json.dumps(seed_with_id("NCT91000002")).encode("utf-16"))
    offset = latin1.encode().index("Café".encode()) + 3
    assert [(Path(r.origin).name, r.error) for r in read_path(folder) if r.error] == [
        ("latin1.json", f"not UTF-8 text: byte 0xe9 at offset {offset} (JSON must be UTF-8: Latin-1 or "
                        "Windows-1252? convert it with iconv)"),
        ("utf16.json", "not UTF-8 text but UTF-16 (it starts with a UTF-16 byte-order mark): JSON must be UTF-8; "
                       "convert it with iconv")]
    summary = import_paths(engine, [folder / "bom.json"], workers=0)
    assert (summary.result.new, summary.rejected) == (1, [])
    with engine.connect() as conn:
        assert conn.execute(select(Trial.brief_title)).scalar_one() == title


def test_a_zip_member_with_a_utf8_bom_is_stored_without_it_and_known_next_time(engine, tmp_path):
    """The member's own deflate data (kept as the stored body when it is the study) would hold the BOM: the body
    could not be read back (rebuild, history), and the member missed the ledger's fast path."""
    archive = tmp_path / "bom.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("NCT06464679.json", b"\xef\xbb\xbf" + SEED.read_bytes())
    assert import_paths(engine, [archive], workers=0).result.new == 1
    with engine.connect() as conn:
        body = conn.execute(select(RawRecord.body)).scalar_one()
    assert load_raw(body) == json.loads(SEED.read_text())
    assert rebuild_store(engine).rejected == []
    again = import_paths(engine, [archive], workers=0)
    assert (again.unread, again.result.unchanged, again.result.new) == (1, 1, 0)


def test_duplicate_keys_are_found_only_where_they_are():
    assert duplicate_keys(SEED.read_bytes(), json.loads(SEED.read_text())) == ()
    raw = b'{"a": "say \\"b\\": twice", "c": {"d": 1, "d": 2}, "e": [{"f": 1}, {"f": 2}]}'
    assert duplicate_keys(raw, json.loads(raw)) == ("d",)
    spaced = b'{"a" : 1,\n "b":{"a" :2},  "a"\t:3}'  # whitespace around colons, the same key in another object
    assert duplicate_keys(spaced, json.loads(spaced)) == ("a",)
    escaped = b'{"t": "10\\u003a30", "u": "http://x"}'  # a colon written as an escape: counted apart, no repeat
    assert duplicate_keys(escaped, json.loads(escaped)) == ()


def test_a_study_read_alone_carries_its_canonical_json_and_a_page_of_studies_does_not():
    from kb.domain.normalize import canonical_json
    from kb.store.write import prepare

    [record] = sources.parse_bytes("seed", "NCT06464679.json", SEED.read_bytes())
    assert record.canonical == canonical_json(json.loads(SEED.read_text()))
    assert prepare("seed", record.data, canonical=record.canonical) == prepare("seed", record.data)  # one hash, one body
    page = b'{"studies": [' + SEED.read_bytes() + b"]}"
    assert [r.canonical for r in sources.parse_bytes("page", "page.json", page)] == [None]
