"""EU CTIS public API: the searches of crawler.ctis_plan (POST, pages from 1), a retrieve per trial."""

from __future__ import annotations

from datetime import date
from typing import Any, AsyncIterator

import orjson
import scrapy
from scrapy.http import Response

from crawler.crawlrun import CrawlOptions, CrawlRun
from crawler.ctis_parse import (SEARCH_WINDOW, ChangedShape, CorruptPage, read_search_page, read_trial, search_body,
                                with_search_row)
from crawler.items import StudyPage
from crawler.spiders.base import RegistrySpider

BLOCKED_ADVICE = ("CTIS's firewall refused the crawl (HTTP 403, after retries); it blocks clients that send too "
                  "much: run again later, or slower (-s DOWNLOAD_DELAY=2)")


class CtisSpider(RegistrySpider):
    """Run the CTIS searches, retrieve the trials the plan wants, report to the run."""

    name = "ctis"
    blocked_advice = BLOCKED_ADVICE
    reaching_kinds = frozenset({"search"})
    record_word = "trial"
    url_setting = "TRIALKB_CTIS_URL"

    def __init__(self, api_url: str | None = None, ids: str = "", since: str | None = None, full: str = "0",
                 related: str = "1", run: CrawlRun | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_url_arg = api_url
        self.trial_ids = [i for i in ids.replace(" ", ",").split(",") if i]
        self.since = date.fromisoformat(since) if since else None
        self.full = full in ("1", "true", "True")
        self.related = related not in ("0", "false", "False")
        self.run = run
        self.retrieving: set[str] = set()  # trials asked for in this run (a trial found by two searches once)
        self.waiting: list[scrapy.Request] = []  # the searches sent once the first one was answered

    def options(self) -> CrawlOptions:
        settings = self.settings
        return CrawlOptions(api_url=self.api_url, trial_ids=self.trial_ids, since=self.since, full=self.full,
                            related=self.related, force=False, recheck=0,
                            max_rejected_share=settings.getfloat("TRIALKB_MAX_REJECTED_SHARE"), registry="ctis")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        await self.open_run()
        assert self.run is not None
        plan = self.run.plan
        assert plan is not None
        searches = [self._search("id", {"number": i}, 1, asked=i) for i in plan.trial_ids]  # its row first (its
        searches += [self._search(q.name, q.params, 1) for q in plan.queries]          # last update), as ctrdata does
        self.waiting = searches[1:]  # one search first: a blocked or unreachable CTIS stops the run after it alone
        if searches:
            yield searches[0]

    def _the_rest(self):  # type: ignore[no-untyped-def]
        """The other searches, once the first was answered."""
        waiting, self.waiting = self.waiting, []
        yield from waiting

    def failed(self, failure):  # type: ignore[no-untyped-def]
        """As every registry's; the other searches go on unless the run stopped."""
        super().failed(failure)
        assert self.run is not None
        if self.run.fatal is None:
            yield from self._the_rest()

    def _search(self, query: str, criteria: dict[str, Any], page: int, asked: str | None = None) -> scrapy.Request:
        size = self.settings.getint("TRIALKB_CTIS_PAGE_SIZE")
        request = self.api_request(f"{self.api_url}/search", self.parse_search, kind="search", query=query,
                                   criteria=criteria, page=page, size=size, asked=asked)
        return request.replace(method="POST", body=search_body(criteria, page, size),
                               headers={"Content-Type": "application/json", "Accept": "application/json"})

    def _retrieve(self, trial_id: str, row: dict[str, Any], query: str) -> scrapy.Request:
        self.retrieving.add(trial_id)
        return self.api_request(f"{self.api_url}/retrieve/{trial_id}", self.parse_trial, kind="trial", query=query,
                                trial_id=trial_id, row=row)

    def parse_search(self, response: Response):  # type: ignore[no-untyped-def]
        """One search page: retrieve the trials the plan wants, then ask for the next page."""
        meta = response.meta
        run = self.run
        assert run is not None and run.plan is not None
        try:
            page = read_search_page(response.body, meta["page"], meta["size"])
        except ChangedShape as exc:
            self._give_up(response.request, str(exc))
            self._stop(str(exc))
            return
        except CorruptPage as exc:
            retry = list(self._refetch(response, exc))
            yield from retry or self._the_rest()  # a search given up on does not hold back the others
            return
        yield from self._the_rest()
        if meta["page"] == 1:
            self.logger.info("search %s: %s trials", meta["query"], page.total)
            if page.total > SEARCH_WINDOW:  # the search fails: its first 10,000 trials are still retrieved
                run.note_error(meta["query"], f"search {meta['query']}: {page.total:,} trials, but CTIS answers only "
                                              f"the first {SEARCH_WINDOW:,} of a search: narrow it")
        current = []
        for row in page.rows:
            if row.ct_number in self.retrieving:
                continue
            if row.ct_number == meta["asked"] or run.plan.wants(row):
                yield self._retrieve(row.ct_number, row.row, meta["query"])
            else:
                current.append(row.ct_number)
        if page.has_next:
            yield self._search(meta["query"], meta["criteria"], meta["page"] + 1, meta["asked"])
        elif meta["asked"] and meta["asked"] not in self.retrieving:  # no row: ask for the trial all the same
            yield self._retrieve(meta["asked"], {}, meta["query"])
        run.note_search(meta["query"], not page.has_next, current)

    def parse_trial(self, response: Response):  # type: ignore[no-untyped-def]
        """One retrieved trial, with its search row's fields, as a one-record page for the pipeline."""
        meta = response.meta
        try:
            trial = read_trial(response.body, meta["trial_id"])
        except CorruptPage as exc:
            yield from self._refetch(response, exc)
            return
        if trial is None:
            self._not_found(meta["trial_id"], "the portal answered its web page")
            return
        record = orjson.dumps(with_search_row(trial, meta["row"]))
        yield StudyPage(response.url, meta["query"], 1, [record], False, [meta["trial_id"]], [meta["trial_id"]])
