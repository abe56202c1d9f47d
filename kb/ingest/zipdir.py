"""A zip archive's central directory, read entry by entry.

``zipfile.ZipFile`` reads the whole directory into ``ZipInfo`` objects and keeps them while the
archive is open: about 650 bytes a member, 400 MB of the import's memory for the registry's
600k-member archive, and 8 us a member to read. Here each entry is read when it is needed and
dropped after, so the import's memory does not grow with the archive. What it gives is what
``ZipFile.infolist()`` gives (``tests/kb/test_zipdir.py`` compares both, ZIP64 and a prefixed
archive included); anything it cannot read raises ``zipfile.BadZipFile``.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Member", "members"]

END = struct.Struct("<4s4H2LH")  # end of central directory record
END64_LOCATOR = struct.Struct("<4sLQL")
END64 = struct.Struct("<4sQ2H2L4Q")
ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
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

    def is_dir(self) -> bool:
        return self.filename.endswith("/")


def members(path: str | Path, buffer: int = 1 << 20) -> Iterator[Member]:
    """Every entry of the archive at ``path``, in directory order."""
    with open(path, "rb", buffering=buffer) as handle:
        start, count, concat = _directory(handle)
        handle.seek(start)
        for _ in range(count):
            header = handle.read(ENTRY.size)
            if len(header) != ENTRY.size or header[:4] != b"PK\x01\x02":
                raise zipfile.BadZipFile("bad central directory entry")
            (_, _, _, _, _, flags, method, _, _, crc, packed, size,
             name_length, extra_length, comment_length, _, _, _, offset) = ENTRY.unpack(header)
            raw_name = handle.read(name_length)
            extra = handle.read(extra_length)
            handle.seek(comment_length, 1)
            if 0xFFFFFFFF in (size, packed, offset):
                size, packed, offset = _zip64_values(extra, size, packed, offset)
            try:
                name = raw_name.decode("utf-8" if flags & UTF8_NAME else "cp437")
            except UnicodeDecodeError:
                raise zipfile.BadZipFile(f"a member's name is not UTF-8: {raw_name[:80]!r}") from None
            yield Member(name.split("\x00", 1)[0], offset + concat, packed, size, crc, method, flags)


def _directory(handle) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Where the central directory starts, how many entries it has, and how many bytes precede the
    archive (a self-extractor's stub), from the end record (ZIP64's when there is one)."""
    handle.seek(0, 2)
    length = handle.tell()
    tail_start = max(0, length - END.size - MAX_COMMENT)
    handle.seek(tail_start)
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < END.size:
        raise zipfile.BadZipFile("no end of central directory record: not a zip archive")
    _, _, _, _, count, size, start, _ = END.unpack_from(tail, at)
    end_at = tail_start + at
    locator_at = end_at - END64_LOCATOR.size
    if locator_at >= 0:
        handle.seek(locator_at)
        locator = handle.read(END64_LOCATOR.size)
        if locator[:4] == b"PK\x06\x07":
            _, _, record_at, _ = END64_LOCATOR.unpack(locator)
            end64_at = locator_at - END64.size  # where the record is, whatever the locator's offset says
            handle.seek(end64_at)
            record = handle.read(END64.size)
            if len(record) != END64.size or record[:4] != b"PK\x06\x06":
                raise zipfile.BadZipFile("bad ZIP64 end of central directory record")
            _, _, _, _, _, _, _, count, size, start = END64.unpack(record)
            end_at = end64_at
    concat = end_at - size - start
    if concat < 0:
        raise zipfile.BadZipFile("central directory larger than the archive")
    return start + concat, count, concat


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
