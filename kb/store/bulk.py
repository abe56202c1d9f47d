"""Many-row INSERT and upsert through the driver's ``executemany``, for SQLite and PostgreSQL.

The hot path of an import and a crawl: SQLAlchemy's per-row parameter processing of a
compiled ``insert()`` cost more than the database's own work. Here a statement is built once
per table and dialect, and rows become tuples through each column's own bind processor (JSON,
datetimes, binary), so values are stored exactly as SQLAlchemy would store them. Both dialects
share the ``INSERT ... ON CONFLICT (keys) DO UPDATE SET c = excluded.c`` syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from sqlalchemy import JSON, Column, Connection, Table
from sqlalchemy.engine import Dialect

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter): bounded statements and transactions.

    >>> list(chunks(range(5), 2))
    [[0, 1], [2, 3], [4]]
    """
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@lru_cache(maxsize=64)
def bound_columns(table: Table) -> tuple[Column, ...]:
    """The columns a bulk insert gives values for: all but an autoincrement key (the database numbers it)."""
    return tuple(c for c in table.columns if c is not table.autoincrement_column)


@lru_cache(maxsize=64)
def _layout(table: Table) -> tuple[list[str], list[int]]:
    """Names of the bound columns, and the positions of the JSON ones."""
    columns = bound_columns(table)
    return [c.name for c in columns], [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]


@lru_cache(maxsize=64)
def _getter(table: Table) -> Callable[[dict[str, Any]], tuple]:
    """A row's values in column order, for a row that has every column's key (a tuple even for one column)."""
    names, _ = _layout(table)
    get = itemgetter(*names)
    return get if len(names) > 1 else lambda row: (get(row),)


def table_rows(table: Table, rows: Sequence[dict[str, Any]]) -> list[tuple]:
    """Rows as tuples in the table's column order, JSON columns serialized (orjson).

    Dialect-free, so it runs in a worker process; missing keys are NULL. Rows with every key (the
    normalizer's) are read with one ``itemgetter`` call each, a quarter of the time of a ``get`` per
    column; :func:`table_rows_plain` is the plain way, and a test compares the two.
    """
    try:
        out = list(map(_getter(table), rows))
    except KeyError:
        return table_rows_plain(table, rows)
    return _json_dumped(table, out)


def table_rows_plain(table: Table, rows: Sequence[dict[str, Any]]) -> list[tuple]:
    """:func:`table_rows`, one ``get`` per column."""
    names, _ = _layout(table)
    return _json_dumped(table, [tuple(map(row.get, names)) for row in rows])


def _json_dumped(table: Table, out: list[tuple]) -> list[tuple]:
    """``out`` with the values of the JSON columns serialized (None stays NULL)."""
    _, json_at = _layout(table)
    if not json_at:
        return out
    dumps = orjson.dumps
    for n, row in enumerate(out):
        if any(row[i] is not None for i in json_at):
            values = list(row)
            for i in json_at:
                if values[i] is not None:
                    values[i] = dumps(values[i]).decode()
            out[n] = tuple(values)
    return out


def insert_tuples(conn: Connection, table: Table, rows: Sequence[tuple]) -> None:
    """Plain INSERT of many rows given as tuples in column order, already bound (:func:`table_rows`).

    On PostgreSQL through ``COPY``, in the connection's transaction.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        columns = ", ".join(quote(c.name) for c in bound_columns(table))
        with conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    conn.exec_driver_sql(_statement(conn.dialect, table, (), None), list(rows))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain INSERT of many rows given as dicts (missing columns take their default or NULL)."""
    if rows:
        conn.exec_driver_sql(_statement(conn.dialect, table, (), None), _bind(conn.dialect, table, rows))


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
           update_columns: Sequence[str] | None = None) -> None:
    """Insert rows, updating ``update_columns`` (all non-key columns by default) on key conflict.

    ``update_columns=()`` means insert-or-ignore. Rows are deduplicated by key first (the last
    one wins), as PostgreSQL refuses to update one row twice in a statement. A column missing
    from a row takes its scalar default or NULL.
    """
    if update_columns is None:
        update_columns = [c.name for c in bound_columns(table) if c.name not in keys]
    upsert_tuples(conn, table, _bind(conn.dialect, table, rows), keys, update_columns)


def upsert_tuples(conn: Connection, table: Table, rows: Sequence[tuple], keys: Sequence[str],
                  update_columns: Sequence[str]) -> None:
    """:func:`upsert` for rows already bound, as tuples in column order (:func:`table_rows`)."""
    if not rows:
        return
    names, _ = _layout(table)
    at = [names.index(k) for k in keys]
    unique = list({tuple(r[i] for i in at): r for r in rows}.values())
    conn.exec_driver_sql(_statement(conn.dialect, table, tuple(keys), tuple(update_columns)), unique)


def upsert_filling(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
                   fill: Sequence[str]) -> None:
    """Insert rows; on a key conflict, set only the ``fill`` columns the stored row has NULL (a known value is
    never overwritten, nor lost to a row that lacks it). Rows are merged by key first: each column keeps its
    first non-NULL value."""
    names, _ = _layout(table)
    at, fill_at = [names.index(k) for k in keys], [names.index(c) for c in fill]
    merged: dict[tuple, tuple] = {}
    for row in _bind(conn.dialect, table, rows):
        key = tuple(row[i] for i in at)
        kept = merged.setdefault(key, row)
        if kept is not row and any(kept[i] is None and row[i] is not None for i in fill_at):
            merged[key] = tuple(row[i] if i in fill_at and kept[i] is None else value for i, value in enumerate(kept))
    if not merged:
        return
    quote = conn.dialect.identifier_preparer.quote
    name = quote(table.name)
    sql = _statement(conn.dialect, table, (), None) + f" ON CONFLICT ({', '.join(map(quote, keys))}) DO UPDATE SET "
    sql += ", ".join(f"{quote(c)} = COALESCE({name}.{quote(c)}, excluded.{quote(c)})" for c in fill)
    sql += " WHERE " + " OR ".join(f"({name}.{quote(c)} IS NULL AND excluded.{quote(c)} IS NOT NULL)" for c in fill)
    conn.exec_driver_sql(sql, list(merged.values()))


COPY_FROM = 100
"""Rows from which :func:`copy_upsert` goes through COPY on PostgreSQL."""


def copy_upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """:func:`upsert` of every column; on PostgreSQL, for many rows, through ``COPY`` into a temporary
    table and one ``INSERT ... SELECT ... ON CONFLICT`` (COPY: a seventh of executemany's time, NOTES.md)."""
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        upsert(conn, table, rows, keys)
        return
    quote = conn.dialect.identifier_preparer.quote
    names, _ = _layout(table)
    at = [names.index(k) for k in keys]
    unique = list({tuple(r[i] for i in at): r for r in _bind(conn.dialect, table, rows)}.values())
    temp, columns = quote(f"{table.name}_in"), ", ".join(map(quote, names))
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} (LIKE {quote(table.name)}) "
                         "ON COMMIT DELETE ROWS")
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {temp} ({columns}) FROM STDIN") as copy:
            for row in unique:
                copy.write_row(row)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in names if c not in keys)
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({columns}) SELECT {columns} FROM {temp} "
                         f"ON CONFLICT ({', '.join(map(quote, keys))}) DO UPDATE SET {updates}")
    conn.exec_driver_sql(f"DELETE FROM {temp}")  # the caller may write more before it commits


def bind_values(dialect: Dialect, table: Table, values: dict[str, Any]) -> tuple:
    """``values`` of some columns, processed for ``dialect`` as SQLAlchemy would bind them."""
    names, _, processors = _binders(dialect, table)
    by_name = {names[i]: process for i, process in processors}
    return tuple(by_name[k](v) if k in by_name else v for k, v in values.items())


def with_values(row: tuple, positions: Sequence[int], values: Sequence[Any]) -> tuple:
    """``row`` with ``values`` at ``positions``."""
    out = list(row)
    for i, value in zip(positions, values):
        out[i] = value
    return tuple(out)


@lru_cache(maxsize=256)
def _statement(dialect: Dialect, table: Table, keys: tuple[str, ...], update: tuple[str, ...] | None) -> str:
    """INSERT of the bound columns of ``table``; with ``keys``, ON CONFLICT update ``update`` (or nothing)."""
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    columns = bound_columns(table)
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
           f"VALUES ({', '.join([marker] * len(columns))})")
    if keys:
        sql += f" ON CONFLICT ({', '.join(map(quote, keys))}) "
        sql += (f"DO UPDATE SET {', '.join(f'{quote(c)} = excluded.{quote(c)}' for c in update)}" if update
                else "DO NOTHING")
    return sql


@lru_cache(maxsize=256)
def _binders(dialect: Dialect, table: Table) -> tuple[list[str], list[Any], list[tuple[int, Callable]]]:
    """Column names, their scalar defaults, and the (position, bind processor) pairs that apply."""
    columns = bound_columns(table)
    names = [c.name for c in columns]
    defaults = [c.default.arg if c.default is not None and c.default.is_scalar else None for c in columns]
    processors = [(i, p) for i, c in enumerate(columns) if (p := c.type.dialect_impl(dialect).bind_processor(dialect))]
    return names, defaults, processors


def _bind(dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]) -> list[tuple]:
    """Rows as tuples in column order, each value processed as SQLAlchemy would bind it."""
    names, defaults, processors = _binders(dialect, table)
    pairs = list(zip(names, defaults))
    out = []
    for row in rows:
        values = [row.get(name, default) for name, default in pairs]
        for i, process in processors:
            values[i] = process(values[i])
        out.append(tuple(values))
    return out
