"""ClinicalTrials.gov API v2: the seed trial, the searches of crawler.searches, re-checks."""

from __future__ import annotations

from datetime import date
from typing import Any, AsyncIterator

import scrapy
from scrapy.http import Response

from crawler.crawlrun import CrawlOptions, CrawlRun
from crawler.items import StudyPage
from crawler.parse import CorruptPage, parse_study, parse_version, read_search_page, search_url, study_ids
from crawler.spiders.base import RegistrySpider

BLOCKED_ADVICE = ("the registry's bot filter refused the crawl (HTTP 403, after retries). Settings that help: "
                  "another user agent (-s USER_AGENT=...), TLS 1.2 (-s DOWNLOAD_TLS_MAX_VERSION=TLSv1.2), or "
                  "the HTTP/2 handler (-s 'DOWNLOAD_HANDLERS={\"https\": "
                  "\"scrapy.core.downloader.handlers.http2.H2DownloadHandler\"}')")


class CtgovSpider(RegistrySpider):
    """Fetch the seed and --nct trials, the searches (token paging) and re-checks; report to the run."""

    name = "ctgov"
    blocked_advice = BLOCKED_ADVICE
    reaching_kinds = frozenset({"version"})

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

    def options(self) -> CrawlOptions:
        settings = self.settings
        return CrawlOptions(api_url=self.api_url, trial_ids=self.trial_ids, since=self.since, full=self.full,
                            related=self.related, force=self.force, recheck=settings.getint("TRIALKB_RECHECK"),
                            max_rejected_share=settings.getfloat("TRIALKB_MAX_REJECTED_SHARE"))

    async def start(self) -> AsyncIterator[scrapy.Request]:
        await self.open_run()
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
