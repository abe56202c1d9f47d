"""A headless Chromium and a served store, for looking at what trialkb shows people: the browser tests,
the benchmarks and the docs' screenshots use it.

It drives Debian's ``chromium`` and ``chromium-driver`` packages through Selenium (no browser is
downloaded); ``TRIALKB_CHROMIUM`` and ``TRIALKB_CHROMEDRIVER`` point elsewhere. Selenium is a
test dependency (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "CHROMEDRIVER", "browser_missing", "headless_chromium", "open_report", "requested_urls",
           "free_port", "serving"]

CHROMIUM = os.environ.get("TRIALKB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TRIALKB_CHROMEDRIVER", "/usr/bin/chromedriver")


def browser_missing() -> str | None:
    """Why a headless browser cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() or shutil.which(path)):
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def headless_chromium(width: int = 1400, height: int = 1000, download_dir: Path | None = None,
                      javascript: bool = True) -> Any:
    """A headless Chromium WebDriver that records console messages and network requests (scripts off:
    ``javascript=False``, as a mail preview or a locked-down browser shows a page)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--hide-scrollbars", "--force-device-scale-factor=1",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-default-apps", "--disable-sync"):
        options.add_argument(argument)
    if not javascript:
        options.add_argument("--blink-settings=scriptEnabled=false")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    if download_dir is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                                  "download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def open_report(driver: Any, path: Path, timeout: float = 30.0) -> str:
    """Open a report file and wait until its charts are drawn (or failed); returns 'drawn' or 'failed'."""
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body && document.body.dataset.charts")
        if state:
            return str(state)
        time.sleep(0.1)
    raise TimeoutError(f"the charts of {path} were not drawn within {timeout} s")


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page requested since the last call (from Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(args: list[str], timeout: float = 60.0, quiet: bool = False) -> Iterator[tuple[subprocess.Popen, str]]:
    """``trialkb ARGS --port N`` on a free port, once it answers: (process, base URL); stopped after."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("trialkb")), *args, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else subprocess.STDOUT,
                               text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"trialkb {' '.join(args)} did not start: {process.communicate()[0]}") from None
                time.sleep(0.2)
        yield process, base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
