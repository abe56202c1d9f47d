"""A real ``trialkb serve`` on 127.0.0.1 and a real headless Chromium (Debian's chromium + chromedriver).

The browser tests skip with the reason when Chromium or its driver is missing, except under
CI=true, where they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kb.db import open_store
from kb.importer import import_paths
from tests.conftest import CTGOV

CHROMIUM = Path(os.environ.get("TRIALKB_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("TRIALKB_CHROMEDRIVER", "/usr/bin/chromedriver"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served_store(tmp_path_factory) -> Path:
    """The seed's 2024 record, then every domain record (the seed has one change)."""
    path = tmp_path_factory.mktemp("serve") / "kb.db"
    engine = open_store(f"sqlite:///{path}")
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"], workers=0)
    import_paths(engine, [CTGOV / "domain"], workers=0)
    engine.dispose()
    return path


def start_server(args: list[str]) -> tuple[subprocess.Popen, str]:
    """``trialkb ARGS --port N`` on a free port, once it answers; (process, base URL)."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("trialkb")), *args, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/", timeout=2).close()
            return process, base
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"trialkb serve did not start: {process.communicate()[0]}")
            time.sleep(0.2)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def server(served_store):
    """``trialkb serve`` as a user starts it, on a free port; its base URL."""
    process, base = start_server(["--db", str(served_store), "serve"])
    yield base
    stop_server(process)


def _missing_browser() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.exists() and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Debian's chromedriver; logs console messages and network requests."""
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}, and CI=true needs the browser tests")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-default-apps", "--disable-sync"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def requested_urls(driver) -> list[str]:
    """Every URL the pages asked for since the last call (from Chromium's performance log)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


