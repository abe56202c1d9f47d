"""Scrapy items: one page of studies per item (one item per study tripled the per-item cost)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StudyPage:
    """The studies of one API answer, with where they came from."""

    url: str
    query: str  # a query name, "seed", "nct" or "recheck"
    page: int
    studies: list[dict[str, Any]] = field(default_factory=list)
    last_page: bool = True
    requested_ids: list[str] = field(default_factory=list)
