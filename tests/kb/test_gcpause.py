"""The paused collector: cycles are still collected between batches, and what survives is not scanned again."""

from __future__ import annotations

import gc
import weakref

from kb.process import gcpause


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_collect_frees_a_cycle_and_freezes_what_lives_on() -> None:
    with gcpause.paused():
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        dead = weakref.ref(a)
        kept = [Node() for _ in range(1000)]  # alive across the collection, like a lexicon loaded late
        del a, b
        frozen_before = gc.get_freeze_count()
        gcpause.collect()
        assert dead() is None
        assert gc.get_freeze_count() >= frozen_before + len(kept)
        assert not gc.isenabled()
    assert gc.get_freeze_count() == 0  # the block's end unfreezes everything


def test_collect_outside_a_pause_freezes_nothing() -> None:
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    gcpause.collect()
    assert gc.get_freeze_count() == frozen_before
