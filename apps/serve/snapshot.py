"""A SQLite copy of any store, for Datasette (which reads SQLite only).

The copy is made in a temporary file beside the target and renamed into place when complete, so a
reader never sees half a copy; it has the same schema, views and Alembic revision as a store
``trialkb`` creates.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from kb.store.db import open_store

__all__ = ["copy_to_sqlite"]


def copy_to_sqlite(source: Engine, path: Path, batch: int = 2000) -> dict[str, int]:
    """Copy every table of ``source`` into a new SQLite store at ``path``; rows copied per table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    target = open_store(f"sqlite:///{tmp}")
    counts: dict[str, int] = {}
    try:
        with source.connect() as src, target.begin() as dst:
            for table in SQLModel.metadata.sorted_tables:  # parents before children
                counts[table.name] = 0
                result = src.execution_options(yield_per=batch).execute(select(table))
                for rows in result.partitions(batch):
                    dst.execute(table.insert(), [dict(row._mapping) for row in rows])
                    counts[table.name] += len(rows)
        with target.connect() as conn:  # one self-contained file: no -wal beside it
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    except BaseException:
        target.dispose()
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):  # a failed copy leaves nothing
            leftover.unlink(missing_ok=True)
        raise
    target.dispose()
    os.replace(tmp, path)
    return counts
