"""Where the store is: ``--db`` / ``TRIALKB_DB`` / a SQLite file in the user's data directory.

Kept free of SQLAlchemy so that the command line can name a store without importing it.
"""

from __future__ import annotations

import hashlib
import os
import re
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


def cache_dir() -> Path:
    """trialkb's cache folder: ``$XDG_CACHE_HOME/trialkb``, else ``~/.cache/trialkb``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trialkb"


def without_password(url: str) -> str:
    """A store URL without its password.

    >>> without_password("postgresql://kb:secret@db.example.org/kb"), without_password("sqlite:////tmp/kb.db")
    ('postgresql://kb@db.example.org/kb', 'sqlite:////tmp/kb.db')
    """
    return re.sub(r"^([^:/]+://[^:/@]+):[^@]*@", r"\1@", url)


def cache_file(url: str, kind: str, suffix: str) -> Path:
    """The ``kind`` cache file of the store at ``url`` (the similarity index, serve's SQLite copy), in
    :func:`cache_dir`, named by a hash of the store's URL without its password: one name per store,
    however its URL is written."""
    key = hashlib.sha1(without_password(normalize_url(url)).encode()).hexdigest()[:12]
    return cache_dir() / f"{kind}-{key}{suffix}"


def normalize_url(url: str) -> str:
    """Accept a bare path for SQLite and ``postgresql://`` for psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url
