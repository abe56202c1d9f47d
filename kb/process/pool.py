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
    """``workers`` processes set up by :func:`kb.process.workers.start_worker`, as a context manager.

    ``pinned``: each process has its own queue, and :meth:`submit` names the process a task runs in
    (its tasks run one after another, in the order given, so a task may leave work for the next).
    """

    def __init__(self, workers: int, stop: StopFlag | None = None,
                 setup: Callable[..., None] | None = None, setup_args: tuple = (), pinned: bool = False) -> None:
        """``setup(*setup_args)`` runs in each worker as it starts (after :func:`start_worker`'s own)."""
        self.stop = stop
        self.workers = workers
        initargs = (os.getpid(), setup, setup_args)
        self._pools = ([ProcessPoolExecutor(max_workers=1, initializer=start_worker, initargs=initargs)
                        for _ in range(workers)] if pinned else
                       [ProcessPoolExecutor(max_workers=workers, initializer=start_worker, initargs=initargs)])

    def submit(self, fn: Callable[..., T], *args: Any, worker: int = 0) -> Future[T]:
        """Run ``fn(*args)`` in a worker (in a pinned pool: in process number ``worker``)."""
        try:
            return self._pools[worker].submit(fn, *args)
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
                processes = [p for pool in self._pools for p in _end_workers(pool)]
                if processes and not any(p.is_alive() for p in processes):  # later workers inherit earlier pipes
                    for pool in self._pools:
                        _unblock(pool)
        except Exception:  # noqa: BLE001 - the error that got us here is the one to report
            pass
        for pool in self._pools:
            try:
                pool.shutdown(wait=True, cancel_futures=True)
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(failed=kind is not None)


def _end_workers(pool: ProcessPoolExecutor) -> list[Any]:
    """Kill a pool's processes and wait for them to end; the processes killed."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14+
    if kill is not None:
        kill()
        return []
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)
    return processes


def _unblock(pool: ProcessPoolExecutor) -> None:
    """Close the result queue's write end this process holds, for a pool whose workers are all gone.

    A worker killed while it wrote its result leaves the executor's thread waiting for the rest of that
    message, and shutdown() joining it forever (seen: one stop in four): with every worker gone this end
    is the last one, and closing it gives the reader EOF, so the thread sees a broken pool and ends. (A
    task still being sent to a killed worker is the executor's own to unblock: it closes the call queue's
    read end, which breaks the pipe once every process that inherited that end is gone, the workers of
    the other pools included: so they are all ended before any pool is shut down.)
    """
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        writer.close()
