"""The streaming reader of a zip's central directory gives what zipfile.ZipFile.infolist() gives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from kb.ingest import zipdir
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


def test_zip64_end_record_and_entries_with_zip64_sizes_and_offsets(tmp_path, monkeypatch):
    """ZIP64 as the registry's archive has it (more than 65,535 members): forced at small sizes here."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100)  # offsets and sizes above it go to the ZIP64 extra field
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)  # more members than this: a ZIP64 end record
    path = _archive(tmp_path / "zip64.zip")
    monkeypatch.undo()
    raw = path.read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw
    found = _same_as_zipfile(path)
    assert found[1].file_size == SEED.stat().st_size


def test_units_of_a_zip64_archive_read_their_studies(tmp_path, monkeypatch):
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
    path = _archive(tmp_path / "zip64.zip")
    monkeypatch.undo()
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
