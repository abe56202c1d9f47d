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


def test_the_blocks_end_frees_a_cycle_made_since_its_last_collection_and_unfreezes() -> None:
    with gcpause.paused():
        gcpause.collect()
        a, b = Node(), Node()
        a.other, b.other = b, a
        dead = weakref.ref(a)
        del a, b
        assert dead() is not None and gc.get_freeze_count() > 0
    assert dead() is None and gc.get_freeze_count() == 0 and gc.isenabled()


def test_collect_outside_a_pause_freezes_nothing() -> None:
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    gcpause.collect()
    assert gc.get_freeze_count() == frozen_before


def test_collect_when_waits_until_enough_objects_were_made_and_kept() -> None:
    with gcpause.paused():
        gcpause.collect()  # the count starts from nothing
        a, b = Node(), Node()
        a.other, b.other = b, a
        dead = weakref.ref(a)
        del a, b
        made = [Node() for _ in range(5000)]  # five times the bound, freed by reference counting before the
        del made  # next look: not counted (a count of objects made would collect here)
        gcpause.collect_when(1000)
        assert dead() is not None  # too few kept: no collection yet
        kept = [Node() for _ in range(1000)]
        gcpause.collect_when(1000)
        assert dead() is None and kept


def test_a_command_exits_with_its_objects_frozen_and_its_stores_log_copied_and_removed(tmp_path) -> None:
    """The interpreter's last collection is spared (the objects alive at exit are frozen), and the store's
    connections are closed before: SQLite copies its log and removes it, as at any last close."""
    import sqlite3
    import subprocess
    import sys

    from tests.conftest import CTGOV

    db = tmp_path / "kb.db"
    program = ("import atexit, gc, sys\n"
               "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0, file=sys.stderr))\n"
               "from apps.cli import main\n"
               f"sys.argv = ['trialkb', '--db', 'sqlite:///{db}', 'import', {str(CTGOV / 'domain')!r}]\n"
               "main()\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "frozen at exit: True" in done.stderr
    assert not (tmp_path / "kb.db-wal").exists() and not (tmp_path / "kb.db-shm").exists()
    with sqlite3.connect(f"file:{db}?immutable=1", uri=True) as conn:  # the database file alone holds them
        assert conn.execute("SELECT count(*) FROM trial").fetchone()[0] == 42
