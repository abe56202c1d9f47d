"""Engine, schema set-up and the store's location.

A fresh store gets the schema from the models (``create_all``) plus the views and is stamped
with the newest Alembic revision; an existing store is upgraded with Alembic. Both paths end
in the same schema (``tests/kb/test_migrations.py`` checks it).
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import Column, Engine, MetaData, PrimaryKeyConstraint, String, Table, create_engine, event, inspect, text
from sqlmodel import SQLModel

from kb.store import models  # noqa: F401  (registers the tables)
from kb.core.errors import CannotOpen, first_line
from kb.core.location import ENV_VAR, SCHEMA_REVISION, default_url, normalize_url  # noqa: F401  (re-exported)
from kb.store.readonly import BUSY_TIMEOUT_SECONDS, connect_sqlite_readonly, dialect_of, open_readonly, sqlite_path
from kb.store.views import create_views

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
ALEMBIC_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
"""The table Alembic's ``stamp`` creates: a new store is stamped with it directly (importing Alembic to
stamp took 0.12 s of every command that opens a new store)."""


PAGE_SIZE = 16_384
"""Bytes in a page of a new SQLite store (a store made before keeps its own; SQLite's default is 4,096).

A trial row (about 5 KB) and its raw record (about 7 KB) fit in one page instead of spilling into overflow
pages, and a commit appends fewer, larger frames to the log. Writing 6,000 prepared studies of
bench/import_bench.py's archive as a worker does (December 2026, alternating runs): 0.217-0.232 ms a study
against 0.233-0.247 with pages of 4 KB, the log's copy 0.034-0.037 ms against 0.044-0.046 (32 and 64 KB: the
same as 16). Storing the 20,000-study archive: 9.43-9.94 s against 9.83-10.03 s, 16.2-16.9 user CPU s against
16.5-16.9 (four alternating pairs). Reads take the same time (show, sql, find, similar, changes); a commit of
three changed trials into a 20,000-trial store about 1 ms more (10 ms)."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before the switch to WAL, the first write of a new file
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-131072")  # 128 MB: index inserts of a bulk import stay in memory
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database in WAL mode, waiting for another connection doing the same.

    Two connections switching a new, empty database at once each read its header, and the one whose
    upgrade to a write comes second fails at once with "database is locked": SQLite does not call the
    busy handler for a read transaction's upgrade (it could deadlock). By the time it tries again the
    other has written the header, and the switch is a no-op. Tries stop after the busy timeout; one try
    may itself wait up to that long in the busy handler, so the worst case is about twice it.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


TOAST_COMPRESSION = "lz4"
"""How PostgreSQL compresses a store's long values (a trial's texts; a raw record is compressed already).
Storing all 20,000 studies of bench/import_bench.py's archive (December 2026, 2 cores shared with the server,
alternating runs): the server's CPU 11.7-11.8 s with lz4 against 12.9-13.5 s with PostgreSQL's default pglz,
the import 17.9-18.0 s against 18.9-19.5 s. A value stored with pglz before stays readable."""


def _postgresql_session(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Store times are UTC: a session in another zone would turn the UTC times written into local ones.
    Long values are compressed with :data:`TOAST_COMPRESSION` where the server offers it (PostgreSQL 14 and
    later, built with lz4; else its default, pglz)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute("SELECT set_config(name, %s, false) FROM pg_settings "
                       "WHERE name = 'default_toast_compression' AND %s = ANY(enumvals)",
                       (TOAST_COMPRESSION, TOAST_COMPRESSION))
    finally:
        cursor.close()
    dbapi_connection.commit()


_URL_IS_NOT_ALL: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Engines made with connection arguments their URL does not carry (:func:`reopen_url`)."""


def make_engine(url: str | None = None, **kwargs) -> Engine:  # type: ignore[no-untyped-def]
    """An engine for a SQLAlchemy URL (default :func:`default_url`)."""
    extra = bool({"connect_args", "creator"} & kwargs.keys())
    url = normalize_url(url or default_url())
    path = sqlite_path(url) if url.startswith("sqlite") else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("json_serializer", lambda obj: orjson.dumps(obj).decode())
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("postgresql"):  # a connection the server ended (a restart, a failover) is replaced, not used
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_session)
    if extra:
        _URL_IS_NOT_ALL.add(engine)
    return engine


def reopen_url(engine: Engine) -> str | None:
    """The URL another process opens the same store with (:func:`make_engine`); None for an in-memory
    database or an engine made with connection arguments (``connect_args``) its URL does not carry."""
    if engine.url.database in (None, "", ":memory:") and engine.dialect.name == "sqlite" or engine in _URL_IS_NOT_ALL:
        return None
    return engine.url.render_as_string(hide_password=False)


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration bound to ``engine``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def init_db(engine: Engine, *, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> None:
    """Create or upgrade the schema so that it matches the models (under the store's writer lock,
    so two commands opening a new store at once do not both create it). Another writer holding the
    lock is waited for, telling ``on_wait``, or (``wait`` False) :class:`~kb.process.lock.LockBusy`."""
    if _schema_ready(engine):
        return
    from kb.process.lock import writer_lock

    with writer_lock(engine, "schema", wait=wait, on_wait=on_wait):
        if not _schema_ready(engine):
            _create_or_upgrade(engine)


def _schema_ready(engine: Engine) -> bool:
    tables = set(inspect(engine).get_table_names())
    return "trial" in tables and "alembic_version" in tables and _revision(engine) == SCHEMA_REVISION


def _create_or_upgrade(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    if "trial" not in tables:
        SQLModel.metadata.create_all(engine)
        with engine.begin() as conn:
            create_views(conn)
            ALEMBIC_VERSION.create(conn, checkfirst=True)
            conn.execute(ALEMBIC_VERSION.delete())
            conn.execute(ALEMBIC_VERSION.insert().values(version_num=SCHEMA_REVISION))
    else:
        from alembic import command

        command.upgrade(alembic_config(engine), "head")


def _revision(engine: Engine) -> str | None:
    """The migration the store is at."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def open_store(url: str | None = None, *, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> Engine:
    """An engine for the store at ``url``, its schema ready (created or upgraded; a store another writer
    is creating or upgrading is waited for as :func:`init_db` says).

    Raises :class:`kb.core.errors.CannotOpen` with one line saying why when that fails, and
    :class:`kb.process.lock.LockBusy` when it would wait and ``wait`` is False.
    """
    from sqlalchemy.exc import SQLAlchemyError

    url = normalize_url(url or default_url())
    dialect_of(url)
    try:
        engine = make_engine(url)
        init_db(engine, wait=wait, on_wait=on_wait)
    except (SQLAlchemyError, OSError, ImportError) as exc:
        raise CannotOpen(f"cannot open the store: {first_line(exc)}{_unwritable_folder(url)}") from None
    return engine


def _unwritable_folder(url: str) -> str:
    """Why SQLite could not open a store for writing, when its folder says it ('unable to open database file'
    names no cause): SQLite writes its log, its index of the log and the writer lock beside the store."""
    path = sqlite_path(url) if url.startswith("sqlite") else None
    if path is None or not path.parent.is_dir() or os.access(path.parent, os.W_OK):  # False on a read-only mount
        return ""
    return (f" (the folder {path.parent} is read-only; a store is written with files beside it: -wal, -shm, .lock"
            + ("; read commands still work)" if path.exists() else ")"))


def readonly_engine(url: str | None = None) -> Engine:
    """An engine on the existing store at ``url`` whose connections cannot write (:mod:`kb.store.readonly`).

    Never creates or upgrades a store: :class:`kb.core.errors.NoStore` / ``SchemaMismatch`` /
    ``CannotOpen`` instead. SQLite connections are opened by :func:`connect_sqlite_readonly`
    (``mode=ro``, or ``immutable=1`` on read-only media); PostgreSQL sessions default to
    read-only transactions.
    """
    url = normalize_url(url or default_url())
    open_readonly(url).close()  # exists, reachable, at our schema revision
    kwargs = {"json_serializer": lambda obj: orjson.dumps(obj).decode(), "json_deserializer": orjson.loads}
    if dialect_of(url) == "sqlite":
        path = sqlite_path(url)
        return create_engine(f"sqlite:///{path}", creator=lambda: connect_sqlite_readonly(path), **kwargs)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _readonly_session)
    return engine


def _readonly_session(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()
