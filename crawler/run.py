"""Running the ctgov spider in this process (what ``trialkb crawl`` does)."""

from __future__ import annotations

from datetime import date
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

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


def run_crawl(db_url: str | None, *, api_url: str | None = None, nct_ids: list[str] | None = None,
              since: date | None = None, full: bool = False, related: bool = True, force: bool = False,
              overrides: dict[str, Any] | None = None) -> None:
    """Run one crawl to its end (blocks; one per process, as Twisted's reactor cannot restart)."""
    process = CrawlerProcess(crawl_settings(db_url, overrides), install_root_handler=True)
    process.crawl(CtgovSpider, api_url=api_url, nct=",".join(nct_ids or []),
                  since=since.isoformat() if since else None, full="1" if full else "0",
                  related="1" if related else "0", force="1" if force else "0")
    process.start()
