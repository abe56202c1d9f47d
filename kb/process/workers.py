"""Set-up of the worker processes that prepare studies (bulk import, crawl pipeline).

A worker started by ``ProcessPoolExecutor`` outlives a job process that is killed with SIGKILL:
it holds both ends of its task queue, so it waits for work forever, and under the forkserver
start method it also keeps the forkserver alive. Each worker therefore watches the job process
and exits when it is gone.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable

from kb.process import gcpause
from kb.process.liveness import process_alive


def start_worker(job_pid: int, setup: Callable[..., None] | None = None, setup_args: tuple = ()) -> None:
    """Worker initializer: pause the garbage collector, exit when process ``job_pid`` ends, then run
    ``setup(*setup_args)`` (the job's own set-up) if given.

    Ctrl-C reaches the whole process group: a worker ignores it and lets the job stop cleanly.
    SIGTERM ends a worker at once (a forked worker would otherwise inherit the job's handler, which
    only sets a flag, and could not be stopped while it reads).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gcpause.pause()
    threading.Thread(target=_exit_after, args=(job_pid,), name="trialkb-watch-job", daemon=True).start()
    if setup is not None:
        setup(*setup_args)


def _exit_after(pid: int) -> None:
    try:
        with os.fdopen(os.pidfd_open(pid)) as pidfd:  # readable once the process has ended (Linux)
            select.select([pidfd], [], [])
    except (AttributeError, OSError):  # no pidfd here: poll
        while process_alive(pid):
            time.sleep(1.0)
    os._exit(1)
