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
            stats = {int(p.name): s for p in Path("/proc").iterdir() if p.name.isdigit() and (s := _stat(int(p.name)))}
            tree, grew = {self.root}, True
            while grew:
                grew = False
                for pid, (parent, _, _) in stats.items():
                    if parent in tree and pid not in tree:
                        tree.add(pid)
                        grew = True
            for pid in tree:
                if pid in stats:
                    self.used[pid] = stats[pid][1]
            self.peak_rss = max(self.peak_rss, sum(stats[pid][2] for pid in tree if pid in stats))
            self._stop.wait(self.interval)
