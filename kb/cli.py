"""The ``trialkb`` command: a thin layer over the library.

Commands are grouped by topic: store commands here, ``crawl`` in :mod:`crawler.cli`,
``similar`` and ``graph`` in :mod:`graph.cli`. Domain errors print a clean message and exit 1.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kb.db import ENV_VAR, open_store
from kb.importer import import_paths
from kb.queries import NotFound, ReadOnlyViolation, get_history, get_trial, run_readonly_sql
from kb.sources import count_inputs

app = typer.Typer(help="Knowledge base of CAR cell-therapy trials in autoimmune disease.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)


def fail(message: str) -> None:
    """Print a domain error and exit 1."""
    err.print(f"[red]Error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@app.callback()
def main_options(ctx: typer.Context,
                 db: Annotated[Optional[str], typer.Option(
                     "--db", envvar=ENV_VAR, help="Store URL (any SQLAlchemy URL) or SQLite path; "
                     "default ~/.local/share/trialkb/trialkb.db")] = None,
                 verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log warnings and progress")] = False,
                 ) -> None:
    """trialkb: crawl, store and compare CAR cell-therapy trials in immune-mediated disease."""
    if ctx.invoked_subcommand != "crawl":  # Scrapy installs its own log handler
        logging.basicConfig(level=logging.INFO if verbose else logging.ERROR,
                            format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"db": db}


def engine_from(ctx: typer.Context) -> Engine:
    """The store named by --db / TRIALKB_DB, schema ready."""
    try:
        return open_store(ctx.obj.get("db") if ctx.obj else None)
    except (SQLAlchemyError, OSError) as exc:
        fail(f"cannot open the store: {str(exc).splitlines()[0]}")
        raise  # unreachable


@app.command("import")
def import_command(ctx: typer.Context,
                   paths: Annotated[list[Path], typer.Argument(help="Files, directories or zip archives")],
                   batch_size: Annotated[int, typer.Option(help="Studies per committed batch")] = 500,
                   ) -> None:
    """Import API v2 study JSON: one study, a search page, an array, JSON Lines, a directory or a zip.

    Example: trialkb import ctgov-archive.zip
    """
    engine = engine_from(ctx)
    total = sum(count_inputs(p) or 0 for p in paths) or None
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("import", total=total)
        summary = import_paths(engine, paths, batch_size=batch_size,
                               on_batch=lambda n: progress.advance(task, n))
    c = summary.counts()
    console.print(f"read {c['read']}, new {c['new']}, changed {c['changed']}, unchanged {c['unchanged']}, "
                  f"rejected {c['rejected']}, warnings {c['warnings']}", highlight=False)
    for rejected in summary.rejected[:50]:
        console.print(f"  rejected {rejected.origin}: {rejected.reason}", highlight=False, soft_wrap=True)
    if len(summary.rejected) > 50:
        console.print(f"  ... and {len(summary.rejected) - 50} more (see the run log: trialkb runs)")


@app.command()
def show(ctx: typer.Context, nct_id: str,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Show one trial: status, phases, conditions, targets, cell type, products, and the evidence.

    Example: trialkb show NCT06464679 --json
    """
    try:
        trial = get_trial(engine_from(ctx), nct_id)
    except NotFound as exc:
        fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(trial, indent=2, ensure_ascii=False, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in trial.items():
        if key == "evidence":
            continue
        if key in ("targets", "cell_type", "origin", "products", "disease_categories") and value:
            where = trial["evidence"].get({"disease_categories": "disease", "targets": "target",
                                           "products": "product"}.get(key, key), {})
            values = value if isinstance(value, list) else [value]
            value = "; ".join(f"{v} (from {', '.join(sorted(set(where.get(v, []))))})" for v in values)
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


@app.command()
def history(ctx: typer.Context, nct_id: str,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Show when a trial was first stored and every change since, field by field.

    Example: trialkb history NCT06464679
    """
    try:
        record = get_history(engine_from(ctx), nct_id)
    except NotFound as exc:
        fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    console.print(f"{record['nct_id']}: first stored {record['first_seen_at']}, "
                  f"{len(record['versions'])} change(s)", highlight=False)
    for version in record["versions"]:
        console.print(f"[bold]{version['recorded_at']}[/bold] from {version['source']}")
        for name, (old, new) in version["diff"].items():
            console.print(f"  {name}: {old!r} -> {new!r}", highlight=False, soft_wrap=True)


@app.command()
def sql(ctx: typer.Context, statement: str,
        as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects")] = False,
        limit: Annotated[Optional[int], typer.Option(help="At most this many rows")] = None) -> None:
    """Run a read-only SQL query against the store (writes are refused by the database).

    Example: trialkb sql "SELECT nct_id, title FROM car_trial WHERE targets LIKE '%CD19%'"
    """
    try:
        columns, rows = run_readonly_sql(engine_from(ctx), statement, limit)
    except ReadOnlyViolation as exc:
        fail(str(exc))
        return
    except SQLAlchemyError as exc:
        fail(f"query failed: {str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}")
        return
    if as_json:
        typer.echo(json.dumps([dict(zip(columns, r)) for r in rows], indent=2, default=str, ensure_ascii=False))
        return
    print_rows(columns, rows)


@app.command()
def rebuild(ctx: typer.Context) -> None:
    """Re-normalize every stored raw record with this version's normalizer and extraction rules.

    Run it after upgrading trialkb: no crawl needed, and no version rows (the records did not change).

    Example: trialkb rebuild
    """
    from kb.importer import rebuild_store

    engine = engine_from(ctx)
    with Progress(TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("rebuild", total=None)
        result = rebuild_store(engine, on_batch=lambda n: progress.advance(task, n))
    console.print(f"rebuilt {result.changed} trials, {len(result.rejected)} could not be re-normalized",
                  highlight=False)
    for rejected in result.rejected[:20]:
        console.print(f"  {rejected.nct_id}: {rejected.reason}", highlight=False)


@app.command()
def runs(ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many runs")] = 10) -> None:
    """List the latest job runs (imports, crawls) with their counts.

    Example: trialkb runs --limit 5
    """
    columns, rows = run_readonly_sql(
        engine_from(ctx), f"SELECT id, kind, status, started_at, finished_at, counts FROM run_log "
                          f"ORDER BY id DESC LIMIT {int(limit)}")
    print_rows(columns, rows)


def print_rows(columns: list[str], rows: list[tuple]) -> None:
    """Query results as a table."""
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def register_groups() -> None:
    """Add the commands that live with the crawler and the graph (once)."""
    if getattr(register_groups, "done", False):
        return
    from crawler.cli import register as register_crawler
    from graph.cli import register as register_graph

    register_crawler(app)
    register_graph(app)
    register_groups.done = True  # type: ignore[attr-defined]


def main() -> None:
    """Console-script entry point."""
    register_groups()
    app()
