"""Scrapy items: one page of studies per item (one item per study tripled the per-item cost)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StudyPage:
    """One API answer (checked by the spider), with where it came from.

    The raw body travels on: the pipeline's worker processes parse and normalize it, which
    costs less than handing them parsed studies.
    """

    url: str
    query: str  # a query name, "seed", "nct" or "recheck"
    page: int
    body: bytes
    is_search: bool = True  # a search page ({"studies": [...]}) or one study
    last_page: bool = True
    requested_ids: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # the NCT ids in the answer
