"""The seed against its most similar trials, side by side (:func:`kb.analysis.compare.compare_trials`)."""

from __future__ import annotations

from sqlalchemy import Engine

from apps.report.data import Table
from apps.report.network import Neighbourhood
from kb.analysis.compare import compare_trials, value_text

__all__ = ["SEED_COMPARED", "seed_comparison"]

SEED_COMPARED = 10
"""How many of the seed's most similar trials the report compares it with."""


def seed_comparison(engine: Engine, hood: Neighbourhood, top: int = SEED_COMPARED) -> Table:
    """``attribute``, ``differs`` (yes/no), then the seed and its ``top`` most similar trials (the graph's order)."""
    ids = [hood.seed, *(row[0] for row in hood.similar.rows[:top])]
    comparison = compare_trials(engine, ids)
    columns, rows = comparison.rows()
    return Table(columns, [[label, value_text(differs), *values] for label, differs, *values in rows])
