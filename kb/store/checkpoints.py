"""SQLite write-ahead-log checkpoints run by a thread of the job, not inside the writers' commits.

In WAL mode a commit appends pages to the log, and the commit that finds the log over 1,000 pages
copies it into the database file and syncs both (an automatic checkpoint). In an import the worker
that commits a 2,000-study batch paid that copy inside its write turn: a quarter of its write
(bench/import_profile.py). The import's workers checkpoint only a log past :data:`BACKSTOP_BYTES`, a
backstop (:func:`leave_checkpoints`), and the job, idle while they work, copies the log in a thread of its own
once every few committed batches (:class:`WalCheckpoints`). A checkpoint of SQLite's PASSIVE kind never
waits for, nor blocks, a reader or a writer; a log it could not copy whole is copied by the next one,
and SQLite starts the log afresh when a writer begins after a complete copy (a writer that begins
during one appends: the log can hold a few batches). Nothing of this applies to PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError

from kb.core.errors import first_line

log = logging.getLogger(__name__)

__all__ = ["WalCheckpoints", "checkpoint", "leave_checkpoints"]

END_WAIT_SECONDS = 5.0
"""How long leaving :class:`WalCheckpoints` normally waits for a checkpoint under way (one batch's log: under
a second)."""
ERROR_WAIT_SECONDS = 0.1
"""How long leaving it on an error or a stop waits (a PASSIVE checkpoint left half-way is safe: SQLite
copies the rest later)."""
BACKSTOP_BYTES = 80 * 2**20
"""The log's size (80 MiB, in pages of the store's size) from which a commit of a connection left to the job
checkpoints after all: the log stays bounded if the job's checkpoints fall behind or fail. A checkpoint that
copies the whole log lets the next writer start it afresh, unless a writer began during the copy: then the log
grows. In a 100,000-study import (pages of 4 KB) its file peaked at 55 MiB with a copy after every batch and at
91 MiB with a copy every :data:`CHECKPOINT_STUDIES` (past this backstop, so a worker's commit copied it at
times); with a backstop of 156 MiB the log grew to 170 MiB, the import no faster (51.6 s)."""
CHECKPOINT_STUDIES = 2_000
"""Studies committed between two of the job's checkpoints (four batches of 500).
A checkpoint copies the pages the log holds and syncs both files; the index pages every batch touches are
copied once for four batches. Storing a 20,000-study archive (bench/import_bench.py's mix, SQLite, 2 cores,
December 2026, alternating runs): a checkpoint after every batch took 0.84-0.88 s of the job's system CPU
and the import 9.7-10.4 s; one every four batches 0.48-0.62 s and 9.3-9.9 s; every six, the same."""


def leave_checkpoints(engine: Engine) -> None:
    """Connections ``engine`` opens from now on leave the log's checkpoints to another process's
    :class:`WalCheckpoints` (SQLite): their commits checkpoint only a log of :data:`BACKSTOP_BYTES`."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _no_automatic_checkpoint)


def _no_automatic_checkpoint(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    page_size = dbapi_connection.execute("PRAGMA page_size").fetchone()[0]
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_BYTES // page_size}")


def checkpoint(engine: Engine) -> tuple[int, int] | None:
    """Copy what the log holds into the database file without waiting for anyone (SQLite's PASSIVE
    checkpoint): the pages in the log and how many of them are copied now; None on PostgreSQL, or
    when the store cannot be reached (logged: SQLite checkpoints at the last close anyway)."""
    if engine.dialect.name != "sqlite":
        return None
    try:
        with engine.connect() as conn:
            _busy, pages, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("checkpoint of the store's log failed (%s); SQLite does it when the store closes",
                    first_line(exc))
        return None
    return pages, copied


class WalCheckpoints:
    """A thread that checkpoints ``engine``'s log (SQLite) each time :meth:`request` is called, or once
    :meth:`committed` has counted ``every`` studies, as a context manager: leaving it normally runs a last
    checkpoint; leaving it on an error waits at most :data:`ERROR_WAIT_SECONDS` for one under way and runs none."""

    def __init__(self, engine: Engine, every: int = CHECKPOINT_STUDIES) -> None:
        self.engine = engine
        self.every = every
        self.runs = 0  # checkpoints made (not those that failed)
        self._since = 0  # studies committed since the last request
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WalCheckpoints:
        if self.engine.dialect.name == "sqlite":
            self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
            self._thread.start()
        return self

    def request(self) -> None:
        """Copy the log (requests made during a checkpoint make one more)."""
        self._since = 0
        self._wanted.set()

    def committed(self, studies: int) -> None:
        """A writer committed ``studies``: copy the log once :attr:`every` were committed since the last copy."""
        self._since += studies
        if self._since >= self.every:
            self.request()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                self._checkpoint()
            except Exception as exc:  # noqa: BLE001 - a thread's error would print a traceback and end it
                log.warning("checkpoint of the store's log failed: %s: %s", type(exc).__name__, exc)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._thread is None:
            return
        self._stopping = True
        self._wanted.set()
        self._thread.join(END_WAIT_SECONDS if exc_type is None else ERROR_WAIT_SECONDS)
        if exc_type is None:
            self._checkpoint()

    def _checkpoint(self) -> None:
        if checkpoint(self.engine) is not None:  # None: the store could not be reached (logged)
            self.runs += 1
