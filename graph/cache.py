"""Build the graph once per store change and reuse it.

The graph is pickled next to a SQLite store (or under ``~/.cache/trialkb`` for a server
database) with the store's fingerprint (trial count and newest update); a lookup loads the pickle
when the fingerprint still matches and rebuilds it otherwise.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import networkx as nx
from sqlalchemy import Engine

from graph.build import build_graph, store_fingerprint

__all__ = ["cache_path", "load_graph"]


def cache_path(engine: Engine, relevant_only: bool = False) -> Path:
    suffix = ".relevant" if relevant_only else ""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return Path(database).with_name(Path(database).name + f".graph{suffix}.pickle")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trialkb"
    key = hashlib.sha1(engine.url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return base / f"graph-{key}{suffix}.pickle"


def load_graph(engine: Engine, *, relevant_only: bool = False) -> tuple[nx.Graph, bool]:
    """(graph, rebuilt): the cached graph if the store has not changed, else a new one."""
    path = cache_path(engine, relevant_only)
    fingerprint = store_fingerprint(engine)
    if path.exists():
        try:
            with path.open("rb") as f:
                graph = pickle.load(f)
            if graph.graph.get("fingerprint") == fingerprint:
                return graph, False
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError):
            pass
    graph = build_graph(engine, relevant_only=relevant_only)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(graph, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return graph, True
