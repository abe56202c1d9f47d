"""Store pipeline: every page of studies is normalized and stored in one transaction.

A page is either stored whole or not at all, so a crawl killed at any moment and run again
leaves the store complete and without duplicates (writes are upserts by NCT id). The pipeline
also holds the crawl lock, writes the run log, and advances each query's watermark when all of
its pages are stored.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timezone

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from crawler.items import StudyPage
from crawler.lock import CrawlLock
from crawler.plan import DATA_TIMESTAMP_KEY, watermark_key
from crawler.workers import prepare_slice, slices
from kb.db import open_store
from kb.runlog import finish_run, set_state, start_run
from kb.store import PreparedStudy, Rejected, Unchanged, WriteResult, stored_hashes, touch, write_prepared
from kb.workers import start_worker

log = logging.getLogger(__name__)


SLICES_PER_WORKER = 4
"""A page is prepared in this many slices per worker, so writing starts before the last is ready."""


class PageTransaction:
    """One page's transaction, written slice by slice; every method runs in the writer thread."""

    def __init__(self, engine: Engine) -> None:
        self.conn = engine.connect()
        self.transaction = self.conn.begin()
        self.result = WriteResult()
        self.missing: list[str] = []
        self.seconds = 0.0

    def write(self, prepared: list[PreparedStudy | Unchanged | Rejected]) -> None:
        started = time.perf_counter()
        self.result.add(write_prepared(self.conn, prepared, source="crawl"))
        self.seconds += time.perf_counter() - started

    def commit(self, item: StudyPage) -> None:
        """Note re-checked and missing ids, then commit."""
        started = time.perf_counter()
        if item.requested_ids:
            found_ids = set(item.ids)
            if item.query == "recheck":
                touch(self.conn, [i for i in item.requested_ids if i in found_ids and i not in self.result.new_ids])
            self.missing = [i for i in item.requested_ids if i not in found_ids]
        self.transaction.commit()
        self.conn.close()
        self.seconds += time.perf_counter() - started

    def rollback(self) -> None:
        self.transaction.rollback()
        self.conn.close()


class StorePipeline:
    """Write StudyPage items to the store; own the run's lock, run log and state.

    A page's studies are parsed and normalized in slices by worker processes (``TRIALKB_WORKERS``,
    default one per core) and written by a single writer thread as the slices come back, in one
    transaction per page, so the Scrapy process keeps downloading while a page is stored.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.engine = None
        self.lock: CrawlLock | None = None
        self.run_id: int | None = None
        self.result = WriteResult()
        self.failed_queries: set[str] = set()
        self.completed_queries: set[str] = set()
        self.missing: list[str] = []
        self.errors: list[str] = []
        self.started = datetime.now(timezone.utc)
        self.worker_count = crawler.settings.getint("TRIALKB_WORKERS") or os.cpu_count() or 1
        # forkserver: workers must not inherit the crawl lock's file (nor the reactor), or a killed
        # crawl's orphaned workers would keep the store locked
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["crawler.workers"])  # workers start with it imported (not Scrapy)
        self.workers = ProcessPoolExecutor(max_workers=self.worker_count, mp_context=context, initializer=start_worker,
                                           initargs=(os.getpid(),))
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trialkb-writer")
        self.preparing = asyncio.Lock()
        self.writing = asyncio.Lock()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StorePipeline":
        pipeline = cls(crawler)
        # the run is finished on spider_closed: only that signal says why the spider closed (a
        # pipeline's close_spider comes first, so an interrupted run looked "finished")
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        self.engine = open_store(self.crawler.settings.get("TRIALKB_DB"))
        self.lock = CrawlLock(self.engine)
        self.lock.acquire()  # LockBusy stops this crawl before it sends anything
        spider = self.crawler.spider
        self.run_id = start_run(self.engine, "crawl", {
            "api_url": spider.api_url, "nct": spider.nct_ids, "since": str(spider.since) if spider.since else None,
            "full": spider.full, "related": spider.related})

    async def process_item(self, item: StudyPage) -> StudyPage:
        loop = asyncio.get_running_loop()
        await self.preparing.acquire()  # one page at a time gets every worker
        started = time.perf_counter()
        try:
            # read off the writer thread: this page need not wait for the last one's write
            known = await loop.run_in_executor(None, self._stored_hashes, item.ids)
        except BaseException:
            self.preparing.release()
            raise
        parts = [loop.run_in_executor(self.workers, prepare_slice, item.url, start, item.records[start:stop], known)
                 for start, stop in slices(len(item.records), SLICES_PER_WORKER * self.worker_count)]
        asyncio.gather(*parts, return_exceptions=True).add_done_callback(
            lambda _: self._prepared(started))  # the next page may use the workers
        try:
            result = await self._write(item, parts)
        except SQLAlchemyError as exc:
            self.failed_queries.add(item.query)
            self.errors.append(f"{item.url}: not stored: {str(exc).splitlines()[0]}")
            log.error("page %s not stored: %s", item.url, exc)
            raise DropItem(f"page not stored: {exc}") from exc
        self.result.add(result)
        for rejected in result.rejected:
            self.errors.append(f"{rejected.origin}: {rejected.reason}")
            log.warning("rejected %s: %s", rejected.origin, rejected.reason)
        stats = self.crawler.stats
        stats.inc_value("trialkb/pages_stored")
        for key, value in result.counts().items():
            stats.inc_value(f"trialkb/studies_{key}", value)
        stats.inc_value("trialkb/store_seconds", time.perf_counter() - started)
        stats.max_value("trialkb/store_seconds_max_page", time.perf_counter() - started)
        if item.last_page:
            self.completed_queries.add(item.query)
        item.records = []  # the page is stored; do not keep 30 MB per item around
        return item

    def _prepared(self, started: float) -> None:
        self.crawler.stats.inc_value("trialkb/prepare_seconds", time.perf_counter() - started)
        self.preparing.release()

    async def _write(self, item: StudyPage, parts: list[asyncio.Future]) -> WriteResult:
        """Write a page's slices as they are prepared, in one transaction (pages one after another)."""
        loop = asyncio.get_running_loop()
        async with self.writing:
            page = await loop.run_in_executor(self.writer, PageTransaction, self.engine)
            try:
                for part in parts:
                    prepared = await part
                    await loop.run_in_executor(self.writer, page.write, prepared)
                await loop.run_in_executor(self.writer, page.commit, item)
            except BaseException:
                await asyncio.shield(loop.run_in_executor(self.writer, page.rollback))
                raise
        self.missing += page.missing
        self.crawler.stats.inc_value("trialkb/write_seconds", page.seconds)
        return page.result

    def _stored_hashes(self, nct_ids: list[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            return stored_hashes(conn, nct_ids)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """Write the run log and the state (watermarks, data timestamp), release the lock."""
        if self.engine is None or self.run_id is None:
            self.workers.shutdown(cancel_futures=True)
            self.writer.shutdown()
            return
        stats = self.crawler.stats
        failed_requests = stats.get_value("trialkb/failed_requests", 0)
        failed_queries = self.failed_queries | spider.failed_queries
        ok = reason == "finished" and failed_requests == 0 and not failed_queries
        state = {}
        plan = spider.plan
        if plan is not None and not spider.skipped:
            for query in plan.queries:
                if query.name in self.completed_queries and query.name not in failed_queries:
                    state[watermark_key(query.name)] = self.started.date().isoformat()
        if ok and spider.data_timestamp:
            state[DATA_TIMESTAMP_KEY] = spider.data_timestamp
        set_state(self.engine, state)
        counts = {"pages": stats.get_value("trialkb/pages_stored", 0), **self.result.counts(), "missing": len(self.missing),
                  "retries": stats.get_value("retry/count", 0), "failed_requests": failed_requests,
                  "corrupt_pages": stats.get_value("trialkb/corrupt_pages", 0),
                  "requests": stats.get_value("downloader/request_count", 0), "finish_reason": reason,
                  "store_seconds": round(stats.get_value("trialkb/store_seconds", 0.0), 3),
                  "store_seconds_max_page": round(stats.get_value("trialkb/store_seconds_max_page", 0.0), 3),
                  "prepare_seconds": round(stats.get_value("trialkb/prepare_seconds", 0.0), 3),
                  "write_seconds": round(stats.get_value("trialkb/write_seconds", 0.0), 3)}
        errors = self.errors + [f"{nct}: not returned by the registry (removed or renamed?)" for nct in self.missing]
        errors += [f"{k.removeprefix('trialkb/failed/')}: {v}" for k, v in stats.get_stats().items()
                   if k.startswith("trialkb/failed/")]
        status = "skipped" if spider.skipped else ("ok" if ok else "failed")
        finish_run(self.engine, self.run_id, status, counts, errors)
        log.info("crawl %s: %s", status, counts)
        if self.lock:
            self.lock.release()
        self.workers.shutdown()
        self.writer.shutdown()
        self.engine.dispose()
