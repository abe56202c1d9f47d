"""Where the store is: ``--db`` / ``TRIALKB_DB`` / a SQLite file in the user's data directory.

Kept free of SQLAlchemy so that the command line can name a store without importing it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TRIALKB_DB"
SCHEMA_REVISION = "0011"
"""The newest migration (a test checks it is Alembic's head): a store at it needs no Alembic,
which every command would otherwise import (90 ms); the read-only opener refuses any other."""


def default_url() -> str:
    """``TRIALKB_DB`` or a SQLite file in the user's data directory."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "trialkb"
    return f"sqlite:///{base / 'trialkb.db'}"


def normalize_url(url: str) -> str:
    """Accept a bare path for SQLite and ``postgresql://`` for psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url
