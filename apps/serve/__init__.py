"""``trialkb serve``: the store in a browser, through Datasette, read-only.

Datasette opens the SQLite file with ``mode=ro`` (it cannot write to it); the trial pages read it
through a read-only SQLAlchemy engine. Titles, descriptions, facets and canned queries come from
:mod:`apps.serve.metadata`, the trial page from the plugin in :mod:`apps.serve.plugin`.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Callable

from kb.core.errors import first_line
from kb.store.readonly import sqlite_path

__all__ = ["ServeError", "servable_file", "build_datasette", "run_server"]

HERE = Path(__file__).parent


class ServeError(ValueError):
    """The store cannot be served (not SQLite, missing, not a trialkb store)."""


def servable_file(url: str) -> Path:
    """The file of a SQLite store URL that Datasette can serve; a clear error for anything else."""
    if not url.startswith("sqlite"):
        raise ServeError("Datasette serves SQLite stores only: serve a SQLite copy of this store "
                         "(trialkb serve --copy FILE, or apps.serve.snapshot.copy_to_sqlite)")
    path = sqlite_path(url)
    if path is None:
        raise ServeError("an in-memory store cannot be served: give a SQLite file")
    file = path.expanduser().resolve()
    if not file.is_file():
        raise ServeError(f"no store at {file} (import or crawl first)")
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise ServeError(f"{file} is not a SQLite database ({exc})") from None
    if "trial" not in names:
        raise ServeError(f"{file} is not a trialkb store (no trial table)")
    if "relevant_trial" not in names:
        raise ServeError(f"{file} predates the analyst view relevant_trial: upgrade it (the next "
                         "`trialkb crawl` or `trialkb import` with this version does)")
    return file


DATABASE = "trialkb"
"""The store's name in URLs (/trialkb/relevant_trial), whatever its file is called."""


SQL_TIME_LIMIT_MS = 5000
"""How long a query of the served store may run (Datasette's own limit; ``trialkb sql`` has ``--timeout``)."""


def build_datasette(file: Path, sql_time_limit_ms: int = SQL_TIME_LIMIT_MS) -> Any:
    """A Datasette instance serving the store ``file`` read-only, with trialkb's plugin."""
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.plugins import pm

    from apps.serve import errors, plugin
    from apps.serve.metadata import metadata

    if not pm.is_registered(plugin):
        pm.register(plugin, name="trialkb")
    if not pm.is_registered(errors):  # in place of Datasette's handler (rich tracebacks with locals; 500s)
        pm.unregister(name=errors.DEFAULT_HANDLER)
        pm.register(errors, name="trialkb-errors")
    meta = metadata(DATABASE)
    meta["plugins"] = {"trialkb": {"store": str(file), "database": DATABASE}}
    datasette = Datasette(metadata=meta, template_dir=str(HERE / "templates"),
                          static_mounts=[("trialkb-static", str(HERE / "static"))],
                          settings={"facet_time_limit_ms": 2000, "sql_time_limit_ms": sql_time_limit_ms,
                                    "allow_download": False, "default_page_size": 50})
    datasette.remove_database("_memory")  # Datasette's scratch database when it is given no files
    datasette.add_database(Database(datasette, path=str(file), is_mutable=True), name=DATABASE)  # opened mode=ro
    return datasette


def default_copy_path(url: str) -> Path:
    """Where the SQLite copy of a server store goes by default (the user's cache directory)."""
    from kb.core.location import cache_file

    return cache_file(url, "serve", ".db")


def copy_store(url: str, path: Path, say: Callable[[str], None]) -> Path:
    """Copy the store at ``url`` (PostgreSQL or any) into a SQLite file for Datasette."""
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from kb.store.db import readonly_engine
    from apps.serve.snapshot import copy_to_sqlite

    say(f"copying the store to {path} (Datasette reads SQLite) ...")
    started = time.perf_counter()
    engine = readonly_engine(url)  # the source is only read: never created or upgraded
    try:
        counts = copy_to_sqlite(engine, path)
    except SQLAlchemyError as exc:
        raise ServeError(f"cannot copy the store: {first_line(exc)}") from None
    finally:
        engine.dispose()
    say(f"copied {counts.get('trial', 0)} trials in {time.perf_counter() - started:.1f} s")
    return path


def run_server(url: str, host: str = "127.0.0.1", port: int = 8001, copy: Path | None = None,
               announce: Callable[[str], None] = lambda _: None) -> None:
    """Serve the store at ``url`` until interrupted; a non-SQLite store (or ``copy`` given) through a SQLite copy."""
    import uvicorn

    if copy is not None or not url.startswith("sqlite"):
        url = f"sqlite:///{copy_store(url, Path(copy or default_copy_path(url)).resolve(), announce)}"
    file = servable_file(url)
    app = build_datasette(file).app()
    if host not in ("127.0.0.1", "localhost", "::1"):
        announce(f"warning: listening on {host}: anyone who can reach this machine can read the store")
    logging.getLogger("trialkb.serve").setLevel(logging.INFO)  # one line per refused request or missing trial page
    announce(f"serving http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
