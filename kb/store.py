"""Writing studies into the store: upserts keyed by NCT id, change detection, version rows.

:func:`write_studies` takes a batch of raw API v2 studies and, in the caller's transaction,
skips the unchanged ones (same content hash), normalizes the rest, replaces their child rows,
upserts trials, entities and raw records, and writes a version row with a field-level diff
for each trial whose content changed. The crawl pipeline and the bulk import both call it.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kb.models import (CHILD_TABLES, MeshTerm, RawRecord, Sponsor, Trial, TrialVersion)
from kb.normalize import (NormalizedStudy, RecordError, check_study, content_hash, diff_snapshots,
                          normalize_study)

log = logging.getLogger(__name__)

TABLES: dict[str, Table] = {t: Trial.metadata.tables[t] for t in ("trial", *CHILD_TABLES)}
TRIAL = Trial.__table__
RAW = RawRecord.__table__


@dataclass
class Rejected:
    """A record that was not stored, where it came from, and why."""

    origin: str
    reason: str
    nct_id: str | None = None


@dataclass
class WriteResult:
    """Counts of one or more batches."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.new + self.changed + self.unchanged

    def add(self, other: WriteResult) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.warnings += other.warnings
        self.new_ids += other.new_ids
        self.changed_ids += other.changed_ids

    def counts(self) -> dict[str, int]:
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged,
                "rejected": len(self.rejected), "warnings": len(self.warnings)}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _dialect_insert(conn: Connection, table: Table):  # type: ignore[no-untyped-def]
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
           update_columns: Sequence[str] | None = None) -> None:
    """Insert rows, updating ``update_columns`` (all non-key columns by default) on key conflict.

    ``update_columns=()`` means insert-or-ignore. Rows are deduplicated by key first (the
    last one wins), as PostgreSQL refuses to update one row twice in a statement.
    """
    if not rows:
        return
    unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
    stmt = _dialect_insert(conn, table)
    columns = [c for c in unique[0] if c not in keys] if update_columns is None else list(update_columns)
    if columns:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: stmt.excluded[c] for c in columns})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt, unique)


def _compress(data: dict[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(data), 1)


def load_raw(body: bytes) -> dict[str, Any]:
    """A stored raw record as the API returned it."""
    return orjson.loads(zlib.decompress(body))


def write_studies(conn: Connection, records: Iterable[tuple[str, Any]], *, source: str,
                  now: datetime | None = None) -> WriteResult:
    """Store a batch of ``(origin, study)`` pairs in the caller's transaction."""
    now = now or utcnow()
    result = WriteResult()
    batch: dict[str, tuple[str, dict, str]] = {}
    for origin, data in records:
        try:
            nct_id = check_study(data)
            batch[nct_id] = (origin, data, content_hash(data))
        except RecordError as exc:
            result.rejected.append(Rejected(origin, str(exc)))
    if not batch:
        return result

    ids = list(batch)
    existing = dict(conn.execute(select(RAW.c.nct_id, RAW.c.content_hash).where(RAW.c.nct_id.in_(ids))).all())
    unchanged = [i for i in ids if existing.get(i) == batch[i][2]]
    if unchanged:
        conn.execute(update(RAW).where(RAW.c.nct_id.in_(unchanged)).values(checked_at=now))
        result.unchanged = len(unchanged)

    normalized: list[NormalizedStudy] = []
    for nct_id in ids:
        if existing.get(nct_id) == batch[nct_id][2]:
            continue
        origin = batch[nct_id][0]
        try:
            study = normalize_study(batch[nct_id][1])
        except RecordError as exc:
            result.rejected.append(Rejected(origin, str(exc), nct_id))
            continue
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a shape nobody foresaw
            result.rejected.append(Rejected(origin, f"unreadable record: {type(exc).__name__}: {exc}", nct_id))
            continue
        normalized.append(study)
        for message in study.warnings:
            result.warnings.append((nct_id, message))
            log.warning("%s (%s): %s", nct_id, origin, message)
    if not normalized:
        return result

    changed = [s for s in normalized if s.nct_id in existing]
    versions = _version_rows(conn, changed, batch, existing, source, now) if changed else []
    changed_ids = [s.nct_id for s in changed]
    if changed_ids:
        for name in CHILD_TABLES:
            conn.execute(delete(TABLES[name]).where(TABLES[name].c.nct_id.in_(changed_ids)))

    upsert(conn, Sponsor.__table__, [{"name": n, "agency_class": c} for s in normalized for n, c in s.sponsors.items()],
           ["name"], ())
    upsert(conn, MeshTerm.__table__, [{"mesh_id": m, "term": t} for s in normalized for m, t in s.mesh_terms.items()],
           ["mesh_id"], ())
    trial_rows = []
    for s in normalized:
        row = dict(s.trial, content_hash=batch[s.nct_id][2], source=batch[s.nct_id][0],
                   first_seen_at=now, updated_at=now)
        trial_rows.append(row)
    update_columns = [c for c in trial_rows[0] if c not in ("nct_id", "first_seen_at")]
    upsert(conn, TRIAL, trial_rows, ["nct_id"], update_columns)
    upsert(conn, RAW, [{"nct_id": s.nct_id, "content_hash": batch[s.nct_id][2],
                        "body": _compress(batch[s.nct_id][1]), "source": batch[s.nct_id][0],
                        "fetched_at": now, "checked_at": now} for s in normalized], ["nct_id"])
    for name in CHILD_TABLES:
        rows = [row for s in normalized for row in s.children[name]]
        if rows:
            conn.execute(insert(TABLES[name]), rows)
    if versions:
        conn.execute(insert(TrialVersion.__table__), versions)

    result.changed, result.changed_ids = len(changed), changed_ids
    result.new_ids = [s.nct_id for s in normalized if s.nct_id not in existing]
    result.new = len(result.new_ids)
    return result


def _version_rows(conn: Connection, changed: list[NormalizedStudy], batch: dict[str, tuple[str, dict, str]],
                  existing: dict[str, str], source: str, now: datetime) -> list[dict[str, Any]]:
    """Version rows comparing each changed study with its stored raw record."""
    ids = [s.nct_id for s in changed]
    old_bodies = dict(conn.execute(select(RAW.c.nct_id, RAW.c.body).where(RAW.c.nct_id.in_(ids))).all())
    rows = []
    for study in changed:
        try:
            old = normalize_study(load_raw(old_bodies[study.nct_id])).snapshot()
        except (RecordError, KeyError, ValueError, zlib.error) as exc:
            log.warning("%s: stored record unreadable (%s); diff against nothing", study.nct_id, exc)
            old = {}
        rows.append({"nct_id": study.nct_id, "recorded_at": now, "old_hash": existing[study.nct_id],
                     "new_hash": batch[study.nct_id][2], "diff": diff_snapshots(old, study.snapshot()),
                     "source": batch[study.nct_id][0]})
    return rows


def touch(conn: Connection, nct_ids: Sequence[str], now: datetime | None = None) -> None:
    """Mark stored records as checked now (a re-check found them unchanged)."""
    if nct_ids:
        conn.execute(update(RAW).where(RAW.c.nct_id.in_(list(nct_ids))).values(checked_at=now or utcnow()))


__all__ = ["Rejected", "WriteResult", "write_studies", "upsert", "load_raw", "touch", "utcnow"]
