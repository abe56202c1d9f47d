"""``trialkb crawl``: the nightly job."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

import typer

from kb.cli.common import DbOption, console, fail, store_url


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
          db: DbOption = None) -> None:
    """Crawl ClinicalTrials.gov API v2: the seed NCT06464679, the related CAR-cell trials, re-checks.

    Incremental by default: each search covers trials updated since its last successful run,
    and the run is skipped when the registry's data timestamp has not moved.

    Example: trialkb crawl --nct NCT06010472 --since 2026-01-01
    """
    from crawler.lock import CrawlLock, LockBusy
    from crawler.run import run_crawl
    from kb.db import default_url, normalize_url, open_store
    from kb.runlog import last_run

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
    engine = open_store(db_url)
    probe = CrawlLock(engine)
    try:  # a clear message now; the pipeline holds the lock for the run itself
        probe.acquire()
        probe.release()
    except LockBusy as exc:
        fail(str(exc))
    before = last_run(engine, "crawl", status=None)
    run_crawl(db_url, api_url=api_url, nct_ids=nct, since=since_date, full=full, related=related,
              force=force, overrides=overrides)
    run = last_run(engine, "crawl", status=None)
    if run is None or (before and run["id"] == before["id"]):
        fail("the crawl did not start (see the log above)")
        return
    console.print(f"crawl {run['status']}: {run['counts']}", highlight=False, soft_wrap=True)
    for error in (run["errors"] or [])[:20]:
        console.print(f"  {error}", highlight=False, soft_wrap=True)
    if run["status"] not in ("ok", "skipped"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the crawler's commands to the trialkb app."""
    app.command()(crawl)
