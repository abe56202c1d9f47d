"""Bulk import of API v2 records from files into the store, in committed batches.

Reading, parsing, hashing and normalizing (the CPU-heavy part) run in worker processes, and each
worker writes the batch it prepared, one transaction per batch, in input order (:mod:`kb.process.turns`):
no rows travel between processes, and the main process only hands out work and counts. A bad record is
reported with its origin and reason and skipped; every good batch is committed, so an import stopped
half-way keeps what it stored and a re-run is idempotent.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import zipfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import closing, nullcontext
from dataclasses import dataclass, field, replace
from multiprocessing.queues import SimpleQueue
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from kb.core.errors import Interrupted, JobFailed, first_line, store_or_file_error
from kb.domain.extract.select import rules_key
from kb.ingest.sources import SourceUnit, close_archives, iter_units
from kb.ingest.triage import DUPLICATE_KEY, Batch, triage_units, worker_engine
from kb.process import gcpause
from kb.process.interrupts import StopFlag, stop_on_signals
from kb.process.lock import writer_lock
from kb.process.pool import WorkerPool
from kb.process.turns import Turns
from kb.store import ledger
from kb.store.bulk import chunks
from kb.store.checkpoints import WalCheckpoints, leave_checkpoints
from kb.store.db import reopen_url
from kb.store.products import RelearnResult, relearn_engine, relearn_if_stale
from kb.store.runlog import finish_run, start_run
from kb.store.rejects import keep_rejected
from kb.store.write import RAW, PreparedStudy, Rejected, WriteResult, utcnow, write_prepared

log = logging.getLogger(__name__)
BATCH_SIZE = 500
"""Studies a worker prepares and commits at a time. Storing every study of a 20,000-study archive
(bench/import_bench.py's mix, SQLite, 2 cores, paired runs), when the main process wrote and each commit
could checkpoint SQLite's log: 18.3-18.5 s at 2,000, 19.5 s at 1,000, 20.3-21.0 s at 500, 19.6 s at 4,000
(too few batches to keep both workers busy at the end); with --relevant-only the same at 500 and 2,000.
Since the workers write (December 2026, alternating pairs): 13.6-15.0 s at 2,000 against 13.7-17.2 s at
1,000; since the job checkpoints, 1,000 was 2.8% faster in mean, within this machine's noise. Since the
extraction's December speed-ups (alternating pairs of ``trialkb import``): 2,000 against 1,000 9.11 s and
8.72 s (four pairs), 2,000 against 500 9.11 s and 8.82 s (three), 1,000 against 500 8.74 s and 8.64 s (four),
500 against 250 8.34 s and 8.66 s (three): a smaller batch keeps its pages and rows in the caches, and the
log the job copies is shorter. --relevant-only: 2.42 s at 2,000, 2.46 s at 500."""


@dataclass
class ImportSummary:
    """What an import read and did."""

    read: int = 0
    unread: int = 0  # archive members the ledger knows unchanged: not read again
    result: WriteResult = field(default_factory=WriteResult)
    run_id: int | None = None
    products: RelearnResult | None = None  # what relearning found (kb.store.products); None: not relearned
    finished: bool = False  # every batch was handled (a stop after that leaves nothing to do)

    @property
    def rejected(self) -> list[Rejected]:
        return self.result.rejected

    def count(self, batch: Batch) -> None:
        """Count what a batch needs no write for (the ledger knew it), and what a worker wrote of it."""
        self.read += batch.unchanged
        self.unread += batch.unread
        self.result.unchanged += batch.unchanged + batch.unread_stored
        self.result.skipped += batch.unread_skipped
        if batch.written is not None:
            self.add(batch.written, batch.written_items)

    def add(self, result: WriteResult, items: int) -> None:
        """Count a committed write of ``items`` items."""
        for item in result.rejected:
            log.warning("rejected %s: %s", item.origin, item.reason)
        self.read += items
        self.result.add(result)

    def counts(self) -> dict[str, int]:
        duplicates = sum(1 for _, message in self.result.warnings if message.startswith(DUPLICATE_KEY))
        return {"read": self.read, "unread": self.unread, **self.result.counts(), "duplicate_keys": duplicates}


_worker_archives: dict[str, zipfile.ZipFile] = {}
"""Archives a worker process keeps open for the import it serves (the pool lives as long)."""
_worker_turns: Turns | None = None
"""The turns in which the workers of the import write their batches (set as a worker starts)."""
_worker_reports: SimpleQueue | None = None
"""Where a worker sends the counts of each batch it committed (set as a worker starts)."""
_held: deque[tuple[int, Batch]] = deque()
"""Batches this worker prepared and has not written yet, with their turns, oldest first."""
HOLD = 2
"""Prepared batches a worker keeps before it waits for the oldest one's turn: while the other worker
writes, this one prepares its next batch instead of waiting (two cores, one SQLite writer at a time)."""
PART_SIZE = 250
"""Studies a writing worker triages between two looks at whether a kept batch's turn has come."""
QUEUED = 2
"""Tasks handed to each worker at a time (the one it runs and the next)."""
LAST_SPLIT = 4
"""How many times smaller the last batches of an import are (one per worker before the split)."""
READ_AHEAD = 2
"""Batches read ahead per worker, so that every worker's next batch is among them."""
STOP_WAIT_SECONDS = 10.0
"""How long a stop waits for the batch being written to commit (writing a batch of 500 takes well under a second)."""
FAILED_WAIT_SECONDS = 2.0
"""How long a failed import waits for the other worker's batch being written, to count it (a worker killed
while it held its turn never lets the wait end early)."""
REPORT_POLL_SECONDS = 0.05
"""How often the job looks for a worker's report (and a stop) while it waits for one; a worker's finished task
wakes it at once. Every 10 ms the job's main thread took 1.09-1.12 CPU s of a 20,000-study import, every 50 ms
0.96-0.99 s."""


def _start_writer(turns: Turns, reports: SimpleQueue, db_url: str) -> None:
    """Worker set-up: the turns it writes its batches in, where it reports them, and a store whose log the
    job checkpoints (:mod:`kb.store.checkpoints`), not this worker's commits."""
    global _worker_turns, _worker_reports
    _worker_turns, _worker_reports = turns, reports
    _held.clear()
    leave_checkpoints(worker_engine(db_url))


def triage_in_worker(units: list[SourceUnit], db_url: str | None, selection: str | None) -> Batch:
    """:func:`kb.ingest.triage.triage_units` in a worker process, its archives kept open."""
    return triage_units(units, db_url, selection, _worker_archives)


def write_in_worker(units: list[SourceUnit], db_url: str, selection: str | None, turn: int, run_id: int | None,
                    batch_size: int, look_up: bool = True) -> None:
    """Triage some units in a worker process (``look_up``: with the stored hashes and ledger rows of their
    studies) and keep the batch to write in turn ``turn``; then write the kept batches whose turns have come,
    waiting for one only when :data:`HOLD` are kept. Between parts of the triage, a kept batch whose turn came
    is written at once (so few are left to write at the end). Each committed batch's counts go to the job's
    reports queue; nothing else goes back."""
    batch = Batch()
    for part in _unit_batches(units, PART_SIZE):
        _write_held(db_url, run_id, batch_size, keep=len(_held))  # no waiting here
        batch.extend(triage_in_worker(part, db_url if look_up else None, selection))
    _held.append((turn, batch))
    # With a selection, triage skips a study by whether its trial is stored: a batch prepared ahead of an
    # earlier one's commit could skip the update of a trial that batch stores. So it is written at once.
    _write_held(db_url, run_id, batch_size, keep=HOLD - 1 if selection is None else 0)


def flush_in_worker(db_url: str, run_id: int | None, batch_size: int) -> None:
    """Write every batch this worker still keeps, each in its turn (each worker's last task)."""
    _write_held(db_url, run_id, batch_size, keep=0)


def _write_held(db_url: str, run_id: int | None, batch_size: int, keep: int) -> None:
    """Write the kept batches in order while their turns have come; while more than ``keep`` are kept, wait
    for the next one's turn. After a stop nothing more is written, and the kept batches are dropped."""
    assert _worker_turns is not None and _worker_reports is not None, "a writing worker starts with _start_writer"
    while _held:
        turn, batch = _held[0]
        if len(_held) <= keep and _worker_turns.waiting(turn):
            return
        with _worker_turns.turn(turn) as go:
            if not go:
                _held.clear()
                return
            written = WriteResult()
            for items, rows in _split(batch, batch_size):
                written.add(_write(worker_engine(db_url), run_id, items, rows))
        _held.popleft()
        _worker_reports.put(replace(batch, items=[], ledger=[], written=written, written_items=len(batch.items)))


def _unit_batches(units: Iterable[SourceUnit], size: int, last: int = 0) -> Iterator[list[SourceUnit]]:
    """Units in groups of about ``size`` studies; the studies of the ``last`` groups come in groups
    :data:`LAST_SPLIT` times smaller, so the workers finish together and the last writes are short. A unit
    is never split: a JSON Lines file comes in units of a batch's lines, so its last batches stay whole."""
    held: deque[list[SourceUnit]] = deque()
    for group in _groups(units, size):
        held.append(group)
        if len(held) > last:
            yield held.popleft()
    yield from _groups((unit for group in held for unit in group), max(1, size // LAST_SPLIT))


def _groups(units: Iterable[SourceUnit], size: int) -> Iterator[list[SourceUnit]]:
    """Units in groups of about ``size`` studies (a unit is never split)."""
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


def _batches(units: Iterable[SourceUnit], batch_size: int, pool: WorkerPool | None, engine: Engine,
             selection: str | None, stop: StopFlag | None = None, turns: Turns | None = None,
             reports: SimpleQueue | None = None, run_id: int | None = None) -> Iterator[Batch]:
    """Triaged batches in input order, from the ``pool``'s processes (None: this process); with ``turns``,
    batches the workers have written already (run ``run_id``), in the order they sent them to ``reports``
    (:func:`_written_by_workers`). On a stop, the batches written before it are still yielded, then
    :class:`Interrupted` is raised."""
    with engine.connect() as conn:  # an empty ledger (a first import) knows no member: no lookups
        fresh = conn.execute(select(ledger.LEDGER.c.trial_id).limit(1)).first() is None
        # storing every study into a store of none: no stored record to compare a study with (a study read
        # twice is stored once anyway, as the write compares it with what an earlier batch stored)
        look_up = not (fresh and selection is None and conn.execute(select(RAW.c.trial_id).limit(1)).first() is None)
    chunks = ((chunk, Batch()) if fresh else _unread(engine, chunk, selection)
              for chunk in _unit_batches(units, batch_size, last=pool.workers if pool else 0))
    if pool is None:
        archives: dict[str, zipfile.ZipFile] = {}
        try:
            for todo, unread in chunks:
                yield unread
                if todo:
                    yield triage_units(todo, engine if look_up else None, selection, archives)
        finally:
            for archive in archives.values():
                archive.close()
        return
    if turns is not None and reports is not None:  # made only for a store the workers can open (reopen_url)
        yield from _written_by_workers(chunks, pool, reopen_url(engine), selection, stop, turns, reports, run_id,
                                       batch_size, look_up)
        return
    db_url = reopen_url(engine)
    pending: deque[Future | Batch] = deque()
    for todo, unread in chunks:
        if stop:
            stop.check()
        pending.append(unread)
        if todo:
            pending.append(pool.submit(triage_in_worker, todo, db_url, selection))
        while sum(isinstance(p, Future) for p in pending) > 2 * pool.workers:  # bounded memory: a few in flight
            yield _take(pool, pending)
    while pending:
        yield _take(pool, pending)


def _take(pool: WorkerPool, pending: deque[Future | Batch]) -> Batch:
    """The first pending batch, removed once it is there."""
    item = pending[0]
    batch = pool.result(item) if isinstance(item, Future) else item
    pending.popleft()
    return batch


def _written_by_workers(chunks: Iterable[tuple[list[SourceUnit], Batch]], pool: WorkerPool, db_url: str | None,
                        selection: str | None, stop: StopFlag | None, turns: Turns, reports: SimpleQueue,
                        run_id: int | None, batch_size: int, look_up: bool = True) -> Iterator[Batch]:
    """The batches the pinned workers wrote, as they report them (in any order: only counts come back);
    ``look_up``: the workers read the stored hashes and ledger rows of the studies they prepare.

    Batch ``n`` is written in turn ``n`` by worker ``n mod workers``, so each worker's kept batches are
    written in its own task order. A worker is handed its next batch whenever it has room, never held
    back by another (a worker left idle with a kept batch would stop the turns); its last task writes
    what it still keeps. On a stop or a failure (a worker gone, a write failing), the batches committed
    before it are still yielded, then the error is raised; a stop that came once every batch was written
    and counted ends the batches instead (the caller honours it after relearning)."""
    workers = pool.workers
    queued: list[deque[Future]] = [deque() for _ in range(workers)]
    read: dict[int, list[SourceUnit]] = {}  # turn -> units: read, not handed out yet
    next_turn = list(range(workers))
    flushed = [False] * workers
    chunks = iter(chunks)
    exhausted = False
    read_turns = reported = 0
    try:
        while True:
            if stop:
                stop.check()
            while not exhausted and len(read) < READ_AHEAD * workers:  # each worker's next batch is among them
                try:
                    todo, unread = next(chunks)
                except StopIteration:
                    exhausted = True
                    break
                yield unread
                if todo:
                    read[read_turns] = todo
                    read_turns += 1
            for worker, tasks in enumerate(queued):
                while tasks and tasks[0].done():
                    pool.result(tasks.popleft())  # a task's error is raised here
                while len(tasks) < QUEUED and not flushed[worker]:
                    turn = next_turn[worker]
                    if turn in read:
                        tasks.append(pool.submit(write_in_worker, read.pop(turn), db_url, selection, turn, run_id,
                                                 batch_size, look_up, worker=worker))
                        next_turn[worker] += workers
                    elif exhausted:
                        tasks.append(pool.submit(flush_in_worker, db_url, run_id, batch_size, worker=worker))
                        flushed[worker] = True
                    else:
                        break
            reported += yield from _reported(reports)
            running = [task for tasks in queued for task in tasks]
            if all(flushed) and not running:
                reported += yield from _reported(reports)
                return
            wait(running, timeout=REPORT_POLL_SECONDS, return_when=FIRST_COMPLETED)
    except Exception as exc:  # a stop, a failed write, a worker gone: count what was committed before it
        wait_seconds = STOP_WAIT_SECONDS if isinstance(exc, Interrupted) else FAILED_WAIT_SECONDS
        written = turns.stop(wait_seconds)
        deadline = time.monotonic() + wait_seconds
        while reported < written and time.monotonic() < deadline:  # the committed ones report at once
            reported += yield from _reported(reports)
            time.sleep(REPORT_POLL_SECONDS)
        if isinstance(exc, Interrupted) and exhausted and not read and reported == written == read_turns:
            return  # a stop once every batch was written and counted: the caller honours it after what follows
        raise


def _reported(reports: SimpleQueue) -> Generator[Batch, None, int]:
    """Yield the batches reported so far; return how many."""
    count = 0
    while not reports.empty():
        yield reports.get()
        count += 1
    return count


def _write(engine: Engine, run_id: int | None, items: list, ledger_rows: list) -> WriteResult:
    """Store some items of a batch and their ledger rows in one transaction."""
    now = utcnow()
    with engine.begin() as conn:
        result = write_prepared(conn, items, source="import", now=now)
        keep_rejected(conn, result.rejected, [i.trial_id for i in items if isinstance(i, PreparedStudy)], run_id)
        rejected = {r.trial_id for r in result.rejected}
        ledger.write_entries(conn, [row for row in ledger_rows if row["trial_id"] not in rejected],
                             run_id=run_id, now=now)
    return result


def default_workers() -> int:
    """Worker processes for preparing studies: one per core."""
    return os.cpu_count() or 1


def import_paths(engine: Engine, paths: Iterable[str | Path], *, batch_size: int = BATCH_SIZE,
                 workers: int | None = None, selection: str | None = None,
                 on_batch: Callable[[int], None] | None = None,
                 wait: bool = True, on_wait: Callable[[str], None] | None = None) -> ImportSummary:
    """Import every study under ``paths`` and write the run to the run log.

    ``selection`` (``"car"`` or ``"cell"``, :mod:`kb.domain.extract.select`): store only those trials
    (and keep the stored ones current); every study read gets a ledger row either way
    (:mod:`kb.ingest.triage`). ``on_batch`` is told how many studies each committed batch handled.
    The store's writer lock is held throughout (:class:`kb.process.lock.WriterLock`: ``wait`` for
    another import, crawl or rebuild to finish, telling ``on_wait``; or raise ``LockBusy``).
    The first SIGINT / SIGTERM stops it within a fraction of a second, even while a worker reads:
    complete batches stay committed with their ledger rows, the rest is not written, the run is
    marked ``interrupted`` and :class:`Interrupted` is raised; the next run does not read again what
    was committed. A run that stores nothing ends ``empty`` (nothing to read) or ``failed`` (every
    record rejected), never ``ok``.
    """
    paths = [str(p) for p in paths]
    workers = default_workers() if workers is None else workers
    with writer_lock(engine, "import", wait=wait, on_wait=on_wait):
        run_id = start_run(engine, "import", {"paths": paths, "workers": workers, "selection": selection})
        summary = ImportSummary(run_id=run_id)
        try:
            with stop_on_signals() as stop:
                _import_units(engine, summary, paths, batch_size, workers, selection, on_batch, stop)
                # trials stored, now or by a run whose relearning never ran, may teach or name a product
                summary.products = relearn_if_stale(engine)  # one transaction: a stop waits for it
            stop.check()  # a stop that came after the last batch: every study is committed
        except BaseException as exc:
            status, reason = _failure(exc)
            stopped = isinstance(exc, Interrupted)
            if stopped:
                reason = f"{reason}; {_interrupted_state(summary)}"
            marked = _finish_failed(engine, run_id, status, summary.counts(), [reason, *_rejected_lines(summary)],
                                    summary.result.warnings)
            if stopped:
                raise Interrupted(f"{reason} ({marked})") from None
            if (cause := store_or_file_error(exc)) is not None:  # not a bug: say what the store kept
                raise JobFailed(f"{cause} ({marked}); {_interrupted_state(summary)}") from exc
            raise
        status, reason = import_status(summary)
        finish_run(engine, run_id, status, summary.counts(), ([reason] if reason else []) + _rejected_lines(summary),
                   summary.result.warnings)
    return summary


def _rejected_lines(summary: ImportSummary) -> list[str]:
    return [f"{r.origin}: {r.reason}" for r in summary.rejected]


def _finish_failed(engine: Engine, run_id: int, status: str, counts: dict[str, int], errors: list[str],
                   warnings: Sequence[tuple[str, str]] = ()) -> str:
    """Mark a run that raised; the store that stopped it may refuse the run log too. Says which, for the user:
    'run 3 marked failed', or 'run 3 not marked failed: ...' (the next job marks it abandoned)."""
    try:
        finish_run(engine, run_id, status, counts, errors, warnings)
    except SQLAlchemyError as exc:
        log.warning("run %s not marked %s in the run log: %s", run_id, status, first_line(exc))
        return f"run {run_id} not marked {status}: {first_line(exc)}"
    return f"run {run_id} marked {status}"


def _interrupted_state(summary: ImportSummary) -> str:
    """What an interrupted import left, and what to do."""
    if summary.finished:
        relearned = " and the products relearned" if summary.products is not None else ""
        return f"every study is read and committed ({summary.result.stored} stored){relearned}; nothing is left to do"
    return f"{summary.result.stored} studies of complete batches committed; run the import again to finish"


def _import_units(engine: Engine, summary: ImportSummary, paths: list[str], batch_size: int, workers: int,
                  selection: str | None, on_batch: Callable[[int], None] | None, stop: StopFlag) -> None:
    """Read, triage and write every batch (the body of :func:`import_paths`), then close the archives read.
    A ``stop`` raises :class:`Interrupted` between batches; once the last one is handled it is left to the caller."""
    units = (unit for path in paths for unit in iter_units(path, lines=batch_size))
    try:
        _read_and_write(engine, summary, units, batch_size, workers, selection, on_batch, stop)
    finally:
        close_archives()  # the workers' go with them


def _read_and_write(engine: Engine, summary: ImportSummary, units: Iterable[SourceUnit], batch_size: int,
                    workers: int, selection: str | None, on_batch: Callable[[int], None] | None,
                    stop: StopFlag) -> None:
    """The batches of ``units``, triaged by the workers (or here) and written in order."""
    db_url = reopen_url(engine) if workers > 0 else None
    turns = Turns() if db_url is not None else None
    reports = multiprocessing.get_context().SimpleQueue() if turns is not None else None
    with gcpause.paused(), \
            (WalCheckpoints(engine) if turns is not None else nullcontext()) as checkpoints, \
            (WorkerPool(workers, stop, *((_start_writer, (turns, reports, db_url)) if turns is not None else ()),
                        pinned=turns is not None)
             if workers > 0 else nullcontext()) as pool, \
            closing(_batches(units, batch_size, pool, engine, selection, stop, turns, reports,
                             summary.run_id)) as batches:
        for number, batch in enumerate(batches, 1):
            summary.count(batch)  # with what a worker wrote of it
            if batch.written is not None and checkpoints is not None:
                checkpoints.committed(batch.written_items)  # the workers leave the log to the job
            for items, rows in _split(batch, batch_size):  # prepared here: a unit may hold a page of many studies
                stop.check()
                summary.add(_write(engine, summary.run_id, items, rows), len(items))
            if on_batch and batch.studies:
                on_batch(batch.studies)
            if number % 20 == 0:  # batches in flight are alive here: scanning them costs ~30 ms
                gcpause.collect()
        summary.finished = True


def _failure(exc: BaseException) -> tuple[str, str]:
    """The run-log status and reason of a job that raised."""
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return "interrupted", str(exc) or "interrupted by SIGINT"
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return "failed", f"{type(exc).__name__}: {text[0] if text else ''}"


def import_status(summary: ImportSummary) -> tuple[str, str | None]:
    """The run-log status of a finished import and why: ``ok`` when it stored, kept or decided something;
    ``empty`` when there was nothing to read; ``failed`` when every record was rejected (the command
    exits 1 for both: one rule for the status and the exit code)."""
    if summary.result.stored + summary.result.skipped + summary.unread:
        return "ok", None
    return ("empty" if summary.read == 0 else "failed"), nothing_imported_reason(summary)


def _split(batch: Batch, size: int) -> Iterator[tuple[list, list]]:
    """A batch's items in transactions of ``size``, each with the ledger rows of its trials."""
    if len(batch.items) <= size:
        if batch.items or batch.ledger:
            yield batch.items, batch.ledger
        return
    by_id: dict[str, list[dict]] = {}
    for row in batch.ledger:
        by_id.setdefault(row["trial_id"], []).append(row)
    for chunk in chunks(batch.items, size):
        ids = {getattr(item, "trial_id", None) for item in chunk}
        yield chunk, [row for i in ids if i in by_id for row in by_id.pop(i)]
    rest = [row for rows in by_id.values() for row in rows]
    if rest:  # ledger rows of records the ledger knew (no item)
        yield [], rest


def nothing_imported_reason(summary: ImportSummary) -> str:
    """Why an import stored nothing, in a sentence."""
    if summary.read == 0:
        return ("nothing imported: no API v2 study JSON or WHO ICTRP export found "
                "(.json, .jsonl, .ndjson, .xml, .csv or .zip)")
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
        ids: list[str] = []
        done = 0
        try:
            with engine.connect() as conn:
                ids = [i for i in conn.execute(select(RawRecord.trial_id).order_by(RawRecord.trial_id)).scalars()
                       if is_canonical(i)]  # the others are reported, not touched
                bad = bad_stored_ids(conn)
            total.warnings += [("", line) for line in bad]
            for chunk in chunks(ids, batch_size):
                with engine.begin() as conn:
                    total.add(renormalize(conn, chunk))
                done += len(chunk)
                if on_batch:
                    on_batch(len(chunk))
            total.add(recover_rejected(engine))  # records rejected before a fix of the normalizer
            relearn_engine(engine)
        except BaseException as exc:
            status, reason = _failure(exc)
            marked = _finish_failed(engine, run_id, status, _rebuild_counts(total), [reason])
            if (cause := store_or_file_error(exc)) is not None:
                raise JobFailed(f"{cause} ({marked}); {done} of {len(ids)} trials "
                                "re-normalized before it, each batch whole; run the rebuild again to finish") from exc
            raise
        finish_run(engine, run_id, "ok", _rebuild_counts(total),
                   [f"{r.trial_id}: {r.reason}" for r in total.rejected] + [f"bad id: {line}" for line in bad])
    return total


def _rebuild_counts(total: WriteResult) -> dict[str, int]:
    return {"rebuilt": total.changed, "recovered": total.new, "rejected": len(total.rejected),
            "bad_ids": sum(1 for trial_id, _ in total.warnings if trial_id == "")}
