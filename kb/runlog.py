"""The run log: one row per job run (import, crawl) with its counts and errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert, select, update

from kb.models import CrawlState, RunLog
from kb.bulk import upsert
from kb.store import utcnow

RUN = RunLog.__table__
STATE = CrawlState.__table__
MAX_LOGGED_ERRORS = 1000


def start_run(engine: Engine, kind: str, args: dict[str, Any]) -> int:
    """Record a run as started; returns its id."""
    with engine.begin() as conn:
        return conn.execute(insert(RUN).values(kind=kind, started_at=utcnow(), status="running", args=args)
                            .returning(RUN.c.id)).scalar_one()


def finish_run(engine: Engine, run_id: int, status: str, counts: dict[str, Any],
               errors: list[str] | None = None) -> None:
    """Record a run's end, its counts and (the first thousand of) its errors."""
    with engine.begin() as conn:
        conn.execute(update(RUN).where(RUN.c.id == run_id).values(
            finished_at=utcnow(), status=status, counts=counts, errors=(errors or [])[:MAX_LOGGED_ERRORS]))


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


def abandon_running(engine: Engine, kind: str) -> list[int]:
    """Mark runs of a kind still 'running' as 'abandoned' (their process is gone); returns their ids.

    Call it while holding the job's lock: no live process of that kind can be running then.
    """
    with engine.begin() as conn:
        ids = conn.execute(select(RUN.c.id).where(RUN.c.kind == kind, RUN.c.status == "running")).scalars().all()
        if ids:
            conn.execute(update(RUN).where(RUN.c.id.in_(ids)).values(status="abandoned", finished_at=utcnow()))
    return list(ids)
