"""Bulk import of API v2 records from files into the store, in committed batches.

A bad record is reported with its origin and reason and skipped; every good batch is
committed, so an import stopped half-way keeps what it stored and a re-run is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlalchemy import Engine

from kb.runlog import finish_run, start_run
from kb.sources import SourceRecord, read_path
from kb.store import Rejected, WriteResult, write_studies

log = logging.getLogger(__name__)
BATCH_SIZE = 500


@dataclass
class ImportSummary:
    """What an import read and did."""

    read: int = 0
    result: WriteResult = field(default_factory=WriteResult)
    run_id: int | None = None

    @property
    def rejected(self) -> list[Rejected]:
        return self.result.rejected

    def counts(self) -> dict[str, int]:
        return {"read": self.read, **self.result.counts()}


def _batches(records: Iterable[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def import_records(engine: Engine, records: Iterable[SourceRecord], *, source: str = "import",
                   batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None) -> ImportSummary:
    """Store records batch by batch, each batch in its own transaction."""
    summary = ImportSummary()
    for batch in _batches(records, batch_size):
        summary.read += len(batch)
        studies = []
        for record in batch:
            if record.error:
                summary.result.rejected.append(Rejected(record.origin, record.error))
                log.warning("rejected %s: %s", record.origin, record.error)
            else:
                studies.append((record.origin, record.data))
        with engine.begin() as conn:
            result = write_studies(conn, studies, source=source)
        for rejected in result.rejected:
            log.warning("rejected %s: %s", rejected.origin, rejected.reason)
        summary.result.add(result)
        if on_batch:
            on_batch(len(batch))
    return summary


def import_paths(engine: Engine, paths: Iterable[str | Path], *, batch_size: int = BATCH_SIZE,
                 on_batch: Callable[[int], None] | None = None) -> ImportSummary:
    """Import every study under ``paths`` and write the run to the run log."""
    paths = [str(p) for p in paths]
    run_id = start_run(engine, "import", {"paths": paths})
    records = (record for path in paths for record in read_path(path))
    try:
        summary = import_records(engine, records, batch_size=batch_size, on_batch=on_batch)
    except BaseException as exc:
        finish_run(engine, run_id, "failed", {}, [f"{type(exc).__name__}: {exc}"])
        raise
    summary.run_id = run_id
    errors = [f"{r.origin}: {r.reason}" for r in summary.rejected]
    finish_run(engine, run_id, "ok", summary.counts(), errors)
    return summary
