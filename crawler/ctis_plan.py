"""What a CTIS crawl run fetches: its searches, and which trials of their answers to retrieve.

Fetch broadly, decide locally (as :mod:`crawler.searches` does for ClinicalTrials.gov): the searches
ask CTIS for every CAR wording, CAR drug name and product code the CT.gov crawl asks for, and for
cell therapies in the immune-mediated diseases; whether a trial is relevant is decided by extraction.
CTIS's search takes no update-date filter, so every run reads every search answer (a few pages of
100 rows) and retrieves a trial only when its row's ``lastUpdated`` differs from the stored one (new
trials, changed trials, trials whose last retrieve failed); ``--full`` retrieves all, ``--since DATE``
those updated since DATE. Each search's completion date is kept as state, like the CT.gov watermarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, select

from crawler.ctis_parse import SearchRow
from crawler.searches import CAR_WORDS, CODE_WORDS, INN_WORDS, Query, lexicon_product_names
from kb.store.models import Trial

MAX_TERMS = 800
"""Characters of one ``containAny`` list: longer lists are split over several searches."""

CELL_THERAPY_TERMS = ("CAR", "chimeric antigen receptor", "CAR-T", "CAR-NK", "cell therapy", "cellular therapy",
                      "T cells", "NK cells", "Treg", "engineered", "transduced", "gene-modified", "genetically modified")
"""Cell-therapy wording asked together with each immune-mediated condition."""

IMMUNE_CONDITIONS = ("autoimmune", "lupus", "systemic sclerosis", "scleroderma", "myositis", "dermatomyositis",
                     "rheumatoid arthritis", "Sjogren", "Sjögren", "vasculitis", "ANCA", "nephropathy", "nephritis",
                     "myasthenia gravis", "neuromyelitis optica", "multiple sclerosis", "CIDP", "pemphigus",
                     "immune thrombocytopenia", "haemolytic anaemia", "hemolytic anemia", "IgG4", "antiphospholipid",
                     "type 1 diabetes", "graft-versus-host", "Still")
"""CTIS's medicalCondition criterion takes one phrase: one search each (decide locally what matches)."""


def state_key(query: str) -> str:
    """The state key of a CTIS search's completion date (``query``: :attr:`Query.key`)."""
    return f"ctis:watermark:{query}"


def any_of(terms: tuple[str, ...] | list[str], most: int = MAX_TERMS) -> list[str]:
    """Comma-separated term lists (CTIS's ``containAny``), each at most ``most`` characters.

    >>> any_of(["CAR-T", "CART", "chimeric antigen receptor"], most=16)
    ['CAR-T, CART', 'chimeric antigen receptor']
    """
    parts: list[list[str]] = [[]]
    for term in dict.fromkeys(t.replace(",", " ") for t in terms):
        if parts[-1] and len(", ".join([*parts[-1], term])) > most:
            parts.append([])
        parts[-1].append(term)
    return [", ".join(p) for p in parts if p]


def _numbered(name: str, criteria: list[dict[str, str]]) -> list[Query]:
    if len(criteria) == 1:
        return [Query(name, criteria[0])]
    return [Query(f"{name}_{i}", c) for i, c in enumerate(criteria, 1)]


def ctis_queries() -> list[Query]:
    """The CTIS searches; a query's params are its ``searchCriteria``."""
    return [
        *_numbered("car_therapies", [{"containAny": t} for t in any_of(CAR_WORDS)]),
        *_numbered("car_drug_names", [{"containAny": t} for t in any_of(INN_WORDS)]),
        *_numbered("car_product_codes", [{"containAny": t} for t in any_of(CODE_WORDS)]),
        *_numbered("known_products", [{"containAny": t} for t in any_of(lexicon_product_names())]),
        *(Query(f"cell_therapy_x_{_slug(c)}", {"medicalCondition": c, "containAny": ", ".join(CELL_THERAPY_TERMS)})
          for c in IMMUNE_CONDITIONS),
    ]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.casefold()).strip("_")


@dataclass
class CtisPlan:
    """The requests of one CTIS run and the rule that picks the trials to retrieve."""

    trial_ids: list[str]  # CTIS numbers asked for by the user: retrieved whatever their date
    queries: list[Query]
    stored: dict[str, str | None]  # CTIS trials in the store -> their lastUpdated (ISO)
    since: date | None = None
    full: bool = False
    recheck_ids: list[str] = field(default_factory=list)
    last_data_timestamp: str | None = None
    incremental: bool = True

    def state_key(self, query: str) -> str:
        return state_key(query)

    def wants(self, row: SearchRow) -> bool:
        """Whether a search row's trial is retrieved: new, changed since stored (or since ``since``), or a full run."""
        if self.full or row.ct_number not in self.stored or row.last_updated is None:
            return True
        if self.since is not None:
            return row.last_updated >= self.since.isoformat()
        return row.last_updated != self.stored[row.ct_number]


def make_ctis_plan(engine: Engine, *, trial_ids: list[str] | None = None, since: date | None = None,
                   full: bool = False, related: bool = True) -> CtisPlan:
    """Plan a CTIS run from the store: the searches, and the stored CTIS trials with their last update."""
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Trial.trial_id, Trial.last_update_posted_date)
                                   .where(Trial.registry_name == "ctis")).all())
    return CtisPlan(list(dict.fromkeys(trial_ids or [])), ctis_queries() if related else [],
                    {k: str(v) if v else None for k, v in stored.items()}, since, full,
                    incremental=not full and since is None)
