"""Build once per store change and reuse: the similarity index is cached on disk.

The index (``graph.index.SimilarityIndex``, derived from the networkx graph) is saved next to a
SQLite store, or under ``~/.cache/trialkb`` for a server database, with the store's fingerprint
(``graph.fingerprint``). A lookup loads it when the fingerprint still matches and rebuilds graph
and index otherwise. Checking and loading need no SQLAlchemy or networkx: only a rebuild does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from graph.fingerprint import FINGERPRINT_SQL, fingerprint
from graph.index import SimilarityIndex
from kb.core.location import cache_file
from kb.store.readonly import sqlite_path

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kb.store.readonly import ReadOnlyStore

log = logging.getLogger(__name__)

__all__ = ["cache_path", "load_cached", "rebuild_index", "load_index", "store_fingerprint_of"]


def cache_path(url: str, relevant_only: bool = False) -> Path:
    """Where the index of the store at ``url`` (a normalized store URL) is cached."""
    suffix = ".relevant" if relevant_only else ""
    database = sqlite_path(url) if url.startswith("sqlite") else None
    if database is not None:
        return database.with_name(database.name + f".similarity{suffix}.idx")
    return cache_file(url, "similarity", f"{suffix}.idx")


def store_fingerprint_of(store: ReadOnlyStore) -> str:
    """The fingerprint of a store opened read-only (``kb.store.readonly``)."""
    _, rows = store.query(FINGERPRINT_SQL)
    return fingerprint(*rows[0])


def load_cached(path: Path, fingerprint_now: str) -> SimilarityIndex | None:
    """The cached index at ``path`` if it was made from the store as it is now, else None."""
    if not path.exists():
        return None
    try:
        index = SimilarityIndex.load(path)
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None  # unreadable or of an older layout: rebuild it
    return index if index.fingerprint == fingerprint_now else None


def rebuild_index(engine: Engine, path: Path, *, relevant_only: bool = False) -> SimilarityIndex:
    """Build graph and index from the store and cache the index at ``path`` (atomically).

    A store on read-only media still answers: the index is then used without being cached.
    """
    from graph.build import build_graph

    index = SimilarityIndex.from_graph(build_graph(engine, relevant_only=relevant_only))
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        index.save(tmp)
        tmp.replace(path)
    except OSError as exc:
        log.warning("the similarity index could not be cached at %s (%s): it is rebuilt on every lookup", path, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
    return index


def load_index(engine: Engine, *, relevant_only: bool = False) -> tuple[SimilarityIndex, bool]:
    """(index, rebuilt): the cached index if the store has not changed, else a new one."""
    from graph.build import store_fingerprint

    path = cache_path(engine.url.render_as_string(hide_password=False), relevant_only)
    index = load_cached(path, store_fingerprint(engine))
    if index is not None:
        return index, False
    return rebuild_index(engine, path, relevant_only=relevant_only), True
