"""What a crawl run fetches, decided from the store: watermarks, data timestamp, re-checks.

Read-only; the pipeline writes the new state when the run's pages are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Engine, select

from crawler.searches import SEED_NCT_ID, Query, base_queries, snowball_queries
from kb.domain.lexicon import PRODUCTS_BY_CODE
from kb.store.models import RawRecord, Trial, TrialFact
from kb.store.runlog import DATA_TIMESTAMP_KEY, get_state



def watermark_key(query: str) -> str:
    """The state key of a search's watermark (``query``: :attr:`Query.key`, its name and terms)."""
    return f"ctgov:watermark:{query}"


@dataclass
class CrawlPlan:
    """The requests of one run."""

    trial_ids: list[str]
    queries: list[Query]
    windows: dict[str, str | None]  # query name -> LastUpdatePostDate lower bound (None: everything)
    recheck_ids: list[str] = field(default_factory=list)
    last_data_timestamp: str | None = None
    incremental: bool = True

    def state_key(self, query: str) -> str:
        """The state key of a search's watermark (``query``: :attr:`Query.key`)."""
        return watermark_key(query)

    def advanced_filter(self, query: str) -> str | None:
        """The filter.advanced date window of a query, if any."""
        start = self.windows.get(query)
        return f"AREA[LastUpdatePostDate]RANGE[{start},MAX]" if start else None


def make_plan(engine: Engine, *, trial_ids: list[str] | None = None, since: date | None = None,
              full: bool = False, recheck: int = 200, related: bool = True) -> CrawlPlan:
    """Plan a run: the seed and ``trial_ids``, the related searches with their date windows,
    and a re-check of the ``recheck`` stalest known trials."""
    ids = list(dict.fromkeys([SEED_NCT_ID, *(i.strip().upper() for i in trial_ids or [])]))
    queries = base_queries() + snowball_queries(_found_products(engine)) if related else []
    windows: dict[str, str | None] = {}
    for query in queries:
        if full:
            windows[query.name] = None
        elif since:
            windows[query.name] = since.isoformat()
        else:
            mark = get_state(engine, watermark_key(query.key))
            windows[query.name] = (date.fromisoformat(mark) - timedelta(days=1)).isoformat() if mark else None
    return CrawlPlan(ids, queries, windows, _stalest(engine, recheck, exclude=ids) if related else [],
                     get_state(engine, DATA_TIMESTAMP_KEY), incremental=not full and since is None)


def _found_products(engine: Engine) -> list[str]:
    """Product codes (not yet in the lexicon) of the relevant trials stored so far."""
    with engine.connect() as conn:
        values = conn.execute(select(TrialFact.value).distinct().join(Trial, Trial.trial_id == TrialFact.trial_id)
                              .where(Trial.is_relevant, TrialFact.kind == "product")).scalars().all()
    return sorted({v for v in values if v.upper() not in PRODUCTS_BY_CODE and any(c.isdigit() for c in v)})


def _stalest(engine: Engine, limit: int, exclude: list[str]) -> list[str]:
    """The ids of the known trials checked longest ago."""
    if limit <= 0:
        return []
    with engine.connect() as conn:
        return [i for i in conn.execute(select(RawRecord.trial_id).order_by(RawRecord.checked_at, RawRecord.trial_id)
                                        .limit(limit + len(exclude))).scalars() if i not in exclude][:limit]
