"""One trial as a card a person reads: what it tests, where, and the evidence for each fact.

:func:`trial_card` gathers the data (``kb.store.read.get_trial`` plus the evidence quotes, arms,
dose levels, sites per country and the registry link); :func:`render_card` lays it out for a
terminal with rich. The served trial page (``apps.serve``) shows the same data as HTML.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from kb.analysis.results import trial_results
from kb.core.ids import registry_name, registry_of
from kb.domain.lexicon import category_name
from kb.store.read import get_trial, reader_of
from kb.store.registrations import registrations
from kb.store.readonly import ReadOnlyStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["registry_url", "trial_card", "render_card", "regimen_text", "fact_value", "FACT_LABELS"]

FACT_LABELS = {"modality": "modality", "target": "target", "cell_type": "cell", "origin": "origin",
               "product": "product", "co_medication": "co-medication", "disease": "disease", "cancer": "cancer", "domain": "domain",
               "armoring": "armoring", "lymphodepletion": "lymphodepletion", "dose_level": "dose level",
               "endpoint": "endpoint", "car_evidence": "CAR wording"}
"""Fact kinds in the order a card lists them, with their labels."""


def registry_url(trial_id: str) -> str:
    """The trial's page in its own registry (kb.core.ids)."""
    from kb.core.ids import registry_url as url

    return url(trial_id)


def trial_card(store: Engine | ReadOnlyStore, trial_id: str) -> dict[str, Any]:
    """``get_trial`` plus ``url``, ``facts`` (with quotes), ``arms``, ``dose_levels``, ``sites`` and
    ``results`` (posted results, :func:`kb.analysis.results.trial_results`, or None).

    ``store`` is a :class:`ReadOnlyStore` (``trialkb show``: no SQLAlchemy) or an engine.
    """
    if not isinstance(store, ReadOnlyStore):
        with reader_of(store) as reader:
            return trial_card(reader, trial_id)
    card = get_trial(store, trial_id)
    trial_id = card["trial_id"]
    order = {kind: i for i, kind in enumerate(FACT_LABELS)}
    p = store.placeholder
    _, facts = store.query(f"SELECT kind, value, field, evidence FROM trial_fact WHERE trial_id = {p}", (trial_id,))
    _, arms = store.query(f"SELECT label, type, description FROM arm_group WHERE trial_id = {p} ORDER BY position",
                          (trial_id,))
    _, interventions = store.query(f"SELECT name, description, arm_labels FROM intervention WHERE trial_id = {p} "
                                   f"ORDER BY position", (trial_id,))
    interventions = [(name, description, json.loads(labels) if isinstance(labels, str) else labels)
                     for name, description, labels in interventions]  # JSON text on SQLite
    _, sites = store.query(f"SELECT country, COUNT(*) AS n FROM location WHERE trial_id = {p} "
                           f"GROUP BY country ORDER BY n DESC, country", (trial_id,))
    card["url"] = registry_url(trial_id)
    card["registry_name"] = registry_name(registry_of(trial_id))
    card |= registrations(store, trial_id)  # every registration of this trial, and where they differ
    card["facts"] = [{"kind": k, "value": v, "field": f, "evidence": e}
                     for k, v, f, e in sorted(facts, key=lambda r: (order.get(r[0], len(order)), r[0], r[1], r[2]))]
    card["arms"] = [{"label": label, "type": kind, "description": description,
                     "interventions": [name for name, _, labels in interventions if label in (labels or [])]}
                    for label, kind, description in arms]
    card["intervention_descriptions"] = {name: description for name, description, _ in interventions if description}
    card["co_medications"] = sorted({f["value"] for f in card["facts"] if f["kind"] == "co_medication"})
    card["dose_levels"] = sorted({f["value"] for f in card["facts"] if f["kind"] == "dose_level"}, key=_dose_order)
    card["sites"] = [{"country": country, "sites": count} for country, count in sites if country]
    card["results"] = trial_results(store, trial_id)
    return card


def _dose_order(dose: str) -> tuple[float, str]:
    """Dose levels low to high: ``3.0x10^6 cells/kg`` before ``1.5x10^7 cells/kg``.

    >>> sorted(["1.5x10^7 cells/kg", "3.0x10^6 cells/kg", "1e6 cells"], key=_dose_order)
    ['1e6 cells', '3.0x10^6 cells/kg', '1.5x10^7 cells/kg']
    """
    number = re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:[x×*]\s*10\s*\^?\s*(\d+)|e(\d+))?", dose, re.I)
    if not number:
        return (float("inf"), dose)
    return (float(number.group(1)) * 10 ** int(number.group(2) or number.group(3) or 0), dose)


class GroupedFact(NamedTuple):
    """One fact of a card with every place it was read."""

    kind: str
    value: str
    quotes: list[tuple[str, str]]  # (field, the words read there)


def group_facts(facts: list[dict[str, Any]]) -> list[GroupedFact]:
    """Facts with their quotes, in card order."""
    grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for fact in facts:
        grouped.setdefault((fact["kind"], fact["value"]), []).append((fact["field"], fact["evidence"] or ""))
    return [GroupedFact(kind, value, quotes) for (kind, value), quotes in grouped.items()]


def fact_value(kind: str, value: str) -> str:
    """A fact's value for people: a disease or cancer category by name, its key beside it."""
    return category_name(value, with_key=True) if kind in ("disease", "cancer") else value


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def _list(values: list[Any] | None) -> str:
    return ", ".join(map(str, values or [])) or "-"


def regimen_text(drug: dict[str, Any]) -> str:
    """One lymphodepleting drug for people; a dose or days the record does not state are said so.

    >>> regimen_text({"drug": "fludarabine", "dose_mg_m2": 30, "days": [-5, -4, -3]})
    'fludarabine 30 mg/m2 on days -5, -4, -3'
    >>> regimen_text({"drug": "cyclophosphamide", "dose_mg_m2": None, "days": None})
    'cyclophosphamide, dose not stated'
    """
    dose = drug.get("dose_mg_m2")
    text = f"{drug.get('drug')} {dose:g} mg/m2" if dose is not None else f"{drug.get('drug')}, dose not stated"
    return text + (f" on days {', '.join(map(str, drug['days']))}" if drug.get("days") else "")


def card_lines(card: dict[str, Any]) -> list[tuple[str, str]]:
    """The card's summary as (label, text) pairs."""
    phases = _list(card["phases"])
    dates = f"start {card['start_date'] or '?'}" + (f" ({card['start_date_type'].lower()})" if card["start_date_type"] else "")
    if card["primary_completion_date"]:
        dates += f", primary completion {card['primary_completion_date']}"
    enrollment = "-" if card["enrollment_count"] is None else (
        f"{card['enrollment_count']}" + (f" ({card['enrollment_type'].lower()})" if card["enrollment_type"] else ""))
    lymphodepletion = "; ".join(map(regimen_text, card["lymphodepletion"] or [])) or "-"
    sites = ", ".join(f"{s['country']} ({s['sites']})" if s["sites"] > 1 else s["country"] for s in card["sites"]) or "-"
    asked = [("asked", f"{card['asked_id']} is not stored; a stored registration of the same trial names it")] \
        if card.get("asked_id") else []
    return [
        *asked,
        ("status", card["status"] or "-"), ("phases", phases), ("dates", dates), ("enrollment", enrollment),
        ("sponsor", card["sponsor"] or "-"), ("conditions", _list(card["conditions"])),
        ("CAR cell therapy", _yes_no(card["is_car_therapy"])), ("modality", card.get("modality") or "-"),
        ("cell", card["cell_type"] or "-"),
        ("origin", card["origin"] or "-"), ("targets", _list(card["targets"])), ("products", _list(card["products"])),
        ("co-medications", _list(card.get("co_medications"))),
        ("diseases", _list([category_name(k, with_key=True) for k in card["disease_categories"] or []])), ("domain", card.get("domain") or "-"),
        ("lymphodepletion", lymphodepletion),
        ("dose levels", _list(card["dose_levels"])), ("sites", sites), ("registry", card["url"]),
    ]


def _registration_line(reg: dict[str, Any]) -> str:
    """One registration in a line: status, start, enrollment, link; or who names it."""
    if not reg["stored"]:
        return f"named by {', '.join(reg['named_by'])}, not in the store; {reg['url']}"
    enrollment = "-" if reg["enrollment_count"] is None else reg["enrollment_count"]
    return (f"status {reg['status'] or '-'}, start {reg['start_date'] or '-'}, enrollment {enrollment}, "
            f"updated {reg['last_update_posted_date'] or '-'}; {reg['url']}")


def render_card(card: dict[str, Any]) -> Any:
    """A rich renderable: title, summary, arms, and every fact with its field and quote."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    for label, text in card_lines(card):
        summary.add_row(label, text)
    parts: list[Any] = [Text(f"{card['trial_id']}  {card['title'] or ''}", style="bold"), summary]
    if len(card.get("registrations") or []) > 1:
        parts.append(Text("\nRegistrations (one trial)", style="bold"))
        for reg in card["registrations"]:
            parts.append(Text(f"- {reg['trial_id']} ({reg['registry_name']}): " + _registration_line(reg)))
        for field, values in (card.get("differences") or {}).items():
            parts.append(Text(f"  {field} differs: " + "; ".join(f"{k} {v if v is not None else '-'}"
                                                                  for k, v in values.items())))
    if card["arms"]:
        parts.append(Text("\nArms", style="bold"))
        for arm in card["arms"]:
            kind = f" [{arm['type'].lower().replace('_', ' ')}]" if arm["type"] else ""
            given = f": {', '.join(arm['interventions'])}" if arm["interventions"] else ""
            parts.append(Text(f"- {arm['label']}{kind}{given}"))
    if card.get("results"):
        parts.append(_results_table(card["results"]))
    if card["facts"]:
        parts.append(Text("\nEvidence (fact, then each field it was read from and the words there)", style="bold"))
        for kind, value, quotes in group_facts(card["facts"]):
            parts.append(Text(f"{FACT_LABELS.get(kind, kind)} {fact_value(kind, value)}", style="bold"))
            for field, quote in quotes:
                parts.append(Padding(Text(f"{field}: \u201c{quote}\u201d"), (0, 0, 0, 4)))
    return Group(*parts)


def _results_table(results: dict[str, Any]) -> Any:
    """Posted results: each arm's deaths, serious and other adverse events, then serious events by term and arm."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    arms = Table("arm", "deaths", "serious AEs", "other AEs", title="Posted results: adverse events by arm",
                 title_justify="left", title_style="bold")
    for arm in results["arms"]:
        arms.add_row(arm["title"] or arm["group"], arm["deaths"], arm["serious"], arm["other"])
    parts: list[Any] = [Text(""), arms] if results["arms"] else [Text("\nPosted results", style="bold")]
    if results["serious_events"]:
        terms = Table("serious adverse event", *(a["title"] or a["group"] for a in results["arms"]),
                      title="Serious adverse events by term and arm (affected/at risk)", title_justify="left",
                      title_style="bold")
        for event in results["serious_events"]:
            terms.add_row(event["term"] or "-", *event["by_arm"])
        parts.append(terms)
    started = ", ".join(f"{s['title'] or s['group']} {s['started']}" for s in results["started"]) or "-"
    parts.append(Text(f"{len(results['outcomes'])} outcome measures posted; started: {started}"))
    return Group(*parts)
