"""A store of the domain trials where the seed changed once: its 2024 record, then its 2025 record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine

from kb.ingest.importer import import_paths
from tests.conftest import CTGOV


@dataclass
class Store:
    """A filled store and a moment between the seed's first import and everything else."""

    engine: Engine
    between: datetime


def fill(engine: Engine) -> Store:
    """Import the seed's 2024 record, then every domain record (the seed's 2025 one among them)."""
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"])
    between = datetime.now(timezone.utc)
    import_paths(engine, [CTGOV / "domain"])
    return Store(engine, between)


@pytest.fixture
def store(engine) -> Store:  # type: ignore[no-untyped-def]
    """The domain store on SQLite and on PostgreSQL."""
    return fill(engine)


@pytest.fixture
def sqlite_store(sqlite_engine) -> Store:  # type: ignore[no-untyped-def]
    """The domain store on SQLite only."""
    return fill(sqlite_engine)
