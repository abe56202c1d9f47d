"""The import ledger: every study an import has read, stored or not (:class:`kb.store.models.ImportLedger`).

A study whose record hash matches its ledger row is not classified again: one stored before is
unchanged; one skipped before stays skipped if the same rules and selection decided
(:func:`kb.domain.extract.select.rules_key`). An archive member whose CRC-32 and size match its
row is not even read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from kb.store.bulk import chunks, copy_upsert
from kb.store.models import ImportLedger

LEDGER = ImportLedger.__table__
LOOKUP_CHUNK = 500
"""Ids or member names per IN (...) query."""


@dataclass(frozen=True)
class Entry:
    """What the ledger says of a study."""

    record_hash: str
    decision: str
    reason: str | None
    rules: str

    def reusable(self, rules: str, stored: bool) -> bool:
        """Whether a record with this hash needs no new decision: stored (and still in the store), or skipped
        under the same rules and selection."""
        return stored if self.decision == "stored" else self.rules == rules


def entries(conn: Connection, trial_ids: Iterable[str]) -> dict[str, Entry]:
    """The ledger rows of these trials."""
    out: dict[str, Entry] = {}
    for ids in chunks(dict.fromkeys(trial_ids), LOOKUP_CHUNK):
        rows = conn.execute(select(LEDGER.c.trial_id, LEDGER.c.record_hash, LEDGER.c.decision, LEDGER.c.reason,
                                   LEDGER.c.rules).where(LEDGER.c.trial_id.in_(ids)))
        out.update((trial_id, Entry(*rest)) for trial_id, *rest in rows)
    return out


def unchanged_members(conn: Connection, members: Sequence[tuple[str, int, int]], rules: str) -> dict[str, str]:
    """Of ``(member, crc, size)`` triples, those the ledger holds with the same CRC-32 and size and a decision
    that still holds: ``{member: decision}``."""
    out: dict[str, str] = {}
    wanted = {name: (crc, size) for name, crc, size in members}
    for names in chunks(wanted, LOOKUP_CHUNK):
        rows = conn.execute(select(LEDGER.c.member, LEDGER.c.member_crc, LEDGER.c.member_size, LEDGER.c.decision,
                                   LEDGER.c.rules).where(LEDGER.c.member.in_(names)))
        for member, crc, size, decision, row_rules in rows:
            if wanted[member] == (crc, size) and (decision == "stored" or row_rules == rules):
                out[member] = decision
    return out


def write_entries(conn: Connection, rows: Sequence[dict[str, Any]], *, run_id: int | None, now: datetime) -> None:
    """Insert or replace ledger rows (dicts of the table's columns but ``run_id`` and ``seen_at``)."""
    copy_upsert(conn, LEDGER, [{**row, "run_id": run_id, "seen_at": now} for row in rows], ["trial_id"])


__all__ = ["Entry", "entries", "unchanged_members", "write_entries"]
