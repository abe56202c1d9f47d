"""What ``trialkb crawl`` says to people: progress as it goes, a summary in words at the end."""

from __future__ import annotations

from crawler.crawlrun import CrawlResult, Progress


def progress_line(p: Progress) -> str:
    """One line of progress.

    >>> progress_line(Progress(searches_done=2, searches=9, pages=5, studies=1234, status="running"))
    'searches 2/9 · pages 5 · studies 1,234'
    """
    return f"searches {p.searches_done}/{p.searches} · pages {p.pages} · studies {p.studies:,}"


def summary(result: CrawlResult) -> str:
    """The run's outcome in words.

    >>> summary(CrawlResult(7, "ok", {"searches": 9, "pages": 12, "studies": 1283, "new": 1200, "changed": 3,
    ...                                "unchanged": 80, "rejected": 0, "retries": 2}, []))
    'crawl ok (run 7): 9 searches, 12 pages, 1,283 studies (1,200 new, 3 changed, 80 unchanged), 0 rejected, 2 retries'
    >>> summary(CrawlResult(8, "ok", {"searches": 40, "studies": 3, "new": 1, "changed": 2, "current": 90}, [],
    ...                     registry="ctis"))
    'ctis crawl ok (run 8): 40 searches, 3 trials retrieved (1 new, 2 changed, 0 unchanged, 90 up to date, not retrieved), 0 rejected, 0 retries'
    """
    c = result.counts
    name = "crawl" if result.registry == "ctgov" else f"{result.registry} crawl"
    if result.status == "skipped":
        return f"{name} skipped (run {result.run_id}): {result.message}"
    head = f"{name} {result.status} (run {result.run_id})"
    if result.status in ("failed", "interrupted") and result.message:
        head += f": {result.message}"
    if result.status != "ok" and result.message and not c.get("pages"):
        return head  # nothing stored: the reason says it all
    fetched = (f"{c.get('searches', 0)} searches, {c.get('pages', 0)} pages, {c.get('studies', 0):,} studies"
               if "current" not in c else f"{c['searches']} searches, {c.get('studies', 0):,} trials retrieved")
    body = (f"{fetched} ({c.get('new', 0):,} new, {c.get('changed', 0):,} changed, {c.get('unchanged', 0):,} unchanged"
            f"{'' if 'current' not in c else ', ' + format(c['current'], ',') + ' up to date, not retrieved'}), "
            f"{c.get('rejected', 0)} rejected, {c.get('retries', 0)} retries"
            + (f", {c['warnings']} warning{'s' if c['warnings'] > 1 else ''}" if c.get("warnings") else ""))
    return f"{head}: {body}" if result.status == "ok" else f"{head}\n  {body}"
