"""The run log: one row per job run (import, crawl) with its counts and errors.

A run row records the process running it (pid, host, and the start time of that process); a
row left ``running`` by a process that is gone (killed, power cut) is marked ``abandoned`` by
the next run that starts, so no row stays ``running`` for ever.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from kb.process.liveness import process_alive
from kb.store.bulk import upsert
from kb.store.ledger import LEDGER
from kb.store.models import CrawlState, RunLog
from kb.store.write import utcnow, warning_lines

RUN = RunLog.__table__
STATE = CrawlState.__table__
MAX_LOGGED_ERRORS = 1000
WARNINGS_KEPT = 200
"""Warnings a run's row names after its errors (all are counted): a new enum value of the registry may give
every study the same one."""
DATA_TIMESTAMP_KEY = "ctgov:dataTimestamp"
"""The state key of the registry's data timestamp of the last complete crawl (written by the crawl,
read by the next crawl and by the report)."""

FINAL = ("ok", "skipped", "empty", "failed", "interrupted", "abandoned")
"""The statuses a run ends in. A command that exits non-zero never leaves ``ok``: ``empty`` (an
import that found nothing to read), ``failed`` (every record rejected, an error, a worker that
died) or ``interrupted`` (SIGINT / SIGTERM), with the reason first among the run's errors."""


def start_run(engine: Engine, kind: str, args: dict[str, Any]) -> int:
    """Record a run as started by this process (first marking dead runs abandoned); returns its id."""
    abandon_dead_runs(engine)
    with engine.begin() as conn:
        return conn.execute(insert(RUN).values(kind=kind, started_at=utcnow(), status="running", args=args,
                                               pid=os.getpid(), host=socket.gethostname())
                            .returning(RUN.c.id)).scalar_one()


def finish_run(engine: Engine, run_id: int, status: str, counts: dict[str, Any],
               errors: list[str] | None = None, warnings: Sequence[tuple[str, str]] = ()) -> None:
    """Record a run's end, its counts, and its errors then the first :data:`WARNINGS_KEPT` of its warnings (trial
    id, message), in :data:`MAX_LOGGED_ERRORS` lines: errors beyond the room the warnings leave are counted."""
    kept = warning_lines(warnings, WARNINGS_KEPT)
    errors, room = errors or [], MAX_LOGGED_ERRORS - len(kept)
    if len(errors) > room:
        errors = errors[:room - 1] + [f"... and {len(errors) - room + 1} more errors"]
    with engine.begin() as conn:
        conn.execute(update(RUN).where(RUN.c.id == run_id).values(
            finished_at=utcnow(), status=status, counts=counts, errors=errors + kept))


def abandon_dead_runs(engine: Engine, locked_kind: str | None = None) -> list[int]:
    """Mark ``abandoned`` the runs left ``running`` by a process of this host that is gone; their ids. An
    import's row gets what its ledger rows say it committed (:func:`_committed`).

    A row without a pid (written before trialkb recorded it) is abandoned too. Rows of other
    hosts are left alone: whether their process lives cannot be told from here, unless the
    caller holds the lock of their kind (``locked_kind``, e.g. a crawl holding the crawl lock):
    then no run of that kind can be alive anywhere.
    """
    host = socket.gethostname()
    with engine.connect() as conn:
        rows = conn.execute(select(RUN.c.id, RUN.c.kind, RUN.c.pid, RUN.c.host, RUN.c.started_at)
                            .where(RUN.c.status == "running")).all()
    dead = [r.id for r in rows if r.pid is None or r.kind == locked_kind
            or (r.host == host and not process_alive(r.pid, r.started_at))]
    if dead:
        imports = {r.id for r in rows if r.id in dead and r.kind == "import"}
        with engine.begin() as conn:
            for run_id in dead:
                counts, line = _committed(conn, run_id) if run_id in imports else ({}, "")
                values = dict(status="abandoned", finished_at=utcnow(),
                              errors=[f"abandoned: the process running it ended without finishing it{line}"])
                conn.execute(update(RUN).where(RUN.c.id == run_id, RUN.c.status == "running")
                             .values(**values, **({"counts": counts} if counts else {})))
    return dead


def _committed(conn: Connection, run_id: int) -> tuple[dict[str, int], str]:
    """What an import that ended unfinished had committed, from the ledger rows it wrote: counts, and a clause
    saying it. A lower bound: a study the ledger knew unchanged gets no new row, and a later import of a study
    takes its row over (the next run on this host abandons the run before it writes)."""
    decisions = dict(conn.execute(select(LEDGER.c.decision, func.count()).where(LEDGER.c.run_id == run_id)
                                  .group_by(LEDGER.c.decision)).all())
    stored, skipped = decisions.get("stored", 0), decisions.get("skipped", 0)
    if not stored + skipped:
        return {}, ""
    return ({"stored": stored, "skipped": skipped},
            f"; its ledger rows record {stored + skipped} studies it committed ({stored} stored, {skipped} skipped), "
            "which the next import need not store again")




def last_run(engine: Engine, kind: str, status: str | None = "ok") -> dict[str, Any] | None:
    """The newest run of a kind (with that status), as a dict."""
    query = select(RUN).where(RUN.c.kind == kind)
    if status:
        query = query.where(RUN.c.status == status)
    with engine.connect() as conn:
        row = conn.execute(query.order_by(RUN.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def get_state(engine: Engine, key: str) -> str | None:
    """A crawler state value (watermark, data timestamp)."""
    with engine.connect() as conn:
        return conn.execute(select(STATE.c.value).where(STATE.c.key == key)).scalar_one_or_none()


def set_state(engine: Engine, values: dict[str, str]) -> None:
    """Set crawler state values in one transaction."""
    if values:
        now = utcnow()
        with engine.begin() as conn:
            upsert(conn, STATE, [{"key": k, "value": v, "updated_at": now} for k, v in values.items()], ["key"])
