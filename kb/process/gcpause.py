"""The cyclic garbage collector, paused for bulk work.

Parsing and normalizing a batch allocates hundreds of thousands of objects (JSON trees, rows),
and each allocation burst triggers collections that walk every live object: measured at 30% of
a worker's time (bench/import_bench.py). The records hold no reference cycles, so reference
counting frees them; :func:`collect` between batches catches any cycle that does appear.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def pause() -> None:
    """Stop automatic collection; what is alive now (modules, lexicons) is never scanned again."""
    gc.freeze()
    gc.disable()


def collect() -> None:
    """Collect what was allocated since the last freeze; while the collector is paused, freeze what
    survived: between batches that is what lives long (lexicons and patterns a worker loads at its
    first batch), so the next collection skips it (2 ms a 500-study batch before, 1 ms after). Frozen
    objects are still freed by reference counting; only a cycle among them would stay (until
    :func:`paused` ends, which unfreezes)."""
    gc.collect()
    if not gc.isenabled():
        gc.freeze()


def collect_when(grown: int) -> None:
    """:func:`collect` once ``grown`` objects the collector tracks were made and not freed since the last
    collection: objects that reference counting frees before then are never scanned (a worker's rows,
    written and gone), and memory held by cycles, if any, stays bounded."""
    if gc.get_count()[0] >= grown:
        collect()


@contextmanager
def paused() -> Iterator[None]:
    """Pause the collector for the block and restore it afterwards."""
    enabled = gc.isenabled()
    pause()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
        gc.collect(0)  # what the block made since its last freeze; older cycles wait for a full collection


def skip_last_collection() -> None:
    """Spare the interpreter's last collection of everything alive at exit (0.1 s of a command that loaded
    SQLAlchemy and the lexicons): freeze it. Reference counting still frees what it can at exit; objects in
    cycles are left to the process's end, so what must be closed is closed before (a store's connections:
    ``apps.cli.common.engine_from``). Call it last, just before the process exits."""
    gc.freeze()
