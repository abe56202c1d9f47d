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
from concurrent.futures import Future
from contextlib import closing, nullcontext
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
from kb.process.lock import writer_lock
from kb.process.pool import WorkerPool

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
        duplicates = sum(1 for _, message in self.result.warnings if message.startswith(DUPLICATE_KEY))
        return {"read": self.read, **self.result.counts(), "duplicate_keys": duplicates}


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
    return [_with_key_warnings(r, Rejected(r.origin, r.error) if r.error else prepare(r.origin, r.data, known))
            for r in records]


DUPLICATE_KEY = "duplicate key"
"""How a duplicate-key warning starts (the run log counts them as ``duplicate_keys``)."""


def _with_key_warnings(record: SourceRecord, item: PreparedStudy | Unchanged | Rejected
                       ) -> PreparedStudy | Unchanged | Rejected:
    """A stored study's warnings name the keys its record repeats (the last value was kept)."""
    if record.duplicate_keys and isinstance(item, PreparedStudy):
        item.warnings = [*item.warnings, *(f"{DUPLICATE_KEY} {key!r} in {record.origin}: the last value was kept"
                                           for key in record.duplicate_keys)]
    return item


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


def _prepared_batches(units: Iterable[SourceUnit], batch_size: int, pool: WorkerPool | None, engine: Engine,
                      stop: StopFlag | None = None) -> Iterator[list[PreparedStudy | Unchanged | Rejected]]:
    """Prepared batches in input order, from the ``pool``'s processes (None: this process)."""
    if pool is None:
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
    pending: deque[Future] = deque()
    for chunk in _unit_batches(units, batch_size):
        if stop:
            stop.check()
        pending.append(pool.submit(prepare_units, chunk, db_url))
        if len(pending) > 2 * pool.workers:  # bounded memory: a few batches in flight
            yield pool.result(pending.popleft())
    while pending:
        yield pool.result(pending.popleft())


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
                 workers: int | None = None, on_batch: Callable[[int], None] | None = None,
                 wait: bool = True, on_wait: Callable[[str], None] | None = None) -> ImportSummary:
    """Import every study under ``paths`` and write the run to the run log.

    The store's writer lock is held throughout (:class:`kb.process.lock.WriterLock`: ``wait`` for
    another import, crawl or rebuild to finish, telling ``on_wait``; or raise ``LockBusy``).
    The first SIGINT / SIGTERM stops it within a fraction of a second, even while a worker reads:
    complete batches stay committed, the rest is not written, the run is marked ``interrupted``
    and :class:`Interrupted` is raised. A run that stores nothing ends ``empty`` (nothing to read)
    or ``failed`` (every record rejected), never ``ok``.
    """
    paths = [str(p) for p in paths]
    workers = default_workers() if workers is None else workers
    with writer_lock(engine, "import", wait=wait, on_wait=on_wait):
        run_id = start_run(engine, "import", {"paths": paths, "workers": workers})
        summary = ImportSummary(run_id=run_id)
        try:
            _import_units(engine, summary, paths, batch_size, workers, on_batch)
        except BaseException as exc:
            status, reason = _failure(exc)
            finish_run(engine, run_id, status, summary.counts(), [reason])
            if isinstance(exc, Interrupted):
                raise Interrupted(f"{exc}; {summary.result.stored} studies of complete batches committed "
                                  f"(run {run_id} marked interrupted; run the import again to finish)") from None
            raise
        if summary.result.stored:
            summary.products = relearn_engine(engine)  # a new trial may teach, or name, a learned product
        status, reason = import_status(summary)
        finish_run(engine, run_id, status, summary.counts(),
                   ([reason] if reason else []) + [f"{r.origin}: {r.reason}" for r in summary.rejected])
    return summary


def _import_units(engine: Engine, summary: ImportSummary, paths: list[str], batch_size: int, workers: int,
                  on_batch: Callable[[int], None] | None) -> None:
    """Read, prepare and write every batch (the body of :func:`import_paths`)."""
    units = (unit for path in paths for unit in iter_units(path, lines=batch_size))
    with stop_on_signals() as stop, gcpause.paused(), \
            (WorkerPool(workers, stop) if workers > 0 else nullcontext()) as pool, \
            closing(_prepared_batches(units, batch_size, pool, engine, stop)) as batches:
        for number, prepared in enumerate(batches, 1):
            for chunk in _chunks(prepared, batch_size):  # a unit may hold a page of many studies
                stop.check()
                _write(engine, summary, chunk, "import")
                if on_batch:
                    on_batch(len(chunk))
            if number % 20 == 0:  # batches in flight are alive here: scanning them costs ~30 ms
                gcpause.collect()
        stop.check()


def _failure(exc: BaseException) -> tuple[str, str]:
    """The run-log status and reason of a job that raised."""
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return "interrupted", str(exc) or "interrupted by SIGINT"
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return "failed", f"{type(exc).__name__}: {text[0] if text else ''}"


def import_status(summary: ImportSummary) -> tuple[str, str | None]:
    """The run-log status of a finished import and why: ``ok``; ``empty`` when there was nothing to
    read; ``failed`` when every record was rejected (the command exits 1 for both)."""
    if summary.result.stored:
        return "ok", None
    return ("empty" if summary.read == 0 else "failed"), nothing_imported_reason(summary)


def nothing_imported_reason(summary: ImportSummary) -> str:
    """Why an import stored nothing, in a sentence."""
    if summary.read == 0:
        return "nothing imported: no API v2 study JSON or WHO ICTRP export found (.json, .jsonl, .ndjson, .xml, .csv or .zip)"
    first = summary.rejected[0] if summary.rejected else None
    return (f"nothing imported: all {summary.read} records were rejected"
            + (f" (first: {first.origin}: {first.reason})" if first else ""))


def rebuild_store(engine: Engine, *, batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None,
                  wait: bool = True, on_wait: Callable[[str], None] | None = None) -> WriteResult:
    """Re-normalize every stored raw record with the current normalizer (no crawl needed), under the
    store's writer lock; stored ids that are no registry's id are reported as warnings
    (:func:`kb.store.idcheck.bad_stored_ids`)."""
    from sqlalchemy import select

    from kb.store.idcheck import bad_stored_ids, is_canonical
    from kb.store.models import RawRecord
    from kb.store.rejects import recover_rejected
    from kb.store.write import renormalize

    with writer_lock(engine, "rebuild", wait=wait, on_wait=on_wait):
        run_id = start_run(engine, "rebuild", {})
        total = WriteResult()
        try:
            with engine.connect() as conn:
                ids = [i for i in conn.execute(select(RawRecord.trial_id).order_by(RawRecord.trial_id)).scalars()
                       if is_canonical(i)]  # the others are reported, not touched
                bad = bad_stored_ids(conn)
            total.warnings += [("", line) for line in bad]
            for chunk in _chunks(ids, batch_size):
                with engine.begin() as conn:
                    total.add(renormalize(conn, chunk))
                if on_batch:
                    on_batch(len(chunk))
            total.add(recover_rejected(engine))  # records rejected before a fix of the normalizer
            relearn_engine(engine)
        except BaseException as exc:
            status, reason = _failure(exc)
            finish_run(engine, run_id, status, _rebuild_counts(total), [reason])
            raise
        finish_run(engine, run_id, "ok", _rebuild_counts(total),
                   [f"{r.trial_id}: {r.reason}" for r in total.rejected] + [f"bad id: {line}" for line in bad])
    return total


def _rebuild_counts(total: WriteResult) -> dict[str, int]:
    return {"rebuilt": total.changed, "recovered": total.new, "rejected": len(total.rejected),
            "bad_ids": sum(1 for trial_id, _ in total.warnings if trial_id == "")}
