"""Reading registry records from files: API v2 studies (one study, a search page, a JSON array,
JSON Lines), WHO ICTRP exports (XML or CSV, ``kb.ingest.ictrp_files``), a directory, or a zip
archive of those (the registry's bulk archive holds one file per study). A file is recognised by
its content: XML by its root element, CSV by a ``TrialID`` column, JSON by its shape.

Streams: one file or archive member at a time, a JSON Lines file some lines at a time. Every
record comes with its origin (``archive.zip:NCT0..json``, ``page.json[3]``, ``file.jsonl:12``);
unreadable input comes as an error with that origin instead of a study.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from kb.ingest.ictrp_files import csv_records, xml_records

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
EXPORT_SUFFIXES = (".xml", ".csv")
INPUT_SUFFIXES = (*JSON_SUFFIXES, *EXPORT_SUFFIXES)


@dataclass
class SourceRecord:
    """A study read from input, or the reason none could be read."""

    origin: str
    data: Any = None
    error: str | None = None


def studies_from_json(origin: str, data: Any) -> Iterator[SourceRecord]:
    """Studies in a parsed JSON document: a study, ``{"studies": [...]}`` or a list."""
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        for i, study in enumerate(data["studies"]):
            yield SourceRecord(f"{origin}[{i}]", study)
    elif isinstance(data, list):
        for i, study in enumerate(data):
            yield SourceRecord(f"{origin}[{i}]", study)
    else:
        yield SourceRecord(origin, data)


def _parse_bytes(origin: str, name: str, raw: bytes, first_line: int = 1) -> Iterator[SourceRecord]:
    """Studies in a file's bytes (or some lines of a JSON Lines file), by its name's suffix."""
    if not raw.strip():
        yield SourceRecord(origin, error="empty file")
        return
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" or name.lower().endswith(".xml"):  # a UTF-8 BOM too
        yield from _export_records(origin, xml_records(raw), "[{}]")
        return
    if name.lower().endswith(".csv"):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            yield SourceRecord(origin, error=f"not UTF-8 text: {exc}")
            return
        if "trialid" not in text[:2000].split("\n", 1)[0].lower():
            yield SourceRecord(origin, error="not a WHO ICTRP CSV export (no TrialID column in the header)")
            return
        yield from _export_records(origin, csv_records(text), ":{}")
        return
    if _is_json_lines(name):
        for number, line in enumerate(raw.splitlines(), first_line):
            if line.strip():
                try:
                    yield from studies_from_json(f"{origin}:{number}", orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    yield SourceRecord(f"{origin}:{number}", error=f"invalid JSON: {exc}")
        return
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        yield SourceRecord(origin, error=f"invalid JSON: {exc}")
        return
    yield from studies_from_json(origin, data)


def _export_records(origin: str, records: Iterator[tuple[int, Any, str | None]], where: str) -> Iterator[SourceRecord]:
    """SourceRecords of a WHO ICTRP export's records, each origin naming its row or position."""
    for position, record, error in records:
        yield SourceRecord(origin + where.format(position), record, error)


@dataclass
class SourceUnit:
    """One file or archive member (or the reason it cannot be read); read lazily by :func:`parse_units`."""

    origin: str
    name: str
    path: str | None = None
    member: str | None = None
    error: str | None = None
    lines: bytes | None = None  # some lines of a JSON Lines file, read already
    first_line: int = 1
    studies: int = 1  # how many studies it holds, about (for batching)


def parse_units(units: list[SourceUnit], archives: dict[str, zipfile.ZipFile] | None = None
                ) -> Iterator[SourceRecord]:
    """The studies of some units, in order, opening each zip archive once.

    Pass ``archives`` to keep archives open across calls (the caller closes them): reading the
    central directory of a 50,000-member archive takes 0.2 s, too much to repeat per batch.
    """
    owned = archives is None
    archives = {} if archives is None else archives
    try:
        for unit in units:
            if unit.error is not None:
                yield SourceRecord(unit.origin, error=unit.error)
                continue
            try:
                if unit.lines is not None:
                    raw = unit.lines
                elif unit.member is None:
                    raw = Path(unit.path).read_bytes()  # type: ignore[arg-type]
                else:
                    if unit.path not in archives:
                        archives[unit.path] = zipfile.ZipFile(unit.path)  # type: ignore[arg-type]
                    raw = archives[unit.path].read(unit.member)  # type: ignore[index]
            except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
                what = "file" if unit.member is None else "archive member"
                yield SourceRecord(unit.origin, error=f"unreadable {what}: {exc}")
                continue
            yield from _parse_bytes(unit.origin, unit.name, raw, unit.first_line)
    finally:
        if owned:
            for archive in archives.values():
                archive.close()


def _zip_units(path: Path) -> Iterator[SourceUnit]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        yield SourceUnit(str(path), path.name, error=f"not a readable zip archive: {exc}")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            origin = f"{path}:{info.filename}"
            if not info.filename.lower().endswith(INPUT_SUFFIXES):
                yield SourceUnit(origin, info.filename,
                                 error="not a JSON, XML or CSV member (.json, .jsonl, .ndjson, .xml, .csv); skipped")
                continue
            yield SourceUnit(origin, info.filename, str(path), info.filename)


def iter_units(path: str | Path, lines: int = 500) -> Iterator[SourceUnit]:
    """Every file or archive member under ``path`` (file, directory or zip), in a stable order;
    a JSON Lines file comes as units of ``lines`` lines, so a large one is never read whole."""
    path = Path(path)
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if child.suffix.lower() in (*INPUT_SUFFIXES, ".zip"):
                yield from iter_units(child, lines)
        return
    if not path.exists():
        yield SourceUnit(str(path), path.name, error="no such file or directory")
    elif path.suffix.lower() == ".zip":
        yield from _zip_units(path)
    elif _is_json_lines(path.name):
        yield from _json_lines_units(path, lines)
    else:
        yield SourceUnit(str(path), path.name, str(path))


def _json_lines_units(path: Path, lines: int) -> Iterator[SourceUnit]:
    try:
        with path.open("rb") as handle:
            first = 1
            while chunk := list(islice(handle, lines)):
                yield SourceUnit(str(path), path.name, str(path), lines=b"".join(chunk), first_line=first,
                                 studies=len(chunk))
                first += len(chunk)
            if first == 1:
                yield SourceUnit(str(path), path.name, str(path), lines=b"")  # reported as an empty file
    except OSError as exc:
        yield SourceUnit(str(path), path.name, error=f"unreadable file: {exc}")


def _is_json_lines(name: str) -> bool:
    return name.lower().endswith((".jsonl", ".ndjson"))


def read_path(path: str | Path) -> Iterator[SourceRecord]:
    """Every study under ``path`` (file, directory or zip), in a stable order."""
    yield from parse_units(list(iter_units(path)))


def count_inputs(path: str | Path) -> int | None:
    """How many files or archive members ``path`` holds (for a progress bar), if cheap to know."""
    path = Path(path)
    if path.suffix.lower() == ".zip" and path.is_file():
        try:
            with zipfile.ZipFile(path) as archive:
                return sum(1 for i in archive.infolist() if not i.is_dir())
        except zipfile.BadZipFile:
            return 1
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (*INPUT_SUFFIXES, ".zip"))
    return 1
