"""Shared fixtures: the real records in ../shared/data and a fresh store per test.

The ``engine`` fixture runs each test on SQLite and on PostgreSQL. PostgreSQL comes from
``TRIALKB_TEST_PG`` (default: the local server at 127.0.0.1:5432, database ``test``); each test
gets a schema of its own, dropped afterwards. Without a server the PostgreSQL variant is
skipped with the reason, unless ``TRIALKB_REQUIRE_PG=1`` (set by .ci/run) makes it fail.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kb.store.db import init_db, make_engine

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TRIALKB_SHARED_DATA", ROOT.parent / "shared" / "data"))
CTGOV = DATA / "ctgov_v2"
FILES = Path(__file__).with_name("files")
PG_URL = os.environ.get("TRIALKB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

if not CTGOV.is_dir():
    raise RuntimeError(f"test data not found at {DATA}: put shared/data beside the checkout or set TRIALKB_SHARED_DATA")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The PostgreSQL variants count as slow (a schema each, about a second): ``pytest -m "not slow"``,
    the edit-test loop, runs SQLite; CI runs both."""
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.slow)


def sqlite_store_of_4kb_pages(path: Path) -> None:
    """An SQLite store file as one made before new stores had pages of 16 KB (SQLite's default, 4 KB)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE made_before (x)")


def load(relative: str) -> dict:
    """A record from ../shared/data/ctgov_v2 (a one-study array gives the study)."""
    data = json.loads((CTGOV / relative).read_text())
    return data[0] if isinstance(data, list) else data


def _pg_reason() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); set TRIALKB_TEST_PG"


def skip_unless_required(reason: str | None, variable: str, value: str) -> None:
    """Skip with ``reason`` (when there is one), or fail when the environment makes it mandatory."""
    if reason:
        if os.environ.get(variable) == value:
            pytest.fail(f"{reason}, and {variable}={value} needs these tests")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_url() -> str:
    skip_unless_required(_pg_reason(), "TRIALKB_REQUIRE_PG", "1")
    return PG_URL


def _pg_engine(pg_url: str):  # type: ignore[no-untyped-def]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(schema_url(pg_url, schema))  # a worker process opens the same store by URL
    return engine, admin, schema


def schema_url(pg_url: str, schema: str) -> str:
    """``pg_url`` with ``schema`` as its search path."""
    return f"{pg_url}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url_engine(request, tmp_path):  # type: ignore[no-untyped-def]
    """(dialect, engine) of a fresh, empty, unmigrated store."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
        yield "sqlite", engine
        engine.dispose()
        return
    engine, admin, schema = _pg_engine(request.getfixturevalue("pg_url"))
    yield "postgresql", engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def pg_schema_url(pg_url: str):  # type: ignore[no-untyped-def]
    """The URL of a fresh PostgreSQL schema, for a store opened by URL (a subprocess); dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield schema_url(pg_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(store_url_engine):  # type: ignore[no-untyped-def]
    """A fresh store with its schema, on SQLite and on PostgreSQL."""
    _, engine = store_url_engine
    init_db(engine)
    return engine


@pytest.fixture
def sqlite_engine(tmp_path):  # type: ignore[no-untyped-def]
    """A fresh SQLite store (for tests that are about something else than the dialect)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    init_db(engine)
    yield engine
    engine.dispose()


def require_browser() -> None:
    """Skip with the reason when headless Chromium cannot run here; under CI=true, fail instead."""
    from tests.support.browser import browser_missing

    skip_unless_required(browser_missing(), "CI", "true")
