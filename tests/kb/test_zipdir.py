"""The streaming reader of a zip's central directory gives what zipfile.ZipFile.infolist() gives."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import pytest

from kb.ingest import sources, zipdir
from kb.ingest.sources import count_inputs, iter_units
from tests.conftest import CTGOV

FIELDS = ("filename", "header_offset", "compress_size", "file_size", "CRC", "compress_type", "flag_bits")
SEED = CTGOV / "domain" / "NCT06464679.json"


def _same_as_zipfile(path: Path) -> list[zipdir.Member]:
    with zipfile.ZipFile(path) as archive:
        expected = [tuple(getattr(info, f) for f in FIELDS) + (info.is_dir(),) for info in archive.infolist()]
    found = list(zipdir.members(path))
    assert [tuple(getattr(m, f) for f in FIELDS) + (m.is_dir(),) for m in found] == expected
    return found


def _archive(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("studies/", b"")
        archive.write(SEED, "studies/NCT06464679.json", compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("studies/stored.json", SEED.read_bytes(), compress_type=zipfile.ZIP_STORED)
        archive.writestr("études/ß.json", b"{}", compress_type=zipfile.ZIP_DEFLATED)  # a UTF-8 name
        archive.comment = b"an archive comment"
    return path


def test_entries_of_an_archive_are_read_as_zipfile_reads_them(tmp_path):
    found = _same_as_zipfile(_archive(tmp_path / "a.zip"))
    assert [m.filename for m in found] == ["studies/", "studies/NCT06464679.json", "studies/stored.json",
                                           "études/ß.json"]


def test_an_archive_after_a_prefix_has_its_offsets_moved(tmp_path):
    plain = _archive(tmp_path / "a.zip")
    prefixed = tmp_path / "prefixed.zip"
    prefixed.write_bytes(b"#!/bin/sh\nexit 0\n" * 10 + plain.read_bytes())  # a self-extractor's stub
    moved = _same_as_zipfile(prefixed)
    assert [m.header_offset for m in moved] == [m.header_offset + 170 for m in zipdir.members(plain)]


def _zip64(path: Path, monkeypatch) -> Path:
    """An archive in ZIP64 as the registry's is (more than 65,535 members), forced at small sizes: its
    entries' sizes and offsets in ZIP64 extra fields, and the plain end record's fields at their
    maximum, as a writer leaves them when the values do not fit."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100)  # offsets and sizes above it go to the ZIP64 extra field
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)  # more members than this: a ZIP64 end record
    _archive(path)
    monkeypatch.undo()
    raw = bytearray(path.read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    raw[end + 8:end + 20] = b"\xff" * 12  # entries (this disk, all), the directory's size and offset
    path.write_bytes(bytes(raw))
    return path


def test_zip64_end_record_and_entries_with_zip64_sizes_and_offsets(tmp_path, monkeypatch):
    path = _zip64(tmp_path / "zip64.zip", monkeypatch)
    raw = path.read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw
    found = _same_as_zipfile(path)
    assert found[1].file_size == SEED.stat().st_size


def test_a_stray_zip64_locator_falls_back_to_the_plain_end_record(tmp_path):
    """Bytes that look like a ZIP64 locator just before the end record (here a member's comment), with no
    ZIP64 record before them: the plain end record holds, as for zipfile."""
    path = tmp_path / "stray.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(SEED, "NCT06464679.json", compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("last.json")
        info.comment = b"PK\x06\x07" + bytes(16)
        archive.writestr(info, b"{}")
    assert path.read_bytes()[-42:-22] == b"PK\x06\x07" + bytes(16)
    assert [m.filename for m in _same_as_zipfile(path)] == ["NCT06464679.json", "last.json"]


@pytest.mark.parametrize("count", [0, 1, 9])
def test_entries_are_read_to_the_directory_s_end_whatever_count_the_end_record_gives(tmp_path, count):
    raw = bytearray(_archive(tmp_path / "a.zip").read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    raw[end + 8:end + 12] = count.to_bytes(2, "little") * 2  # wrapped past 65,535 or capped by some writers
    path = tmp_path / "counted.zip"
    path.write_bytes(bytes(raw))
    assert len(_same_as_zipfile(path)) == 4


def test_units_of_a_zip64_archive_read_their_studies(tmp_path, monkeypatch):
    path = _zip64(tmp_path / "zip64.zip", monkeypatch)
    units = list(iter_units(path))
    assert [(u.name, u.size, u.error) for u in units] == [
        ("studies/NCT06464679.json", SEED.stat().st_size, None), ("studies/stored.json", SEED.stat().st_size, None),
        ("études/ß.json", 2, None)]
    assert count_inputs(path) == 3


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x05\x06" + b"\x00" * 5])
def test_what_is_no_zip_archive_is_bad_zip_file(tmp_path, content):
    path = tmp_path / "bad.zip"
    path.write_bytes(content)
    with pytest.raises(zipfile.BadZipFile):
        list(zipdir.members(path))
    [unit] = iter_units(path)
    assert unit.error.startswith("not a readable zip archive")


def test_a_truncated_directory_is_bad_zip_file(tmp_path):
    raw = _archive(tmp_path / "a.zip").read_bytes()
    start = raw.index(b"PK\x01\x02")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[:start + 30] + raw[raw.index(b"PK\x05\x06"):])  # an entry cut short, the end record kept
    with pytest.raises(zipfile.BadZipFile):
        list(zipdir.members(cut))


def test_a_member_claiming_more_bytes_than_the_archive_holds_is_refused_alone(tmp_path):
    raw = bytearray(_archive(tmp_path / "a.zip").read_bytes())
    entry = raw.rfind(b"PK\x01\x02", 0, raw.rindex(b"studies/NCT06464679.json"))
    raw[entry + 20:entry + 24] = (2**31).to_bytes(4, "little")  # its compressed size: 2 GiB
    path = tmp_path / "lying.zip"
    path.write_bytes(bytes(raw))
    offset = int.from_bytes(raw[entry + 42:entry + 46], "little")
    units = {u.name: u for u in iter_units(path)}
    assert units["studies/NCT06464679.json"].error == (
        f"archive member of 2,147,483,648 compressed bytes at offset {offset:,}: more than the archive holds "
        "before its directory (a corrupt archive?); skipped")
    assert offset > 0 and units["studies/stored.json"].error is None and units["études/ß.json"].error is None


def test_a_name_twice_in_an_archive_streams_each_member(tmp_path, monkeypatch):
    """zipfile opens a name's last entry; a large member is streamed from its own entry."""
    monkeypatch.setattr(sources, "STREAM_BYTES", 12)
    path = tmp_path / "twice.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate name
        archive.writestr("page.jsonl", b'{"a": 1}\n{"a": 2}\n')
        archive.writestr("page.jsonl", b'{"b": 1}\n{"b": 2}\n')
    assert [(u.lines, u.error) for u in iter_units(path)] == [(b'{"a": 1}\n{"a": 2}\n', None),
                                                              (b'{"b": 1}\n{"b": 2}\n', None)]
