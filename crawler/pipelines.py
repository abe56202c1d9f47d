"""Store pipeline: every page of studies is normalized and stored in one transaction.

A page is either stored whole or not at all, so a crawl killed at any moment and run again
leaves the store complete and without duplicates (writes are upserts by NCT id). Three parts:
a :class:`Preparer` (worker processes parse, hash and normalize slices of a page), a
:class:`PageWriter` (one writer thread writes the slices in the page's transaction, rejected
records included) and :class:`StorePipeline`, which joins them and reports each page to the
run's :class:`~crawler.crawlrun.CrawlRun` (lock, run log, watermarks). No database work runs in
the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from crawler.crawlrun import CrawlRun
from crawler.items import StudyPage
from crawler.page_workers import prepare_slice, slices
from kb.core.errors import first_line
from kb.store.rejects import keep_rejected
from kb.store.products import relearn_if_stale
from kb.store.write import PreparedStudy, Rejected, Unchanged, WriteResult, stored_hashes, touch, write_prepared
from kb.process.workers import start_worker

log = logging.getLogger(__name__)

REFUSED_PAGES_TO_STOP = 3
"""Pages in a row the store refused (a full disk, a lost server) after which the crawl stops: the registry is
not asked for pages that cannot be stored. One refused page is noted and the crawl goes on (a connection the
server dropped is replaced for the next page)."""
SLICES_PER_WORKER = 4
"""A page is prepared in this many slices per worker, so writing starts before the last is ready."""
Prepared = list[PreparedStudy | Unchanged | Rejected]


class WorkerDied(RuntimeError):
    """A worker process died (killed, out of memory) while preparing a page."""


class PageTransaction:
    """One page's transaction, written slice by slice; every method runs in the writer thread."""

    def __init__(self, engine: Engine, run_id: int | None = None) -> None:
        self.conn = engine.connect()
        self.transaction = self.conn.begin()
        self.run_id = run_id
        self.result = WriteResult()
        self.missing: list[str] = []
        self.seconds = 0.0

    def write(self, prepared: Prepared) -> None:
        """Store a slice; rejected records are kept raw with the reason, and a stored id's old rejects go."""
        started = time.perf_counter()
        result = write_prepared(self.conn, prepared, source="crawl")
        keep_rejected(self.conn, result.rejected, [p.trial_id for p in prepared if isinstance(p, PreparedStudy)],
                      self.run_id)
        self.result.add(result)
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


class Preparer:
    """Worker processes that parse and prepare a page's studies, one page at a time, in slices."""

    def __init__(self, workers: int) -> None:
        self.count = workers
        # forkserver: workers must not inherit the crawl lock's file (nor the reactor), or a killed
        # crawl's orphaned workers would keep the store locked
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["crawler.page_workers"])  # workers start with it imported (not Scrapy)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=start_worker,
                                        initargs=(os.getpid(),))
        self.turn = asyncio.Lock()  # one page at a time gets every worker

    async def prepare(self, item: StudyPage, known: dict[str, str]) -> tuple[list[asyncio.Future], float]:
        """Start preparing a page; returns its slices' futures (in order) and when its turn came. The next
        page may start once these are done. A dead worker fails the futures with WorkerDied."""
        await self.turn.acquire()
        began = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            parts = [asyncio.ensure_future(self._slice(loop, item, start, stop, known))
                     for start, stop in slices(len(item.records), SLICES_PER_WORKER * self.count)]
        except BaseException:
            self.turn.release()
            raise
        asyncio.gather(*parts, return_exceptions=True).add_done_callback(lambda _: self.turn.release())
        return parts, began

    async def _slice(self, loop: asyncio.AbstractEventLoop, item: StudyPage, start: int, stop: int,
                     known: dict[str, str]) -> Prepared:
        try:
            return await loop.run_in_executor(self.pool, prepare_slice, item.url, start, item.records[start:stop], known)
        except BrokenProcessPool as exc:
            raise WorkerDied("a worker process died while preparing a page (killed, or out of memory?)") from exc

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class PageWriter:
    """Writes pages one after another in a single writer thread, each in one transaction."""

    def __init__(self, engine: Engine, run_id: int | None) -> None:
        self.engine = engine
        self.run_id = run_id
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trialkb-writer")
        self.turn = asyncio.Lock()

    async def stored_hashes(self, trial_ids: list[str]) -> dict[str, str]:
        """Content hashes stored for these ids (read in a thread, beside the writer)."""
        def read() -> dict[str, str]:
            with self.engine.connect() as conn:
                return stored_hashes(conn, trial_ids)
        return await asyncio.get_running_loop().run_in_executor(None, read)

    async def write(self, item: StudyPage, parts: list[asyncio.Future]) -> PageTransaction:
        """Write a page's slices as they are prepared, in one transaction; rolled back on any failure."""
        loop = asyncio.get_running_loop()
        async with self.turn:
            page = await loop.run_in_executor(self.thread, PageTransaction, self.engine, self.run_id)
            try:
                for part in parts:
                    prepared = await part
                    await loop.run_in_executor(self.thread, page.write, prepared)
                await loop.run_in_executor(self.thread, page.commit, item)
            except BaseException:
                await asyncio.shield(loop.run_in_executor(self.thread, page.rollback))
                raise
        return page

    def close(self) -> None:
        self.thread.shutdown(wait=True)


def _stopping(run: CrawlRun) -> DropItem:
    """The drop of a page that arrives while the run stops (its search runs again next time)."""
    return DropItem(f"the run is stopping: {run.fatal}")


class StorePipeline:
    """Prepare and write StudyPage items; report each page (or its failure) to the run."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.run: CrawlRun | None = None
        self.preparer: Preparer | None = None
        self.writer: PageWriter | None = None
        self.refused_in_a_row = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StorePipeline":
        return cls(crawler)

    def open_spider(self) -> None:
        self.run = self.crawler.spider.run  # opened by run_crawl (or by the spider's start)
        workers = self.crawler.settings.getint("TRIALKB_WORKERS") or os.cpu_count() or 1
        self.preparer = Preparer(workers)

    async def process_item(self, item: StudyPage) -> StudyPage:
        run = self.run
        assert run is not None and self.preparer is not None
        if run.engine is None:  # the spider's start opens the run; items come after it
            raise DropItem("the run is not open")
        if run.fatal is not None:  # stopping: a page fetched meanwhile is not written (its search runs next time)
            raise _stopping(run)
        if self.writer is None:
            self.writer = PageWriter(run.engine, run.run_id)
        stats = self.crawler.stats
        try:
            known = await self.writer.stored_hashes(item.ids)
            parts, started = await self.preparer.prepare(item, known)  # timed from its turn, not the queue
            asyncio.gather(*parts, return_exceptions=True).add_done_callback(
                lambda _: stats.inc_value("trialkb/prepare_seconds", time.perf_counter() - started))
            if run.fatal is not None:  # it stopped while this page was prepared
                raise _stopping(run)
            page = await self.writer.write(item, parts)
        except WorkerDied as exc:
            run.note_error(item.query, f"{item.url}: not stored: {exc}")
            run.stop_with(str(exc))
            asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="worker_died"))
            raise DropItem(str(exc)) from exc
        except SQLAlchemyError as exc:
            if run.fatal is not None:  # a page written while the run stops: the reason is given once
                raise _stopping(run) from exc
            run.note_error(item.query, f"{item.url}: not stored: {first_line(exc)}")
            self.refused_in_a_row += 1
            if self.refused_in_a_row >= REFUSED_PAGES_TO_STOP:
                run.stop_with(f"the store refused {self.refused_in_a_row} pages in a row ({first_line(exc)}); "
                              "the pages stored before are kept and the searches left run again next time")
                asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="failed"))
            raise DropItem(f"page not stored: {exc}") from exc
        self.refused_in_a_row = 0
        for rejected in page.result.rejected:
            log.warning("rejected %s: %s", rejected.origin, rejected.reason)
        stats.inc_value("trialkb/pages_stored")
        stats.inc_value("trialkb/write_seconds", page.seconds)
        stats.inc_value("trialkb/store_seconds", time.perf_counter() - started)
        stats.max_value("trialkb/store_seconds_max_page", time.perf_counter() - started)
        run.note_page(item.query, item.last_page, item.ids, page.result, page.missing)
        item.records = []  # the page is stored; do not keep 30 MB per item around
        return item

    def close_spider(self) -> None:
        if self.preparer:
            self.preparer.close()
        if self.writer:
            self.writer.close()
        run = self.run
        if run is not None and run.engine is not None and run.lock is not None and run.lock.held:
            # the trials stored, by this crawl or by a job that never relearned (even if this one stored
            # nothing), may teach or name a product; the run's writer lock is released after this
            relearn_if_stale(run.engine)
