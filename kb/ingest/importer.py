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

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from kb.core.errors import Interrupted
from kb.domain.extract.select import rules_key
from kb.ingest.sources import SourceUnit, iter_units
from kb.ingest.triage import Batch, triage_units
from kb.process import gcpause
from kb.process.interrupts import StopFlag, stop_on_signals
from kb.process.workers import start_worker
from kb.store import ledger
from kb.store.runlog import finish_run, start_run
from kb.store.write import Rejected, WriteResult, utcnow, write_prepared

log = logging.getLogger(__name__)
BATCH_SIZE = 500


@dataclass
class ImportSummary:
    """What an import read and did."""

    read: int = 0
    unread: int = 0  # archive members the ledger knows unchanged: not read again
    result: WriteResult = field(default_factory=WriteResult)
    run_id: int | None = None

    @property
    def rejected(self) -> list[Rejected]:
        return self.result.rejected

    def count(self, batch: Batch) -> None:
        """Count what a batch needs no write for (the ledger knew it)."""
        self.read += batch.unchanged
        self.unread += batch.unread
        self.result.unchanged += batch.unchanged + batch.unread_stored
        self.result.skipped += batch.unread_skipped

    def counts(self) -> dict[str, int]:
        return {"read": self.read, "unread": self.unread, **self.result.counts()}


_worker_archives: dict[str, zipfile.ZipFile] = {}
"""Archives a worker process keeps open for the import it serves (the pool lives as long)."""


def triage_in_worker(units: list[SourceUnit], db_url: str | None, selection: str | None) -> Batch:
    """:func:`kb.ingest.triage.triage_units` in a worker process, its archives kept open."""
    return triage_units(units, db_url, selection, _worker_archives)


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


def _unread(engine: Engine, units: list[SourceUnit], selection: str | None) -> tuple[list[SourceUnit], Batch]:
    """The units to read, and a batch counting the archive members the ledger knows unchanged (by CRC-32
    and size) whose decision still holds: they are not read at all."""
    members = [(u.member, u.crc, u.size) for u in units if u.member and u.crc is not None and u.error is None]
    if not members:
        return units, Batch()
    with engine.connect() as conn:
        known = ledger.unchanged_members(conn, members, rules_key(selection))
    stored = sum(decision == "stored" for decision in known.values())
    return [u for u in units if u.member not in known], Batch(unread_stored=stored, unread_skipped=len(known) - stored)


def _batches(units: Iterable[SourceUnit], batch_size: int, workers: int, engine: Engine, selection: str | None,
             stop: StopFlag | None = None) -> Iterator[Batch]:
    """Triaged batches in input order, from ``workers`` processes (0: this process)."""
    with engine.connect() as conn:  # an empty ledger (a first import) knows no member: no lookups
        fresh = conn.execute(select(ledger.LEDGER.c.trial_id).limit(1)).first() is None
    chunks = ((chunk, Batch()) if fresh else _unread(engine, chunk, selection)
              for chunk in _unit_batches(units, batch_size))
    if workers <= 0:
        archives: dict[str, zipfile.ZipFile] = {}
        try:
            for todo, unread in chunks:
                yield unread
                if todo:
                    yield triage_units(todo, engine, selection, archives)
        finally:
            for archive in archives.values():
                archive.close()
        return
    db_url = engine.url.render_as_string(hide_password=False) if engine.url.database != ":memory:" else None
    pool = ProcessPoolExecutor(max_workers=workers, initializer=start_worker, initargs=(os.getpid(),))
    try:
        pending: deque[Future | Batch] = deque()
        for todo, unread in chunks:
            if stop and stop.requested:
                return
            pending.append(unread)
            if todo:
                pending.append(pool.submit(triage_in_worker, todo, db_url, selection))
            while sum(isinstance(p, Future) for p in pending) > 2 * workers:  # bounded memory: a few in flight
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:  # interrupted or failed: drop the batches in flight instead of waiting for them
        pool.shutdown(wait=True, cancel_futures=True)


def _result(item: Future | Batch) -> Batch:
    return item.result() if isinstance(item, Future) else item


def _write(engine: Engine, summary: ImportSummary, items: list, ledger_rows: list) -> None:
    """Store some items of a batch and their ledger rows in one transaction."""
    now = utcnow()
    with engine.begin() as conn:
        result = write_prepared(conn, items, source="import", now=now)
        rejected = {r.trial_id for r in result.rejected}
        ledger.write_entries(conn, [row for row in ledger_rows if row["trial_id"] not in rejected],
                             run_id=summary.run_id, now=now)
    for item in result.rejected:
        log.warning("rejected %s: %s", item.origin, item.reason)
    summary.read += len(items)
    summary.result.add(result)


def default_workers() -> int:
    """Worker processes for preparing studies: one per core."""
    return os.cpu_count() or 1


def import_paths(engine: Engine, paths: Iterable[str | Path], *, batch_size: int = BATCH_SIZE,
                 workers: int | None = None, selection: str | None = None,
                 on_batch: Callable[[int], None] | None = None) -> ImportSummary:
    """Import every study under ``paths`` and write the run to the run log.

    ``selection`` (``"car"`` or ``"cell"``, :mod:`kb.domain.extract.select`): store only those trials
    (and keep the stored ones current); every study read gets a ledger row either way
    (:mod:`kb.ingest.triage`). ``on_batch`` is told how many studies each committed batch handled.
    The first SIGINT / SIGTERM stops it between batches: complete batches stay committed with
    their ledger rows, the rest is not written, the run is marked ``interrupted`` and
    :class:`Interrupted` is raised; the next run does not read again what was committed.
    """
    paths = [str(p) for p in paths]
    workers = default_workers() if workers is None else workers
    run_id = start_run(engine, "import", {"paths": paths, "workers": workers, "selection": selection})
    summary = ImportSummary(run_id=run_id)
    units = (unit for path in paths for unit in iter_units(path, lines=batch_size))
    try:
        with stop_on_signals() as stop, gcpause.paused():
            for number, batch in enumerate(_batches(units, batch_size, workers, engine, selection, stop), 1):
                summary.count(batch)
                for items, rows in _split(batch, batch_size):  # a unit may hold a page of many studies
                    stop.check()
                    _write(engine, summary, items, rows)
                if on_batch and batch.studies:
                    on_batch(batch.studies)
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
    errors = [f"{r.origin}: {r.reason}" for r in summary.rejected]
    finish_run(engine, run_id, "ok", summary.counts(), errors)
    return summary


def _split(batch: Batch, size: int) -> Iterator[tuple[list, list]]:
    """A batch's items in transactions of ``size``, each with the ledger rows of its trials."""
    if len(batch.items) <= size:
        if batch.items or batch.ledger:
            yield batch.items, batch.ledger
        return
    by_id: dict[str, list[dict]] = {}
    for row in batch.ledger:
        by_id.setdefault(row["trial_id"], []).append(row)
    for chunk in _chunks(batch.items, size):
        ids = {getattr(item, "trial_id", None) for item in chunk}
        yield chunk, [row for i in ids if i in by_id for row in by_id.pop(i)]
    rest = [row for rows in by_id.values() for row in rows]
    if rest:  # ledger rows of records the ledger knew (no item)
        yield [], rest


def nothing_imported_reason(summary: ImportSummary) -> str:
    """Why an import stored nothing, in a sentence."""
    if summary.read == 0:
        return "nothing imported: no API v2 study JSON found (.json, .jsonl, .ndjson or .zip)"
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
    finish_run(engine, run_id, "ok", {"rebuilt": total.changed, "recovered": total.new, "rejected": len(total.rejected)},
               [f"{r.trial_id}: {r.reason}" for r in total.rejected])
    return total
