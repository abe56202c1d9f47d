"""Engine, schema set-up and the store's location.

A fresh store gets the schema from the models (``create_all``) plus the views and is stamped
with the newest Alembic revision; an existing store is upgraded with Alembic. Both paths end
in the same schema (``tests/kb/test_migrations.py`` checks it).
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlmodel import SQLModel

from kb import models  # noqa: F401  (registers the tables)
from kb.views import create_views

ENV_VAR = "TRIALKB_DB"
MIGRATIONS = Path(__file__).with_name("migrations")


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
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema so that it matches the models."""
    tables = set(inspect(engine).get_table_names())
    config = alembic_config(engine)
    if "trial" not in tables:
        SQLModel.metadata.create_all(engine)
        with engine.begin() as conn:
            create_views(conn)
        command.stamp(config, "head")
    elif not _at_head(engine, config):
        command.upgrade(config, "head")


def _at_head(engine: Engine, config: Config) -> bool:
    """Whether the store's schema is at the newest migration already."""
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads


def open_store(url: str | None = None) -> Engine:
    """An engine for the store at ``url``, its schema ready."""
    engine = make_engine(url)
    init_db(engine)
    return engine
