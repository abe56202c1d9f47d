"""Store commands: ``import``, ``show``, ``history``, ``sql``, ``rebuild``, ``runs``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.core.errors import BadArgument
from apps.cli.common import (DbOption, FormatOption, NoWaitOption, at_least, console, engine_from, err, fail, print_rows,
                             print_warnings, reader_from, say_waiting)


def _progress(label: str, unit: str = "studies"):  # type: ignore[no-untyped-def]
    """A transient progress bar on stderr with the rate and the time left (hidden when stderr is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    rate = TextColumn(f"{{task.fields[rate]}} {unit}/s")
    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), rate, TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=err.real, transient=True,
                        disable=not err.is_terminal)
    return progress


def _advance(progress, task, n: int) -> None:  # type: ignore[no-untyped-def]
    """Advance a task and show its rate (rich's own estimate, over the last half minute)."""
    progress.advance(task, n)
    speed = progress.tasks[task].speed
    progress.update(task, rate=f"{speed:,.0f}" if speed else "-")


def import_command(ctx: typer.Context,
                   paths: Annotated[list[Path], typer.Argument(help="Files, directories or zip archives")],
                   batch_size: Annotated[int, typer.Option(help="Studies per committed batch")] = 500,
                   relevant_only: Annotated[bool, typer.Option(
                       "--relevant-only", help="Store only CAR cell-therapy trials (every study is read, "
                                               "classified and kept in the import ledger)")] = False,
                   cell_therapy: Annotated[bool, typer.Option(
                       "--cell-therapy", help="With --relevant-only: every cell-therapy trial too")] = False,
                   workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: one per core)",
                                                                  callback=at_least(0))] = None,
                   no_wait: NoWaitOption = False,
                   db: DbOption = None) -> None:
    """Import API v2 study JSON: one study, a search page, an array, JSON Lines, a directory or a zip.

    Only regular files are read, each up to TRIALKB_MAX_FILE_MB (512) MiB; large arrays and
    search pages are read study by study. Waits while another import, crawl or rebuild writes to
    the store (--no-wait: fail at once). Exit status: 0 something stored, 1 nothing stored or an
    error, 130 interrupted.

    The registry's whole archive, keeping only CAR trials (a second import re-reads only what changed):
    trialkb import ctg-studies.json.zip --relevant-only

    Example: trialkb import ctgov-archive.zip
    """
    from kb.core.errors import NothingImported
    from kb.ingest.importer import import_paths, import_status
    from kb.ingest.sources import count_inputs

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise BadArgument(f"no such file or directory: {', '.join(missing)} (nothing imported)")
    if cell_therapy and not relevant_only:
        raise BadArgument("--cell-therapy selects what --relevant-only keeps: give both")
    selection = ("cell" if cell_therapy else "car") if relevant_only else None
    engine = engine_from(ctx, db, wait=not no_wait)
    with _progress("importing") as progress:
        shown = not progress.disable  # a bar on a terminal: its total is worth a look at the inputs first
        task = progress.add_task("import", total=(sum(count_inputs(p) or 0 for p in paths) or None) if shown else None,
                                 rate="-")
        summary = import_paths(engine, paths, batch_size=batch_size, workers=workers, selection=selection,
                               on_batch=lambda n: _advance(progress, task, n), wait=not no_wait, on_wait=say_waiting)
    c = summary.counts()
    console.print(f"read {c['read']}, new {c['new']}, changed {c['changed']}, unchanged {c['unchanged']}, "
                  + (f"skipped (not relevant) {c['skipped']}, " if selection else "")
                  + f"rejected {c['rejected']}, warnings {c['warnings']}"
                  + (f", older versions kept as history {c['history']}" if c["history"] else "")
                  + (f", records with repeated keys {c['duplicate_keys']}" if c["duplicate_keys"] else "")
                  + (f"; {c['unread']} archive members unchanged since the last import, not read again"
                     if c["unread"] else ""),
                  highlight=False, soft_wrap=True)
    for rejected in summary.rejected[:50]:
        console.print(f"  rejected {rejected.origin}: {rejected.reason}", highlight=False, soft_wrap=True)
    if len(summary.rejected) > 50:
        console.print(f"  ... and {len(summary.rejected) - 50} more (see the run log: trialkb runs)")
    print_warnings(console, summary.result.warnings, 20)
    status, reason = import_status(summary)  # the run log's rule, so a non-zero exit is never 'ok' there
    if status != "ok":
        raise NothingImported(reason or status)


def show(ctx: typer.Context, trial_id: str,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
         db: DbOption = None) -> None:
    """Show one trial as a card: status, arms, targets, cell, diseases, sites, and each fact's evidence.

    Example: trialkb show NCT06464679 --json
    """
    from kb.analysis.card import render_card, trial_card
    from kb.store.read import NotFound

    try:
        with reader_from(ctx, db) as store:  # a plain read-only connection: no SQLAlchemy for a lookup
            card = trial_card(store, trial_id)
    except NotFound as exc:
        fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(card, indent=2, ensure_ascii=False, default=str))
        return
    console.print(render_card(card), highlight=False)


def history(ctx: typer.Context, trial_id: str,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
            db: DbOption = None) -> None:
    """Show when a trial was first stored and every change since, field by field.

    Example: trialkb history NCT06464679
    """
    from kb.store.read import NotFound, get_history

    try:
        record = get_history(engine_from(ctx, db, readonly=True), trial_id)
    except NotFound as exc:
        fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    console.print(f"{record['trial_id']}: first stored {_when(record['first_seen_at'])}, "
                  f"{len(record['versions'])} change(s)", highlight=False)
    for version in record["versions"]:
        late = ("; an older record that arrived later: history, not news" if version["late"] else "")
        console.print(f"[bold]{version['posted_date'] or 'undated'}[/bold] (registry update; recorded "
                      f"{_when(version['recorded_at'])}{late})", highlight=False, soft_wrap=True)
        console.print(f"  before: {version['old_source'] or '(not recorded)'}", highlight=False, soft_wrap=True)
        console.print(f"  after:  {version['source'] or '(not recorded)'}", highlight=False, soft_wrap=True)
        for name, (old, new) in version["diff"].items():
            console.print(f"  {name}: {old!r} -> {new!r}", highlight=False, soft_wrap=True)


def _when(iso: str) -> str:
    """An ISO time in UTC as people read it: ``2026-12-04 05:12:10 UTC``."""
    return f"{iso[:19].replace('T', ' ')} UTC"


def sql(ctx: typer.Context, statement: str,
        as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects (--format json)")] = False,
        limit: Annotated[Optional[int], typer.Option(help="At most this many rows", callback=at_least(1))] = None,
        timeout: Annotated[float, typer.Option(help="Stop the query after this many seconds (0: no limit)",
                                               callback=at_least(0))] = 30.0,
        fmt: FormatOption = None,
        db: DbOption = None) -> None:
    """Run a read-only SQL query against the store (writes are refused by the database).

    A table on a terminal, CSV when piped (lists as "CD19; BCMA"); JSON has true/false and nested
    lists and objects. A query still running after --timeout seconds is stopped (exit 1).

    Example: trialkb sql "SELECT trial_id, title FROM car_trial WHERE targets LIKE '%CD19%'"
    """
    from kb.store.readonly import QueryTimeout, run_sql

    with reader_from(ctx, db) as store:  # errors: one line and exit 1 (apps.cli.common.CleanErrors)
        try:
            columns, rows = run_sql(store, statement, limit, timeout)
        except QueryTimeout as exc:
            fail(f"{exc} (--timeout SECONDS sets another limit)")
    print_rows(columns, rows, "json" if as_json else fmt)


def rebuild(ctx: typer.Context, no_wait: NoWaitOption = False, db: DbOption = None) -> None:
    """Re-normalize every stored raw record with this version's normalizer and extraction rules.

    Run it after upgrading trialkb: no crawl needed, and no version rows (the records did not change).

    Example: trialkb rebuild
    """
    from kb.ingest.importer import rebuild_store

    engine = engine_from(ctx, db, wait=not no_wait)
    with _progress("rebuilding") as progress:
        task = progress.add_task("rebuild", total=None)
        result = rebuild_store(engine, on_batch=lambda n: progress.advance(task, n), wait=not no_wait,
                               on_wait=say_waiting)
    console.print(f"rebuilt {result.changed} trials, {len(result.rejected)} could not be re-normalized",
                  highlight=False)
    for trial_id, message in result.warnings:
        if not trial_id:  # a stored id that is no registry's id (kb.store.idcheck)
            err.print(f"WARNING: stored id {message}", highlight=False, soft_wrap=True)
    for rejected in result.rejected[:20]:
        console.print(f"  {rejected.trial_id}: {rejected.reason}", highlight=False)


def runs(ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many runs", callback=at_least(1))] = 10,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON (--format json)")] = False,
         fmt: FormatOption = None,
         db: DbOption = None) -> None:
    """List the latest job runs (imports, crawls) with all their counts and errors.

    Example: trialkb runs --limit 5
    """
    with reader_from(ctx, db) as store:
        columns, rows = store.query(
            f"SELECT id, kind, status, started_at, finished_at, counts, errors FROM run_log "
            f"ORDER BY id DESC LIMIT {int(limit)}")
    print_rows(columns, rows, "json" if as_json else fmt)



def register(app: typer.Typer) -> None:
    """Add the store commands to the trialkb app."""
    app.command("import")(import_command)
    for command in (show, history, sql, rebuild, runs):
        app.command()(command)
