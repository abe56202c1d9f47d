"""Records the normalizer rejected, kept raw with the reason (``rejected_record``), and their recovery.

The one writer of that table: the crawl pipeline and ``trialkb import`` call :func:`keep_rejected`
in the transaction that writes their batch. ``trialkb rebuild`` calls :func:`recover_rejected`:
after a fix of the normalizer, a kept record it now accepts is stored like a fetched one, and its
row leaves the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import orjson
from sqlalchemy import Connection, Engine, delete, insert, select

from kb.store.models import RejectedRecord
from kb.store.write import Rejected, WriteResult, decompress, prepare, utcnow, write_prepared

REJECTED = RejectedRecord.__table__


def keep_rejected(conn: Connection, rejected: Sequence[Rejected], stored: Sequence[str],
                  run_id: int | None = None) -> None:
    """Keep the rejected records that carry their body (one row per trial id: the latest rejection), and
    forget the old rejections of the trials just ``stored``."""
    if stored:
        conn.execute(delete(REJECTED).where(REJECTED.c.trial_id.in_(list(stored))))
    kept = [{"trial_id": r.trial_id, "origin": r.origin, "reason": r.reason, "body": r.body, "run_id": run_id,
             "rejected_at": utcnow()} for r in rejected if r.body is not None]
    if not kept:
        return
    ids = [k["trial_id"] for k in kept if k["trial_id"]]
    if ids:
        conn.execute(delete(REJECTED).where(REJECTED.c.trial_id.in_(ids)))
    conn.execute(insert(REJECTED), list({k["trial_id"] or id(k): k for k in kept}.values()))


def recover_rejected(engine: Engine, *, transform: Callable[[Any], Any] | None = None) -> WriteResult:
    """Prepare every kept record again; store those now accepted (one transaction), keep the rest.

    ``transform`` is applied to each record first (a repair; None: as kept).
    """
    with engine.begin() as conn:
        rows = conn.execute(select(REJECTED.c.id, REJECTED.c.origin, REJECTED.c.body).order_by(REJECTED.c.id)).all()
        prepared, accepted = [], []
        for row_id, origin, body in rows:
            data = orjson.loads(decompress(body))
            item = prepare(origin, transform(data) if transform else data, {})
            if not isinstance(item, Rejected):
                prepared.append(item)
                accepted.append(row_id)
        result = write_prepared(conn, prepared, source="rebuild") if prepared else WriteResult()
        if accepted:
            conn.execute(delete(REJECTED).where(REJECTED.c.id.in_(accepted)))
    return result
