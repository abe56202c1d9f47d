"""Writing studies into the store: upserts keyed by the registration id (kb.core.ids), change detection, version rows.

:func:`write_studies` takes a batch of raw API v2 studies and, in the caller's transaction,
skips the unchanged ones (same content hash), normalizes the rest, replaces their child rows,
upserts trials, entities and raw records, and writes a version row with a field-level diff
for each trial whose content changed. The crawl pipeline and the bulk import both call it.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain as chained
from typing import Any

import orjson
import zstandard
from sqlalchemy import Connection, Table, delete, insert, select, update

from kb.store.bulk import bind_values, insert_tuples, table_rows, upsert, upsert_filling, upsert_tuples, with_values
from kb.store.products import mark_stale
from kb.store.models import (CHILD_TABLES, MeshTerm, ProductFill, RawRecord, Sponsor, Trial, TrialVersion)
from kb.domain.normalize import NormalizedStudy, RecordError, canonical_json, diff_snapshots
from kb.domain.records import check_record, content_hash_of, is_copy, normalize_record

log = logging.getLogger(__name__)

TABLES: dict[str, Table] = {t: Trial.metadata.tables[t] for t in ("trial", *CHILD_TABLES)}
TRIAL = Trial.__table__
FILL = ProductFill.__table__
RAW = RawRecord.__table__
STAMPED = ("content_hash", "source", "first_seen_at", "updated_at")
"""The trial columns the writer fills in, not the normalizer."""
TRIAL_AT = [list(TRIAL.columns.keys()).index(c) for c in STAMPED]
"""Where the writer puts what the worker cannot know into a prepared trial row."""
UNSTAMPED = dict.fromkeys(STAMPED)
"""Those columns empty, so that a normalized trial has every column's key (:func:`kb.store.bulk.table_rows`)."""
TRIAL_UPDATE = [c for c in TRIAL.columns.keys() if c not in ("trial_id", "first_seen_at")]
"""What a new version of a stored trial overwrites."""


@dataclass
class Rejected:
    """A record that was not stored, where it came from, and why; ``body`` is the record as read (zstd), kept
    in ``rejected_record`` so that ``rebuild`` can recover it after a fix (:mod:`kb.store.rejects`)."""

    origin: str
    reason: str
    trial_id: str | None = None
    body: bytes | None = None


def keeping(rejected: Rejected, record: bytes) -> Rejected:
    """``rejected`` with the record's bytes (JSON as read or as parsed) attached, compressed."""
    rejected.body = _compress(record)
    return rejected


@dataclass
class Skipped:
    """A study read and classified but not stored (an import with ``--relevant-only``), and why."""

    origin: str
    trial_id: str
    reason: str


@dataclass
class WriteResult:
    """Counts of one or more batches."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0  # read and not stored: not relevant (kb.ingest.triage)
    history: int = 0  # records older than the current one, kept as version rows
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.new + self.changed + self.unchanged + self.history

    def add(self, other: WriteResult) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.history += other.history
        self.rejected += other.rejected
        self.warnings += other.warnings
        self.new_ids += other.new_ids
        self.changed_ids += other.changed_ids

    def counts(self) -> dict[str, int]:
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged, "skipped": self.skipped,
                "history": self.history,
                "rejected": len(self.rejected), "warnings": len(self.warnings)}


def warning_lines(warnings: Sequence[tuple[str, str]], limit: int) -> list[str]:
    """The first ``limit`` warnings (trial id, message), a line each, and how many more there are.

    >>> warning_lines([("NCT06464679", "w1"), ("", "w2"), ("NCT05030779", "w3")], 2)
    ['warning NCT06464679: w1', 'warning: w2', '... and 1 more warning']
    """
    lines = [f"warning {trial_id}: {message}" if trial_id else f"warning: {message}"
             for trial_id, message in warnings[:limit]]
    more = len(warnings) - limit
    return lines + ([f"... and {more} more warning{'s' if more > 1 else ''}"] if more > 0 else [])


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
_codecs = threading.local()  # zstd (de)compressors are not thread-safe: one per thread


def _compress(canonical: bytes) -> bytes:
    """zstd at level 1: 0.041 ms a registry-sized study against level 3's 0.069 ms, for bodies 2.6% larger
    (5.3 KB; measured on bench/corpus.py's mix); level 3 was already a third of zlib's time."""
    if not hasattr(_codecs, "compressor"):
        _codecs.compressor = zstandard.ZstdCompressor(level=1)
    return _codecs.compressor.compress(canonical)


def decompress(body: bytes) -> bytes:
    """A stored body's JSON bytes: zstd; gzip, an archive member's own deflate data (imported without
    compressing it again); or zlib as stores written before trialkb 0.2 hold."""
    if body[:2] == GZIP_MAGIC:
        return zlib.decompress(body, 31)
    if body[:4] != ZSTD_MAGIC:
        return zlib.decompress(body)
    if not hasattr(_codecs, "decompressor"):
        _codecs.decompressor = zstandard.ZstdDecompressor()
    return _codecs.decompressor.decompress(body)


def load_raw(body: bytes) -> dict[str, Any]:
    """A stored raw record as the API returned it."""
    return orjson.loads(decompress(body))


@dataclass
class PreparedStudy:
    """A study ready to write: hashed, normalized, compressed, its child rows as tuples.

    Everything CPU-heavy is done here, in a worker process; the writer only talks to the database.
    """

    origin: str
    trial_id: str
    content_hash: str
    body: bytes
    trial: tuple  # the trial row in column order; the writer fills hash, source and times
    rows: dict[str, list[tuple]]  # child table -> rows in column order
    sponsors: dict[str, str | None]
    mesh_terms: dict[str, str]
    warnings: list[str]
    snapshot: dict[str, Any] | None  # tracked fields, made where a version row is expected

    def tracked(self) -> dict[str, Any]:
        """The tracked fields for a version diff (normalized again from the body if not made)."""
        return self.snapshot if self.snapshot is not None else normalize_record(load_raw(self.body)).snapshot()


@dataclass
class Unchanged:
    """A study whose content hash matches the stored one (not normalized again)."""

    origin: str
    trial_id: str
    content_hash: str


def _prepared(origin: str, trial_id: str, digest: str, body: bytes, study: NormalizedStudy,
              snapshot: bool = True) -> PreparedStudy:
    """Rows as plain tuples: they cross from a worker process at a third of a dict's unpickling cost."""
    return PreparedStudy(origin, trial_id, digest, body, table_rows(TRIAL, [{**UNSTAMPED, **study.trial}])[0],
                         {name: table_rows(TABLES[name], study.children[name]) for name in CHILD_TABLES},
                         study.sponsors, study.mesh_terms, study.warnings, study.snapshot() if snapshot else None)


def prepare(origin: str, data: Any, known: dict[str, str] | None = None,
            skip: Callable[[dict[str, Any]], str | None] | None = None,
            canonical: bytes | None = None, body: bytes | None = None) -> PreparedStudy | Unchanged | Rejected | Skipped:
    """Check, hash, normalize and compress one study; pure, so it can run in a worker process.

    ``known`` maps NCT ids to stored content hashes: a study whose hash matches is not normalized.
    ``skip`` gives the reason not to store a normalized trial that is not stored yet, or None.
    ``canonical``: the study's :func:`canonical_json`, if the reader made it already. ``body``: the
    record's bytes compressed already (a gzip stream, :func:`decompress` reads it), kept as they are.
    """
    trial_id = None
    try:
        trial_id = check_record(data)
        canonical = canonical if canonical is not None else canonical_json(data)
        digest = content_hash_of(data, canonical)
        if known and known.get(trial_id) == digest:
            return Unchanged(origin, trial_id, digest)
        study = normalize_record(data)
        if skip and not (known and trial_id in known) and (reason := skip(study.trial)):
            return Skipped(origin, trial_id, reason)
        # a study not stored yet needs no snapshot unless an earlier batch of this run stores it
        return _prepared(origin, trial_id, digest, body if body is not None else _compress(canonical), study,
                         snapshot=known is None or trial_id in known)
    except RecordError as exc:
        return Rejected(origin, str(exc), trial_id)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a shape nobody foresaw
        return Rejected(origin, f"unreadable record: {type(exc).__name__}: {str(exc)[:200]}", trial_id)
    except RecursionError:  # found by tests/kb/test_fuzz.py: a value nested thousands of levels deep
        return Rejected(origin, "unreadable record: nested too deeply", trial_id)


def stored_hashes(conn: Connection, trial_ids: Sequence[str]) -> dict[str, str]:
    """The content hashes stored for these ids."""
    if not trial_ids:
        return {}
    return dict(conn.execute(select(RAW.c.trial_id, RAW.c.content_hash).where(RAW.c.trial_id.in_(list(trial_ids)))).all())


def write_studies(conn: Connection, records: Iterable[tuple[str, Any]], *, source: str,
                  now: datetime | None = None) -> WriteResult:
    """Prepare and store a batch of ``(origin, study)`` pairs in the caller's transaction."""
    return write_prepared(conn, [prepare(origin, data) for origin, data in records], source=source, now=now)


def write_prepared(conn: Connection, prepared: Iterable[PreparedStudy | Unchanged | Rejected | Skipped], *, source: str,
                   now: datetime | None = None) -> WriteResult:
    """Store prepared studies in the caller's transaction: skip known content, the newest record wins.

    A trial's current state is its newest record: by last-update date, then fetch time (a
    record fetched now beats the stored one of the same date; within a batch the later one in
    input order). A record older than the current one is never the current state: it becomes a
    version row from it to the next newer record of the batch or the store (and from the next
    older new record to it). Content already stored or in the history counts as unchanged, so
    re-running an import changes nothing, in any order. (Version rows written earlier are not
    re-split: a late record between two old versions is compared with the current one.)
    """
    now = now or utcnow()
    result = WriteResult()
    groups: dict[str, list[PreparedStudy | Unchanged]] = {}
    for item in prepared:
        if isinstance(item, Rejected):
            result.rejected.append(item)
        elif isinstance(item, Skipped):
            result.skipped += 1
        else:
            groups.setdefault(item.trial_id, []).append(item)
    if not groups:
        return result

    ids = list(groups)
    current = dict(conn.execute(select(RAW.c.trial_id, RAW.c.content_hash).where(RAW.c.trial_id.in_(ids))).all())
    for trial_id in _copies_of_stored_records(conn, groups, current):
        for item in groups.pop(trial_id):  # the registry's own record stays: a copy never replaces it
            result.unchanged += 1
            result.warnings.append((trial_id, f"{item.origin}: WHO ICTRP's copy of a registry record "
                                              "stored from the registry itself; not used"))
    ids = list(groups)
    if not groups:
        return result
    updated = dict(conn.execute(select(TRIAL.c.trial_id, TRIAL.c.last_update_posted_date)
                                .where(TRIAL.c.trial_id.in_(list(current)))).all()) if current else {}
    history = _history_hashes(conn, ids)
    touched: list[str] = []
    todo: list[PreparedStudy] = []
    chains: list[tuple[str, list[_Link]]] = []
    for trial_id, items in groups.items():
        known = history.get(trial_id, set()) | ({current[trial_id]} if trial_id in current else set())
        fresh: dict[str, PreparedStudy] = {}
        for item in items:
            if item.content_hash in known or item.content_hash in fresh:
                result.unchanged += 1
                if item.content_hash == current.get(trial_id):
                    touched.append(trial_id)
            elif isinstance(item, Unchanged):  # its content is nowhere in the store: it cannot be placed
                result.rejected.append(Rejected(item.origin, "stored record changed while this one was prepared; "
                                                             "it is fetched again next run", trial_id))
            else:
                fresh[item.content_hash] = item
        if not fresh:
            continue
        chain = [_Link(updated.get(trial_id) or "", 0, current[trial_id], None)] if trial_id in current else []
        chain += [_Link(_last_update(p), n, p.content_hash, p) for n, p in enumerate(fresh.values(), 1)]
        chain.sort(key=lambda link: (link.updated, link.order))
        chains.append((trial_id, chain))
        newest = chain[-1].item
        if newest is None:  # every new record is older than the stored one: history only
            result.history += len(fresh)
            continue
        todo.append(newest)
        result.history += len(fresh) - 1
    if touched:
        conn.execute(update(RAW).where(RAW.c.trial_id.in_(touched)).values(checked_at=now))
    if not chains:
        return result
    for item in todo:
        for message in item.warnings:
            result.warnings.append((item.trial_id, message))
            log.warning("%s (%s): %s", item.trial_id, item.origin, message)
    versions = _version_rows(conn, chains, now)
    changed = [p for p in todo if p.trial_id in current]
    _store_rows(conn, todo, replace_ids=[p.trial_id for p in changed], now=now)
    if versions:
        conn.execute(insert(TrialVersion.__table__), versions)
    result.changed, result.changed_ids = len(changed), [p.trial_id for p in changed]
    result.new_ids = [p.trial_id for p in todo if p.trial_id not in current]
    result.new = len(result.new_ids)
    return result


def _copies_of_stored_records(conn: Connection, groups: dict[str, list[PreparedStudy | Unchanged]],
                              current: dict[str, str]) -> list[str]:
    """Trials whose new records are all WHO ICTRP copies while the stored record is the registry's own
    (a ClinicalTrials.gov study from the API): the richer own record is kept."""
    candidates = [trial_id for trial_id, items in groups.items() if trial_id in current
                  and all(isinstance(i, PreparedStudy) and is_copy(load_raw(i.body)) for i in items)]
    if not candidates:
        return []
    stored = conn.execute(select(RAW.c.trial_id, RAW.c.body).where(RAW.c.trial_id.in_(candidates))).all()
    return [trial_id for trial_id, body in stored if not is_copy(load_raw(body))]


@dataclass
class _Link:
    """One record of a trial in date order: the stored one (``item`` None) or a new one."""

    updated: str
    order: int
    content_hash: str
    item: PreparedStudy | None


LAST_UPDATE_AT = list(TRIAL.columns.keys()).index("last_update_posted_date")


def _last_update(item: PreparedStudy) -> str:
    return item.trial[LAST_UPDATE_AT] or ""


def _history_hashes(conn: Connection, trial_ids: Sequence[str]) -> dict[str, set[str]]:
    """Every content hash in the version rows of these trials."""
    version = TrialVersion.__table__
    out: dict[str, set[str]] = {}
    for trial_id, old, new in conn.execute(select(version.c.trial_id, version.c.old_hash, version.c.new_hash)
                                         .where(version.c.trial_id.in_(list(trial_ids)))):
        out.setdefault(trial_id, set()).update((old, new))
    return out


def _store_rows(conn: Connection, todo: list[PreparedStudy], *, replace_ids: list[str], now: datetime,
                raw: bool = True) -> None:
    """Upsert trials, entities and (with ``raw``) raw records; replace the child rows of ``replace_ids``;
    mark the learned products stale (the trials may teach or name one)."""
    if not todo:
        return
    mark_stale(conn, now)
    if replace_ids:
        for name in CHILD_TABLES:
            conn.execute(delete(TABLES[name]).where(TABLES[name].c.trial_id.in_(replace_ids)))
        conn.execute(delete(FILL).where(FILL.c.trial_id.in_(replace_ids)))  # its own values are written anew
    # a sponsor's class, once a record gives it, is kept (a WHO ICTRP row gives none)
    upsert_filling(conn, Sponsor.__table__, [{"name": n, "agency_class": c} for p in todo for n, c in p.sponsors.items()],
                   ["name"], ["agency_class"])
    upsert(conn, MeshTerm.__table__, [{"mesh_id": m, "term": t} for p in todo for m, t in p.mesh_terms.items()],
           ["mesh_id"], ())
    stamp = bind_values(conn.dialect, TRIAL, {"first_seen_at": now, "updated_at": now})
    trial_rows = [with_values(p.trial, TRIAL_AT, (p.content_hash, p.origin, *stamp)) for p in todo]
    upsert_tuples(conn, TRIAL, trial_rows, ["trial_id"], TRIAL_UPDATE)
    if raw:
        upsert(conn, RAW, [{"trial_id": p.trial_id, "content_hash": p.content_hash, "body": p.body, "source": p.origin,
                            "fetched_at": now, "checked_at": now} for p in todo], ["trial_id"])
    for name in CHILD_TABLES:
        insert_tuples(conn, TABLES[name], list(chained.from_iterable(p.rows[name] for p in todo)))


def renormalize(conn: Connection, trial_ids: Sequence[str], now: datetime | None = None) -> WriteResult:
    """Rebuild trials from their stored raw records with the current normalizer.

    The records did not change, so no version rows are written; a record the normalizer now
    rejects is reported and its trial left as it was.
    """
    now = now or utcnow()
    result = WriteResult()
    rows = conn.execute(select(RAW.c.trial_id, RAW.c.content_hash, RAW.c.body, RAW.c.source)
                        .where(RAW.c.trial_id.in_(list(trial_ids)))).all()
    todo = []
    for trial_id, digest, body, source in rows:
        try:
            todo.append(_prepared(source or "store", trial_id, digest, body, normalize_record(load_raw(body)),
                                  snapshot=False))  # no version rows: the record did not change
        except (RecordError, ValueError, zlib.error, zstandard.ZstdError) as exc:
            result.rejected.append(Rejected(source or "store", f"cannot renormalize: {exc}", trial_id))
    if todo:
        _store_rows(conn, todo, replace_ids=[p.trial_id for p in todo], now=now, raw=False)
    result.changed, result.changed_ids = len(todo), [p.trial_id for p in todo]
    return result


def _version_rows(conn: Connection, chains: list[tuple[str, list[_Link]]], now: datetime) -> list[dict[str, Any]]:
    """A version row for each step of each chain that involves a new record, oldest first.

    A step is dated by the registry (``posted_date``: the newer record's last-update date) and names
    where each side came from; a step that ends at or before the stored record is ``late``: an older
    record arrived after a newer one, so it is history, never news.
    """
    stored_ids = [trial_id for trial_id, chain in chains if any(link.item is None for link in chain)]
    stored = {trial_id: (body, origin) for trial_id, body, origin in conn.execute(
        select(RAW.c.trial_id, RAW.c.body, RAW.c.source).where(RAW.c.trial_id.in_(stored_ids)))} if stored_ids else {}
    rows = []
    for trial_id, chain in chains:
        body, stored_origin = stored.get(trial_id, (None, None))
        at = next((n for n, link in enumerate(chain) if link.item is None), -1)
        for n, (before, after) in enumerate(zip(chain, chain[1:]), 1):
            rows.append({"trial_id": trial_id, "recorded_at": now, "old_hash": before.content_hash,
                         "new_hash": after.content_hash,
                         "diff": diff_snapshots(_tracked(before, body), _tracked(after, body)),
                         "source": after.item.origin if after.item else stored_origin,
                         "old_source": before.item.origin if before.item else stored_origin,
                         "posted_date": after.updated or None, "late": n <= at})
    return rows


def _tracked(link: _Link, stored_body: bytes | None) -> dict[str, Any]:
    """The tracked fields of a record in a chain ({} for a stored record that cannot be read)."""
    if link.item is not None:
        return link.item.tracked()
    try:
        return normalize_record(load_raw(stored_body)).snapshot()
    except (RecordError, TypeError, KeyError, ValueError, zlib.error, zstandard.ZstdError) as exc:
        log.warning("stored record unreadable (%s); diff against nothing", exc)
        return {}


def touch(conn: Connection, trial_ids: Sequence[str], now: datetime | None = None) -> None:
    """Mark stored records as checked now (a re-check found them unchanged)."""
    if trial_ids:
        conn.execute(update(RAW).where(RAW.c.trial_id.in_(list(trial_ids))).values(checked_at=now or utcnow()))


__all__ = ["PreparedStudy", "Unchanged", "Rejected", "Skipped", "WriteResult", "prepare", "renormalize", "stored_hashes",
           "write_prepared", "write_studies", "load_raw", "touch", "utcnow"]
