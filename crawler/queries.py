"""The related-trial searches, in one readable place.

Each query is a set of ClinicalTrials.gov API v2 search parameters (Essie expressions:
``OR``/``AND``, quoted phrases). Together they find CAR cell-therapy trials in immune-mediated
disease: by CAR wording x disease, by CAR wording in interventions, by known product codes, and
by "snowball" queries built from what earlier runs found (product codes and targets).
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.lexicon import PRODUCTS

SEED_NCT_ID = "NCT06464679"

CAR_TERMS = (
    '"chimeric antigen receptor" OR "chimeric autoantibody receptor" OR "CAR-T" OR "CAR T" OR "CART" OR '
    '"CAR-NK" OR "CAR NK" OR "CAR-iNKT" OR "CAR-NKT" OR "CAR-DNT" OR "CAR-γδT" OR "CAR-Treg" OR "CAR Treg" OR '
    '"CAAR-T" OR "CAAR T" OR "cCAR" OR "UCAR" OR "U CAR-T" OR "universal CAR" OR "CAR-M"'
)
IMMUNE_CONDITIONS = (
    'autoimmune OR "immune-mediated" OR lupus OR "lupus nephritis" OR "systemic sclerosis" OR scleroderma OR '
    'myositis OR dermatomyositis OR myopathy OR antisynthetase OR "rheumatoid arthritis" OR rheumatic OR '
    'Sjogren OR "Sjögren" OR "dry syndrome" OR ANCA OR vasculitis OR "myasthenia gravis" OR "neuromyelitis optica" OR '
    'NMOSD OR "multiple sclerosis" OR "immune thrombocytopenia" OR ITP OR "autoimmune hemolytic" OR AIHA OR '
    '"IgG4-related" OR "IgA nephropathy" OR "membranous nephropathy" OR nephropathy OR glomerulonephritis OR '
    'pemphigus OR "aplastic anemia" OR "antiphospholipid" OR "interstitial lung disease"'
)


@dataclass(frozen=True)
class Query:
    """A named search: its API parameters (besides paging and the date window)."""

    name: str
    params: dict[str, str]


TERM_BUDGET = 1200
"""Characters of one product search's ``query.term``: its URL stays under Scrapy's URLLENGTH_LIMIT
(2,083), which drops a longer request without a word."""


def base_queries() -> list[Query]:
    """The fixed related-trial searches; the product lexicon's codes in as many searches as their
    length needs ('known_products', 'known_products_2', ...)."""
    codes = [f'"{p.code}"' for p in PRODUCTS if p.is_car is not False]
    chunks: list[list[str]] = [[]]
    for code in codes:
        if chunks[-1] and len(" OR ".join(chunks[-1] + [code])) > TERM_BUDGET:
            chunks.append([])
        chunks[-1].append(code)
    return [
        Query("car_x_immune", {"query.term": f"({CAR_TERMS}) AND ({IMMUNE_CONDITIONS})"}),
        Query("car_intervention_x_condition", {"query.intr": CAR_TERMS, "query.cond": IMMUNE_CONDITIONS}),
        *(Query("known_products" + (f"_{i + 1}" if i else ""), {"query.term": " OR ".join(chunk)})
          for i, chunk in enumerate(chunks)),
    ]


def snowball_queries(products: list[str], targets: list[str]) -> list[Query]:
    """Searches built from product codes and targets that earlier runs found."""
    queries = []
    if products:
        queries.append(Query("snowball_products", {"query.term": " OR ".join(f'"{p}"' for p in sorted(products))}))
    if targets:
        antigens = " OR ".join(f'"{t}"' for t in sorted(targets))
        queries.append(Query("snowball_targets", {"query.term": f"({antigens}) AND ({CAR_TERMS})",
                                                  "query.cond": IMMUNE_CONDITIONS}))
    return queries
