"""Batches written in the order they were handed out, by the worker processes that prepared them.

A worker that prepared batch ``n`` waits until batch ``n - 1`` is committed, writes its own and passes
the turn on; no other process carries the rows. A stop lets the batch being written finish and no
further one begin, and says how many were committed (the job counts exactly those). A write that
fails stops the turns too: nothing after a failed batch is written.

The shared state is read and set under a lock held for a few instructions, and a waiting process polls
it. A condition variable's ``notify`` across processes waits for every sleeper to wake, so one killed
while it waited would hang the next notify forever.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext

__all__ = ["Turns"]

POLL_SECONDS = 0.005
"""How often a waiting turn looks again (a batch waits up to about a second: ~200 looks)."""


class Turns:
    """Turns to write, shared with worker processes (pass it to them when they start)."""

    def __init__(self, context: BaseContext | None = None) -> None:
        context = context or multiprocessing.get_context()
        self._lock = context.Lock()
        self._next = context.RawValue("q", 0)  # the turn that may write now: turns before it are committed
        self._writing = context.RawValue("b", 0)
        self._stopped = context.RawValue("b", 0)

    def _begin(self, number: int) -> bool | None:
        """True: turn ``number`` is this caller's now; False: stopped; None: not yet."""
        with self._lock:
            if self._stopped.value:
                return False
            if self._next.value != number:
                return None
            self._writing.value = 1
            return True

    def waiting(self, number: int) -> bool:
        """Whether turn ``number`` would wait now: an earlier turn is not committed, and no stop came."""
        with self._lock:
            return not self._stopped.value and self._next.value != number

    @contextmanager
    def turn(self, number: int) -> Iterator[bool]:
        """Wait for turn ``number`` and hold it for the block: True, or False when the turns were stopped
        (then write nothing). The turn passes on when the block ends; an error in it stops the turns."""
        while (go := self._begin(number)) is None:
            time.sleep(POLL_SECONDS)
        if not go:
            yield False
            return
        written = False
        try:
            yield True
            written = True
        finally:
            with self._lock:
                self._writing.value = 0
                if written:
                    self._next.value = number + 1
                else:
                    self._stopped.value = 1

    def stop(self, timeout: float) -> int:
        """Let no turn begin, wait up to ``timeout`` seconds for the one being written, and return how
        many turns were written (turns ``0 .. n - 1``)."""
        deadline = time.monotonic() + timeout
        if self._lock.acquire(timeout=timeout):
            self._stopped.value = 1
            self._lock.release()
        else:  # a worker killed while it held the lock
            self._stopped.value = 1
        while self._writing.value and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        return self._next.value

    @property
    def written(self) -> int:
        """Turns committed so far."""
        return self._next.value
