"""Take the README's screenshots of the report with the headless Chromium the browser tests use.

    python docs/screenshots.py --db /tmp/report.db   # a store of realworld + domain (see README)

Writes docs/report-overview.png, report-pipeline.png, report-graph.png and report-ledger.png.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kb.store.db import open_store
from apps.report import write_report
from tests.support.browser import headless_chromium, open_report

HERE = Path(__file__).parent
SHOTS = {"report-overview.png": ("header", "landscape"), "report-pipeline.png": ("pipeline", "pipeline"),
         "report-graph.png": ("graph", "graph"), "report-ledger.png": ("changes", "ledger")}
"""File -> the page parts it shows (from the first element's top to the second's bottom), as one browser view."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--max-height", type=int, default=1800)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        write_report(open_store(args.db), page)
        driver = headless_chromium(width=1400, height=1000)
        try:
            open_report(driver, page)
            for name, (first, last) in SHOTS.items():
                top, bottom = driver.execute_script(
                    "var a = document.querySelector(arguments[0] === 'header' ? 'header' : '#' + arguments[0]);"
                    "var b = document.getElementById(arguments[1]);"
                    "return [a.getBoundingClientRect().top + scrollY, b.getBoundingClientRect().bottom + scrollY];",
                    first, last)
                height = int(min(bottom - top + 12, args.max_height))
                driver.set_window_size(1400, height)
                inner = driver.execute_script("return window.innerHeight")
                driver.set_window_size(1400, 2 * height - inner)  # the window's frame is not page
                driver.execute_script("window.scrollTo(0, arguments[0])", int(top))
                time.sleep(0.5)
                driver.save_screenshot(str(HERE / name))
                print(f"wrote {HERE / name} (1400 x {height})")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
