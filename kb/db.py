"""Engine, schema set-up and the store's location.

A fresh store gets the schema from the models (``create_all``) plus the views and is stamped
with the newest Alembic revision; an existing store is upgraded with Alembic. Both paths end
in the same schema (``tests/kb/test_migrations.py`` checks it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlmodel import SQLModel

from kb import models  # noqa: F401  (registers the tables)
from kb.views import create_views

if TYPE_CHECKING:
    from alembic.config import Config

ENV_VAR = "TRIALKB_DB"
MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_REVISION = "0003"
"""The newest migration (a test checks it is Alembic's head): a store at it needs no Alembic,
which every command would otherwise import (90 ms)."""


def default_url() -> str:
    """``TRIALKB_DB`` or a SQLite file in the user's data directory."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "trialkb"
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{base / 'trialkb.db'}"


def normalize_url(url: str) -> str:
    """Accept a bare path for SQLite and ``postgresql://`` for psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-131072")  # 128 MB: index inserts of a bulk import stay in memory
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def make_engine(url: str | None = None, **kwargs) -> Engine:  # type: ignore[no-untyped-def]
    """An engine for a SQLAlchemy URL (default :func:`default_url`)."""
    url = normalize_url(url or default_url())
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("json_serializer", lambda obj: orjson.dumps(obj).decode())
    kwargs.setdefault("json_deserializer", orjson.loads)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration bound to ``engine``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema so that it matches the models."""
    tables = set(inspect(engine).get_table_names())
    if "trial" in tables and "alembic_version" in tables and _revision(engine) == SCHEMA_REVISION:
        return
    from alembic import command

    config = alembic_config(engine)
    if "trial" not in tables:
        SQLModel.metadata.create_all(engine)
        with engine.begin() as conn:
            create_views(conn)
        command.stamp(config, "head")
    else:
        command.upgrade(config, "head")


def _revision(engine: Engine) -> str | None:
    """The migration the store is at."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def open_store(url: str | None = None) -> Engine:
    """An engine for the store at ``url``, its schema ready."""
    engine = make_engine(url)
    init_db(engine)
    return engine
