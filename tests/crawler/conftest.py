"""Crawl tests run the real command (a subprocess, as cron would) against a real local HTTP server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from tests.support.ctgov_server import CtgovTestServer, LoopbackServer, load_studies
from tests.support.ctis_server import CtisTestServer
from kb.store.models import Trial
from tests.conftest import CTGOV

TRIALKB = str(Path(sys.executable).with_name("trialkb"))
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "RETRY_BACKOFF_BASE=0.2"]


def fixture_studies() -> list[dict]:
    """The CAR trials and distractors of domain/, the registry samples, and the fields-subset record."""
    return load_studies(CTGOV / "domain", CTGOV / "registry_samples")


@pytest.fixture
def server():
    with CtgovTestServer(fixture_studies()) as s:
        yield s


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'crawl.db'}"


def crawl(db: str, server: LoopbackServer, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``trialkb crawl`` against a test server (of ClinicalTrials.gov or of CTIS: that registry only)."""
    flag = "--ctis-url" if isinstance(server, CtisTestServer) else "--api-url"
    return subprocess.run([TRIALKB, "--db", db, "crawl", flag, server.url, *FAST, *args],
                          capture_output=True, text=True, timeout=timeout)


def wait_for_trials(db: str, count: int, timeout: float = 60) -> int:
    """Wait until a running crawl has stored ``count`` trials (or ``timeout`` passed); how many it has."""
    engine = create_engine(db)
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline and stored < count:
        time.sleep(0.05)
        try:
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(Trial)).scalar_one()
        except Exception:  # noqa: BLE001 - the schema may not exist yet
            stored = 0
    engine.dispose()
    return stored
