"""A zip archive's central directory, read entry by entry.

``zipfile.ZipFile`` reads the whole directory into ``ZipInfo`` objects and keeps them while the
archive is open: about 650 bytes a member, 400 MB of the import's memory for the registry's
600k-member archive, and 8 us a member to read. Here each entry is read when it is needed and
dropped after, so the import's memory does not grow with the archive (except where ``zipfile``
still reads a member: one streamed as it is large, or compressed other than stored or deflated).
What it gives is what ``ZipFile.infolist()`` gives (``tests/kb/test_zipdir.py`` compares both:
ZIP64, a prefixed archive, a wrong count of entries, a damaged ZIP64 record); an entry whose data
cannot lie before the directory is marked (``fits``); a directory it cannot read raises
``zipfile.BadZipFile``.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["Member", "members"]

END = struct.Struct("<4s4H2LH")  # end of central directory record
END64_LOCATOR = struct.Struct("<4sLQL")
END64 = struct.Struct("<4sQ2H2L4Q")
ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
LOCAL_HEADER = 30
EXTRA = struct.Struct("<2H")
MAX_COMMENT = 0xFFFF
UTF8_NAME = 0x800


@dataclass(frozen=True, slots=True)
class Member:
    """One entry of the central directory (the ``ZipInfo`` fields the import reads)."""

    filename: str
    header_offset: int  # of its local header, in the file
    compress_size: int
    file_size: int
    CRC: int
    compress_type: int
    flag_bits: int
    fits: bool  # its local header and data can lie before the central directory (else the entry lies)

    def is_dir(self) -> bool:
        return self.filename.endswith("/")


def _open(path: str | Path) -> IO[bytes]:
    return open(path, "rb", buffering=1 << 20)


def members(path: str | Path, open_file: Callable[[str | Path], IO[bytes]] = _open) -> Iterator[Member]:
    """Every entry of the archive at ``path``, in directory order.

    As ``zipfile`` does, entries are read until the directory's size is used up (the end record's
    count of entries is wrong in some archives), a self-extractor's stub before the archive moves
    every offset, and a damaged ZIP64 end record falls back to the plain one. ``open_file`` opens
    ``path`` for binary reading (kb.ingest.sources: regular files only)."""
    with open_file(path) as handle:
        start, size, concat = _directory(handle)
        handle.seek(start)
        read = 0
        while read < size:
            header = handle.read(ENTRY.size)
            if len(header) != ENTRY.size or header[:4] != b"PK\x01\x02":
                raise zipfile.BadZipFile("bad central directory entry")
            (_, _, _, _, _, flags, method, _, _, crc, packed, file_size,
             name_length, extra_length, comment_length, _, _, _, offset) = ENTRY.unpack(header)
            raw_name = handle.read(name_length)
            extra = handle.read(extra_length)
            handle.seek(comment_length, 1)
            read += ENTRY.size + name_length + extra_length + comment_length
            if 0xFFFFFFFF in (file_size, packed, offset):
                file_size, packed, offset = _zip64_values(extra, file_size, packed, offset)
            try:
                name = raw_name.decode("utf-8" if flags & UTF8_NAME else "cp437")
            except UnicodeDecodeError:
                raise zipfile.BadZipFile(f"a member's name is not UTF-8: {raw_name[:80]!r}") from None
            fits = offset + concat + LOCAL_HEADER + packed <= start
            yield Member(name.split("\x00", 1)[0], offset + concat, packed, file_size, crc, method, flags, fits)


def _directory(handle) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Where the central directory starts, its size, and how many bytes precede the archive (a
    self-extractor's stub), from the end record (ZIP64's when there is one)."""
    handle.seek(0, 2)
    length = handle.tell()
    handle.seek(max(0, length - END.size))
    tail_start, tail = max(0, length - END.size), handle.read()
    at = 0 if tail[:4] == b"PK\x05\x06" and tail[-2:] == b"\x00\x00" and len(tail) == END.size else -1
    if at < 0:  # an archive comment follows the record
        tail_start = max(0, length - END.size - MAX_COMMENT)
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < END.size:
        raise zipfile.BadZipFile("no end of central directory record: not a zip archive")
    _, _, _, _, _, size, start, _ = END.unpack_from(tail, at)
    end_at = tail_start + at
    record = _zip64_record(handle, end_at)
    if record is not None:
        end_at, size, start = record
    concat = end_at - size - start
    if concat < 0:
        raise zipfile.BadZipFile("central directory larger than the archive")
    return start + concat, size, concat


def _zip64_record(handle, end_at: int) -> tuple[int, int, int] | None:  # type: ignore[no-untyped-def]
    """Where the ZIP64 end record is, the directory's size and offset it gives; None without one (or
    with a damaged one: the plain record is used, as ``zipfile`` does)."""
    locator_at = end_at - END64_LOCATOR.size
    if locator_at < END64.size:
        return None
    handle.seek(locator_at)
    if handle.read(4) != b"PK\x06\x07":
        return None
    record_at = locator_at - END64.size  # where the record is, whatever the locator's offset says
    handle.seek(record_at)
    record = handle.read(END64.size)
    if len(record) != END64.size or record[:4] != b"PK\x06\x06":
        return None
    _, _, _, _, _, _, _, _, size, start = END64.unpack(record)
    return record_at, size, start


def _zip64_values(extra: bytes, size: int, packed: int, offset: int) -> tuple[int, int, int]:
    """The sizes and offset a ZIP64 extra field holds for the ones the entry marks 0xFFFFFFFF."""
    at = 0
    while at + EXTRA.size <= len(extra):
        kind, length = EXTRA.unpack_from(extra, at)
        if kind == 1:
            values = iter(struct.unpack_from(f"<{min(length, len(extra) - at - EXTRA.size) // 8}Q", extra,
                                             at + EXTRA.size))
            try:
                return (next(values) if size == 0xFFFFFFFF else size, next(values) if packed == 0xFFFFFFFF else packed,
                        next(values) if offset == 0xFFFFFFFF else offset)
            except StopIteration:
                break
        at += EXTRA.size + length
    raise zipfile.BadZipFile("an entry's ZIP64 sizes are missing")
