"""One crawl run's bookkeeping: the lock, the run-log row, the plan, watermarks, counts and the result.

Its database work (:meth:`CrawlRun.open`, :meth:`CrawlRun.finish`) blocks: it runs before the reactor
starts, after it stops, or in a thread, never in the event loop. The spider and the pipeline report
to it (:meth:`note_page`, :meth:`note_error`, :meth:`stop_with`) from the event loop, in memory.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable

from sqlalchemy import Engine

from kb.process.lock import WriterLock
from crawler.ctis_plan import CtisPlan, make_ctis_plan
from crawler.plan import CrawlPlan, make_plan
from kb.store.db import open_store
from kb.store.runlog import DATA_TIMESTAMP_KEY, abandon_dead_runs, finish_run, set_state, start_run
from kb.store.write import WriteResult

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class CrawlOptions:
    """What a user asked of a crawl."""

    api_url: str
    trial_ids: list[str] = field(default_factory=list)
    since: date | None = None
    full: bool = False
    related: bool = True
    force: bool = False
    recheck: int = 200
    max_rejected_share: float = 0.05
    registry: str = "ctgov"  # the spider's name: ctgov or ctis
    wait: bool = True  # wait for the store's writer lock (an import, a rebuild) instead of failing


@dataclass
class Progress:
    """What a person watching the crawl sees."""

    searches_done: int = 0
    searches: int = 0
    pages: int = 0
    studies: int = 0  # distinct trials stored so far (a trial found by several searches counts once)
    status: str = "starting"


@dataclass
class CrawlResult:
    """The outcome of a run (what ``run_crawl`` returns)."""

    run_id: int | None
    status: str  # ok, skipped, failed, interrupted
    counts: dict[str, Any]
    errors: list[str]
    message: str | None = None  # why it failed or stopped, in one line
    abandoned: list[int] = field(default_factory=list)  # earlier runs found 'running' and marked abandoned
    registry: str = "ctgov"
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (trial id, message) of the studies stored

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "skipped": 0, "interrupted": 130}.get(self.status, 1)


class CrawlRun:
    """Owns the lock, the run-log row, the state (watermarks, data timestamp) and the run's counts."""

    def __init__(self, db_url: str | None, options: CrawlOptions,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.db_url = db_url
        self.options = options
        self.on_progress = on_progress
        self.on_wait = on_wait  # told once when the crawl waits for the store's writer lock
        self.engine: Engine | None = None
        self.lock: WriterLock | None = None
        self.run_id: int | None = None
        self.plan: CrawlPlan | CtisPlan | None = None
        self.abandoned: list[int] = []
        self.started = datetime.now(timezone.utc)
        self.result = WriteResult()
        self.progress = Progress()
        self.seen_ids: set[str] = set()
        self.fetched = 0  # records fetched (a trial found by n searches n times)
        self.rejected_ids: set[str] = set()  # records (by id or origin) rejected, each counted once
        self.missing: list[str] = []
        self.current_ids: set[str] = set()  # CTIS trials whose search row showed no change (not fetched)
        self.errors: list[str] = []
        self.completed_queries: set[str] = set()
        self.failed_queries: set[str] = set()
        self.rejecting_queries: set[str] = set()
        self.data_timestamp: str | None = None
        self.skipped: str | None = None
        self.fatal: str | None = None  # a reason that stops the whole run (offline, blocked, a worker died)
        self.interrupted = False
        self.outcome: CrawlResult | None = None
        self._finish_lock = threading.Lock()

    # ------------------------------------------------------------------ blocking (not in the event loop)

    def open(self) -> None:
        """Take the store's writer lock (waiting for it, or LockBusy), log the run, plan it."""
        if self.run_id is not None:
            return
        self.engine = open_store(self.db_url, wait=self.options.wait, on_wait=self.on_wait)
        self.lock = WriterLock(self.engine, "crawl")
        self.lock.acquire(wait=self.options.wait, on_wait=self.on_wait)
        try:
            self.abandoned = abandon_dead_runs(self.engine, locked_kind="crawl")  # under the crawl lock
            o = self.options
            args = {"api_url": o.api_url, "nct": o.trial_ids, "since": str(o.since) if o.since else None,
                    "full": o.full, "related": o.related}
            self.run_id = start_run(self.engine, "crawl", args if o.registry == "ctgov" else args | {"registry": o.registry})
            if o.registry == "ctis":
                self.plan = make_ctis_plan(self.engine, trial_ids=o.trial_ids, since=o.since, full=o.full,
                                           related=o.related)
            else:
                self.plan = make_plan(self.engine, trial_ids=o.trial_ids, since=o.since, full=o.full, recheck=o.recheck,
                                      related=o.related)
        except BaseException:
            self.lock.release()
            raise
        self.progress.searches = len(self.plan.queries)
        self._report("running")

    def finish(self, reason: str, stats: dict[str, Any]) -> CrawlResult:
        """Write the state and the run log, release the lock; returns the result (once)."""
        with self._finish_lock:
            if self.outcome is not None:
                return self.outcome
            status, message = self._status(reason, stats)
            counts = self._counts(reason, stats)
            errors = self.errors + [f"{nct}: not returned by the registry (removed or renamed?)" for nct in self.missing]
            if self.engine is not None and self.run_id is not None:
                try:
                    set_state(self.engine, self._state(status))
                    finish_run(self.engine, self.run_id, status, counts, ([message] if message else []) + errors,
                               self.result.warnings)
                finally:
                    if self.lock:
                        self.lock.release()
                    self.engine.dispose()
            self.outcome = CrawlResult(self.run_id, status, counts, errors, message, self.abandoned, self.options.registry,
                                       self.result.warnings)
            self._report(status)
            return self.outcome

    # ------------------------------------------------------------------ reports (event loop, in memory)

    def note_page(self, query: str, last_page: bool, ids: list[str], result: WriteResult, missing: list[str]) -> None:
        """A page was stored."""
        self.result.add(result)
        self.seen_ids.update(ids)
        self.fetched += len(ids)
        self.missing += missing
        for rejected in result.rejected:
            key = rejected.trial_id or rejected.origin
            if key not in self.rejected_ids:
                self.rejected_ids.add(key)
                self.errors.append(f"{rejected.trial_id or rejected.origin}: rejected: {rejected.reason}")
        if result.rejected:
            self.rejecting_queries.add(query)
        self.progress.pages += 1
        self.progress.studies = len(self.seen_ids)
        if last_page:
            self.completed_queries.add(query)
            if query in {q.name for q in (self.plan.queries if self.plan else [])}:
                self.progress.searches_done += 1
        self._report("running")

    def note_search(self, query: str, last_page: bool, current: list[str]) -> None:
        """A search page was read (CTIS: its trials are retrieved one by one); ``current``: trials not
        fetched because their search row showed no change."""
        self.current_ids.update(current)
        if last_page:
            self.completed_queries.add(query)
            if query in {q.name for q in (self.plan.queries if self.plan else [])}:
                self.progress.searches_done += 1
        self._report("running")

    def note_error(self, query: str | None, message: str) -> None:
        """A request or page failed for good; its search keeps its old watermark."""
        if query:
            self.failed_queries.add(query)
        self.errors.append(message)
        log.info("%s", message)

    def stop_with(self, message: str) -> None:
        """A failure that ends the run (the first one is the reason given)."""
        if self.fatal is None:
            self.fatal = message

    def _report(self, status: str) -> None:
        self.progress.status = status
        if self.on_progress:
            self.on_progress(self.progress)

    # ------------------------------------------------------------------ the outcome

    def _status(self, reason: str, stats: dict[str, Any]) -> tuple[str, str | None]:
        if self.interrupted or reason == "shutdown":
            return "interrupted", "interrupted: what was complete is stored, the rest rolled back"
        if self.skipped:
            return "skipped", self.skipped
        if self.run_id is None:
            return "failed", "the run did not start (another trialkb writer holds the store's lock?)"
        if self.fatal:
            return "failed", self.fatal
        refused = stats.get("trialkb/failed_requests", 0)
        if reason != "finished":
            return "failed", f"the crawl stopped early ({reason})"
        fetched, rejected = len(self.seen_ids | self.rejected_ids), len(self.rejected_ids)
        if fetched and rejected / fetched > self.options.max_rejected_share:
            return "failed", (f"{rejected} of {fetched} records rejected (more than "
                              f"{self.options.max_rejected_share:.0%}): has the registry's format changed?")
        if refused and not fetched:
            return "failed", f"every request was refused ({refused}); nothing stored"
        if refused:
            return "failed", f"{refused} request(s) failed for good; their searches run again next time"
        if self.failed_queries:
            return "failed", (f"searches that did not complete: {', '.join(sorted(self.failed_queries))}; "
                              "they run again next time")
        unfinished = [q.name for q in (self.plan.queries if self.plan else []) if q.name not in self.completed_queries]
        if unfinished:  # a request dropped on the way (e.g. by a spider middleware) must not pass for success
            return "failed", f"searches that never completed: {', '.join(unfinished)}"
        return "ok", None

    def _state(self, status: str) -> dict[str, str]:
        """Watermarks of the searches that completed cleanly; the data timestamp when all did."""
        state: dict[str, str] = {}
        if self.plan is None or self.skipped:
            return state
        held_back = self.failed_queries | self.rejecting_queries
        for query in self.plan.queries:
            if query.name in self.completed_queries and query.name not in held_back:
                state[self.plan.state_key(query.key)] = self.started.date().isoformat()
        if status == "ok" and self.data_timestamp:
            state[DATA_TIMESTAMP_KEY] = self.data_timestamp
        return state

    def _counts(self, reason: str, stats: dict[str, Any]) -> dict[str, Any]:
        new, changed = set(self.result.new_ids), set(self.result.changed_ids) - set(self.result.new_ids)
        return {"searches": len(self.plan.queries) if self.plan else 0, "pages": self.progress.pages,
                "fetched": self.fetched, "studies": len(self.seen_ids), "new": len(new), "changed": len(changed),
                "unchanged": len(self.seen_ids - new - changed - self.rejected_ids), "rejected": len(self.rejected_ids),
                "warnings": len(self.result.warnings), "missing": len(self.missing),
                "retries": stats.get("retry/count", 0), "failed_requests": stats.get("trialkb/failed_requests", 0),
                "corrupt_pages": stats.get("trialkb/corrupt_pages", 0),
                "requests": stats.get("downloader/request_count", 0), "finish_reason": reason,
                "store_seconds": round(stats.get("trialkb/store_seconds", 0.0), 3),
                "store_seconds_max_page": round(stats.get("trialkb/store_seconds_max_page", 0.0), 3),
                "prepare_seconds": round(stats.get("trialkb/prepare_seconds", 0.0), 3),
                "write_seconds": round(stats.get("trialkb/write_seconds", 0.0), 3)} | (
                    {"current": len(self.current_ids - self.seen_ids)} if self.options.registry == "ctis" else {})
