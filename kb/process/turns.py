"""Batches written in the order they were handed out, by the worker processes that prepared them.

A worker that prepared batch ``n`` waits until batch ``n - 1`` is committed, writes its own and passes
the turn on; no other process carries the rows. A stop lets the batch being written finish and no
further one begin, and says how many were committed (the job counts exactly those). A write that
fails stops the turns too: nothing after a failed batch is written.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext

__all__ = ["Turns"]


class Turns:
    """Turns to write, shared with worker processes (pass it to them when they start)."""

    def __init__(self, context: BaseContext | None = None) -> None:
        context = context or multiprocessing.get_context()
        self._condition = context.Condition()
        self._next = context.RawValue("q", 0)  # the turn that may write now: turns before it are committed
        self._writing = context.RawValue("b", 0)
        self._stopped = context.RawValue("b", 0)

    @contextmanager
    def turn(self, number: int) -> Iterator[bool]:
        """Wait for turn ``number`` and hold it for the block: True, or False when the turns were stopped
        (then write nothing). The turn passes on when the block ends; an error in it stops the turns."""
        with self._condition:
            self._condition.wait_for(lambda: self._stopped.value or self._next.value == number)
            go = not self._stopped.value
            self._writing.value = int(go)
        if not go:
            yield False
            return
        written = False
        try:
            yield True
            written = True
        finally:
            with self._condition:
                self._writing.value = 0
                if written:
                    self._next.value = number + 1
                else:
                    self._stopped.value = 1
                self._condition.notify_all()

    def stop(self, timeout: float) -> int:
        """Let no turn begin, wait up to ``timeout`` seconds for the one being written, and return how
        many turns were written (turns ``0 .. n - 1``)."""
        if not self._condition.acquire(timeout=timeout):  # a worker killed while it held the lock
            self._stopped.value = 1
            return self._next.value
        try:
            self._stopped.value = 1
            self._condition.notify_all()
            self._condition.wait_for(lambda: not self._writing.value, timeout)
            return self._next.value
        finally:
            self._condition.release()

    @property
    def written(self) -> int:
        """Turns committed so far."""
        return self._next.value
