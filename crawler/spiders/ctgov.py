"""ClinicalTrials.gov API v2: the seed trial, the searches of crawler.searches, re-checks."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.crawlrun import CrawlOptions, CrawlRun
from crawler.items import StudyPage
from crawler.middlewares import DNS_FAILURES
from crawler.parse import CorruptPage, parse_study, parse_version, read_search_page, search_url, study_ids

BLOCKED_ADVICE = ("the registry's bot filter refused the crawl (HTTP 403, after retries). Settings that help: "
                  "another user agent (-s USER_AGENT=...), TLS 1.2 (-s DOWNLOAD_TLS_MAX_VERSION=TLSv1.2), or "
                  "the HTTP/2 handler (-s 'DOWNLOAD_HANDLERS={\"https\": "
                  "\"scrapy.core.downloader.handlers.http2.H2DownloadHandler\"}')")


class CtgovSpider(scrapy.Spider):
    """Fetch the seed and --nct trials, the searches (token paging) and re-checks; report to the run."""

    name = "ctgov"

    def __init__(self, api_url: str | None = None, nct: str = "", since: str | None = None, full: str = "0",
                 related: str = "1", force: str = "0", run: CrawlRun | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_url_arg = api_url
        self.trial_ids = [i for i in nct.replace(" ", ",").split(",") if i]
        self.since = date.fromisoformat(since) if since else None
        self.full = full in ("1", "true", "True")
        self.related = related not in ("0", "false", "False")
        self.force = force in ("1", "true", "True")
        self.run = run  # given by run_crawl; `scrapy crawl ctgov` makes its own in start()

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):  # type: ignore[no-untyped-def]
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.run is None:
            spider.run = CrawlRun(crawler.settings.get("TRIALKB_DB"), CrawlOptions(
                spider.api_url, spider.trial_ids, spider.since, spider.full, spider.related, spider.force,
                crawler.settings.getint("TRIALKB_RECHECK"), crawler.settings.getfloat("TRIALKB_MAX_REJECTED_SHARE")))
        crawler.signals.connect(spider._finish, signal=signals.spider_closed)
        return spider

    @property
    def api_url(self) -> str:
        return (self.api_url_arg or self.settings.get("TRIALKB_API_URL")).rstrip("/")

    @property
    def host(self) -> str:
        return urlsplit(self.api_url).hostname or self.api_url

    def api_request(self, url: str, callback: Any, **meta: Any) -> scrapy.Request:
        """A request to the documented API: robots.txt is not asked about it (see crawler.settings)."""
        return scrapy.Request(url, callback=callback, errback=self.failed, dont_filter=True,
                              meta={"dont_obey_robotstxt": True, **meta})

    async def start(self) -> AsyncIterator[scrapy.Request]:
        assert self.run is not None
        if self.run.run_id is None:  # `scrapy crawl ctgov`: open the run (lock, run log, plan) off the event loop
            await asyncio.to_thread(self.run.open)
        yield self.api_request(f"{self.api_url}/version", self.check_version, kind="version")

    def check_version(self, response: Response):  # type: ignore[no-untyped-def]
        """Skip an incremental run when the registry's data has not moved since the last one."""
        run = self.run
        assert run is not None and run.plan is not None
        plan = run.plan
        run.data_timestamp = parse_version(response.body)
        unchanged = run.data_timestamp is not None and run.data_timestamp == plan.last_data_timestamp
        if unchanged and plan.incremental and not self.trial_ids and not self.force:
            run.skipped = f"data timestamp {run.data_timestamp} unchanged since the last run"
            return
        for trial_id in plan.trial_ids:
            yield self.api_request(f"{self.api_url}/studies/{trial_id}", self.parse_one,
                                   kind="seed" if trial_id not in self.trial_ids else "nct", trial_id=trial_id)
        for query in plan.queries:
            params = dict(query.params)
            window = plan.advanced_filter(query.name)
            if window:
                params["filter.advanced"] = window
            yield self._page_request(query.name, params, page=1)
        size = self.settings.getint("TRIALKB_PAGE_SIZE")
        for start in range(0, len(plan.recheck_ids), size):
            ids = plan.recheck_ids[start:start + size]
            yield self._page_request("recheck", {"filter.ids": ",".join(ids)}, page=1, requested=ids)

    def _page_request(self, query: str, params: dict[str, str], page: int, token: str | None = None,
                      requested: list[str] | None = None) -> scrapy.Request:
        url = search_url(self.api_url, params, self.settings.getint("TRIALKB_PAGE_SIZE"), token, count_total=page == 1)
        return self.api_request(url, self.parse_page, kind="search", query=query, params=params, page=page,
                                requested=requested or [])

    def parse_one(self, response: Response):  # type: ignore[no-untyped-def]
        """One study (``GET /studies/{nctId}``; a 301 for an alias id was followed)."""
        try:
            study = parse_study(response.body)
        except CorruptPage as exc:
            yield from self._refetch(response, exc)
            return
        yield StudyPage(response.url, response.meta["kind"], 1, [response.body], True,
                        [response.meta["trial_id"]], study_ids([study]))

    def parse_page(self, response: Response):  # type: ignore[no-untyped-def]
        """One search page; the next page is requested with the same parameters and its token."""
        meta = response.meta
        try:
            page = read_search_page(response.body)
        except CorruptPage as exc:
            yield from self._refetch(response, exc)
            return
        if page.total is not None:
            self.logger.info("search %s: %s studies", meta["query"], page.total)
        if page.token and page.records:  # before the item: the next page downloads while this one is stored
            yield self._page_request(meta["query"], meta["params"], meta["page"] + 1, page.token, meta["requested"])
        yield StudyPage(response.url, meta["query"], meta["page"], page.records, not (page.token and page.records),
                        meta["requested"], page.ids)

    def _refetch(self, response: Response, error: CorruptPage):  # type: ignore[no-untyped-def]
        """Fetch a corrupt page again; once the retries are spent, the page's search fails."""
        self.crawler.stats.inc_value("trialkb/corrupt_pages")
        retry = get_retry_request(response.request, spider=self, reason="corrupt page",
                                  max_retry_times=self.settings.getint("TRIALKB_PAGE_RETRIES"))
        if retry is None:
            self._give_up(response.request, str(error))
            return
        self.logger.warning("%s: %s; fetching it again", _what(response.request), error)
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
            if request.meta.get("kind") == "version":
                self._stop(f"cannot reach {self.host}: {failure.getErrorMessage() or type(failure.value).__name__}")
            return
        response = failure.value.response
        text = response.text.strip()[:300] if response.headers.get("Content-Type", b"").startswith(b"text/plain") else ""
        if response.status == 404 and request.meta.get("trial_id"):
            self.crawler.stats.inc_value("trialkb/not_found")
            self.logger.warning("%s is not in the registry (HTTP 404)", request.meta["trial_id"])
            return
        if response.status == 403:
            self._give_up(request, "HTTP 403 (refused by the registry's bot filter)")
            self._stop(BLOCKED_ADVICE)
            return
        self._give_up(request, f"HTTP {response.status}" + (f": {text}" if text else ""))

    def _give_up(self, request: scrapy.Request, reason: str) -> None:
        """Count a request that failed for good; its search keeps its old watermark."""
        self.crawler.stats.inc_value("trialkb/failed_requests")
        assert self.run is not None
        self.run.note_error(request.meta.get("query") or request.meta.get("kind"), f"{_what(request)}: {reason}")

    def _stop(self, message: str) -> None:
        """End the run now with this reason."""
        assert self.run is not None
        self.run.stop_with(message)
        asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="failed"))

    async def _finish(self, spider: scrapy.Spider, reason: str) -> None:
        """Finish the run (run log, state, lock) in a thread when the spider closes."""
        assert self.run is not None
        await asyncio.to_thread(self.run.finish, reason, self.crawler.stats.get_stats())


def _what(request: scrapy.Request) -> str:
    """A request named for people: the search and page, the study, or the URL."""
    meta = request.meta
    if meta.get("kind") == "search":
        return f"search {meta['query']} page {meta['page']}"
    if meta.get("trial_id"):
        return f"study {meta['trial_id']}"
    return request.url
