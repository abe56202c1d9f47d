"""The trials to compare: ids given, a trial and its most similar trials, and trials that match filters.

It sits in ``graph/`` because "most similar" is the similarity index's answer (:mod:`graph.cache`);
:mod:`kb.analysis.compare` compares whatever list it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kb.core.ids import parse_trial_id

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kb.analysis.find import Filters

__all__ = ["pick_trials"]


def pick_trials(engine: Engine, trial_ids: Sequence[str] = (), *, similar_to: str | None = None, top: int = 10,
                filters: Filters | None = None) -> list[str]:
    """The trials to compare: the ids given, then ``similar_to`` and its ``top`` most similar trials (the
    ranking of ``trialkb similar``), then up to ``top`` trials that match ``filters`` (``trialkb find``)."""
    picked = [parse_trial_id(t) for t in trial_ids]
    if similar_to:
        from graph.cache import load_index

        seed = parse_trial_id(similar_to)
        index, _ = load_index(engine)
        picked += [seed, *(r["trial_id"] for r in index.similar(seed, top=top))]
    if filters is not None:
        from kb.analysis.find import find_trials

        _, rows = find_trials(engine, filters, limit=top)
        picked += [row[0] for row in rows]
    return list(dict.fromkeys(picked))
