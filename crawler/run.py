"""Running the registry spiders in this process, one after the other (what ``trialkb crawl`` does)."""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import Any, Callable, Generator

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from twisted.internet.defer import Deferred, inlineCallbacks

from crawler.crawlrun import CrawlOptions, CrawlResult, CrawlRun, Progress
from crawler.spiders.base import RegistrySpider
from crawler.spiders.ctgov import CtgovSpider
from crawler.spiders.ctis import CtisSpider
from kb.core.errors import BadArgument
from kb.core.ids import match_trial_id, parse_trial_id, registry_of

SPIDERS: dict[str, type[RegistrySpider]] = {"ctgov": CtgovSpider, "ctis": CtisSpider}
"""The crawled registries by name (the spider's name is the registry slug of kb.core.ids)."""


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
    """A CrawlerProcess whose first SIGINT/SIGTERM marks the current run interrupted (and the rest not run)
    before stopping gracefully."""

    def __init__(self, settings: Settings, run: CrawlRun, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.run = run
        self.interrupted = False

    def _signal_shutdown(self, signum: int, frame: Any) -> None:
        self.run.interrupted = self.interrupted = True
        super()._signal_shutdown(signum, frame)


def run_crawl(db_url: str | None, *, api_url: str | None = None, trial_ids: list[str] | None = None,
              since: date | None = None, full: bool = False, related: bool = True, force: bool = False,
              overrides: dict[str, Any] | None = None, verbose: bool = False,
              on_progress: Callable[[Progress], None] | None = None) -> CrawlResult:
    """Run one ClinicalTrials.gov crawl to its end and return its result (see :func:`run_crawls`)."""
    return run_crawls(db_url, ["ctgov"], urls={"ctgov": api_url}, trial_ids=trial_ids, since=since, full=full,
                      related=related, force=force, overrides=overrides, verbose=verbose, on_progress=on_progress)[0]


def run_crawls(db_url: str | None, registries: list[str], *, urls: dict[str, str | None] | None = None,
               trial_ids: list[str] | None = None, since: date | None = None, full: bool = False,
               related: bool = True, force: bool = False, overrides: dict[str, Any] | None = None,
               verbose: bool = False, on_progress: Callable[[Progress], None] | None = None, wait: bool = True,
               on_wait: Callable[[str], None] | None = None) -> list[CrawlResult]:
    """Crawl ``registries`` (``ctgov``, ``ctis``) one after the other, each to its end with a run of its
    own, and return their results (blocks; once per process, as Twisted's reactor cannot restart).
    ``trial_ids`` go to the registry that issued them (CTIS numbers to ``ctis``, the rest to ``ctgov``).
    Each run waits while another import, crawl or rebuild writes to the store (telling ``on_wait``);
    with ``wait=False`` LockBusy is raised instead. An id that is no NCT id or CTIS number is a
    BadArgument before anything starts.

    Scrapy logs only with ``verbose``; otherwise trialkb's own warnings (retries, rejects) go to stderr.
    """
    settings = crawl_settings(db_url, overrides)
    trial_ids = [crawl_id(i) for i in trial_ids or []]
    runs = [CrawlRun(db_url, _options(settings, registry, (urls or {}).get(registry), trial_ids, since, full,
                                      related, force, wait), on_progress, on_wait) for registry in registries]
    runs[0].open()  # before the reactor: lock, run log, plan (LockBusy stops here, before any request)
    settings.set("LOG_INSTALL_ROOT_HANDLER", verbose, priority="cmdline")
    if not verbose:
        settings.set("LOG_ENABLED", False, priority="cmdline")
        _own_log_lines()
    try:
        process = _Process(settings, runs[0])
        _in_turn(process, runs)
        process.start()
    finally:
        outcomes = [run.finish("not_started", {}) for run in runs]  # no-op for a run its spider finished
    return outcomes


def _options(settings: Settings, registry: str, url: str | None, trial_ids: list[str] | None, since: date | None,
             full: bool, related: bool, force: bool, wait: bool = True) -> CrawlOptions:
    """One registry's run options; its own ids of ``trial_ids``."""
    ids = [i.strip().upper() for i in trial_ids or []]
    if registry == "ctis":
        mine = [found.id for i in ids if (found := match_trial_id(i)) and found.registry == "ctis"]
    else:
        mine = [i for i in ids if _registry_of(i) != "ctis"]
    return CrawlOptions(api_url=(url or settings.get(SPIDERS[registry].url_setting)).rstrip("/"), trial_ids=mine,
                        since=since, full=full, related=related, force=force,
                        recheck=settings.getint("TRIALKB_RECHECK"),
                        max_rejected_share=settings.getfloat("TRIALKB_MAX_REJECTED_SHARE"), registry=registry, wait=wait)


def crawl_id(value: str) -> str:
    """A ``--nct`` / ``--id`` value as a canonical NCT id or CTIS number (kb.core.ids: ASCII, whole),
    or BadArgument."""
    trial_id = parse_trial_id(value)
    if registry_of(trial_id) not in SPIDERS:
        raise BadArgument(f"--nct takes a ClinicalTrials.gov id (NCT and 8 digits) or a CTIS number, got {value!r}")
    return trial_id


def _registry_of(text: str) -> str | None:
    found = match_trial_id(text)
    return found.registry if found else None


@inlineCallbacks
def _in_turn(process: _Process, runs: list[CrawlRun]) -> Generator[Deferred[Any], Any, None]:
    """Crawl each run's registry after the one before has finished (the first run is open already)."""
    for n, run in enumerate(runs):
        if process.interrupted:  # the runs after an interrupted one do not start
            run.interrupted = True
            continue
        if n:
            try:
                run.open()
            except Exception as exc:  # noqa: BLE001 - said in the run's result, the next registry still runs
                run.stop_with(f"the run did not start: {exc}")
                continue
        process.run = run
        o = run.options
        common = {"api_url": o.api_url, "since": o.since.isoformat() if o.since else None,
                  "full": "1" if o.full else "0", "related": "1" if o.related else "0", "run": run}
        if o.registry == "ctis":
            yield process.crawl(CtisSpider, ids=",".join(o.trial_ids), **common)
        else:
            yield process.crawl(CtgovSpider, nct=",".join(o.trial_ids), force="1" if o.force else "0", **common)


def _own_log_lines() -> None:
    """trialkb's warnings and errors as plain lines on stderr; Scrapy's own log stays quiet."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    for name in ("crawler", *SPIDERS):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
