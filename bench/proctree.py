"""CPU seconds and peak memory of a process and all its descendants, sampled from /proc (Linux).

``RUSAGE_CHILDREN`` misses grandchildren whose parent is not waited for (a forkserver and its
workers), so benchmarks poll the process tree instead.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, user + system seconds, resident bytes) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS, int(fields[21]) * PAGE


class TreeCPU:
    """Poll the tree under ``root`` every ``interval`` s: ``seconds`` is the CPU it has used,
    ``peak_rss`` the most memory its processes held together at one time."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root, self.interval = root, interval
        self.used: dict[int, float] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeCPU:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.used.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = {pid: s for pid in self._tree() if (s := _stat(pid))}
            for pid, (_, cpu, _) in stats.items():
                self.used[pid] = cpu
            self.peak_rss = max(self.peak_rss, sum(rss for _, _, rss in stats.values()))
            self._stop.wait(self.interval)

    def _tree(self) -> list[int]:
        """The root and its descendants now: walked down from the root where the kernel lists each thread's
        children (0.5% of a core, against 2.7% for reading every process's stat ten times a second), else
        found by their parents among every process."""
        if not CHILDREN_LISTED:
            return _descendants_by_parent(self.root)
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += _children(pid)
        return tree


CHILDREN_LISTED = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()
"""Whether this kernel lists a thread's children (``/proc/PID/task/TID/children``, CONFIG_PROC_CHILDREN)."""


def _children(pid: int) -> list[int]:
    """The children of a live process (those of every one of its threads); [] once it is gone."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            children += map(int, (task / "children").read_text().split())
        except OSError:  # the thread ended
            pass
    return children


def _descendants_by_parent(root: int) -> list[int]:
    """The root and its descendants, by the parent each process in /proc names."""
    parents = {int(p.name): s[0] for p in Path("/proc").iterdir() if p.name.isdigit() and (s := _stat(int(p.name)))}
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sorted(tree)
