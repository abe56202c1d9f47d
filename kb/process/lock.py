"""A lock so two scheduled crawls of one store never overlap.

PostgreSQL: a session advisory lock (works across machines sharing the store).
SQLite: an exclusive ``flock`` on a file beside the database.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Engine, text

ADVISORY_KEY = 0x7472_6B62  # "trkb"


class LockBusy(RuntimeError):
    """Another crawl holds the lock."""


class CrawlLock:
    """Held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn = None
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self._conn = self.engine.connect()
            if not self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar():
                self._conn.close()
                self._conn = None
                raise LockBusy("another trialkb crawl is running on this store (PostgreSQL advisory lock)")
            self._conn.commit()
            return
        path = self.lock_path()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise LockBusy(f"another trialkb crawl is running on this store (lock file {path})") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())

    def lock_path(self) -> Path:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return Path(os.environ.get("TMPDIR", "/tmp")) / "trialkb-memory.crawl.lock"
        return Path(database).with_name(Path(database).name + ".crawl.lock")

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            self._conn.close()
            self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
