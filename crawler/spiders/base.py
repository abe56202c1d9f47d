"""What every registry spider shares: its run, failures said in words, stopping, finishing."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.crawlrun import CrawlOptions, CrawlRun
from crawler.middlewares import DNS_FAILURES
from crawler.parse import CorruptPage


class RegistrySpider(scrapy.Spider):
    """A spider reporting to a :class:`~crawler.crawlrun.CrawlRun`; subclasses say where and how to page."""

    blocked_advice = "the registry refused the crawl (HTTP 403, after retries)"
    reaching_kinds: frozenset[str] = frozenset()
    """Request kinds whose network failure means the registry cannot be reached (the run stops)."""
    record_word = "study"
    run: CrawlRun | None = None
    api_url_arg: str | None = None
    url_setting = "TRIALKB_API_URL"

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):  # type: ignore[no-untyped-def]
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.run is None:  # `scrapy crawl NAME`: its own run, opened in start()
            spider.run = CrawlRun(crawler.settings.get("TRIALKB_DB"), spider.options())
        crawler.signals.connect(spider._finish, signal=signals.spider_closed)
        return spider

    def options(self) -> CrawlOptions:
        """The run's options from the spider's arguments (when Scrapy, not run_crawl, made the spider)."""
        raise NotImplementedError

    @property
    def api_url(self) -> str:
        return (self.api_url_arg or self.settings.get(self.url_setting)).rstrip("/")

    @property
    def host(self) -> str:
        return urlsplit(self.api_url).hostname or self.api_url

    def api_request(self, url: str, callback: Any, **meta: Any) -> scrapy.Request:
        """A request to the registry's API: robots.txt is not asked about it (see crawler.settings)."""
        return scrapy.Request(url, callback=callback, errback=self.failed, dont_filter=True,
                              meta={"dont_obey_robotstxt": True, **meta})

    async def open_run(self) -> None:
        """Open the run (lock, run log, plan) off the event loop, unless run_crawl did."""
        assert self.run is not None
        if self.run.run_id is None:
            await asyncio.to_thread(self.run.open)

    def _refetch(self, response: Response, error: CorruptPage):  # type: ignore[no-untyped-def]
        """Fetch a corrupt answer again; once the retries are spent, the request fails."""
        self.crawler.stats.inc_value("trialkb/corrupt_pages")
        retry = get_retry_request(response.request, spider=self, reason="corrupt page",
                                  max_retry_times=self.settings.getint("TRIALKB_PAGE_RETRIES"))
        if retry is None:
            self._give_up(response.request, str(error))
            return
        self.logger.warning("%s: %s; fetching it again", self.what(response.request), error)
        yield retry

    def failed(self, failure: Failure):  # type: ignore[no-untyped-def]
        """A request that failed for good, said in words; offline and blocked runs stop at once."""
        request = failure.request
        if failure.check(*DNS_FAILURES):
            self._give_up(request, "DNS lookup failed")
            self._stop(f"cannot reach {self.host}: DNS lookup failed; offline?")
            return
        if not failure.check(HttpError):
            self._give_up(request, f"{type(failure.value).__name__}: {failure.getErrorMessage()}")
            if request.meta.get("kind") in self.reaching_kinds:
                self._stop(f"cannot reach {self.host}: {failure.getErrorMessage() or type(failure.value).__name__}")
            return
        response = failure.value.response
        text = response.text.strip()[:300] if response.headers.get("Content-Type", b"").startswith(b"text/plain") else ""
        if response.status == 404 and request.meta.get("trial_id"):
            self._not_found(request.meta["trial_id"], "HTTP 404")
            return
        if response.status == 403:
            self._give_up(request, "HTTP 403 (refused by the registry's bot filter)")
            self._stop(self.blocked_advice)
            return
        self._give_up(request, f"HTTP {response.status}" + (f": {text}" if text else ""))

    def _not_found(self, trial_id: str, how: str) -> None:
        """A trial the registry does not have: a warning, not a failure."""
        self.crawler.stats.inc_value("trialkb/not_found")
        self.logger.warning("%s is not in the registry (%s)", trial_id, how)

    def _give_up(self, request: scrapy.Request, reason: str) -> None:
        """Count a request that failed for good; its search keeps its old watermark."""
        self.crawler.stats.inc_value("trialkb/failed_requests")
        assert self.run is not None
        self.run.note_error(request.meta.get("query") or request.meta.get("kind"), f"{self.what(request)}: {reason}")

    def _stop(self, message: str) -> None:
        """End the run now with this reason."""
        assert self.run is not None
        self.run.stop_with(message)
        asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="failed"))

    async def _finish(self, spider: scrapy.Spider, reason: str) -> None:
        """Finish the run (run log, state, lock) in a thread when the spider closes."""
        assert self.run is not None
        await asyncio.to_thread(self.run.finish, reason, self.crawler.stats.get_stats())

    def what(self, request: scrapy.Request) -> str:
        """A request named for people: the search and page, the trial, or the URL."""
        meta = request.meta
        if meta.get("kind") == "search":
            return f"search {meta['query']} page {meta['page']}"
        if meta.get("trial_id"):
            return f"{self.record_word} {meta['trial_id']}"
        return request.url
