"""Reading registry records from files: API v2 studies (one study, a search page, a JSON array,
JSON Lines), WHO ICTRP exports (XML or CSV, ``kb.ingest.ictrp_files``), a directory, or a zip
archive of those (the registry's bulk archive holds one file per study). A file is recognised by
its content: XML by its root element, CSV by a ``TrialID`` column, JSON by its shape.

Streams: one file or archive member at a time, a JSON Lines file some lines at a time, and a
JSON file or member above :data:`STREAM_BYTES` study by study (ijson), so memory stays flat
whatever the input (an export is read whole, up to the cap). Every record comes with its origin
(``archive.zip:NCT0..json``, ``page.json[3]``, ``file.jsonl:12``); unreadable input comes as an
error with that origin instead of a study.

Only regular files are read: a FIFO, a device or a socket is refused by name (opened without
blocking, checked again after opening). Every read is bounded by :func:`max_input_bytes` (per
file and per archive member, ``TRIALKB_MAX_FILE_MB``); a member whose declared size is more than
:data:`MAX_ZIP_RATIO` times its compressed size is refused as a zip bomb without inflating it.
"""

from __future__ import annotations

import json
import lzma
import os
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from kb.domain.normalize import canonical_json
from kb.ingest import zipdir
from kb.ingest.ictrp_files import csv_records, xml_records

try:  # ISA-L's inflate: the same bytes as zlib's in half the time (tests/kb/test_inflate.py compares them)
    from isal import isal_zlib as inflating
except ImportError:  # pragma: no cover - a platform without its wheel
    inflating = zlib  # type: ignore[assignment]

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
EXPORT_SUFFIXES = (".xml", ".csv")
INPUT_SUFFIXES = (*JSON_SUFFIXES, *EXPORT_SUFFIXES)
MAX_FILE_MB_ENV = "TRIALKB_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB = 512
STREAM_BYTES = 32 * 2**20
"""Above this size a file or member is streamed study by study instead of read whole."""
MAX_ZIP_RATIO = 100
"""A member inflating more than this many times (and to more than 1 MiB) is refused as a zip bomb:
registry JSON compresses 5-20 times."""
CHUNK = 2**20
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
"""The compression methods Python's ``zipfile`` inflates (not Deflate64, which Windows uses for large zips)."""


def max_input_bytes() -> int:
    """The size cap of one file or archive member: ``TRIALKB_MAX_FILE_MB`` (default 512) MiB."""
    value = os.environ.get(MAX_FILE_MB_ENV, "").strip()
    try:
        megabytes = float(value) if value else DEFAULT_MAX_FILE_MB
    except ValueError:
        megabytes = DEFAULT_MAX_FILE_MB
    return int(max(megabytes, 0.001) * 2**20)


@dataclass
class SourceRecord:
    """A study read from input, or the reason none could be read."""

    origin: str
    data: Any = None
    error: str | None = None
    duplicate_keys: tuple[str, ...] = ()  # keys that occur twice in one object of the record (the last value kept)
    canonical: bytes | None = None  # its canonical JSON (kb.domain.normalize.canonical_json), if made while reading


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


def duplicate_keys(raw: bytes, data: Any, dumped: bytes | None = None) -> tuple[str, ...]:
    """Keys that occur twice in one object of the JSON text ``raw`` (parsed as ``data``), in order.

    Cheap when there are none: the colons of the text are counted against those of the parsed value
    serialized again (``dumped``, if made already; a repeated key and its colon are lost in parsing, so
    the text has more; whitespace does not matter, and a colon of a string is in both); only a
    difference (a repeat, or an escaped colon) parses again, exactly. (Counting one byte takes two
    thirds of the time of counting the pair ``":``.)

    >>> duplicate_keys(b'{"a": 1, "b": {"c": 2, "c": 3}}', {"a": 1, "b": {"c": 3}})
    ('c',)
    """
    try:
        if raw.count(b":") == (dumped if dumped is not None else orjson.dumps(data)).count(b":"):
            return ()
    except TypeError:  # nested deeper than orjson writes: the slow way
        pass
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and key not in found:
                found.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return ()
    return tuple(found)


def parse_bytes(origin: str, name: str, raw: bytes, first_line: int = 1) -> Iterator[SourceRecord]:
    """Studies in a file's bytes (or some lines of a JSON Lines file), by its name's suffix."""
    if not raw.strip():
        yield SourceRecord(origin, error="empty file")
        return
    if raw.lstrip()[:1] == b"<" or name.lower().endswith(".xml"):  # read_unit cut a byte-order mark off
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
    if is_json_lines(name):
        for number, line in enumerate(raw.splitlines(), first_line):
            if line.strip():
                yield from _parse_document(f"{origin}:{number}", line)
        return
    yield from _parse_document(origin, raw)


def without_bom(raw: bytes) -> bytes:
    """``raw`` without a leading UTF-8 byte-order mark: Windows tools write one, RFC 8259 (8.1) lets a parser
    ignore it, and orjson refuses it."""
    return raw[len(UTF8_BOM):] if raw.startswith(UTF8_BOM) else raw


def _parse_document(origin: str, raw: bytes) -> Iterator[SourceRecord]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        yield SourceRecord(origin, error=json_error(raw, exc))
        return
    try:  # a study's canonical JSON, made once: for the key count here and the store's hash and body
        dumped = canonical_json(data)
    except TypeError:  # nested deeper than orjson writes
        dumped = None
    repeated = duplicate_keys(raw, data, dumped)
    for number, record in enumerate(studies_from_json(origin, data)):
        if repeated and number == 0:  # said once, for the document's first record
            record.duplicate_keys = repeated
        if record.data is data:  # the document is the study
            record.canonical = dumped
        yield record


def json_error(raw: bytes, exc: Exception) -> str:
    """Why ``raw`` is not JSON, in words: for any text that is not UTF-8, orjson says only 'str is not valid
    UTF-8: surrogates not allowed' at char 0.

    >>> json_error(b'{"title": "Caf\\xe9"}', ValueError("str is not valid UTF-8"))
    'not UTF-8 text: byte 0xe9 at offset 14 (JSON must be UTF-8: Latin-1 or Windows-1252? convert it with iconv)'
    """
    if raw[:2] in UTF16_BOMS:
        return "not UTF-8 text but UTF-16 (it starts with a UTF-16 byte-order mark): JSON must be UTF-8; convert it with iconv"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (f"not UTF-8 text: byte 0x{raw[bad.start]:02x} at offset {bad.start} "
                "(JSON must be UTF-8: Latin-1 or Windows-1252? convert it with iconv)")
    return f"invalid JSON: {exc}"


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
    lines: bytes | None = None  # some lines of a JSON Lines file (or streamed studies), read already
    first_line: int = 1
    studies: int = 1  # how many studies it holds, about (for batching)
    crc: int | None = None  # an archive member's CRC-32 and size, from the archive's directory
    size: int | None = None
    max_bytes: int | None = None  # the read cap (None: max_input_bytes())
    at: tuple[int, int, int] | None = None  # its local header's offset, packed size and method: read without the directory


class UnreadableUnit(Exception):
    """A file or archive member that cannot be read; the message says why."""


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
                raw = unit_bytes(unit, archives)
            except UnreadableUnit as exc:
                yield SourceRecord(unit.origin, error=str(exc))
                continue
            yield from parse_bytes(unit.origin, unit.name, raw, unit.first_line)
    finally:
        if owned:
            for archive in archives.values():
                archive.close()


def unit_bytes(unit: SourceUnit, archives: dict[str, zipfile.ZipFile]) -> bytes:
    """The bytes of a unit, read with its cap (opening its archive once into ``archives``), or
    :class:`UnreadableUnit`."""
    return read_unit(unit, archives)[0]


def read_unit(unit: SourceUnit, archives: dict[str, zipfile.ZipFile]) -> tuple[bytes, bytes | None]:
    """:func:`unit_bytes`, and for a deflated archive member read at its offset its deflate data as read
    (None otherwise): with :func:`gzip_stream`, a store can keep it as the raw record without compressing
    it again. A leading UTF-8 byte-order mark is cut off (then the deflate data, which holds it, is None)."""
    raw, deflated = _read_unit(unit, archives)
    bare = without_bom(raw)
    return (raw, deflated) if bare is raw else (bare, None)


def _read_unit(unit: SourceUnit, archives: dict[str, zipfile.ZipFile]) -> tuple[bytes, bytes | None]:
    if unit.lines is not None:
        return unit.lines, None
    cap = unit.max_bytes or max_input_bytes()
    what = "file" if unit.member is None else "archive member"
    try:
        if unit.member is None:
            with open_regular(unit.path) as handle:  # type: ignore[arg-type]
                raw = handle.read(cap + 1)
        else:
            if unit.at is not None and unit.size is not None and unit.size <= cap:
                return _read_member(unit)  # a worker need not load the archive's directory
            if unit.path not in archives:
                archives[unit.path] = zipfile.ZipFile(unit.path)  # type: ignore[arg-type]
            with archives[unit.path].open(unit.member) as handle:  # type: ignore[index]
                raw = handle.read(cap + 1)
    except NotRegular as exc:
        raise UnreadableUnit(str(exc)) from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error, lzma.LZMAError,
            RuntimeError, NotImplementedError) as exc:  # zipfile's words for encrypted, and an unknown method
        raise UnreadableUnit(f"unreadable {what}: {exc}") from None
    if len(raw) > cap:
        raise UnreadableUnit(too_large(what, None, cap))
    return raw, None


def _read_member(unit: SourceUnit) -> tuple[bytes, bytes | None]:
    """A stored or deflated member read at its offset (its size, already checked against the cap, and its
    CRC-32 come from the archive's directory): a worker process need not load the directory (64 MB a
    process for 100,000 members). With a deflated member, its deflate data if it ends where the member does."""
    offset, packed, method = unit.at  # type: ignore[misc]
    with _archives_lock:  # another thread may close this descriptor, and its number be reused
        fd = _archive_fd(unit.path)  # type: ignore[arg-type]
        header = os.pread(fd, 30, offset)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header at {offset}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        data = os.pread(fd, packed, offset + 30 + name_length + extra_length)
    deflated = data if method == zipfile.ZIP_DEFLATED else None
    if deflated is not None:
        inflater = inflating.decompressobj(-15)
        data = inflater.decompress(deflated, unit.size + 1)  # never more than the directory says
        if not inflater.eof or inflater.unused_data:  # the stream must end where the member does
            deflated = None
    if len(data) != unit.size or inflating.crc32(data) != unit.crc:
        raise zipfile.BadZipFile("CRC-32 or size does not match the archive's directory")
    return data, deflated


_open_archives: dict[str, tuple[int, tuple[int, int, int, int]]] = {}
"""Archives open for :func:`_read_member`, by path: a descriptor and the file's identity when opened."""
OPEN_ARCHIVES = 4
"""Archives a process keeps open at most (an import reads one or a few)."""
_archives_lock = threading.Lock()


def close_archives() -> None:
    """Close the archives kept open (an import's end: a deleted archive's space is then freed)."""
    with _archives_lock:
        while _open_archives:
            os.close(_open_archives.popitem()[1][0])


def _archive_fd(path: str | Path) -> int:
    """A descriptor of the regular file at ``path`` (:func:`open_regular`'s checks), opened once and reused
    while the file there is the same one, of the same size and time: a member read costs two ``pread``
    calls, not an open, a ``fstat``, two seeks, two reads and a close (45 to 38 us a member read)."""
    key = str(path)
    info = os.stat(key)
    identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    kept = _open_archives.get(key)
    if kept is not None and kept[1] == identity:
        return kept[0]
    if kept is not None:
        os.close(_open_archives.pop(key)[0])
    with open_regular(key) as handle:
        fd = os.dup(handle.fileno())
    while len(_open_archives) >= OPEN_ARCHIVES:
        os.close(_open_archives.pop(next(iter(_open_archives)))[0])
    _open_archives[key] = (fd, identity)
    return fd


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
"""RFC 1952: deflate, no flags, no time, no extra flags, unknown system."""


def gzip_stream(deflated: bytes, crc: int, size: int) -> bytes:
    """A gzip stream of raw deflate data whose inflated bytes have this CRC-32 and size.

    >>> import gzip, zlib
    >>> packer = zlib.compressobj(wbits=-15)
    >>> deflated = packer.compress(b"{}") + packer.flush()
    >>> gzip.decompress(gzip_stream(deflated, zlib.crc32(b"{}"), 2))
    b'{}'
    """
    return GZIP_HEADER + deflated + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


class NotRegular(OSError):
    """A path that is not a regular file (FIFO, device, socket, directory)."""


def file_kind(mode: int) -> str:
    """A file type in words, from ``st_mode``."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | Path) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file (never blocking on a FIFO), else :class:`NotRegular`."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular(f"{file_kind(mode)}, not a regular file: not read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def too_large(what: str, size: int | None, cap: int) -> str:
    """Why a file or member above the cap is not read."""
    told = f"{size:,} bytes" if size is not None else "larger than that"
    return (f"{what} of {told}, above the {cap / 2**20:g} MiB cap per file and archive member "
            f"(set {MAX_FILE_MB_ENV} to read it); skipped")


def _zip_units(path: Path, lines: int, cap: int) -> Iterator[SourceUnit]:
    """The units of an archive, its directory read entry by entry (:mod:`kb.ingest.zipdir`: memory does
    not grow with the archive); a member to stream opens the archive with ``zipfile`` (then its directory
    is read whole)."""
    archive: zipfile.ZipFile | None = None
    by_offset: dict[int, zipfile.ZipInfo] = {}  # zipfile's entries, once it is opened
    try:
        for info in zipdir.members(path, open_regular):
            if info.is_dir():
                continue
            origin = f"{path}:{info.filename}"
            if not info.filename.lower().endswith(INPUT_SUFFIXES):
                yield SourceUnit(origin, info.filename,
                                 error="not a JSON, XML or CSV member (.json, .jsonl, .ndjson, .xml, .csv); skipped")
                continue
            if (unreadable := unreadable_member(info.compress_type, info.flag_bits)) is not None:
                yield SourceUnit(origin, info.filename, error=unreadable)
            elif info.file_size > cap:
                yield SourceUnit(origin, info.filename, error=too_large("archive member", info.file_size, cap))
            elif info.file_size > 2**20 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
                yield SourceUnit(origin, info.filename, error=(
                    f"archive member of {info.file_size:,} bytes compressed to {info.compress_size:,} "
                    f"(more than {MAX_ZIP_RATIO}:1): a zip bomb? skipped"))
            elif not info.fits:
                yield SourceUnit(origin, info.filename, error=(
                    f"archive member of {info.compress_size:,} compressed bytes at offset {info.header_offset:,}: "
                    "more than the archive holds before its directory (a corrupt archive?); skipped"))
            elif info.file_size > STREAM_BYTES and not _is_export(info.filename):
                if archive is None:  # by offset: a name may occur twice, and zipfile maps it to its last entry
                    archive = zipfile.ZipFile(path)
                    by_offset = {i.header_offset: i for i in archive.infolist()}
                yield from _streamed(origin, info.filename,
                                     lambda a=archive, o=info.header_offset: _open_at(a, by_offset, o), lines)
            else:
                plain = info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # encrypted: rejected above
                yield SourceUnit(origin, info.filename, str(path), info.filename, crc=info.CRC,
                                 size=info.file_size, max_bytes=cap,
                                 at=(info.header_offset, info.compress_size, info.compress_type) if plain else None)
    except (zipfile.BadZipFile, OSError) as exc:
        yield SourceUnit(str(path), path.name, error=f"not a readable zip archive: {exc}")
    finally:
        if archive is not None:
            archive.close()


def unreadable_member(method: int, flag_bits: int) -> str | None:
    """Why an archive member cannot be read (encrypted, or compressed in a way ``zipfile`` does not
    inflate), or None.

    >>> unreadable_member(9, 0)
    'archive member compressed with method 9 (deflate64), which Python cannot inflate: zip the files again with Deflate; skipped'
    """
    if flag_bits & 0x1:
        return "encrypted archive member (a password is needed): unzip it and import the files; skipped"
    if method not in READABLE_METHODS:
        name = zipfile.compressor_names.get(method, "unknown")
        return (f"archive member compressed with method {method} ({name}), which Python cannot inflate: "
                "zip the files again with Deflate; skipped")
    return None


def _open_at(archive: zipfile.ZipFile, by_offset: dict[int, zipfile.ZipInfo], offset: int) -> IO[bytes]:
    """The member whose local header is at ``offset``."""
    if offset not in by_offset:
        raise zipfile.BadZipFile(f"no member at offset {offset} in zipfile's reading of the directory")
    return archive.open(by_offset[offset])


def iter_units(path: str | Path, lines: int = 500, max_bytes: int | None = None) -> Iterator[SourceUnit]:
    """Every file or archive member under ``path`` (file, directory or zip), in a stable order.

    A JSON Lines file comes as units of ``lines`` lines, and a file or member above
    :data:`STREAM_BYTES` as units of ``lines`` studies, so a large one is never read whole.
    Anything but a regular file or directory comes as an error naming what it is.
    """
    path = Path(path)
    cap = max_bytes or max_input_bytes()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        yield SourceUnit(str(path), path.name, error="no such file or directory")
        return
    except OSError as exc:
        yield SourceUnit(str(path), path.name, error=f"unreadable: {exc.strerror or exc}")
        return
    if stat.S_ISDIR(mode):
        for child in sorted(path.rglob("*")):
            if child.suffix.lower() in (*INPUT_SUFFIXES, ".zip") and not child.is_dir():
                yield from iter_units(child, lines, cap)
        return
    if not stat.S_ISREG(mode):
        yield SourceUnit(str(path), path.name, error=f"{file_kind(mode)}, not a regular file: not read")
        return
    size = path.stat().st_size
    if path.suffix.lower() == ".zip":  # an archive of any size: the cap is per member
        yield from _zip_units(path, lines, cap)
    elif size > cap:
        yield SourceUnit(str(path), path.name, error=too_large("file", size, cap))
    elif is_json_lines(path.name) or (size > STREAM_BYTES and not _is_export(path.name)):
        yield from _streamed(str(path), path.name, lambda: open_regular(path), lines)
    else:
        yield SourceUnit(str(path), path.name, str(path), size=size, max_bytes=cap)


def _streamed(origin: str, name: str, opener: Callable[[], AbstractContextManager[IO[bytes]]],
              lines: int) -> Iterator[SourceUnit]:
    """A JSON Lines file, or a large JSON file or member, as units of ``lines`` lines or studies."""
    try:
        with opener() as handle:
            if is_json_lines(name):
                yield from _line_units(origin, name, handle, lines)
            else:
                yield from _item_units(origin, name, handle, lines)
    except NotRegular as exc:
        yield SourceUnit(origin, name, error=str(exc))
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, RuntimeError, NotImplementedError) as exc:
        yield SourceUnit(origin, name, error=f"unreadable: {exc}")


def _line_units(origin: str, name: str, handle: IO[bytes], lines: int) -> Iterator[SourceUnit]:
    """Units of ``lines`` lines; a line longer than :data:`STREAM_BYTES` is skipped with its number."""
    chunk: list[bytes] = []
    number = first = 1
    while line := handle.readline(STREAM_BYTES + 1):
        if len(line) > STREAM_BYTES and not line.endswith(b"\n"):
            while (rest := handle.readline(CHUNK)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the long line without holding it
            yield SourceUnit(f"{origin}:{number}", name, error=f"line longer than {STREAM_BYTES // 2**20} MiB; skipped")
            chunk.append(b"\n")  # keeps the line numbers of the unit
        else:
            chunk.append(line)
        number += 1
        if len(chunk) == lines:
            yield SourceUnit(origin, name, lines=b"".join(chunk), first_line=first, studies=len(chunk))
            chunk, first = [], number
    if chunk or number == 1:  # an empty file is reported as such
        yield SourceUnit(origin, name, lines=b"".join(chunk), first_line=first, studies=max(len(chunk), 1))


def _item_units(origin: str, name: str, handle: IO[bytes], lines: int) -> Iterator[SourceUnit]:
    """A large JSON array or search page, study by study (ijson), as units of JSON Lines."""
    import ijson

    head = _skip_space(handle)
    if not head:
        yield SourceUnit(origin, name, error="empty file")
        return
    prefix = "item" if head[:1] == b"[" else "studies.item"
    stream = _Prefixed(head, handle)
    chunk: list[bytes] = []
    count, error = 0, None
    try:
        for count, item in enumerate(ijson.items(stream, prefix, use_float=True), 1):
            chunk.append(orjson.dumps(item) + b"\n")
            if len(chunk) == lines:
                yield SourceUnit(f"{origin} item", f"{name}.jsonl", lines=b"".join(chunk),
                                 first_line=count - len(chunk) + 1, studies=len(chunk))
                chunk = []
    except (ijson.JSONError, orjson.JSONEncodeError) as exc:  # the studies before it are read
        error = SourceUnit(f"{origin} item {count + 1}", name, error=f"invalid JSON: {str(exc)[:200]}")
    if chunk:
        yield SourceUnit(f"{origin} item", f"{name}.jsonl", lines=b"".join(chunk),
                         first_line=count - len(chunk) + 1, studies=len(chunk))
    if error:
        yield error
    elif count == 0:
        yield SourceUnit(origin, name, error=f"no studies found in a file above {STREAM_BYTES // 2**20} MiB "
                                             "(a JSON array or a search page is read study by study; "
                                             "a single study this large is not read)")


def _skip_space(handle: IO[bytes]) -> bytes:
    """The input from its first non-blank byte on, a UTF-8 byte-order mark skipped (at least one chunk of it;
    b"" when it is all blank)."""
    first = True
    while block := handle.read(CHUNK):
        block, first = (without_bom(block) if first else block), False
        if block := block.lstrip():
            return block
    return b""


class _Prefixed:
    """A binary stream that first returns ``head``, then the rest of ``handle`` (for ijson)."""

    def __init__(self, head: bytes, handle: IO[bytes]) -> None:
        self.head, self.handle = head, handle

    def read(self, size: int = -1) -> bytes:
        if self.head and size != 0:  # ijson reads 0 bytes first to tell bytes from text
            head, self.head = self.head, b""
            return head
        return self.handle.read(size)


def is_json_lines(name: str) -> bool:
    return name.lower().endswith((".jsonl", ".ndjson"))


def _is_export(name: str) -> bool:
    """A WHO ICTRP export (read whole, up to the cap), by its name."""
    return name.lower().endswith(EXPORT_SUFFIXES)


def read_path(path: str | Path) -> Iterator[SourceRecord]:
    """Every study under ``path`` (file, directory or zip), in a stable order."""
    yield from parse_units(list(iter_units(path)))


def count_inputs(path: str | Path) -> int | None:
    """How many files or archive members ``path`` holds (for a progress bar), if cheap to know."""
    path = Path(path)
    if path.suffix.lower() == ".zip" and path.is_file():
        try:
            return sum(1 for member in zipdir.members(path, open_regular) if not member.is_dir())
        except (zipfile.BadZipFile, OSError):
            return 1
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (*INPUT_SUFFIXES, ".zip"))
    return 1
