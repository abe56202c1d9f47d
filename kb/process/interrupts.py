"""Stopping a job cleanly on the first SIGINT (Ctrl-C) or SIGTERM.

The first signal only sets a flag that the job checks between batches, so a batch being written
is committed or rolled back whole, never cut in the middle; the job then raises
:class:`kb.core.errors.Interrupted` (exit 130). A second signal stops at once (the default handlers
are back by then).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from kb.core.errors import Interrupted

__all__ = ["StopFlag", "stop_on_signals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """Set by the first SIGINT / SIGTERM; :meth:`check` raises :class:`Interrupted` once set."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def check(self, what: str = "stopped") -> None:
        if self.signal is not None:
            raise Interrupted(f"interrupted by {signal.Signals(self.signal).name}: {what}")


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """A :class:`StopFlag` set by the first SIGINT/SIGTERM in the block (outside the main thread: never)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handle(signum: int, _frame: FrameType | None) -> None:
        flag.signal = signum
        for sig in SIGNALS:  # a second signal stops at once
            signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)

    for sig in SIGNALS:
        signal.signal(sig, handle)
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
