"""Opening a store for reading only, with a light import footprint (no SQLAlchemy).

:func:`open_readonly` never creates a file or a table: SQLite is opened by URI with
``mode=ro`` (``immutable=1`` when the file sits on read-only media, where SQLite cannot make
its ``-shm`` file), PostgreSQL through psycopg with ``default_transaction_read_only`` on. It
checks the store's schema revision, and every failure is a :class:`kb.core.errors.StoreError` whose
message says what is wrong ("no store at PATH", "cannot open the store: ...").

:func:`run_sql` runs the text of ``trialkb sql`` where the database itself refuses writes:
exactly one statement (split by sqlparse, and again by the database: SQLite's prepare and
PostgreSQL's extended query protocol refuse a second one), of a reading kind (SELECT, WITH,
VALUES, TABLE, EXPLAIN, SHOW, PRAGMA). On SQLite the connection is read-only by URI and an
authorizer allows only reads (no ATTACH, no VACUUM INTO, no PRAGMA that sets a value). On
PostgreSQL it runs as a prepared statement inside a READ ONLY transaction that already holds
its snapshot (so ``SET TRANSACTION READ WRITE`` is refused), as the role ``pg_read_all_data``
when the login is a superuser (no server files, no programs), and the transaction is rolled back.
A statement still running after its time limit (``--timeout``, default 30 s) is stopped by the
database: SQLite's progress handler, PostgreSQL's ``statement_timeout``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.core.errors import CannotOpen, NoStore, ReadOnlyViolation, SchemaMismatch, TrialkbError, first_line
from kb.core.location import SCHEMA_REVISION, default_url, normalize_url, without_password

__all__ = ["ReadOnlyStore", "QueryFailed", "QueryTimeout", "DEFAULT_TIMEOUT", "open_readonly", "run_sql", "sqlite_path", "dialect_of",
           "connect_sqlite_readonly", "READING_STATEMENTS"]

READING_STATEMENTS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "EXPLAIN", "SHOW", "PRAGMA"})
"""The kinds of statement ``trialkb sql`` runs (first keyword); anything else is refused before the database sees it."""


class QueryFailed(TrialkbError):
    """A query the database could not run (syntax error, unknown column...)."""


class QueryTimeout(QueryFailed):
    """A query stopped by its time limit."""


BUSY_TIMEOUT_SECONDS = 30
"""How long a SQLite connection of the store waits for a lock another connection holds (read-only ones
here, writing ones in :mod:`kb.store.db`)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds ``trialkb sql`` lets a query run: a runaway query (a recursive CTE without end) would
otherwise hold a core until killed."""
_TICKS = 10_000
"""SQLite virtual-machine steps between two looks at the clock (well under a millisecond)."""


@dataclass
class ReadOnlyStore:
    """A read-only DB-API connection to a store: ``dialect`` is ``"sqlite"`` or ``"postgresql"``."""

    dialect: str
    connection: Any  # sqlite3.Connection | psycopg.Connection
    location: str
    _release: Any = None  # how to let the connection go when it is not ours to close

    @property
    def placeholder(self) -> str:
        """The parameter marker of the driver (``?`` or ``%s``)."""
        return "?" if self.dialect == "sqlite" else "%s"

    def query(self, sql: str, params: tuple | list = ()) -> tuple[list[str], list[tuple]]:
        """(columns, rows) of a query written by trialkb itself (not user text: see :func:`run_sql`)."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params)
            columns = [d[0] for d in cursor.description or ()]
            return columns, [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()
            if self.dialect == "postgresql":
                self.connection.rollback()

    def close(self) -> None:
        if self._release is not None:
            self._release()
        else:
            self.connection.close()

    def __enter__(self) -> ReadOnlyStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def dialect_of(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a store URL, :class:`CannotOpen` for any other database."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise CannotOpen(f"cannot open the store: {scheme!r} databases are not supported "
                     "(use a SQLite path or a postgresql:// URL)")


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, also in URI form (``sqlite:///file:PATH?mode=ro``); None
    for an in-memory database. The one reader of a SQLite URL's path.

    >>> sqlite_path("sqlite:////tmp/kb.db"), sqlite_path("sqlite:///file:/tmp/kb.db?mode=ro&uri=true")
    (PosixPath('/tmp/kb.db'), PosixPath('/tmp/kb.db'))
    >>> sqlite_path("sqlite://") is None, sqlite_path("sqlite:///:memory:") is None
    (True, True)
    """
    rest = url.split("://", 1)[1]
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0].removeprefix("file:")
    return Path(path) if path and path != ":memory:" else None


def connect_sqlite_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing SQLite file; immutable on read-only media. Creates nothing."""
    if not path.is_file():
        raise NoStore(f"no store at {path}" + ("" if path.parent.is_dir() else f" (no directory {path.parent})"))
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError as exc:
        if os.access(path.parent, os.W_OK) and os.access(path, os.R_OK):
            raise CannotOpen(f"cannot open the store at {path}: {exc}") from None
        # read-only media: SQLite cannot create the -shm file of a WAL database; nobody writes here
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False)
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.Error as again:
            raise CannotOpen(f"cannot open the store at {path}: {again}") from None
    except sqlite3.DatabaseError as exc:
        raise CannotOpen(f"cannot open the store at {path}: {exc}") from None


def _connect_postgres(url: str) -> Any:
    """A psycopg connection whose transactions are read-only by default."""
    try:
        import psycopg
    except ImportError:
        raise CannotOpen("cannot open the store: PostgreSQL needs psycopg (pip install 'trialkb[postgres]')") from None
    conninfo = "postgresql://" + url.split("://", 1)[1]
    try:
        conn = psycopg.connect(conninfo, connect_timeout=10)
    except psycopg.Error as exc:
        raise CannotOpen(f"cannot open the store: {first_line(exc)}") from None
    conn.read_only = True
    with conn.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
    conn.rollback()
    return conn


def _check_revision(store: ReadOnlyStore) -> None:
    """:class:`NoStore` / :class:`SchemaMismatch` unless the store is at :data:`SCHEMA_REVISION`."""
    try:
        _, rows = store.query("SELECT version_num FROM alembic_version")
    except (sqlite3.Error, Exception) as exc:  # noqa: BLE001 - psycopg is optional: any driver error here
        if store.dialect == "postgresql":
            store.connection.rollback()
        raise NoStore(f"no store at {store.location} (no trialkb tables there)") from exc
    revision = rows[0][0] if rows else None
    if revision != SCHEMA_REVISION:
        hint = ("made by a newer trialkb" if revision and revision > SCHEMA_REVISION
                else "run `trialkb import` or `trialkb rebuild` once to upgrade it")
        raise SchemaMismatch(f"the store at {store.location} is at schema revision {revision}, "
                             f"this trialkb reads {SCHEMA_REVISION} ({hint})")


def open_readonly(url: str | None = None, *, check: bool = True) -> ReadOnlyStore:
    """A read-only connection to the existing store at ``url`` (default the user's store).

    Raises :class:`NoStore` when there is none (never creating one), :class:`CannotOpen` when it
    cannot be reached or its database is not supported, :class:`SchemaMismatch` when its schema
    revision is not this trialkb's.
    """
    url = normalize_url(url or default_url())
    dialect = dialect_of(url)
    if dialect == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise NoStore("no store in an in-memory SQLite database")
        store = ReadOnlyStore("sqlite", connect_sqlite_readonly(path), str(path))
    else:
        store = ReadOnlyStore("postgresql", _connect_postgres(url), _display(url))
    if check:
        try:
            _check_revision(store)
        except BaseException:
            store.close()
            raise
    return store


def _display(url: str) -> str:
    """A URL as people write it: without its password or driver."""
    scheme, rest = without_password(url).split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


# ---- trialkb sql --------------------------------------------------------------------------------

def one_statement(text: str) -> str:
    """``text`` if it holds exactly one statement of a reading kind, else :class:`ReadOnlyViolation`."""
    import sqlparse

    statements = [s for s in sqlparse.parse(text) if s.token_first(skip_ws=True, skip_cm=True) is not None]
    if not statements:
        raise ReadOnlyViolation("no SQL statement given")
    if len(statements) > 1:
        raise ReadOnlyViolation(f"refused: trialkb sql runs exactly one statement, got {len(statements)}")
    first = statements[0].token_first(skip_ws=True, skip_cm=True).normalized.upper()
    if first not in READING_STATEMENTS:
        raise ReadOnlyViolation(f"refused: trialkb sql is read-only; it runs queries "
                                f"({', '.join(sorted(READING_STATEMENTS))}), not {first}")
    return text


_TABLE_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                            "foreign_key_list"})
_VALUE_PRAGMAS = frozenset({"table_list", "user_version", "schema_version", "page_count", "page_size",
                            "encoding", "journal_mode", "foreign_keys", "compile_options", "function_list",
                            "collation_list", "pragma_list"})


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    """SQLite authorizer of user SQL: reads only (no ATTACH, VACUUM INTO, writes, PRAGMA that sets)."""
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        # a table-valued function (json_each, json_tree) declares its columns this way; a statement can never
        # change sqlite_master itself (SQLite refuses it, and the connection is read-only by URI)
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _TABLE_PRAGMAS or (name in _VALUE_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _refusal(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in ("read-only", "readonly", "not authorized", "permission denied",
                                            "one statement", "multiple commands", "read-write", "query_only"))


def run_sql(store: ReadOnlyStore, text: str, limit: int | None = None,
            timeout: float | None = DEFAULT_TIMEOUT) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of one reading statement; the database refuses writes (see the module doc).

    A statement still running after ``timeout`` seconds (None or 0: no limit) is stopped:
    :class:`QueryTimeout`.
    """
    statement = one_statement(text)
    if timeout is not None and timeout < 0:
        raise ValueError(f"the time limit must be positive, got {timeout}")
    if store.dialect == "sqlite":
        return _run_sqlite(store.connection, statement, limit, timeout or None)
    return _run_postgres(store.connection, statement, limit, timeout or None)


def _stopped(timeout: float) -> QueryTimeout:
    return QueryTimeout(f"query stopped: still running after its time limit of {timeout:g} s")


def _run_sqlite(conn: sqlite3.Connection, statement: str, limit: int | None,
                timeout: float | None = None) -> tuple[list[str], list[tuple]]:
    conn.set_authorizer(_authorize)
    deadline = time.monotonic() + timeout if timeout else None
    if deadline is not None:
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _TICKS)
    try:
        cursor = conn.execute(statement)
        if cursor.description is None:
            raise ReadOnlyViolation("the statement returned no rows; only queries are allowed")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
        return columns, [tuple(r) for r in rows]
    except (sqlite3.Error, sqlite3.Warning) as exc:  # Warning: "You can only execute one statement at a time."
        message = first_line(exc)
        if deadline is not None and message == "interrupted" and time.monotonic() > deadline:
            raise _stopped(timeout) from None
        if _refusal(message):
            raise ReadOnlyViolation(f"refused: trialkb sql is read-only ({message})") from None
        raise QueryFailed(f"query failed: {message}") from None
    finally:
        conn.set_progress_handler(None, 0)
        conn.set_authorizer(None)
        if conn.in_transaction:
            conn.rollback()


def _run_postgres(conn: Any, statement: str, limit: int | None,
                  timeout: float | None = None) -> tuple[list[str], list[tuple]]:
    import psycopg

    conn.rollback()
    conn.read_only = True  # BEGIN READ ONLY
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT to_regrole('pg_read_all_data') IS NOT NULL AND "
                           "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
            # the snapshot is taken: the statement can no longer make this transaction read-write
            if cursor.fetchone()[0]:
                cursor.execute("SET LOCAL ROLE pg_read_all_data")
            cursor.execute(f"SET LOCAL statement_timeout = {round(timeout * 1000) if timeout else 0}")
            # prepare=True: the extended query protocol, which refuses a second statement
            cursor.execute(statement, prepare=True)
            if cursor.description is None:
                raise ReadOnlyViolation("the statement returned no rows; only queries are allowed")
            columns = [d.name for d in cursor.description]
            rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
            return columns, [tuple(r) for r in rows]
    except psycopg.Error as exc:
        message = first_line(exc)
        if isinstance(exc, psycopg.errors.QueryCanceled) and timeout:
            raise _stopped(timeout) from None
        if isinstance(exc, (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)) \
                or _refusal(message):
            raise ReadOnlyViolation(f"refused: trialkb sql is read-only ({message})") from None
        raise QueryFailed(f"query failed: {message}") from None
    finally:
        conn.rollback()
