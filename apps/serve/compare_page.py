"""The served compare page (/compare): trials side by side, picked by id, from the similar list or by facets.

Everything the page shows is in its URL (``?ids=A,B&similar_to=C&top=5&target=CD19&differences=1``),
so a comparison can be shared. The comparison is :func:`kb.analysis.compare.compare_trials`, the
same as ``trialkb compare``; the facets are ``trialkb find``'s filters.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from datasette import Response

__all__ = ["FACETS", "compare_page", "compare_page_data"]

FACETS = ("target", "disease", "cell", "modality", "status", "country")
"""The find filters the page offers (each a select of the values in the store)."""
DEFAULT_TOP = 5


def _options(engine: Any) -> dict[str, list[str]]:
    """The values each facet can take in this store (CAR cell therapies in immune-mediated disease)."""
    from sqlalchemy import select

    from kb.store.models import Location, Trial, TrialFact

    t, f, loc = Trial.__table__.c, TrialFact.__table__.c, Location.__table__.c
    relevant = select(t.trial_id).where(t.is_relevant)
    with engine.connect() as conn:
        def values(query: Any) -> list[str]:
            return sorted({v for (v,) in conn.execute(query) if v})

        return {
            "target": values(select(f.value).where(f.kind == "target", f.trial_id.in_(relevant)).distinct()),
            "disease": values(select(f.value).where(f.kind == "disease", f.trial_id.in_(relevant)).distinct()),
            "cell": values(select(t.cell_type).where(t.is_relevant).distinct()),
            "modality": values(select(t.modality).where(t.is_relevant).distinct()),
            "status": values(select(t.overall_status).where(t.is_relevant).distinct()),
            "country": values(select(loc.country).where(loc.trial_id.in_(relevant)).distinct()),
        }


def _ids(args: Any) -> list[str]:
    """Trial ids from every ``ids`` parameter, separated by commas or spaces."""
    return [part for value in args.getlist("ids") for part in re.split(r"[\s,]+", value) if part]


def _top(text: str | None) -> int:
    try:
        return min(max(int(text or DEFAULT_TOP), 1), 20)
    except ValueError:
        return DEFAULT_TOP


def compare_page_data(path: str, args: Any) -> dict[str, Any]:
    """What the page shows for its query string: the form's state, the facet options, the comparison or an error."""
    from graph.pick import pick_trials
    from kb.analysis.compare import compare_trials
    from kb.analysis.find import Filters
    from kb.core.errors import TrialkbError
    from apps.serve.plugin import store_engine

    engine = store_engine(path)
    chosen = {name: args.get(name) or "" for name in FACETS}
    form = {"ids": ", ".join(_ids(args)), "similar_to": (args.get("similar_to") or "").strip(),
            "top": _top(args.get("top")), "differences": bool(args.get("differences")),
            "evidence": bool(args.get("evidence")), **chosen}
    data: dict[str, Any] = {"form": form, "options": _options(engine), "facets": FACETS, "comparison": None,
                            "error": None}
    filters = Filters(**{name: [value] for name, value in chosen.items() if value}, relevant_only=True) \
        if any(chosen.values()) else None
    if not (form["ids"] or form["similar_to"] or filters):
        return data
    try:
        ids = pick_trials(engine, _ids(args), similar_to=form["similar_to"] or None, top=form["top"], filters=filters)
        if not ids:
            raise ValueError("no trial matches these facets")
        data["comparison"] = compare_trials(engine, ids, evidence=form["evidence"])
    except (TrialkbError, ValueError, LookupError) as exc:
        data["error"] = str(exc)
    return data


async def compare_page(request: Any, datasette: Any) -> Response:
    """GET /compare"""
    config = datasette.plugin_config("trialkb") or {}
    data = await asyncio.get_running_loop().run_in_executor(None, compare_page_data, config["store"], request.args)
    comparison = data["comparison"]
    rows = []
    if comparison is not None:
        for a in comparison.attributes:
            if data["form"]["differences"] and not comparison.differs[a.key]:
                continue
            quotes = [e.get(a.key, []) for e in comparison.evidence] if comparison.evidence else None
            rows.append({"key": a.key, "label": a.label, "differs": comparison.differs[a.key],
                         "values": [t[a.key] for t in comparison.trials], "quotes": quotes})
    context = {**data, "rows": rows, "database": config["database"]}
    return Response.html(await datasette.render_template("compare.html", context, request=request),
                         status=400 if data["error"] else 200)
