"""Running the ctgov spider in this process (what ``trialkb crawl`` does)."""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import Any, Callable

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from kb.core.errors import BadArgument
from kb.core.ids import is_nct_id, parse_trial_id
from crawler.crawlrun import CrawlOptions, CrawlResult, CrawlRun, Progress
from crawler.spiders.ctgov import CtgovSpider


def crawl_settings(db_url: str | None, overrides: dict[str, Any] | None = None) -> Settings:
    """The project's settings with the store URL and any overrides."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    if db_url:
        settings.set("TRIALKB_DB", db_url, priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


class _Process(CrawlerProcess):
    """A CrawlerProcess whose first SIGINT/SIGTERM marks the run interrupted before stopping gracefully."""

    def __init__(self, settings: Settings, run: CrawlRun, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.run = run

    def _signal_shutdown(self, signum: int, frame: Any) -> None:
        self.run.interrupted = True
        super()._signal_shutdown(signum, frame)


def run_crawl(db_url: str | None, *, api_url: str | None = None, trial_ids: list[str] | None = None,
              since: date | None = None, full: bool = False, related: bool = True, force: bool = False,
              overrides: dict[str, Any] | None = None, verbose: bool = False,
              on_progress: Callable[[Progress], None] | None = None, wait: bool = True,
              on_wait: Callable[[str], None] | None = None) -> CrawlResult:
    """Run one crawl to its end and return its result (blocks; one per process, as Twisted's reactor
    cannot restart). Waits while another import, crawl or rebuild writes to the store (telling
    ``on_wait``); with ``wait=False`` raises LockBusy instead.

    Scrapy logs only with ``verbose``; otherwise trialkb's own warnings (retries, rejects) go to stderr.
    """
    settings = crawl_settings(db_url, overrides)
    options = CrawlOptions((api_url or settings.get("TRIALKB_API_URL")).rstrip("/"),
                           [nct_argument(i) for i in trial_ids or []], since, full, related, force,
                           settings.getint("TRIALKB_RECHECK"), settings.getfloat("TRIALKB_MAX_REJECTED_SHARE"), wait)
    run = CrawlRun(db_url, options, on_progress, on_wait)
    run.open()  # before the reactor: lock, run log, plan (LockBusy stops here, before any request)
    settings.set("LOG_INSTALL_ROOT_HANDLER", verbose, priority="cmdline")
    if not verbose:
        settings.set("LOG_ENABLED", False, priority="cmdline")
        _own_log_lines()
    try:
        process = _Process(settings, run)
        process.crawl(CtgovSpider, api_url=options.api_url, nct=",".join(options.trial_ids),
                      since=since.isoformat() if since else None, full="1" if full else "0",
                      related="1" if related else "0", force="1" if force else "0", run=run)
        process.start()
    finally:
        outcome = run.finish("not_started", {})  # no-op when the spider finished it
    return outcome


def nct_argument(value: str) -> str:
    """A ``--nct`` value as an NCT id (ASCII, whole: kb.core.ids), or BadArgument."""
    trial_id = parse_trial_id(value)
    if not is_nct_id(trial_id):
        raise BadArgument(f"--nct takes a ClinicalTrials.gov id (NCT and 8 digits), got {value!r}")
    return trial_id


def _own_log_lines() -> None:
    """trialkb's warnings and errors as plain lines on stderr; Scrapy's own log stays quiet."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    for name in ("crawler", "ctgov"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
