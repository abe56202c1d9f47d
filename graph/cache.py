"""Build once per store change and reuse: the similarity index is cached on disk.

The index (``graph.index.SimilarityIndex``, derived from the networkx graph) is saved next to a
SQLite store, or under ``~/.cache/trialkb`` for a server database, with the store's fingerprint
(graph version, trial count, newest update). A lookup loads it when the fingerprint still
matches and rebuilds graph and index otherwise.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from sqlalchemy import Engine

from graph.build import build_graph, store_fingerprint
from graph.index import SimilarityIndex

__all__ = ["cache_path", "load_index"]


def cache_path(engine: Engine, relevant_only: bool = False) -> Path:
    """Where the index of this store is cached."""
    suffix = ".relevant" if relevant_only else ""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return Path(database).with_name(Path(database).name + f".similarity{suffix}.npz")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trialkb"
    key = hashlib.sha1(engine.url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return base / f"similarity-{key}{suffix}.npz"


def load_index(engine: Engine, *, relevant_only: bool = False) -> tuple[SimilarityIndex, bool]:
    """(index, rebuilt): the cached index if the store has not changed, else a new one."""
    path = cache_path(engine, relevant_only)
    fingerprint = store_fingerprint(engine)
    if path.exists():
        try:
            index = SimilarityIndex.load(path)
            if index.fingerprint == fingerprint:
                return index, False
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable cache: rebuild it
    index = SimilarityIndex.from_graph(build_graph(engine, relevant_only=relevant_only))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    index.save(tmp)
    tmp.replace(path)
    return index, True
