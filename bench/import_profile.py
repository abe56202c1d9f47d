"""Where an import that stores every study spends its CPU, per study, against a plain parse.

Usage: python bench/import_profile.py [--count 4000] [--archive bench/out/registry-20000.zip]

In one process, on the first ``--count`` studies of the import bench's archive (bench/corpus.py,
made by bench/import_bench.py): the plain parse (read each member, ``json.loads``), then each stage of
preparing a study (:func:`kb.ingest.triage.triage_units`, timed by wrapping the functions it calls),
then the write of the prepared batches into a fresh SQLite store (as a worker writes: the checkpoints
of the log are the job's, timed apart); last, the same preparation in two
processes at once, which says how much of a second core this machine gives (the import's two workers
share two). Figures are milliseconds of one core per study.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.domain import records  # noqa: E402
from kb.ingest.importer import BATCH_SIZE  # noqa: E402
from kb.domain import normalize  # noqa: E402
from kb.ingest import sources, triage  # noqa: E402
from kb.process import gcpause  # noqa: E402
from kb.store import write  # noqa: E402

STAGES = [  # (module, function, label): the calls of triage_units worth naming
    (triage, "read_unit", "read and inflate the member"),
    (sources.orjson, "loads", "parse (orjson)"),
    (sources, "duplicate_keys", "repeated-key check"),
    (triage, "record_hash", "ledger hash"),
    (write, "content_hash_of", "content hash"),
    (sources, "canonical_json", "canonical JSON"),
    (normalize.extract, "extract_facts", "extraction (facts)"),
    (normalize, "parse_results", "posted results"),
    (records, "link_rows", "registration links"),
    (write, "normalize_record", "normalize (with the three above)"),
    (write, "_compress", "zstd"),
    (write, "_prepared", "rows as tuples"),
]


def _timed(spent: Counter, label: str, function):  # type: ignore[no-untyped-def]
    @functools.wraps(function)
    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - start
    return timed


def units_of(archive: Path, count: int) -> list[sources.SourceUnit]:
    units = []
    for unit in sources.iter_units(archive):
        units.append(unit)
        if len(units) >= count:
            break
    return units


def plain_parse(archive: Path, units: list[sources.SourceUnit]) -> float:
    with zipfile.ZipFile(archive) as zf:
        start = time.perf_counter()
        for unit in units:
            json.loads(zf.read(unit.member))
        return time.perf_counter() - start


def prepare(units: list[sources.SourceUnit], batch: int = BATCH_SIZE) -> tuple[float, list[triage.Batch]]:
    gcpause.pause()  # as in a worker process
    start = time.perf_counter()
    batches = [triage.triage_units(units[i:i + batch], None, None, {}) for i in range(0, len(units), batch)]
    return time.perf_counter() - start, batches


def _prepare_seconds(units: list[sources.SourceUnit]) -> float:
    seconds, _ = prepare(units)
    return seconds


def write_seconds(batches: list[triage.Batch]) -> tuple[float, float, int]:
    """The write of the batches as a worker makes it (its commits leave the log to the job), then the
    checkpoint the job's thread makes of it (:mod:`kb.store.checkpoints`)."""
    from kb.ingest.importer import _write
    from kb.store.checkpoints import checkpoint, leave_checkpoints
    from kb.store.db import init_db, make_engine

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/profile.db")
        init_db(engine)
        leave_checkpoints(engine)
        engine.dispose()  # connections made from now on
        start = time.perf_counter()
        for batch in batches:
            _write(engine, None, batch.items, batch.ledger)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        checkpoint(engine)
        copied = time.perf_counter() - start
        engine.dispose()
    rows = sum(len(r) for b in batches for item in b.items for r in getattr(item, "rows", {}).values())
    return seconds, copied, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--archive", type=Path, default=ROOT / "bench" / "out" / "registry-20000.zip")
    args = parser.parse_args()
    if not args.archive.exists():
        sys.exit(f"{args.archive} not found: run python bench/import_bench.py --count 20000 first")
    units = units_of(args.archive, args.count)
    n = len(units)
    per = lambda seconds: f"{seconds / n * 1000:6.3f} ms"  # noqa: E731
    parse = plain_parse(args.archive, units)
    print(f"{n} studies of {args.archive.name}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"plain parse (zipfile + json.loads)      {per(parse)}")

    spent: Counter = Counter()
    originals = [(module, name, getattr(module, name)) for module, name, _ in STAGES]
    for module, name, label in STAGES:
        setattr(module, name, _timed(spent, label, getattr(module, name)))
    try:
        prepared, batches = prepare(units)
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
    print(f"preparing a study (triage_units)        {per(prepared)}  {prepared / parse:.2f}x the plain parse")
    for _, _, label in STAGES:
        print(f"  {label:38s}{per(spent[label])}")
    written, copied, rows = write_seconds(batches)
    print(f"writing it into SQLite ({rows / n:.0f} rows)        {per(written)}")
    print(f"  then the job's checkpoint of the log     {per(copied)}  (a thread of the job, not the worker)")
    print(f"all three, one core                     {per(prepared + written + copied)}  "
          f"{(prepared + written + copied) / parse:.2f}x the plain parse (the copy runs on the same cores)")

    alone = _prepare_seconds(units)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        together = pool.map(_prepare_seconds, [units, units])
    print(f"preparing alone {per(alone)}; two processes at once {per(max(together))} each: "
          f"two cores do {2 * alone / max(together):.2f}x the work of one")


if __name__ == "__main__":
    main()
