"""A likeness of two registrations (title, sponsor, start date) that only PROPOSES they are one trial.

Pure functions. Registrations linked by the ids they name need none of this; a likeness is for the
ones that name nothing (a ChiCTR registration of a trial also on ClinicalTrials.gov that does not
say so). A person confirms or rejects each proposal (``trialkb links``); nothing merges by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["Likeness", "likeness", "title_tokens"]

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an and as at by for from in into of on or the to with without study trial clinical phase single arm "
    "open label multicenter multi center randomized randomised controlled pilot exploratory evaluate evaluating "
    "evaluation safety efficacy patients subjects participants treatment therapy".split())
"""Words every trial title uses; they say nothing about which trial it is."""
TITLE_MIN = 0.5
SPONSOR_MIN = 0.5
START_DAYS = 92


@dataclass(frozen=True)
class Likeness:
    """How alike two registrations are and why; ``proposed`` when a person should look."""

    title: float
    sponsor: float | None
    start_days: int | None
    reasons: tuple[str, ...]

    @property
    def proposed(self) -> bool:
        """A title this alike, and a sponsor or a start date that agrees."""
        sponsor_agrees = self.sponsor is not None and self.sponsor >= SPONSOR_MIN
        start_agrees = self.start_days is not None and self.start_days <= START_DAYS
        return self.title >= TITLE_MIN and (sponsor_agrees or start_agrees)

    @property
    def score(self) -> float:
        """One number to rank proposals by (title counts most)."""
        return round(0.6 * self.title + 0.25 * (self.sponsor or 0.0)
                     + 0.15 * (1.0 if self.start_days is not None and self.start_days <= START_DAYS else 0.0), 3)


def title_tokens(*titles: str | None) -> frozenset[str]:
    """The telling words of a registration's titles (lower case, common trial words left out)."""
    words: set[str] = set()
    for title in titles:
        words.update(w for w in _WORD.findall((title or "").lower()) if w not in STOPWORDS and len(w) > 1)
    return frozenset(words)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _sponsor_likeness(a: str | None, b: str | None) -> float | None:
    """Word overlap of two sponsor names (None when one is missing)."""
    if not a or not b:
        return None
    return round(_jaccard(title_tokens(a), title_tokens(b)), 3)


def _days_apart(a: str | None, b: str | None) -> int | None:
    """Days between two ISO dates (a month-only date counts as its first day)."""
    if not a or not b:
        return None
    try:
        first, second = (date.fromisoformat(d if len(d) == 10 else f"{d[:7]}-01") for d in (a, b))
    except ValueError:
        return None
    return abs((first - second).days)


def likeness(a: dict, b: dict) -> Likeness:
    """The likeness of two registrations given as dicts with ``titles`` (token set), ``sponsor``
    and ``start_date``."""
    title = round(_jaccard(a["titles"], b["titles"]), 3)
    sponsor = _sponsor_likeness(a.get("sponsor"), b.get("sponsor"))
    days = _days_apart(a.get("start_date"), b.get("start_date"))
    reasons = [f"titles share {len(a['titles'] & b['titles'])} words ({title:.2f})"]
    if sponsor is not None:
        reasons.append(f"sponsor names {sponsor:.2f} alike")
    if days is not None:
        reasons.append(f"start dates {days} days apart")
    return Likeness(title, sponsor, days, tuple(reasons))
