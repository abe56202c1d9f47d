"""Reading API v2 studies from files: one study, a search page, a JSON array, JSON Lines,
a directory, or a zip archive of those (the registry's bulk archive holds one file per study).

Streams: one file or archive member at a time. Every record comes with its origin
(``archive.zip:NCT0..json``, ``page.json[3]``, ``file.jsonl:12``); unreadable input comes as
an error with that origin instead of a study.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


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


def _parse_bytes(origin: str, name: str, raw: bytes) -> Iterator[SourceRecord]:
    """Studies in a file's bytes, by its name's suffix."""
    if not raw.strip():
        yield SourceRecord(origin, error="empty file")
        return
    if name.lower().endswith((".jsonl", ".ndjson")):
        for number, line in enumerate(raw.splitlines(), 1):
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


def _read_zip(path: Path) -> Iterator[SourceRecord]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        yield SourceRecord(str(path), error=f"not a readable zip archive: {exc}")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            origin = f"{path}:{info.filename}"
            if not info.filename.lower().endswith(JSON_SUFFIXES):
                yield SourceRecord(origin, error="not a JSON member (.json, .jsonl, .ndjson); skipped")
                continue
            try:
                raw = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                yield SourceRecord(origin, error=f"unreadable archive member: {exc}")
                continue
            yield from _parse_bytes(origin, info.filename, raw)


def read_path(path: str | Path) -> Iterator[SourceRecord]:
    """Every study under ``path`` (file, directory or zip), in a stable order."""
    path = Path(path)
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if child.suffix.lower() in (*JSON_SUFFIXES, ".zip"):
                yield from read_path(child)
        return
    if not path.exists():
        yield SourceRecord(str(path), error="no such file or directory")
        return
    if path.suffix.lower() == ".zip":
        yield from _read_zip(path)
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield SourceRecord(str(path), error=f"unreadable file: {exc}")
        return
    yield from _parse_bytes(str(path), path.name, raw)


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
        return sum(1 for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (*JSON_SUFFIXES, ".zip"))
    return 1
