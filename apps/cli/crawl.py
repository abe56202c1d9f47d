"""``trialkb crawl``: the nightly job."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

import typer

from apps.cli.common import DbOption, NoWaitOption, console, err, fail, print_warnings, say_waiting, store_url


def crawl(ctx: typer.Context,
          registry: Annotated[Optional[str], typer.Option(
              "--registry", help="Crawl only this registry: ctgov or ctis (default: both, one after the other; "
                                 "with --api-url or --ctis-url, only the registry pointed at)")] = None,
          nct: Annotated[Optional[list[str]], typer.Option(
              "--nct", "--id", help="Also fetch this trial: an NCT id or a CTIS number (repeatable)")] = None,
          since: Annotated[Optional[str], typer.Option(help="Searches cover trials updated since DATE "
                                                            "(YYYY-MM-DD); default: since each query's last run")] = None,
          full: Annotated[bool, typer.Option("--full", help="Ignore watermarks: search everything")] = False,
          api_url: Annotated[Optional[str], typer.Option("--api-url", help="ClinicalTrials.gov API base URL")] = None,
          ctis_url: Annotated[Optional[str], typer.Option("--ctis-url", help="CTIS public API base URL")] = None,
          related: Annotated[bool, typer.Option(help="Run the related-trial searches and re-checks")] = True,
          force: Annotated[bool, typer.Option("--force", help="Run even if the registry's data is unchanged")] = False,
          jobdir: Annotated[Optional[str], typer.Option(help="Scrapy JOBDIR: a long backfill can resume")] = None,
          setting: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Scrapy setting KEY=VALUE")] = None,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's own log")] = False,
          no_wait: NoWaitOption = False,
          db: DbOption = None) -> None:
    """Crawl ClinicalTrials.gov API v2 and EU CTIS: the seed NCT06464679, every CAR cell therapy and
    every cell therapy in immune-mediated disease, known products, re-checks (docs/ctis.md for CTIS).

    Incremental by default: each CT.gov search covers trials updated since its last successful run,
    and that run is skipped when the registry's data timestamp has not moved; CTIS trials are
    retrieved when their search row's last update differs from the stored one. Each registry is
    one run. A run waits while an import or rebuild writes to the store (--no-wait: fail at once).
    Exit status: 0 ok or skipped, 1 failed (either run), 130 interrupted.

    Example: trialkb crawl --nct NCT06010472 --since 2026-01-01;  trialkb crawl --registry ctis
    """
    from rich.live import Live
    from rich.text import Text

    from kb.process.lock import LockBusy
    from crawler.progress import progress_line
    from crawler.run import SPIDERS, run_crawls
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
    if registry is not None and registry not in SPIDERS:
        fail(f"--registry takes {' or '.join(SPIDERS)}, got {registry!r}")
    pointed = [name for name, url in (("ctgov", api_url), ("ctis", ctis_url)) if url]
    registries = [registry] if registry else pointed or list(SPIDERS)
    live = Live(Text(""), console=err.real, transient=True, auto_refresh=True) if err.is_terminal else None
    done: dict[int, int] = {}  # searches done, per run's progress

    def show(p) -> None:  # type: ignore[no-untyped-def]
        """A live line on a terminal; in a log (cron), a line each time a search completes."""
        if live:
            live.update(Text(progress_line(p)))
        elif p.searches_done > done.get(id(p), 0):
            done[id(p)] = p.searches_done
            err.print(progress_line(p), highlight=False)
    try:
        if live:
            live.start()
        results = run_crawls(db_url, registries, urls={"ctgov": api_url, "ctis": ctis_url}, trial_ids=nct,
                             since=since_date, full=full, related=related, force=force, overrides=overrides,
                             verbose=verbose, on_progress=show, wait=not no_wait, on_wait=say_waiting)
    except LockBusy as exc:
        fail(str(exc))
        return
    finally:
        if live:
            live.stop()
    for result in results:
        _report(result)
    codes = [r.exit_code for r in results]
    if 130 in codes:
        raise typer.Exit(130)
    if any(codes):
        raise typer.Exit(1)


def _report(result) -> None:  # type: ignore[no-untyped-def]
    """One run's outcome: its summary and its first errors."""
    from crawler.progress import summary

    for run_id in result.abandoned:
        err.print(f"run {run_id} was left 'running' by a crawl that is gone: marked abandoned", highlight=False)
    if result.status == "interrupted":
        err.print(summary(result).splitlines()[0], highlight=False, soft_wrap=True)
        return
    out = err if result.exit_code else console  # a failed run says so on stderr, as every error does
    out.print(summary(result), highlight=False, soft_wrap=True)
    errors = result.errors if result.counts.get("pages") or not result.message else []
    for error in errors[:10]:
        out.print(f"  {error}", highlight=False, soft_wrap=True)
    if len(errors) > 10:
        out.print(f"  ... and {len(errors) - 10} more (trialkb runs)", highlight=False)
    print_warnings(out, result.warnings, 10)


def register(app: typer.Typer) -> None:
    """Add the crawler's commands to the trialkb app."""
    app.command()(crawl)
