"""Worker processes write their batches in the order they were handed out (kb.process.turns)."""

import multiprocessing
import time

import pytest

from kb.process.turns import Turns

CONTEXT = multiprocessing.get_context("fork")


def _write_in_turn(turns: Turns, number: int, log, delay: float) -> None:
    """Append ``number`` to ``log`` (a shared array, its length at 0) in turn ``number``."""
    time.sleep(delay)  # later turns are ready first
    with turns.turn(number) as go:
        if go:
            log[0] += 1
            log[log[0]] = number


def _fail_in_turn(turns: Turns, number: int) -> None:
    with turns.turn(number):
        raise RuntimeError("the write failed")


def test_processes_write_in_turn_order_whatever_order_they_are_ready_in():
    turns, log = Turns(CONTEXT), CONTEXT.RawArray("i", 7)
    processes = [CONTEXT.Process(target=_write_in_turn, args=(turns, n, log, 0.05 * (5 - n))) for n in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(10)
    assert list(log) == [6, 0, 1, 2, 3, 4, 5]
    assert turns.written == 6


def test_a_stop_lets_no_further_turn_write_and_counts_the_written_ones():
    turns, log = Turns(CONTEXT), CONTEXT.RawArray("i", 2)
    for n in range(2):
        with turns.turn(n) as go:
            assert go
    waiting = CONTEXT.Process(target=_write_in_turn, args=(turns, 3, log, 0))  # turn 2 never comes
    waiting.start()
    time.sleep(0.2)
    assert turns.stop(timeout=5) == 2
    waiting.join(5)
    assert waiting.exitcode == 0 and log[0] == 0  # woken by the stop, wrote nothing
    with turns.turn(2) as go:
        assert not go


def test_a_failed_write_stops_the_turns():
    turns = Turns(CONTEXT)
    with pytest.raises(RuntimeError):
        _fail_in_turn(turns, 0)
    with turns.turn(1) as go:
        assert not go
    assert turns.stop(timeout=1) == 0


def test_a_stop_does_not_hang_when_a_waiting_worker_was_killed():
    """A worker killed while it waited for its turn (SIGTERM to the process group, out of memory)."""
    turns = Turns(CONTEXT)
    waiting = CONTEXT.Process(target=_write_in_turn, args=(turns, 1, CONTEXT.RawArray("i", 2), 0))
    waiting.start()
    time.sleep(0.2)
    waiting.kill()
    waiting.join(5)
    started = time.monotonic()
    assert turns.stop(timeout=5) == 0
    assert time.monotonic() - started < 1
