"""Scrapy items: one page of studies per item (one item per study tripled the per-item cost)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StudyPage:
    """One API answer (checked by the spider), with where it came from.

    Its studies travel as JSON bytes, one per study, as the spider cut them from the checked
    answer: the pipeline hands slices of a page to several worker processes, which parse and
    normalize them.
    """

    url: str
    query: str  # a query name, "seed", "nct" or "recheck"
    page: int
    records: list[bytes]  # the JSON of each study
    last_page: bool = True
    requested_ids: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # the NCT ids in the answer
