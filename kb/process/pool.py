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

    def __init__(self, workers: int, stop: StopFlag | None = None) -> None:
        self.stop = stop
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, initializer=start_worker, initargs=(os.getpid(),))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(fn, *args)

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
        for process in list((getattr(self._pool, "_processes", None) or {}).values()):
            if process.is_alive():
                process.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(failed=kind is not None)
