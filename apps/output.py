"""Rows for people and for programs: a table on a terminal, CSV/TSV when piped, JSON with real types,
Markdown for a document.

SQLite hands booleans back as 0/1 and JSON columns as text; PostgreSQL hands back ``True`` and
parsed lists. :func:`typed_rows` makes both the same, from the store's own column types (a result
column named like a Boolean or JSON column of :mod:`kb.store.models`), so ``--format json`` prints
``true`` and ``["CD19"]`` on every database.

CSV and TSV are for spreadsheets (:func:`spreadsheet_cell`): a list reads ``CD19; BCMA``, and text
a spreadsheet would run as a formula (registry text is untrusted) is neutralised as OWASP advises.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import re
from functools import cache
from typing import Any, Iterable, Sequence

from kb.store.read import utc_text

__all__ = ["FORMATS", "pick_format", "typed_rows", "to_json", "to_csv", "to_tsv", "to_markdown", "cell_text",
           "spreadsheet_cell"]

FORMATS = ("table", "csv", "tsv", "json", "markdown")


def pick_format(requested: str | None, is_terminal: bool) -> str:
    """The format asked for, else a table on a terminal and CSV when piped."""
    if requested is None:
        return "table" if is_terminal else "csv"
    fmt = requested.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {requested!r}: use one of {', '.join(FORMATS)}")
    return fmt


@cache
def _column_kinds() -> dict[str, frozenset[str]]:
    """Names of the store's Boolean, JSON and DateTime columns."""
    from sqlalchemy import JSON, Boolean, DateTime, TypeDecorator
    from sqlmodel import SQLModel

    from kb.store import models  # noqa: F401  (registers the tables)

    types = [(c.name, c.type.impl_instance if isinstance(c.type, TypeDecorator) else c.type)
             for table in SQLModel.metadata.tables.values() for c in table.columns]
    return {kind: frozenset(name for name, t in types if isinstance(t, sa_type))
            for kind, sa_type in (("bool", Boolean), ("json", JSON), ("datetime", DateTime))}


def _typed(column: str, value: Any, kinds: dict[str, frozenset[str]]) -> Any:
    """One value as its column's type says it is."""
    if isinstance(value, str):
        if column in kinds["json"] and value[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except ValueError:
                return value
        if column in kinds["datetime"]:
            try:
                return utc_text(dt.datetime.fromisoformat(value))
            except ValueError:
                return value
        return value
    if column in kinds["bool"] and value in (0, 1) and not isinstance(value, bool):
        return bool(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return utc_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def typed_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Rows with booleans as booleans, JSON columns parsed, dates as ISO text."""
    kinds = _column_kinds()
    return [[_typed(c, v, kinds) for c, v in zip(columns, row)] for row in rows]


def cell_text(value: Any) -> str:
    """A typed value as text: '' for NULL, true/false, JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def to_json(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A JSON array of objects, one per row."""
    return json.dumps([dict(zip(columns, row)) for row in typed_rows(columns, rows)],
                      indent=2, ensure_ascii=False)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)."""
_INERT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|-")
"""What stays as it is although it starts like a formula: a number, or a lone dash (the "none" of a table)."""


def spreadsheet_cell(value: Any) -> str:
    r"""A typed value as a spreadsheet cell: lists joined by ``; ``, and text that a spreadsheet
    would run as a formula (leading ``=``, ``+``, ``-``, ``@``, tab or CR) prefixed with ``'`` as
    OWASP advises; numbers (``-3``, ``+1.5e3``) stay numbers, and a lone ``-`` stays a dash.

    >>> spreadsheet_cell(["CD19", "BCMA"]), spreadsheet_cell('=HYPERLINK("http://x","y")'), spreadsheet_cell(-3)
    ('CD19; BCMA', '\'=HYPERLINK("http://x","y")', '-3')
    """
    text = "; ".join(map(cell_text, value)) if isinstance(value, list) else cell_text(value)
    if text.startswith(FORMULA_STARTS) and not _INERT.fullmatch(text):
        return "'" + text
    return text


def _rows_as(columns: Sequence[str], rows: Iterable[Sequence[Any]], typed: bool) -> Iterable[Sequence[Any]]:
    """``rows`` through :func:`typed_rows`, unless the caller's values are typed already (no store columns)."""
    return typed_rows(columns, rows) if typed else rows


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, typed: bool = True) -> str:
    """CSV with a header row (RFC 4180 quoting), each cell a :func:`spreadsheet_cell`.

    ``typed=False``: the values are Python values already, not store columns (no type lookup).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([spreadsheet_cell(c) for c in columns])
    writer.writerows([spreadsheet_cell(v) for v in row] for row in _rows_as(columns, rows, typed))
    return buffer.getvalue()


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def to_tsv(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, typed: bool = True) -> str:
    """TSV with a header row, unquoted, each cell a :func:`spreadsheet_cell`; tab, newline and
    backslash escaped as ``\\t \\n \\\\``."""
    lines = ["\t".join(spreadsheet_cell(c).translate(_TSV_ESCAPES) for c in columns)]
    lines += ["\t".join(spreadsheet_cell(v).translate(_TSV_ESCAPES) for v in row)
              for row in _rows_as(columns, rows, typed)]
    return "\n".join(lines) + "\n"


def _markdown_cell(value: Any) -> str:
    """A cell of a Markdown table: pipes escaped, line breaks as ``<br>``."""
    return cell_text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def to_markdown(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, typed: bool = True) -> str:
    """A GitHub-flavoured Markdown table with a header row.

    >>> print(to_markdown(["a", "b"], [["x|y", "1\\n2"]]), end="")
    | a | b |
    | --- | --- |
    | x\\|y | 1<br>2 |
    """
    lines = ["| " + " | ".join(map(_markdown_cell, columns)) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in _rows_as(columns, rows, typed)]
    return "\n".join(lines) + "\n"
