"""Crawl tests run the real command (a subprocess, as cron would) against a real local HTTP server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crawler.testserver import CtgovTestServer, load_studies
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


def crawl(db: str, server: CtgovTestServer, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``trialkb crawl`` against the test server."""
    return subprocess.run([TRIALKB, "--db", db, "crawl", "--api-url", server.url, *FAST, *args],
                          capture_output=True, text=True, timeout=timeout)
