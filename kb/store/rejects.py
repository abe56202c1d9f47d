"""Records the normalizer rejected, kept raw with the reason (``rejected_record``), and their recovery.

``trialkb rebuild`` calls :func:`recover_rejected`: after a fix of the normalizer, a kept record
it now accepts is stored like a fetched one, and its row leaves the table.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson
from sqlalchemy import Engine, delete, select

from kb.store.models import RejectedRecord
from kb.store.write import Rejected, WriteResult, decompress, prepare, write_prepared

REJECTED = RejectedRecord.__table__


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
