"""Posted results (``resultsSection`` of an API v2 record) as rows of their own tables.

Pure functions, called by the one normalizer (:func:`kb.domain.normalize.normalize_study`), so an
import, a crawl and a rebuild store them the same way. The registry's group codes (``FG000``,
``BG000``, ``OG000``, ``EG000``) are kept; each module's groups are in ``result_group`` (outcome
measures name their groups per measure, so ``result_value`` carries the group's title). Counts are
integers; measured values stay text as posted (``7.0``, ``NA``).
"""

from __future__ import annotations

import html
import re
from typing import Any

from kb.domain.extract.endpoints import classify_measure

__all__ = ["RESULT_TABLES", "parse_results"]

RESULT_TABLES = ("result_group", "result_flow", "result_baseline", "result_outcome", "result_value", "result_event")
"""The tables of posted results, in the order :func:`parse_results` returns them."""


def _text(value: Any) -> str | None:
    """A string trimmed, HTML entities and CommonMark escapes decoded; None for anything else or empty."""
    if not isinstance(value, str):
        return None
    if "\\" in value:
        value = value.replace("\\<", "<").replace("\\>", ">").replace("\\[", "[").replace("\\]", "]")
    if "&" in value:
        value = html.unescape(value)
    return value.strip() or None


_INT_MAX = 2**31 - 1  # the columns are SQL INTEGER
_DIGITS = re.compile(r"\s*[0-9]{1,10}\s*")


def _int(value: Any) -> int | None:
    """A count posted as a number or as ASCII digits, within SQL INTEGER; None otherwise.

    >>> _int("158"), _int(4), _int("NA"), _int("²"), _int(2**40), _int(True)
    (158, 4, None, None, None, None)
    """
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -_INT_MAX <= value <= _INT_MAX else None


def _dicts(value: Any) -> list[dict]:
    """The objects of a list (anything else is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _module(results: dict, name: str) -> dict:
    module = results.get(name)
    return module if isinstance(module, dict) else {}


def _parse_groups(results: dict) -> list[dict]:
    """Groups of participant flow, baseline and adverse events, with the adverse-event totals."""
    rows = []
    for module, name in (("flow", "participantFlowModule"), ("baseline", "baselineCharacteristicsModule"),
                         ("adverse", "adverseEventsModule")):
        key = "eventGroups" if module == "adverse" else "groups"
        seen: set[str] = set()
        for group in _dicts(_module(results, name).get(key)):
            code = _text(group.get("id"))
            if not code or code in seen:
                continue
            seen.add(code)
            rows.append({"module": module, "group_code": code, "title": _text(group.get("title")),
                         "description": _text(group.get("description")),
                         **{f"{what}_{n}": _int(group.get(f"{what}Num{key_}"))
                            for what in ("deaths", "serious", "other")
                            for n, key_ in (("affected", "Affected"), ("at_risk", "AtRisk"))}})
    return rows


def _parse_flow(results: dict) -> list[dict]:
    """Participant flow: each period's milestones (STARTED, COMPLETED ...) and withdrawal reasons per group."""
    rows: list[dict] = []
    for period in _dicts(_module(results, "participantFlowModule").get("periods")):
        title = _text(period.get("title"))
        for step, key, counts in (("milestone", "milestones", "achievements"), ("withdrawal", "dropWithdraws", "reasons")):
            for item in _dicts(period.get(key)):
                label = _text(item.get("type"))
                for count in _dicts(item.get(counts)):
                    rows.append({"position": len(rows), "period": title, "step": step, "label": label,
                                 "group_code": _text(count.get("groupId")), "count": _int(count.get("numSubjects"))})
    return rows


def _measurements(measure: dict) -> list[tuple[str | None, str | None, dict]]:
    """(class title, category title, measurement) of a baseline or outcome measure."""
    out = []
    for klass in _dicts(measure.get("classes")):
        class_title = _text(klass.get("title"))
        for category in _dicts(klass.get("categories")):
            category_title = _text(category.get("title"))
            out += [(class_title, category_title, m) for m in _dicts(category.get("measurements"))]
    return out


def _parse_baseline(results: dict) -> list[dict]:
    """Baseline characteristics, one row per measure, class, category and group."""
    rows: list[dict] = []
    for measure in _dicts(_module(results, "baselineCharacteristicsModule").get("measures")):
        title, param_type, unit = (_text(measure.get(k)) for k in ("title", "paramType", "unitOfMeasure"))
        for klass, category, m in _measurements(measure):
            rows.append({"position": len(rows), "measure": title, "param_type": param_type, "unit": unit,
                         "class_title": klass, "category": category, "group_code": _text(m.get("groupId")),
                         "value": _text(m.get("value")), "spread": _text(m.get("spread")),
                         "lower": _text(m.get("lowerLimit")), "upper": _text(m.get("upperLimit"))})
    return rows


def _parse_outcomes(results: dict, classify: bool) -> tuple[list[dict], list[dict]]:
    """Outcome measures (with ``classify``, the endpoint kinds their titles name: posted descriptions are
    long) and their values per group."""
    measures, values = [], []
    for position, om in enumerate(_dicts(_module(results, "outcomeMeasuresModule").get("outcomeMeasures"))):
        title, description = _text(om.get("title")), _text(om.get("description"))
        measures.append({"position": position, "type": _text(om.get("type")), "title": title,
                         "description": description, "time_frame": _text(om.get("timeFrame")),
                         "population": _text(om.get("populationDescription")),
                         "param_type": _text(om.get("paramType")), "dispersion": _text(om.get("dispersionType")),
                         "unit": _text(om.get("unitOfMeasure")), "reporting_status": _text(om.get("reportingStatus")),
                         "endpoint_kinds": [kind for kind, _ in classify_measure(title)] or None
                         if classify else None})
        groups = {_text(g.get("id")): _text(g.get("title")) for g in _dicts(om.get("groups"))}
        denoms = {_text(c.get("groupId")): _int(c.get("value"))
                  for d in _dicts(om.get("denoms"))[:1] for c in _dicts(d.get("counts"))}
        for klass, category, m in _measurements(om):
            code = _text(m.get("groupId"))
            values.append({"outcome_position": position, "position": len(values), "group_code": code,
                           "group_title": groups.get(code), "participants": denoms.get(code),
                           "class_title": klass, "category": category, "value": _text(m.get("value")),
                           "spread": _text(m.get("spread")), "lower": _text(m.get("lowerLimit")),
                           "upper": _text(m.get("upperLimit"))})
    return measures, values


def _parse_events(results: dict) -> list[dict]:
    """Serious and other adverse events, one row per term and group."""
    module = _module(results, "adverseEventsModule")
    rows: list[dict] = []
    for seriousness, key in (("serious", "seriousEvents"), ("other", "otherEvents")):
        for position, event in enumerate(_dicts(module.get(key))):
            seen: set[str | None] = set()
            term, organ_system = _text(event.get("term")), _text(event.get("organSystem"))
            for stat in _dicts(event.get("stats")):
                code = _text(stat.get("groupId"))
                if code in seen:
                    continue
                seen.add(code)
                rows.append({"seriousness": seriousness, "position": position, "group_code": code,
                             "term": term, "organ_system": organ_system,
                             "num_events": _int(stat.get("numEvents")), "num_affected": _int(stat.get("numAffected")),
                             "num_at_risk": _int(stat.get("numAtRisk"))})
    return rows


def parse_results(data: dict, classify: bool = True) -> dict[str, list[dict]]:
    """Rows of every results table for one record (empty lists when it posted no results).

    ``classify``: read the endpoint kinds of the posted outcome measures (the normalizer does it for
    cell therapies, as it reads their protocol's endpoints; a whole-registry import skips the rest).
    """
    results = data.get("resultsSection")
    if not isinstance(results, dict):
        return {name: [] for name in RESULT_TABLES}
    measures, values = _parse_outcomes(results, classify)
    return {"result_group": _parse_groups(results), "result_flow": _parse_flow(results),
            "result_baseline": _parse_baseline(results), "result_outcome": measures, "result_value": values,
            "result_event": [row for row in _parse_events(results) if row["group_code"]]}
