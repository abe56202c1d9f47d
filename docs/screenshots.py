"""Take the manual's screenshots with the headless Chromium the browser tests use (Debian's chromium + chromedriver).

    python docs/screenshots.py --db /tmp/report.db                      # every picture
    python docs/screenshots.py --db /tmp/report.db --only trial-page    # one of them
    python docs/screenshots.py --db /tmp/report.db --path "/compare?similar_to=NCT06464679&top=3" --out docs/compare-page.png

The store is one of realworld + domain (docs/06-report-serve-changes.md). Writes docs/report-overview.png,
report-pipeline.png, report-graph.png and report-ledger.png (views of the report) and docs/trial-page.png
(the trial page of `trialkb serve`, started on a free port of 127.0.0.1 and stopped afterwards);
``--path`` shoots any served page, down to its footer, into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # tests.support, when run as a script from anywhere

from tests.support.browser import headless_chromium, open_report, serving  # noqa: E402
REPORT_SHOTS = {"report-overview": ("header", "landscape"), "report-pipeline": ("pipeline", "pipeline"),
                "report-graph": ("graph", "graph"), "report-ledger": ("changes", "ledger")}
"""Picture -> the report parts it shows (from the first element's top to the second's bottom), as one browser view."""
TRIAL_PAGE = "trial-page"
WIDTH = 1400


def shoot_report(driver: Any, db: str, names: list[str], max_height: int) -> None:
    """The report's pictures among ``names``, one browser view each."""
    from apps.report import write_report
    from kb.store.db import open_store

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        write_report(open_store(db), page)
        open_report(driver, page)
        for name in names:
            first, last = REPORT_SHOTS[name]
            top, bottom = driver.execute_script(
                "var a = document.querySelector(arguments[0] === 'header' ? 'header' : '#' + arguments[0]);"
                "var b = document.getElementById(arguments[1]);"
                "return [a.getBoundingClientRect().top + scrollY, b.getBoundingClientRect().bottom + scrollY];",
                first, last)
            height = int(min(bottom - top + 12, max_height))
            driver.set_window_size(WIDTH, height)
            inner = driver.execute_script("return window.innerHeight")
            driver.set_window_size(WIDTH, 2 * height - inner)  # the window's frame is not page
            driver.execute_script("window.scrollTo(0, arguments[0])", int(top))
            time.sleep(0.5)
            save(driver, name, height)


def shoot_served_page(driver: Any, db: str, path: str, out: Path, max_height: int) -> None:
    """A page of ``trialkb serve`` (``/trial/NCT...``, ``/compare?...``), down to its footer, into ``out``."""
    with serving(["--db", db, "serve"]) as (_, base):
        driver.get(base + path)
        bottom = driver.execute_script("return Math.ceil(document.querySelector('footer').getBoundingClientRect().bottom)")
        height = min(bottom + 8, max_height)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the page, not the window frame
            "width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
        save(driver, out, height)


def save(driver: Any, name: str | Path, height: int) -> None:
    path = name if isinstance(name, Path) else HERE / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"wrote {path} ({WIDTH} x {height})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the store (a SQLite path or a postgresql:// URL)")
    parser.add_argument("--only", action="append", choices=[*REPORT_SHOTS, TRIAL_PAGE],
                        help="take only this picture (repeatable)")
    parser.add_argument("--trial", default="NCT06464679", help="the trial of the trial page")
    parser.add_argument("--path", help="shoot this served page instead (e.g. /compare?ids=...) into --out")
    parser.add_argument("--out", type=Path, help="the picture of --path")
    parser.add_argument("--max-height", type=int, default=1800)
    args = parser.parse_args()
    if bool(args.path) != bool(args.out):
        parser.error("--path and --out go together")
    names = [] if args.path else args.only or [*REPORT_SHOTS, TRIAL_PAGE]
    driver = headless_chromium(width=WIDTH, height=1000)
    try:
        if report := [n for n in names if n in REPORT_SHOTS]:
            shoot_report(driver, args.db, report, args.max_height)
        if TRIAL_PAGE in names:
            shoot_served_page(driver, args.db, f"/trial/{args.trial}", HERE / f"{TRIAL_PAGE}.png",
                              max(args.max_height, 4000))
        if args.path:
            shoot_served_page(driver, args.db, args.path, args.out, max(args.max_height, 4000))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
