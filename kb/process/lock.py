"""The store's writer lock: imports, crawls and ``rebuild`` into one store take turns.

PostgreSQL: a session advisory lock on (:data:`ADVISORY_KEY`, a hash of the schema), so stores in
other schemas of the database do not wait for each other (works across machines sharing the
store); the holder names itself in ``application_name`` so a waiter can say who it waits for.
SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the database; the holder writes
its name into the file (an in-memory database needs no lock).

A writer that finds the lock taken waits for it (saying so once, through ``on_wait``), polling
every ``poll`` seconds so Ctrl-C still stops it at once; with ``wait=False`` it raises
:class:`LockBusy` instead.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from kb.core.errors import TrialkbError, first_line

log = logging.getLogger(__name__)

__all__ = ["ADVISORY_KEY", "CrawlLock", "LockBusy", "WriterLock", "writer_lock"]

ADVISORY_KEY = 0x7472_6B62  # "trkb"
SCHEMA_KEY = "(hashtext(current_schema()) & 2147483647)"
"""The lock's second key: the store's schema (advisory locks are per database already)."""
LOCK_SUFFIX = ".lock"


class LockBusy(TrialkbError):
    """Another trialkb writer holds the store's lock (and the caller asked not to wait)."""


class WriterLock:
    """The store's one writer lock, held from :meth:`acquire` to :meth:`release` (or as a context)."""

    def __init__(self, engine: Engine, kind: str = "writer") -> None:
        self.engine = engine
        self.kind = kind
        self._conn: Connection | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def acquire(self, wait: bool = True, on_wait: Callable[[str], None] | None = None, poll: float = 0.2) -> None:
        """Take the lock; wait for it (telling ``on_wait`` once who holds it) or raise :class:`LockBusy`."""
        told = False
        while not self._try():
            holder = self._holder()
            if not wait:
                raise LockBusy(f"another trialkb writer ({holder}) is writing to this store; "
                               "run again later, or without --no-wait to wait for it")
            if not told and on_wait:
                on_wait(f"waiting for another trialkb writer ({holder}) to finish with this store...")
            told = True
            time.sleep(poll)

    def _try(self) -> bool:
        name = f"trialkb {self.kind} pid {os.getpid()} on {socket.gethostname()}"
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            if not conn.execute(text(f"SELECT pg_try_advisory_lock(:k, {SCHEMA_KEY})"), {"k": ADVISORY_KEY}).scalar():
                conn.close()
                return False
            conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": name[:63]})
            conn.commit()
            self._conn = conn
            return True
        if self.engine.url.database in (None, "", ":memory:"):
            return True  # an in-memory database has no other writer
        fd = os.open(self.lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, name.encode(), 0)
        self._fd = fd
        return True

    def _holder(self) -> str:
        """Who holds the lock, as well as can be told."""
        if self.engine.dialect.name == "postgresql":
            query = text("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                         f"WHERE l.locktype = 'advisory' AND l.granted AND l.classid = CAST(:k AS oid) "
                         f"AND l.objid = {SCHEMA_KEY}::oid AND l.database = "
                         "(SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1")
            with self.engine.connect() as conn:
                name = conn.execute(query, {"k": ADVISORY_KEY}).scalar()
            return name or "PostgreSQL advisory lock"
        try:
            return self.lock_path().read_text().strip() or f"lock file {self.lock_path()}"
        except OSError:
            return f"lock file {self.lock_path()}"

    def lock_path(self) -> Path:
        """The SQLite lock file, beside the database."""
        database = self.engine.url.database or ":memory:"
        return Path(database).with_name(Path(database).name + LOCK_SUFFIX)

    def release(self) -> None:
        """Let the lock go (PostgreSQL: a session the server ended let it go with itself)."""
        if self._conn is not None:
            try:
                self._conn.execute(text(f"SELECT pg_advisory_unlock(:k, {SCHEMA_KEY})"), {"k": ADVISORY_KEY})
            except SQLAlchemyError as exc:  # the session is gone, and its advisory locks with it
                log.info("writer lock: its session is gone (%s); the server released the lock", first_line(exc))
                self._conn.invalidate()  # never back to the pool: a session still there ends, and its lock too
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None



@contextmanager
def writer_lock(engine: Engine, kind: str, *, wait: bool = True,
                on_wait: Callable[[str], None] | None = None) -> Iterator[WriterLock]:
    """Hold the store's writer lock for the block (see :meth:`WriterLock.acquire`)."""
    lock = WriterLock(engine, kind)
    lock.acquire(wait=wait, on_wait=on_wait)
    try:
        yield lock
    finally:
        lock.release()


CrawlLock = WriterLock
"""The name the crawl's lock had before imports and ``rebuild`` shared it."""
