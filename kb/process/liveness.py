"""Whether a process still runs: the one test used by the run log and by worker processes."""

from __future__ import annotations

import os
from datetime import datetime, timezone


def process_alive(pid: int, since: datetime | None = None) -> bool:
    """Whether process ``pid`` runs, and (where /proc tells) started no later than ``since`` (no reused pid).

    >>> process_alive(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _process_start(pid)
    if started is None or since is None:
        return True
    since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    return started <= since.timestamp() + 1.0


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (Unix time), from /proc; None where there is no /proc."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")
