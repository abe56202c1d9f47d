"""Reading each study once and deciding what becomes of it (runs in a worker process).

For a record alone in its file or archive member (the registry's bulk archive: one study a
member), the id, the last-update date and the record hash are read from its bytes without
parsing it. Then, in order of cost:

1. the ledger (:mod:`kb.store.ledger`) knows this record: nothing to do;
2. with a selection (``--relevant-only``), a record without any cue of a CAR
   (:func:`kb.domain.extract.speed.has_cue`) that is not in the store is skipped unparsed;
3. the rest is parsed, normalized and classified (:func:`kb.store.write.prepare`): stored when
   selected or already in the store (a stored trial is always kept current), else skipped with
   the rules' evidence.

Every study read gets a ledger row. A record of another shape (a search page, a JSON array, a
line of JSON Lines) is parsed first and then goes the same way; its hash is that of its JSON as
re-serialized.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
import xxhash
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kb.core.errors import first_line
from kb.core.ids import is_nct_id
from kb.domain.extract.select import cue_reason, rules_key, skip_reason
from kb.domain.extract.speed import has_cue
from kb.domain.records import record_id
from kb.ingest.sources import SourceRecord, SourceUnit, UnreadableUnit, gzip_stream, is_json_lines, parse_bytes, read_unit
from kb.process import gcpause
from kb.store import ledger
from kb.store.write import PreparedStudy, Rejected, Skipped, Unchanged, WriteResult, keeping, prepare, stored_hashes

log = logging.getLogger(__name__)

IDENT_KEY = b'"identificationModule"'
NCT_KEY = b'"nctId"'
NCT_VALUE = re.compile(rb'"nctId"\s*:\s*"([^"\\]{1,40})"')
LAST_UPDATE = re.compile(rb'"lastUpdatePostDateStruct"\s*:\s*\{[^{}]*?"date"\s*:\s*"([^"\\]{1,10})"')
VERSION_KEY = b'"versionHolder"'
VERSION_VALUE = re.compile(rb'"versionHolder"\s*:\s*"[^"\\]*"')

Item = PreparedStudy | Unchanged | Rejected | Skipped


@dataclass
class Batch:
    """What a worker made of some units: items to write, ledger rows, and counts of what needs nothing."""

    items: list[Item] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0  # read, and stored before with this very record (ledger): nothing to write
    unread_stored: int = 0  # archive members the ledger knows by CRC-32 and size, not even read: stored before
    unread_skipped: int = 0  # ... skipped before
    written: WriteResult | None = None  # what the worker that prepared the items wrote of them (then items is [])
    written_items: int = 0

    @property
    def unread(self) -> int:
        return self.unread_stored + self.unread_skipped

    def extend(self, other: Batch) -> None:
        """Add what ``other``, a triage of the units after this one's, made (items in input order)."""
        self.items += other.items
        self.ledger += other.ledger
        self.unchanged += other.unchanged

    @property
    def studies(self) -> int:
        """Studies handled, read or not."""
        return len(self.items) + self.written_items + self.unchanged + self.unread


def record_hash(raw: bytes) -> str:
    """XXH3-128 of a record's bytes with ``versionHolder`` (it changes every day, the study does not) cut out.

    It only tells a ledger row's record from a new one, so it need not be a cryptographic hash: XXH3 takes
    2 us a registry-sized record where SHA-256 took 22 (a ledger row written with SHA-256 by trialkb before
    December 2026 no longer matches, and its record is read once more and given the new hash).
    """
    digest = xxhash.xxh3_128()
    at = raw.rfind(VERSION_KEY)  # unique (a quote in a text is escaped) and near the end: derivedSection
    if at >= 0 and (match := VERSION_VALUE.match(raw, at)):
        view = memoryview(raw)
        digest.update(view[:at])
        digest.update(view[match.end():])
    else:
        digest.update(raw)
    return digest.hexdigest()


def _dumped_hash(data: Any) -> str | None:
    """:func:`record_hash` of a parsed record's JSON (None if it cannot be written: nested too deeply)."""
    try:
        return record_hash(orjson.dumps(data))
    except (TypeError, RecursionError):
        return None


def single_study_id(raw: bytes) -> str | None:
    """The NCT id of bytes that hold one study object (one ``identificationModule``, its ``nctId`` before any
    other module, braces at both ends), read without parsing; None for anything else (then it is parsed).
    (``statusModule.expandedAccessInfo`` has an ``nctId`` of its own.)"""
    ident = raw.find(IDENT_KEY)
    if ident < 0 or raw.find(IDENT_KEY, ident + len(IDENT_KEY)) >= 0:
        return None
    at = raw.find(NCT_KEY, ident)
    if at < 0 or b'Module"' in raw[ident + len(IDENT_KEY):at]:
        return None
    if raw[:64].lstrip()[:1] != b"{" or raw[-64:].rstrip()[-1:] != b"}" or b'"protocolSection"' not in raw:
        return None
    match = NCT_VALUE.match(raw, at)
    trial_id = match.group(1).decode("ascii", "replace") if match else None
    return trial_id if trial_id and is_nct_id(trial_id) else None


def _last_update_raw(raw: bytes) -> str | None:
    match = LAST_UPDATE.search(raw)
    return match.group(1).decode("ascii", "replace") if match else None


def _last_update(data: Any) -> str | None:
    try:
        value = data["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
    except (KeyError, TypeError):
        return None
    return value[:10] if isinstance(value, str) else None


@dataclass
class _Piece:
    """A record's bytes: a whole file or member, or a line of JSON Lines."""

    origin: str
    raw: bytes
    unit: SourceUnit
    whole: bool  # the whole unit (a member's CRC-32 and size describe it)
    trial_id: str | None = None  # of a piece holding one study, read without parsing
    records: list[SourceRecord] | None = None  # parsed already: a piece of another shape
    deflated: bytes | None = None  # the piece's deflate data, if the archive held it deflated (read_unit)


def _pieces(units: list[SourceUnit], archives: dict[str, zipfile.ZipFile], batch: Batch) -> list[_Piece]:
    pieces = []
    for unit in units:
        if unit.error is not None:
            batch.items.append(Rejected(unit.origin, unit.error))
            continue
        try:
            raw, deflated = read_unit(unit, archives)
        except UnreadableUnit as exc:
            batch.items.append(Rejected(unit.origin, str(exc)))
            continue
        if is_json_lines(unit.name) and raw.strip():
            pieces += [_Piece(f"{unit.origin}:{number}", line, unit, False)
                       for number, line in enumerate(raw.splitlines(), unit.first_line) if line.strip()]
        else:
            pieces.append(_Piece(unit.origin, raw, unit, True, deflated=deflated))
    for piece in pieces:
        piece.trial_id = single_study_id(piece.raw)
        if piece.trial_id is None:
            piece.records = list(parse_bytes(piece.origin, piece.unit.name if piece.whole else "piece.json", piece.raw))
    return pieces


COLLECT_AFTER = 500_000
"""Objects made and still alive since the cyclic collector's last run after which a triage runs it
(:func:`kb.process.gcpause.collect_when`; counted as allocations less frees). A worker keeps up to two
prepared batches until it writes and frees them; a run at every 250-study part scanned each of their
rows once, 3-4% of a worker's time (December 2026, 6,000 studies of the import bench's archive). In a
20,000-study import a worker's count peaked near 125,000, so a worker does not collect at all: no
record was found to make a cycle (real and malformed ones), and the count bounds what cycles could
hold, in objects (the job itself collects every 20 batches)."""

_worker_engine: Engine | None = None


def worker_engine(store: Engine | str) -> Engine:
    """The store; in a worker process ``store`` is a URL and the process opens its own connection once."""
    global _worker_engine
    if isinstance(store, Engine):
        return store
    if _worker_engine is None:
        from kb.store.db import make_engine
        _worker_engine = make_engine(store)
    return _worker_engine


def _lookups(store: Engine | str | None, ids: list[str]) -> tuple[dict[str, str], dict[str, ledger.Entry]]:
    """Stored content hashes and ledger entries of these ids ({} if the store cannot be read: then every
    study is classified and normalized)."""
    if store is None or not ids:
        return {}, {}
    try:
        with worker_engine(store).connect() as conn:
            return stored_hashes(conn, ids), ledger.entries(conn, ids)
    except SQLAlchemyError as exc:
        log.warning("cannot read stored hashes (%s); normalizing every study", first_line(exc))
        return {}, {}


def triage_units(units: list[SourceUnit], store: Engine | str | None, selection: str | None,
                 archives: dict[str, zipfile.ZipFile]) -> Batch:
    """Read, classify and prepare the studies of some units (``selection`` None: store every study)."""
    gcpause.collect_when(COLLECT_AFTER)  # leftovers of earlier parts, once many live on
    batch = Batch()
    pieces = _pieces(units, archives, batch)
    ids = [p.trial_id for p in pieces if p.trial_id]
    ids += [i for p in pieces for r in p.records or () if not r.error and isinstance(i := record_id(r.data), str)]
    known, entries = _lookups(store, ids)
    rules = rules_key(selection)
    skip = partial(skip_reason, selection=selection) if selection else None
    for piece in pieces:
        member = ({"member": piece.unit.member, "member_crc": piece.unit.crc, "member_size": piece.unit.size}
                  if piece.whole and piece.unit.member and piece.unit.crc is not None else {})
        if piece.trial_id:
            digest = record_hash(piece.raw)
            if _known(batch, piece.origin, piece.trial_id, digest, entries, known, rules, member, piece.raw):
                continue
            if selection and piece.trial_id not in known and not has_cue(piece.raw, cells=selection == "cell"):
                batch.items.append(Skipped(piece.origin, piece.trial_id, cue_reason(selection)))
                batch.ledger.append(_row(piece.trial_id, _last_update_raw(piece.raw), digest, "skipped",
                                         cue_reason(selection), rules, member))
                continue
            records = list(parse_bytes(piece.origin, "piece.json", piece.raw))
        else:
            records, digest, member = piece.records or [], None, {}
        for record in records:
            if record.error:
                batch.items.append(Rejected(record.origin, record.error))
                continue
            record_digest = digest or _dumped_hash(record.data)
            trial_id = record_id(record.data)
            if digest is None and record_digest and isinstance(trial_id, str) and _known(
                    batch, record.origin, trial_id, record_digest, entries, known, rules, member, None):
                continue
            item = _with_key_warnings(record, prepare(record.origin, record.data, known, skip=skip,
                                                          canonical=record.canonical, body=_body(piece, record)))
            if isinstance(item, Rejected):
                _keep_body(item, record.data)
            batch.items.append(item)
            if isinstance(item, Rejected) or record_digest is None:
                continue
            reason = item.reason if isinstance(item, Skipped) else None
            batch.ledger.append(_row(item.trial_id, _last_update(record.data), record_digest,
                                     "skipped" if reason else "stored", reason, rules, member))
    return batch


def _body(piece: _Piece, record: SourceRecord) -> bytes | None:
    """The stored body of a record that is its whole deflated member (the document is the study: it has its
    canonical JSON): the member's own deflate data as a gzip stream; else None (the store compresses it)."""
    if piece.deflated is None or record.canonical is None:
        return None
    return gzip_stream(piece.deflated, piece.unit.crc, piece.unit.size)  # type: ignore[arg-type]


def _keep_body(rejected: Rejected, data: Any) -> None:
    """Attach the record a normalizer rejected, so that it is kept and ``rebuild`` can recover it."""
    try:
        keeping(rejected, orjson.dumps(data))
    except (TypeError, RecursionError):  # nested deeper than orjson writes: kept as its reason only
        pass


DUPLICATE_KEY = "duplicate key"
"""How a duplicate-key warning starts (the run log counts them as ``duplicate_keys``)."""


def _with_key_warnings(record: SourceRecord, item: Item) -> Item:
    """A stored study's warnings name the keys its record repeats (the last value was kept)."""
    if record.duplicate_keys and isinstance(item, PreparedStudy):
        item.warnings = [*item.warnings, *(f"{DUPLICATE_KEY} {key!r} in {record.origin}: the last value was kept"
                                           for key in record.duplicate_keys)]
    return item


def _known(batch: Batch, origin: str, trial_id: str, digest: str, entries: dict[str, ledger.Entry],
           known: dict[str, str], rules: str, member: dict[str, Any], raw: bytes | None) -> bool:
    """Whether the ledger knows this record and its decision holds (then the batch counts it)."""
    entry = entries.get(trial_id)
    if entry is None or entry.record_hash != digest or not entry.reusable(rules, trial_id in known):
        return False
    if entry.decision == "stored":
        batch.unchanged += 1
    else:
        batch.items.append(Skipped(origin, trial_id, entry.reason or "skipped before"))
    if member:  # the same record in a new archive: the next import of this one need not read it
        batch.ledger.append(_row(trial_id, _last_update_raw(raw) if raw else None, digest, entry.decision,
                                 entry.reason, entry.rules, member))
    return True


def _row(trial_id: str, last_update: str | None, digest: str, decision: str, reason: str | None, rules: str,
         member: dict[str, Any]) -> dict[str, Any]:
    return {"trial_id": trial_id, "last_update": last_update, "record_hash": digest, "decision": decision,
            "reason": reason, "rules": rules, "member": None, "member_crc": None, "member_size": None, **member}


__all__ = ["DUPLICATE_KEY", "Batch", "record_hash", "single_study_id", "triage_units", "worker_engine"]
