"""What the served store says about itself: titles, descriptions, facets and canned queries.

The canned queries are the README's analyst questions (a test keeps the two the same).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ANALYST_QUERIES", "FACETS", "metadata"]

FACETS: list[Any] = ["status", {"array": "phases"}, {"array": "targets"}, {"array": "disease_names"}, "cell_type",
                     "origin", "modality", {"array": "countries"}, "sponsor"]
"""Facets of the analyst view ``relevant_trial``: status, phase, target, disease, cell, origin,
modality, country, sponsor."""

ANALYST_QUERIES: dict[str, dict[str, str]] = {
    "recruiting_cd19_car_nk_in_lupus": {
        "title": "Recruiting CD19 CAR-NK trials in lupus",
        "description": "Newest first.",
        "sql": """SELECT trial_id, title, start_date, sponsor FROM car_trial
WHERE status = 'RECRUITING' AND cell_type = 'NK'
  AND ',' || targets || ',' LIKE '%,CD19,%' AND ',' || diseases || ',' LIKE '%,sle,%'
ORDER BY start_date DESC;""",
    },
    "trials_per_target_and_disease": {
        "title": "CAR cell-therapy trials per target and disease",
        "description": "How many CAR cell-therapy trials study each target antigen in each disease category.",
        "sql": "SELECT target, disease, trials FROM target_disease_count ORDER BY trials DESC, target, disease;",
    },
    "allogeneic_products": {
        "title": "Allogeneic products and their trials",
        "description": "Allogeneic (off-the-shelf) CAR products and the trials that test them, across sponsors.",
        "sql": """SELECT f.value AS product, t.trial_id, t.sponsor, t.overall_status
FROM trial_fact f JOIN trial t ON t.trial_id = f.trial_id
WHERE f.kind = 'product' AND t.origin = 'allogeneic' AND t.is_car_therapy
GROUP BY f.value, t.trial_id, t.sponsor, t.overall_status ORDER BY f.value, t.trial_id;""",
    },
}

_TABLES: dict[str, dict[str, Any]] = {
    "relevant_trial": {
        "title": "CAR cell-therapy trials in immune-mediated disease",
        "description": "One row per CAR cell-therapy trial in immune-mediated disease; click a facet value "
                       "to narrow the list, a trial id for its page (evidence, history, similar trials).",
        "facets": FACETS, "sort_desc": "start_date", "label_column": "title", "size": 50,
        "columns": {"phases": "registry phases", "targets": "antigens the CAR is directed at",
                    "diseases": "disease category keys (kb/domain/lexicon; what find --disease takes)",
                    "disease_names": "the disease categories by name", "modality": "platform",
                    "cell_type": "effector cell", "origin": "autologous, allogeneic or in_vivo",
                    "countries": "countries with a site", "domain": "immune-mediated, oncology, mixed or other"},
    },
    "car_trial": {"title": "CAR cell-therapy trials (any disease)",
                  "description": "Every CAR cell-therapy trial in the store, lists as comma-separated text.",
                  "facets": ["domain", "modality", "status"], "sort_desc": "start_date"},
    "target_disease_count": {"title": "Trials per target and disease",
                             "description": "CAR cell-therapy trials per target antigen x disease category.",
                             "sort_desc": "trials"},
    "trial": {"title": "All trials", "description": "Every stored registration, normalized (one row per registry id; nct_id holds the ClinicalTrials.gov id).",
              "label_column": "brief_title"},
    "trial_fact": {"title": "Facts and their evidence",
                   "description": "Each extracted fact with the field it was found in and the words there.",
                   "facets": ["kind", "field"]},
    "product": {"title": "Products learned from the store",
                "description": "What stored trials' own text says a product code is (kb.domain.learned): its "
                               "facts, the trial and field each was read in, the trials naming it; candidates "
                               "carry their reason. Learned facts on a trial are trial_fact rows whose field is "
                               "learned:<code>, with the evidence chain.",
                "facets": ["status"]},
    "trial_version": {"title": "Changes", "description": "A row per content change of a trial, with a "
                                                         "field-level diff {field: [old, new]}."},
    "run_log": {"title": "Run log", "description": "Imports and crawls with their counts and errors.",
                "sort_desc": "id"},
    "raw_record": {"hidden": True},
    "product_fill": {"hidden": True},
    "alembic_version": {"hidden": True},
    "crawl_state": {"hidden": True},
}


def metadata(database: str) -> dict[str, Any]:
    """Datasette metadata for a trialkb store served under the name ``database``."""
    queries = "".join(f'<li><a href="/{database}/{name}">{q["title"]}</a></li>' for name, q in ANALYST_QUERIES.items())
    return {
        "title": "trialkb: CAR cell-therapy trials in immune-mediated disease",
        "description_html": (
            f'<p>A read-only view of a trialkb store. Start with <a href="/{database}/relevant_trial">CAR '
            f"cell-therapy trials in immune-mediated disease</a> (facets: status, phase, target, disease, cell, "
            f"origin, modality, country, sponsor) or an analyst question:</p><ul>{queries}</ul>"
            "<p>Each trial id links to the trial's page: its facts with the evidence for each, its history "
            "and its most similar trials.</p>"),
        "source": "ClinicalTrials.gov", "source_url": "https://clinicaltrials.gov/",
        "databases": {database: {"tables": _TABLES, "queries": ANALYST_QUERIES}},
    }
