"""A pool of worker processes that always ends cleanly, and whose results can be waited for
while a stop is requested.

Leaving the pool normally waits for the workers; leaving it on an error or an interrupt ends
them at once (a worker may be in the middle of a long read) and never raises from the shutdown
itself, so the caller's error is the one reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, TypeVar

from kb.core.errors import TrialkbError
from kb.process.interrupts import StopFlag
from kb.process.workers import start_worker

__all__ = ["WorkerFailed", "WorkerPool"]

T = TypeVar("T")
POLL_SECONDS = 0.2


class WorkerFailed(TrialkbError):
    """A worker process died (killed, out of memory) before returning its batch."""


class WorkerPool:
    """``workers`` processes set up by :func:`kb.process.workers.start_worker`, as a context manager."""

    def __init__(self, workers: int, stop: StopFlag | None = None,
                 setup: Callable[..., None] | None = None, setup_args: tuple = ()) -> None:
        """``setup(*setup_args)`` runs in each worker as it starts (after :func:`start_worker`'s own)."""
        self.stop = stop
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, initializer=start_worker,
                                         initargs=(os.getpid(), setup, setup_args))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool as exc:  # a worker died before this batch was handed over
            raise WorkerFailed(f"a worker process ended unexpectedly (killed, or out of memory?): {exc}") from None

    def result(self, future: Future[T]) -> T:
        """The future's result; a requested stop raises :class:`~kb.core.errors.Interrupted` within
        :data:`POLL_SECONDS`, even while the worker is busy."""
        while True:
            if self.stop is not None:
                self.stop.check()
            try:
                return future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                continue
            except BrokenProcessPool as exc:
                raise WorkerFailed(f"a worker process ended unexpectedly (killed, or out of memory?): {exc}") from None

    def close(self, failed: bool) -> None:
        """Wait for the workers, or (``failed``) end them now; never raises."""
        try:
            if failed:
                self._end_workers()
            self._pool.shutdown(wait=True, cancel_futures=True)
        except Exception:  # noqa: BLE001 - the error that got us here is the one to report
            pass

    def _end_workers(self) -> None:
        kill = getattr(self._pool, "kill_workers", None)  # Python 3.14+
        if kill is not None:
            kill()
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(timeout=5)
        # A worker killed while it wrote its result leaves the executor's thread waiting for the rest of
        # that message, and shutdown() joining it forever (seen: one stop in four). With every worker gone,
        # the write end this process holds is the last one: closing it gives the reader EOF, so the thread
        # sees a broken pool and ends.
        writer = getattr(getattr(self._pool, "_result_queue", None), "_writer", None)
        if writer is not None and not any(p.is_alive() for p in processes):
            writer.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(failed=kind is not None)
