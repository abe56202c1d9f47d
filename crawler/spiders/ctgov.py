"""ClinicalTrials.gov API v2: the seed trial, related CAR cell-therapy trials, re-checks."""

from __future__ import annotations

from datetime import date
from typing import Any, AsyncIterator

import scrapy
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.items import StudyPage
from crawler.parse import CorruptPage, parse_study, parse_version, read_search_page, search_url, study_ids
from crawler.plan import CrawlPlan, make_plan
from kb.db import open_store


class CtgovSpider(scrapy.Spider):
    """Fetch the seed and --nct trials, the related-trial searches (token paging) and re-checks."""

    name = "ctgov"

    def __init__(self, api_url: str | None = None, nct: str = "", since: str | None = None, full: str = "0",
                 related: str = "1", force: str = "0", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_url_arg = api_url
        self.nct_ids = [i for i in nct.replace(" ", ",").split(",") if i]
        self.since = date.fromisoformat(since) if since else None
        self.full = full in ("1", "true", "True")
        self.related = related not in ("0", "false", "False")
        self.force = force in ("1", "true", "True")
        self.plan: CrawlPlan | None = None
        self.skipped: str | None = None
        self.data_timestamp: str | None = None
        self.failed_queries: set[str] = set()  # their watermarks must not advance

    @property
    def api_url(self) -> str:
        return (self.api_url_arg or self.settings.get("TRIALKB_API_URL")).rstrip("/")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        engine = open_store(self.settings.get("TRIALKB_DB"))
        self.plan = make_plan(engine, nct_ids=self.nct_ids, since=self.since, full=self.full,
                              recheck=self.settings.getint("TRIALKB_RECHECK"), related=self.related)
        engine.dispose()
        yield scrapy.Request(f"{self.api_url}/version", callback=self.check_version, errback=self.failed,
                             dont_filter=True, meta={"kind": "version"})

    def check_version(self, response: Response):  # type: ignore[no-untyped-def]
        """Skip an incremental run when the registry's data has not moved since the last one."""
        assert self.plan is not None
        self.data_timestamp = parse_version(response.body)
        unchanged = self.data_timestamp is not None and self.data_timestamp == self.plan.last_data_timestamp
        if unchanged and self.plan.incremental and not self.nct_ids and not self.force:
            self.skipped = f"data timestamp {self.data_timestamp} unchanged since the last run"
            self.logger.info("nothing to do: %s", self.skipped)
            return
        for nct_id in self.plan.nct_ids:
            yield scrapy.Request(f"{self.api_url}/studies/{nct_id}", callback=self.parse_one, errback=self.failed,
                                 meta={"kind": "seed" if not self.nct_ids or nct_id not in self.nct_ids else "nct",
                                       "nct_id": nct_id})
        for query in self.plan.queries:
            params = dict(query.params)
            window = self.plan.advanced_filter(query.name)
            if window:
                params["filter.advanced"] = window
            yield self._page_request(query.name, params, page=1)
        size = self.settings.getint("TRIALKB_PAGE_SIZE")
        for start in range(0, len(self.plan.recheck_ids), size):
            ids = self.plan.recheck_ids[start:start + size]
            yield self._page_request("recheck", {"filter.ids": ",".join(ids)}, page=1, requested=ids)

    def _page_request(self, query: str, params: dict[str, str], page: int, token: str | None = None,
                      requested: list[str] | None = None) -> scrapy.Request:
        url = search_url(self.api_url, params, self.settings.getint("TRIALKB_PAGE_SIZE"), token, count_total=True)
        return scrapy.Request(url, callback=self.parse_page, errback=self.failed, dont_filter=True,
                              meta={"kind": "search", "query": query, "params": params, "page": page,
                                    "requested": requested or []})

    def parse_one(self, response: Response):  # type: ignore[no-untyped-def]
        """One study (``GET /studies/{nctId}``; a 301 for an alias id was followed)."""
        try:
            study = parse_study(response.body)
        except CorruptPage as exc:
            yield from self._refetch(response, exc)
            return
        yield StudyPage(response.url, response.meta["kind"], 1, [response.body], True,
                        [response.meta["nct_id"]], study_ids([study]))

    def parse_page(self, response: Response):  # type: ignore[no-untyped-def]
        """One search page; the next page is requested with the same parameters and its token."""
        meta = response.meta
        try:
            page = read_search_page(response.body)
        except CorruptPage as exc:
            yield from self._refetch(response, exc)
            return
        if page.total is not None:
            self.logger.info("query %s: %s studies", meta["query"], page.total)
        if page.token:  # before the item: the next page downloads while this one is stored
            yield self._page_request(meta["query"], meta["params"], meta["page"] + 1, page.token, meta["requested"])
        yield StudyPage(response.url, meta["query"], meta["page"], page.records, page.token is None, meta["requested"],
                        page.ids)

    def _refetch(self, response: Response, error: CorruptPage):  # type: ignore[no-untyped-def]
        """Fetch a corrupt page again; once the retries are spent, raise (counts against the error budget)."""
        self.crawler.stats.inc_value("trialkb/corrupt_pages")
        retry = get_retry_request(response.request, spider=self, reason="corrupt page",
                                  max_retry_times=self.settings.getint("TRIALKB_PAGE_RETRIES"))
        if retry is None:
            self._give_up(response.request, str(error))
            raise error
        self.logger.warning("%s: %s; fetching it again", response.url, error)
        yield retry

    def failed(self, failure: Failure):  # type: ignore[no-untyped-def]
        """A request that failed for good: a missing study is noted, anything else is an error."""
        request = failure.request
        if failure.check(HttpError) and failure.value.response.status == 404 and request.meta.get("nct_id"):
            self.crawler.stats.inc_value("trialkb/not_found")
            self.logger.warning("%s is not in the registry (404)", request.meta["nct_id"])
            return
        self._give_up(request, repr(failure.value))
        failure.raiseException()  # a spider error: counts against CLOSESPIDER_ERRORCOUNT

    def _give_up(self, request: scrapy.Request, reason: str) -> None:
        """Count a request that failed for good and remember its query."""
        self.crawler.stats.inc_value("trialkb/failed_requests")
        self.crawler.stats.set_value(f"trialkb/failed/{request.url}", reason[:300])
        self.failed_queries.add(request.meta.get("query") or request.meta.get("kind", "?"))
        self.logger.error("giving up on %s: %s", request.url, reason)
