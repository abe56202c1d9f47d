"""A trial's posted results as people read them: arms with their adverse-event totals, serious
adverse events by term and arm, participants started, and the posted outcome measures.

Reads the results tables (``kb.domain.results``) over a read-only connection
(:class:`kb.store.readonly.ReadOnlyStore`), as the trial card does; ``None`` when nothing was posted.
"""

from __future__ import annotations

import json
from typing import Any

from kb.domain.lexicon import ENDPOINTS_BY_KEY
from kb.store.readonly import ReadOnlyStore

__all__ = ["trial_results", "fraction", "results_lines"]


def fraction(affected: int | None, at_risk: int | None) -> str:
    """``4/158`` (or ``4`` or ``-`` when a number was not posted).

    >>> fraction(4, 158), fraction(None, None)
    ('4/158', '-')
    """
    if affected is None:
        return "-"
    return f"{affected}/{at_risk}" if at_risk is not None else str(affected)


def _arms(store: ReadOnlyStore, trial_id: str) -> list[dict[str, Any]]:
    p = store.placeholder
    _, rows = store.query(f"SELECT group_code, title, deaths_affected, deaths_at_risk, serious_affected, serious_at_risk, "
                          f"other_affected, other_at_risk FROM result_group WHERE trial_id = {p} AND module = 'adverse' "
                          f"ORDER BY group_code", (trial_id,))
    return [{"group": code, "title": title, "deaths": fraction(da, dr), "serious": fraction(sa, sr),
             "other": fraction(oa, orisk)} for code, title, da, dr, sa, sr, oa, orisk in rows]


def _serious_events(store: ReadOnlyStore, trial_id: str, arms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each serious term with ``affected/at risk`` per arm (in ``arms`` order), most frequent first."""
    p = store.placeholder
    _, rows = store.query(f"SELECT position, term, organ_system, group_code, num_affected, num_at_risk FROM result_event "
                          f"WHERE trial_id = {p} AND seriousness = 'serious' ORDER BY position, group_code", (trial_id,))
    order = {arm["group"]: i for i, arm in enumerate(arms)}
    terms: dict[int, dict[str, Any]] = {}
    for position, term, organ, code, affected, at_risk in rows:
        entry = terms.setdefault(position, {"term": term, "organ_system": organ, "by_arm": ["-"] * len(arms),
                                            "affected": 0})
        if code in order:
            entry["by_arm"][order[code]] = fraction(affected, at_risk)
        entry["affected"] += affected or 0
    return sorted(terms.values(), key=lambda e: (-e["affected"], e["term"] or ""))


def _started(store: ReadOnlyStore, trial_id: str) -> list[dict[str, Any]]:
    """Participants who started the first period, per flow group."""
    p = store.placeholder
    _, rows = store.query(f"SELECT f.group_code, g.title, f.count, f.period FROM result_flow f LEFT JOIN result_group g "
                          f"ON g.trial_id = f.trial_id AND g.module = 'flow' AND g.group_code = f.group_code "
                          f"WHERE f.trial_id = {p} AND f.step = 'milestone' AND f.label = 'STARTED' "
                          f"ORDER BY f.position", (trial_id,))
    first = rows[0][3] if rows else None
    return [{"group": code, "title": title, "started": count} for code, title, count, period in rows if period == first]


def _outcomes(store: ReadOnlyStore, trial_id: str) -> list[dict[str, Any]]:
    p = store.placeholder
    _, rows = store.query(f"SELECT type, title, time_frame, endpoint_kinds FROM result_outcome WHERE trial_id = {p} "
                          f"ORDER BY position", (trial_id,))
    out = []
    for kind, title, time_frame, kinds in rows:
        keys = json.loads(kinds) if isinstance(kinds, str) else kinds or []
        out.append({"type": kind, "title": title, "time_frame": time_frame,
                    "endpoint_kinds": [ENDPOINTS_BY_KEY[k].label if k in ENDPOINTS_BY_KEY else k for k in keys]})
    return out


def trial_results(store: ReadOnlyStore, trial_id: str) -> dict[str, Any] | None:
    """The posted results of a stored trial, or None when it has none in the store."""
    arms = _arms(store, trial_id)
    started, outcomes = _started(store, trial_id), _outcomes(store, trial_id)
    if not (arms or started or outcomes):
        return None
    return {"arms": arms, "serious_events": _serious_events(store, trial_id, arms), "started": started,
            "outcomes": outcomes}


def results_lines(results: dict[str, Any] | None, top: int = 5) -> dict[str, list[str]]:
    """Short texts of the results for a comparison: started, serious AEs and deaths per arm, top serious terms."""
    if not results:
        return {"started": [], "serious_aes": [], "deaths": [], "serious_terms": []}
    return {"started": [f"{s['title'] or s['group']}: {s['started']}" for s in results["started"]],
            "serious_aes": [f"{a['title'] or a['group']}: {a['serious']}" for a in results["arms"]],
            "deaths": [f"{a['title'] or a['group']}: {a['deaths']}" for a in results["arms"]],
            "serious_terms": [f"{e['term']} ({e['affected']})" for e in results["serious_events"][:top] if e["affected"]]}
