"""Archive members read at their offsets through a descriptor each process keeps per archive."""

import os
import zipfile

from kb.ingest import sources
from kb.ingest.sources import iter_units, read_unit
from tests.conftest import CTGOV

RECORDS = sorted(CTGOV.glob("domain/*.json"))[:3]


def _archive(path, records) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for record in records:
            zf.writestr(record.name, record.read_bytes())


def test_every_member_reads_as_its_file(tmp_path):
    _archive(tmp_path / "a.zip", RECORDS)
    units = list(iter_units(tmp_path / "a.zip"))
    assert [read_unit(u, {})[0] for u in units] == [r.read_bytes() for r in RECORDS]


def test_an_archive_replaced_at_the_same_path_is_read_anew(tmp_path):
    path = tmp_path / "a.zip"
    _archive(path, RECORDS[:1])
    assert read_unit(next(iter_units(path)), {})[0] == RECORDS[0].read_bytes()
    _archive(tmp_path / "b.zip", RECORDS[1:2])
    os.replace(tmp_path / "b.zip", path)  # another file at the same path; the old descriptor still reads the old one
    assert read_unit(next(iter_units(path)), {})[0] == RECORDS[1].read_bytes()


def test_a_process_keeps_a_few_archives_open_at_most(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    for n in range(sources.OPEN_ARCHIVES + 3):
        _archive(tmp_path / f"{n}.zip", RECORDS[:1])
        assert read_unit(next(iter_units(tmp_path / f"{n}.zip")), {})[0] == RECORDS[0].read_bytes()
    assert len(os.listdir("/proc/self/fd")) <= before + sources.OPEN_ARCHIVES


def test_an_import_closes_the_archives_it_read(tmp_path, sqlite_engine):
    """A deleted archive's space is freed when the import ends, not when the process does."""
    from kb.ingest.importer import import_paths

    _archive(tmp_path / "a.zip", RECORDS)
    before = len(os.listdir("/proc/self/fd"))
    assert import_paths(sqlite_engine, [tmp_path / "a.zip"], workers=0).result.new == 3
    assert not sources._open_archives
    assert len(os.listdir("/proc/self/fd")) <= before


def test_threads_reading_members_of_many_archives_read_each_right(tmp_path):
    """Threads that read while others evict archives (descriptors closed, their numbers reused) read each
    member as its file."""
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for n in range(sources.OPEN_ARCHIVES * 3):
        _archive(tmp_path / f"{n}.zip", RECORDS[n % 3:n % 3 + 1])
        paths.append((tmp_path / f"{n}.zip", RECORDS[n % 3].read_bytes()))

    def read(job):
        path, expected = paths[job % len(paths)]
        return read_unit(next(iter_units(path)), {})[0] == expected

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(read, range(3000)))
