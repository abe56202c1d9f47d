"""The analyst's outputs: ``report`` (a self-contained HTML landscape) and ``changes`` (the digest)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from apps.cli.common import DbOption, console, engine_from, fail

SINCE_HELP = "A date (2025-08-01), a date-time, or a span back from now (7d, 2w, 12h)"


def _since(text: str | None) -> datetime | None:
    from kb.analysis.changes import parse_since

    if text is None:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        fail(str(exc))


def report(ctx: typer.Context,
           out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")] = Path("trialkb-report.html"),
           since: Annotated[Optional[str], typer.Option(help=SINCE_HELP + "; default: the previous run")] = None,
           db: DbOption = None) -> None:
    """Write the landscape report: one self-contained HTML file (opens offline, can be mailed).

    Headline figures, interactive charts, the product pipeline, the trial graph around the seed,
    what changed since DATE and the selection ledger with its evidence; each chart's data as CSV.

    Example: trialkb report --out landscape.html --since 2025-08-01
    """
    import time

    from apps.report import write_report

    moment = _since(since)
    engine = engine_from(ctx, db, readonly=True)
    if out.is_dir():
        fail(f"{out} is a directory: give a file name, e.g. {out / 'trialkb-report.html'}")
    started = time.perf_counter()
    try:
        result = write_report(engine, out, moment)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    size = out.stat().st_size
    console.print(f"wrote {out} ({size / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s): "
                  f"{result.included} of {result.fetched} trials included, {len(result.charts)} charts, "
                  f"changes since {result.since}", highlight=False)


def changes(ctx: typer.Context,
            since: Annotated[str, typer.Option(help=SINCE_HELP)] = "7d",
            fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, markdown or atom")] = "text",
            all_trials: Annotated[bool, typer.Option("--all", help="Every trial, not only the CAR trials in "
                                                                   "immune-mediated disease")] = False,
            db: DbOption = None) -> None:
    """New trials, status, phase, enrollment and date changes since a date: the digest to mail or subscribe to.

    Example: trialkb changes --since 7d --format markdown
    """
    from kb.analysis.changes import FORMATS, collect_changes, render

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    moment = _since(since)
    assert moment is not None
    digest = collect_changes(engine_from(ctx, db, readonly=True), moment, relevant_only=not all_trials)
    typer.echo(render(digest, fmt), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``changes`` to the trialkb app."""
    app.command()(report)
    app.command()(changes)
