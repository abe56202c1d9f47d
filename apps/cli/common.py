"""What every command shares: the consoles, the store option, clean domain errors.

Imports stay light here (no SQLAlchemy, Scrapy or networkx): each command imports what it needs
when it runs, so ``trialkb --help`` and a lookup start fast.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup

from kb.core.errors import BadArgument, TrialkbError, store_or_file_error
from kb.core.location import ENV_VAR

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kb.store.readonly import ReadOnlyStore

class LazyConsole:
    """A rich Console made on first use: importing rich costs every start 14 ms, ``--help`` included."""

    def __init__(self, **options: Any) -> None:
        self._options: dict[str, Any] = options
        self._console: Any = None

    @property
    def real(self) -> Any:
        """The Console itself (for rich objects that take one: Live, Progress)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


console = LazyConsole()
err = LazyConsole(stderr=True)

DB_HELP = "Store: a SQLite path or a postgresql:// URL; default ~/.local/share/trialkb/trialkb.db"
DbOption = Annotated[Optional[str], typer.Option("--db", help=DB_HELP + " (also before the command)")]
"""Every command takes ``--db`` after its name too; it wins over the one before the command."""


NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Fail at once if another import, crawl or rebuild "
                                                                "is writing to the store (default: wait for it)")]


def say_waiting(message: str) -> None:
    """Tell the user (on stderr) that the command waits for the store's writer lock."""
    err.print(message, highlight=False, soft_wrap=True)


def print_warnings(out: LazyConsole, warnings: Sequence[tuple[str, str]], limit: int) -> None:
    """A job's first ``limit`` warnings under its summary, and where the rest are."""
    from kb.store.runlog import WARNINGS_KEPT
    from kb.store.write import warning_lines

    for line in warning_lines(warnings, limit):
        more = f" (the first {WARNINGS_KEPT} are in the run log: trialkb runs)" if line.startswith("...") else ""
        out.print(f"  {line}{more}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a domain error as one line and exit (1, or 130 for an interrupt)."""
    err.print(f"[red]Error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def clean_error(exc: BaseException) -> tuple[str, int] | None:
    """(message, exit code) for an error the user should see as one line; None for a bug."""
    if isinstance(exc, TrialkbError):
        return str(exc), getattr(exc, "exit_code", 1)
    if isinstance(exc, typer.BadParameter):
        return exc.format_message(), 1
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if (line := store_or_file_error(exc)) is not None:
        return line, 1
    return None


class CleanErrors(TyperGroup):
    """The app's command group: a domain, database or file error of any command is one line and exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except BaseException as exc:  # noqa: BLE001 - sorted by clean_error; bugs re-raised
            clean = clean_error(exc)
            if clean is None:
                raise
            fail(*clean)


def at_least(minimum: int) -> Any:
    """An option callback refusing values below ``minimum`` (``--top -3``, ``--limit 0``)."""
    def check(ctx: typer.Context, param: Any, value: int | None) -> int | None:
        if value is not None and value < minimum:
            raise BadArgument(f"--{param.name} must be at least {minimum}, got {value}")
        return value
    return check


def store_url(ctx: typer.Context, db: str | None = None) -> str | None:
    """The store the user named: the command's ``--db``, else the one before the command (or env)."""
    return db or (ctx.obj or {}).get("db")


def engine_from(ctx: typer.Context, db: str | None = None, *, readonly: bool = False, wait: bool = True) -> Engine:
    """The store named by --db / TRIALKB_DB, schema ready; with ``readonly`` an existing store
    opened read-only (never created or upgraded). A store another writer is creating or upgrading is
    waited for, saying so (``wait`` False: :class:`kb.process.lock.LockBusy`, as --no-wait asks). Other errors
    are :class:`kb.core.errors.StoreError`."""
    from kb.store.db import open_store, readonly_engine

    url = store_url(ctx, db)
    engine = readonly_engine(url) if readonly else open_store(url, wait=wait, on_wait=say_waiting)
    ctx.call_on_close(engine.dispose)  # its connections closed when the command ends (SQLite: the log copied)
    return engine


def reader_from(ctx: typer.Context, db: str | None = None) -> ReadOnlyStore:
    """A read-only connection to the existing store, without SQLAlchemy (:mod:`kb.store.readonly`)."""
    from kb.store.readonly import open_readonly

    return open_readonly(store_url(ctx, db))


FORMAT_HELP = "table, csv, tsv, json or markdown (default: a table on a terminal, CSV when piped)"
FormatOption = Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)]


def print_rows(columns: list[str], rows: list[tuple], fmt: str | None = None,
               table_columns: list[str] | None = None) -> None:
    """Query results in ``fmt`` (see :func:`apps.output.pick_format`): table, csv, tsv, json or markdown.

    ``table_columns``: the columns a table shows (a terminal is narrower than a CSV file).
    """
    from apps.output import pick_format, to_csv, to_json, to_markdown, to_tsv, typed_rows

    try:
        fmt = pick_format(fmt, console.is_terminal)
    except ValueError as exc:
        fail(str(exc))
    if fmt == "json":
        typer.echo(to_json(columns, rows))
    elif fmt in ("csv", "tsv", "markdown"):
        typer.echo({"csv": to_csv, "tsv": to_tsv, "markdown": to_markdown}[fmt](columns, rows), nl=False)
    else:
        from rich.box import SIMPLE_HEAD
        from rich.table import Table

        keep = [columns.index(c) for c in table_columns or columns]
        cells = [[_table_cell(row[i]) for i in keep] for row in typed_rows(columns, rows)]
        table = Table(*(columns[i] for i in keep), box=SIMPLE_HEAD)
        widths = [max((len(line) for row in cells for line in row[n].splitlines()), default=0)
                  for n in range(len(keep))]
        for n, column in enumerate(table.columns):  # ids, dates and counts never wrap; longer text folds
            column.no_wrap, column.overflow = widths[n] <= 12, "fold"
        for row in cells:
            table.add_row(*row)
        console.print(table)


def _table_cell(value: object) -> str:
    """A value as a table shows it: lists comma-separated, objects one ``key: value`` a line."""
    from apps.output import cell_text

    if isinstance(value, list):
        return ", ".join(map(cell_text, value))
    if isinstance(value, dict):
        return "\n".join(f"{k}: {cell_text(v)}" for k, v in value.items())
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?", value):
        return value[:19].replace("T", " ") + " UTC"  # to the second, with its zone
    return cell_text(value)


def main_options(ctx: typer.Context,
                 db: Annotated[Optional[str], typer.Option("--db", envvar=ENV_VAR, help=DB_HELP)] = None,
                 verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log warnings and progress")] = False,
                 ) -> None:
    """trialkb: crawl, store and compare CAR cell-therapy trials in immune-mediated disease."""
    import logging

    if ctx.invoked_subcommand != "crawl":  # Scrapy installs its own log handler
        logging.basicConfig(level=logging.INFO if verbose else logging.ERROR,
                            format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"db": db, "verbose": verbose}
