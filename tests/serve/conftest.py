"""A real ``trialkb serve`` on 127.0.0.1 and a real headless Chromium (Debian's chromium + chromedriver).

The browser tests skip with the reason when Chromium or its driver is missing, except under
CI=true, where they fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import headless_chromium, serving
from kb.store.db import open_store
from kb.ingest.importer import import_paths
from tests.conftest import CTGOV, require_browser


@pytest.fixture(scope="session")
def served_store(tmp_path_factory) -> Path:
    """The seed's 2024 record, then every domain record (the seed has one change)."""
    path = tmp_path_factory.mktemp("serve") / "kb.db"
    engine = open_store(f"sqlite:///{path}")
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"], workers=0)
    import_paths(engine, [CTGOV / "domain"], workers=0)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def server(served_store):
    """``trialkb serve`` as a user starts it, on a free port; its base URL."""
    with serving(["--db", str(served_store), "serve"]) as (_, base):
        yield base


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Debian's chromedriver; logs console messages and network requests."""
    require_browser()
    driver = headless_chromium(width=1280, height=1600)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
