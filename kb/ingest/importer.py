"""Bulk import of API v2 records from files into the store, in committed batches.

Reading, parsing, hashing, normalizing and compressing (the CPU-heavy part) run in worker
processes; the main process only writes, one transaction per batch, in input order. A bad
record is reported with its origin and reason and skipped; every good batch is committed, so an
import stopped half-way keeps what it stored and a re-run is idempotent.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kb.process import gcpause
from kb.core.errors import Interrupted, first_line
from kb.process.interrupts import StopFlag, stop_on_signals
from kb.store.products import relearn_engine
from kb.domain.records import record_id
from kb.store.runlog import finish_run, start_run
from kb.ingest.sources import SourceRecord, SourceUnit, iter_units, parse_units
from kb.store.write import PreparedStudy, Rejected, Unchanged, WriteResult, prepare, stored_hashes, write_prepared
from kb.process.workers import start_worker

log = logging.getLogger(__name__)
BATCH_SIZE = 500


@dataclass
class ImportSummary:
    """What an import read and did."""

    read: int = 0
    result: WriteResult = field(default_factory=WriteResult)
    run_id: int | None = None
    products: dict[str, int] = field(default_factory=dict)  # what relearning found (kb.store.products)

    @property
    def rejected(self) -> list[Rejected]:
        return self.result.rejected

    def counts(self) -> dict[str, int]:
        return {"read": self.read, **self.result.counts()}


_worker_engine: Engine | None = None


def _known_hashes(store: Engine | str | None, records: list[SourceRecord]) -> dict[str, str]:
    """Stored hashes of the records' ids ({} if the store cannot be read: then all are normalized).

    In a worker process ``store`` is a URL and the process opens its own read connection.
    """
    global _worker_engine
    if store is None:
        return {}
    if isinstance(store, str):
        if _worker_engine is None:
            from kb.store.db import make_engine
            _worker_engine = make_engine(store)
        store = _worker_engine
    ids = [nct for nct in (record_id(r.data) for r in records if not r.error) if nct]
    try:
        with store.connect() as conn:
            return stored_hashes(conn, ids)
    except SQLAlchemyError as exc:
        log.warning("cannot read stored hashes (%s); normalizing every study", first_line(exc))
        return {}


def prepare_records(records: Iterable[SourceRecord], store: Engine | str | None = None
                    ) -> list[PreparedStudy | Unchanged | Rejected]:
    """Prepare parsed records (unreadable ones become Rejected); with a ``store`` (engine or URL),
    studies whose stored hash matches are not normalized again."""
    records = list(records)
    known = _known_hashes(store, records)
    return [Rejected(r.origin, r.error) if r.error else prepare(r.origin, r.data, known) for r in records]


_worker_archives: dict[str, zipfile.ZipFile] = {}
"""Archives a worker process keeps open for the import it serves (the pool lives as long)."""


def prepare_units(units: list[SourceUnit], db_url: str | None = None) -> list[PreparedStudy | Unchanged | Rejected]:
    """Parse and prepare the studies of some files or archive members (runs in a worker)."""
    gcpause.collect()  # the last batch's leftovers, before this batch's objects are alive
    return prepare_records(parse_units(units, _worker_archives), db_url)


def _unit_batches(units: Iterable[SourceUnit], size: int) -> Iterator[list[SourceUnit]]:
    """Units in groups of about ``size`` studies."""
    batch: list[SourceUnit] = []
    studies = 0
    for unit in units:
        batch.append(unit)
        studies += unit.studies
        if studies >= size:
            yield batch
            batch, studies = [], 0
    if batch:
        yield batch


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _prepared_batches(units: Iterable[SourceUnit], batch_size: int, workers: int, engine: Engine,
                      stop: StopFlag | None = None) -> Iterator[list[PreparedStudy | Unchanged | Rejected]]:
    """Prepared batches in input order, from ``workers`` processes (0: this process)."""
    if workers <= 0:
        archives: dict[str, zipfile.ZipFile] = {}
        try:
            for units_chunk in _unit_batches(units, batch_size):
                gcpause.collect()
                yield prepare_records(parse_units(units_chunk, archives), engine)
        finally:
            for archive in archives.values():
                archive.close()
        return
    db_url = engine.url.render_as_string(hide_password=False) if engine.url.database != ":memory:" else None
    pool = ProcessPoolExecutor(max_workers=workers, initializer=start_worker, initargs=(os.getpid(),))
    try:
        pending: deque[Future] = deque()
        for chunk in _unit_batches(units, batch_size):
            if stop and stop.requested:
                return
            pending.append(pool.submit(prepare_units, chunk, db_url))
            if len(pending) > 2 * workers:  # bounded memory: a few batches in flight
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # interrupted or failed: drop the batches in flight instead of waiting for them
        pool.shutdown(wait=True, cancel_futures=True)


def _write(engine: Engine, summary: ImportSummary, prepared: list[PreparedStudy | Unchanged | Rejected],
           source: str) -> None:
    with engine.begin() as conn:
        result = write_prepared(conn, prepared, source=source)
    for rejected in result.rejected:
        log.warning("rejected %s: %s", rejected.origin, rejected.reason)
    summary.read += len(prepared)
    summary.result.add(result)


def default_workers() -> int:
    """Worker processes for preparing studies: one per core."""
    return os.cpu_count() or 1


def import_paths(engine: Engine, paths: Iterable[str | Path], *, batch_size: int = BATCH_SIZE,
                 workers: int | None = None, on_batch: Callable[[int], None] | None = None) -> ImportSummary:
    """Import every study under ``paths`` and write the run to the run log.

    The first SIGINT / SIGTERM stops it between batches: complete batches stay committed, the
    rest is not written, the run is marked ``interrupted`` and :class:`Interrupted` is raised.
    """
    paths = [str(p) for p in paths]
    workers = default_workers() if workers is None else workers
    run_id = start_run(engine, "import", {"paths": paths, "workers": workers})
    summary = ImportSummary(run_id=run_id)
    units = (unit for path in paths for unit in iter_units(path, lines=batch_size))
    try:
        with stop_on_signals() as stop, gcpause.paused():
            batches = _prepared_batches(units, batch_size, workers, engine, stop)
            for number, prepared in enumerate(batches, 1):
                for chunk in _chunks(prepared, batch_size):  # a unit may hold a page of many studies
                    stop.check()
                    _write(engine, summary, chunk, "import")
                    if on_batch:
                        on_batch(len(chunk))
                if number % 20 == 0:  # batches in flight are alive here: scanning them costs ~30 ms
                    gcpause.collect()
            stop.check()
    except Interrupted as exc:
        finish_run(engine, run_id, "interrupted", summary.counts(), [str(exc)])
        raise Interrupted(f"{exc}; {summary.result.stored} studies of complete batches committed "
                          f"(run {run_id} marked interrupted; run the import again to finish)") from None
    except BaseException as exc:
        finish_run(engine, run_id, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                   summary.counts(), [f"{type(exc).__name__}: {exc}"])
        raise
    if summary.result.stored:
        summary.products = relearn_engine(engine)  # a new trial may teach, or name, a learned product
    errors = [f"{r.origin}: {r.reason}" for r in summary.rejected]
    finish_run(engine, run_id, "ok", summary.counts(), errors)
    return summary


def nothing_imported_reason(summary: ImportSummary) -> str:
    """Why an import stored nothing, in a sentence."""
    if summary.read == 0:
        return "nothing imported: no API v2 study JSON or WHO ICTRP export found (.json, .jsonl, .ndjson, .xml, .csv or .zip)"
    first = summary.rejected[0] if summary.rejected else None
    return (f"nothing imported: all {summary.read} records were rejected"
            + (f" (first: {first.origin}: {first.reason})" if first else ""))


def rebuild_store(engine: Engine, *, batch_size: int = BATCH_SIZE,
                  on_batch: Callable[[int], None] | None = None) -> WriteResult:
    """Re-normalize every stored raw record with the current normalizer (no crawl needed)."""
    from sqlalchemy import select

    from kb.store.models import RawRecord
    from kb.store.write import renormalize

    run_id = start_run(engine, "rebuild", {})
    with engine.connect() as conn:
        ids = conn.execute(select(RawRecord.trial_id).order_by(RawRecord.trial_id)).scalars().all()
    total = WriteResult()
    for chunk in _chunks(ids, batch_size):
        with engine.begin() as conn:
            total.add(renormalize(conn, chunk))
        if on_batch:
            on_batch(len(chunk))
    from kb.store.rejects import recover_rejected

    total.add(recover_rejected(engine))  # records rejected before a fix of the normalizer
    relearn_engine(engine)
    finish_run(engine, run_id, "ok", {"rebuilt": total.changed, "recovered": total.new, "rejected": len(total.rejected)},
               [f"{r.trial_id}: {r.reason}" for r in total.rejected])
    return total
