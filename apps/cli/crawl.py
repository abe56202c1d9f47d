"""``trialkb crawl``: the nightly job."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

import typer

from apps.cli.common import DbOption, console, err, fail, store_url


def crawl(ctx: typer.Context,
          nct: Annotated[Optional[list[str]], typer.Option("--nct", help="Also fetch this NCT id (repeatable)")] = None,
          since: Annotated[Optional[str], typer.Option(help="Searches cover trials updated since DATE "
                                                            "(YYYY-MM-DD); default: since each query's last run")] = None,
          full: Annotated[bool, typer.Option("--full", help="Ignore watermarks: search everything")] = False,
          api_url: Annotated[Optional[str], typer.Option("--api-url", help="API base URL")] = None,
          related: Annotated[bool, typer.Option(help="Run the related-trial searches and re-checks")] = True,
          force: Annotated[bool, typer.Option("--force", help="Run even if the registry's data is unchanged")] = False,
          jobdir: Annotated[Optional[str], typer.Option(help="Scrapy JOBDIR: a long backfill can resume")] = None,
          setting: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Scrapy setting KEY=VALUE")] = None,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's own log")] = False,
          db: DbOption = None) -> None:
    """Crawl ClinicalTrials.gov API v2: the seed NCT06464679, every CAR cell therapy and every cell
    therapy in immune-mediated disease, known products, re-checks.

    Incremental by default: each search covers trials updated since its last successful run,
    and the run is skipped when the registry's data timestamp has not moved. Exit status: 0 ok or
    skipped, 1 failed, 130 interrupted.

    Example: trialkb crawl --nct NCT06010472 --since 2026-01-01
    """
    from rich.live import Live
    from rich.text import Text

    from kb.process.lock import LockBusy
    from crawler.progress import progress_line, summary
    from crawler.run import run_crawl
    from kb.store.db import default_url, normalize_url

    db_url = normalize_url(store_url(ctx, db) or default_url())
    overrides: dict[str, str] = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key] = value
    if jobdir:
        overrides["JOBDIR"] = jobdir
    try:
        since_date = date.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since takes a date YYYY-MM-DD, got {since!r}")
        return
    live = Live(Text(""), console=err.real, transient=True, auto_refresh=True) if err.is_terminal else None
    done = [0]

    def show(p) -> None:  # type: ignore[no-untyped-def]
        """A live line on a terminal; in a log (cron), a line each time a search completes."""
        if live:
            live.update(Text(progress_line(p)))
        elif p.searches_done > done[0]:
            done[0] = p.searches_done
            err.print(progress_line(p), highlight=False)
    try:
        if live:
            live.start()
        result = run_crawl(db_url, api_url=api_url, trial_ids=nct, since=since_date, full=full, related=related,
                           force=force, overrides=overrides, verbose=verbose, on_progress=show)
    except LockBusy as exc:
        fail(str(exc))
        return
    finally:
        if live:
            live.stop()
    for run_id in result.abandoned:
        err.print(f"run {run_id} was left 'running' by a crawl that is gone: marked abandoned", highlight=False)
    if result.status == "interrupted":
        err.print(summary(result).splitlines()[0], highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    console.print(summary(result), highlight=False, soft_wrap=True)
    errors = result.errors if result.counts.get("pages") or not result.message else []
    for error in errors[:10]:
        console.print(f"  {error}", highlight=False, soft_wrap=True)
    if len(errors) > 10:
        console.print(f"  ... and {len(errors) - 10} more (trialkb runs)", highlight=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add the crawler's commands to the trialkb app."""
    app.command()(crawl)
