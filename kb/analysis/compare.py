"""Trials side by side: one column per trial, one row per attribute, the rows where they differ marked.

:func:`compare_trials` returns a :class:`Comparison` (data only); ``trialkb compare``, the served
compare page and the report render it. Values come from the trial card (:mod:`kb.analysis.card`):
the store's columns, its extracted facts (each with the field and words it was read from, the
evidence) and the posted results (:mod:`kb.analysis.results`). :func:`graph.pick.pick_trials` turns
ids, a ``similar to`` trial or ``find`` filters into the list of trials to compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kb.analysis.card import trial_card
from kb.analysis.results import results_lines
from kb.core.errors import BadArgument
from kb.core.ids import parse_trial_id
from kb.domain.lexicon import ENDPOINTS, ENDPOINTS_BY_KEY
from kb.store.read import reader_of
from kb.store.readonly import ReadOnlyStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["ATTRIBUTES", "Attribute", "Comparison", "compare_trials", "value_text", "MAX_TRIALS"]

MAX_TRIALS = 25
"""More columns than this help nobody read a comparison."""


@dataclass(frozen=True)
class Attribute:
    """A row of the comparison: its key, its label, how a card gives its value, the fact kinds behind it."""

    key: str
    label: str
    value: Callable[[dict[str, Any]], Any]
    facts: tuple[str, ...] = ()
    fact_field: str | None = None  # only facts read from this field (endpoint kinds: primary_outcome ...)


def _ages(card: dict[str, Any]) -> str | None:
    low, high = card.get("minimum_age"), card.get("maximum_age")
    if not (low or high):
        return None
    return f"{low or 'any'} to {high or 'any'}"


def _enrollment(card: dict[str, Any]) -> str | None:
    count, kind = card.get("enrollment_count"), card.get("enrollment_type")
    return None if count is None else f"{count}" + (f" ({kind.lower()})" if kind else "")


def _lymphodepletion(card: dict[str, Any]) -> list[str]:
    return [f"{x.get('drug')} {x.get('dose_mg_m2', '?')} mg/m2"
            + (f" days {', '.join(map(str, x['days']))}" if x.get("days") else "")
            for x in card.get("lymphodepletion") or []]


def _endpoints(where: str) -> Callable[[dict[str, Any]], list[str]]:
    def kinds(card: dict[str, Any]) -> list[str]:
        """The endpoint kinds read from ``where``, in the lexicon's order."""
        keys = {f["value"] for f in card["facts"] if f["kind"] == "endpoint" and f["field"] == where}
        return [e.label for e in ENDPOINTS if e.key in keys] + sorted(keys - ENDPOINTS_BY_KEY.keys())
    return kinds


def _results(part: str) -> Callable[[dict[str, Any]], list[str]]:
    return lambda card: results_lines(card.get("results"))[part]


def _cohorts(card: dict[str, Any]) -> list[str]:
    """Diseases found only in the eligibility criteria (a basket trial's cohorts)."""
    return list(dict.fromkeys(f["value"] for f in card["facts"]
                              if f["kind"] == "disease" and f["field"] == "eligibility_cohort"))


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("title", "title", lambda c: c.get("title")),
    Attribute("registry", "registry", lambda c: c.get("registry")),
    Attribute("targets", "targets", lambda c: c.get("targets") or [], ("target",)),
    Attribute("armoring", "armoring / construct", lambda c: c.get("armoring") or [], ("armoring",)),
    Attribute("modality", "modality", lambda c: c.get("modality"), ("modality",)),
    Attribute("cell_type", "cell", lambda c: c.get("cell_type"), ("cell_type",)),
    Attribute("origin", "origin", lambda c: c.get("origin"), ("origin",)),
    Attribute("products", "products", lambda c: c.get("products") or [], ("product",)),
    Attribute("dose_levels", "dose levels", lambda c: c.get("dose_levels") or [], ("dose_level",)),
    Attribute("lymphodepletion", "lymphodepletion", _lymphodepletion, ("lymphodepletion",)),
    Attribute("phases", "phases", lambda c: c.get("phases") or []),
    Attribute("enrollment", "enrollment", _enrollment),
    Attribute("ages", "ages", _ages),
    Attribute("sex", "sex", lambda c: c.get("sex")),
    Attribute("diseases", "diseases", lambda c: c.get("disease_categories") or [], ("disease",)),
    Attribute("cohorts", "cohorts (eligibility)", _cohorts, ("disease",), "eligibility_cohort"),
    Attribute("conditions", "conditions as registered", lambda c: c.get("conditions") or []),
    Attribute("primary_endpoints", "primary endpoint kinds", _endpoints("primary_outcome"), ("endpoint",),
              "primary_outcome"),
    Attribute("secondary_endpoints", "secondary endpoint kinds", _endpoints("secondary_outcome"), ("endpoint",),
              "secondary_outcome"),
    Attribute("countries", "countries", lambda c: c.get("countries") or []),
    Attribute("sites", "sites", lambda c: c.get("site_count")),
    Attribute("sponsor", "sponsor", lambda c: c.get("sponsor")),
    Attribute("sponsor_class", "sponsor type", lambda c: c.get("sponsor_class")),
    Attribute("status", "status", lambda c: c.get("status")),
    Attribute("start_date", "start", lambda c: c.get("start_date")),
    Attribute("primary_completion_date", "primary completion", lambda c: c.get("primary_completion_date")),
    Attribute("last_update", "last update", lambda c: c.get("last_update_posted_date")),
    Attribute("has_results", "results posted", lambda c: bool(c.get("results"))),
    Attribute("started", "participants started", _results("started")),
    Attribute("serious_aes", "serious AEs per arm (affected/at risk)", _results("serious_aes")),
    Attribute("deaths", "deaths per arm", _results("deaths")),
    Attribute("serious_terms", "most frequent serious AEs", _results("serious_terms")),
)
"""The rows, in order."""

EXTRA_COLUMNS = ("minimum_age", "maximum_age", "sex")
"""Trial columns a comparison needs that the card does not hold."""


@dataclass
class Comparison:
    """Trials side by side: ``trials[i]`` holds every attribute's value for trial ``trial_ids[i]``."""

    trial_ids: list[str]
    trials: list[dict[str, Any]]
    differs: dict[str, bool]
    evidence: list[dict[str, list[dict[str, str]]]] | None = None
    attributes: tuple[Attribute, ...] = field(default=ATTRIBUTES)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``trials`` (one object per trial, with its evidence when asked for) and ``attributes``."""
        trials = [dict(t) for t in self.trials]
        if self.evidence is not None:
            for trial, evidence in zip(trials, self.evidence):
                trial["evidence"] = evidence
        return {"trials": trials,
                "attributes": [{"key": a.key, "label": a.label, "differs": self.differs[a.key]} for a in self.attributes]}

    def rows(self, evidence: bool = False) -> tuple[list[str], list[list[Any]]]:
        """(columns, rows) for the writers: ``attribute``, ``differs``, then one column per trial.

        With ``evidence`` each attribute that rests on facts is followed by a row of its quotes.
        """
        columns = ["attribute", "differs", *self.trial_ids]
        rows: list[list[Any]] = []
        for a in self.attributes:
            rows.append([a.label, self.differs[a.key], *(value_text(t[a.key]) for t in self.trials)])
            if evidence and self.evidence is not None and a.facts:
                quotes = [evidence_text(e.get(a.key, [])) for e in self.evidence]
                if any(quotes):
                    rows.append([f"{a.label}: evidence", None, *quotes])
        return columns, rows


def value_text(value: Any) -> str:
    """A value as one cell of text: lists joined with ``; ``, booleans yes/no, nothing as ``-``.

    >>> value_text(["CD19", "BCMA"]), value_text(None), value_text(True), value_text(20)
    ('CD19; BCMA', '-', 'yes', '20')
    """
    if value is None or value == [] or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return str(value)


def evidence_text(quotes: list[dict[str, str]]) -> str:
    """Evidence as text, one ``value [field]: “quote”`` a line."""
    return "\n".join(f"{q['value']} [{q['field']}]: \u201c{q['quote']}\u201d" for q in quotes)


def _same(values: list[Any]) -> bool:
    """Whether every trial has the same value (lists compare as sets)."""
    keys = [tuple(sorted(map(str, v))) if isinstance(v, list) else v for v in values]
    return all(k == keys[0] for k in keys)


def _evidence(card: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """Each fact-backed attribute's facts: value, field, quote."""
    out: dict[str, list[dict[str, str]]] = {}
    for a in ATTRIBUTES:
        quotes = [{"value": f["value"], "field": f["field"], "quote": f["evidence"] or ""} for f in card["facts"]
                  if f["kind"] in a.facts and (a.fact_field is None or f["field"] == a.fact_field)]
        if quotes:
            out[a.key] = quotes
    return out


def _extra(store: ReadOnlyStore, trial_id: str) -> dict[str, Any]:
    _, rows = store.query(f"SELECT {', '.join(EXTRA_COLUMNS)} FROM trial WHERE trial_id = {store.placeholder}",
                          (trial_id,))
    return dict(zip(EXTRA_COLUMNS, rows[0])) if rows else {}


def compare_trials(store: Engine | ReadOnlyStore, trial_ids: Sequence[str], *, evidence: bool = False) -> Comparison:
    """The comparison of stored trials (any registry's ids, in the order given, repeats dropped).

    Raises :class:`kb.core.errors.BadArgument` for fewer than one or more than :data:`MAX_TRIALS` trials,
    a malformed id, and ``NotFound`` for a trial not in the store.
    """
    if not isinstance(store, ReadOnlyStore):
        with reader_of(store) as reader:
            return compare_trials(reader, trial_ids, evidence=evidence)
    ids = list(dict.fromkeys(parse_trial_id(t) for t in trial_ids))
    if not ids:
        raise BadArgument("nothing to compare: name trials, or use --similar-to or a filter")
    if len(ids) > MAX_TRIALS:
        raise BadArgument(f"{len(ids)} trials are too many to compare side by side (at most {MAX_TRIALS})")
    cards = []
    for trial_id in ids:
        card = trial_card(store, trial_id)
        cards.append(card | _extra(store, card["trial_id"]))
    trials = [{"trial_id": c["trial_id"], **{a.key: a.value(c) for a in ATTRIBUTES}} for c in cards]
    differs = {a.key: len(trials) > 1 and not _same([t[a.key] for t in trials]) for a in ATTRIBUTES}
    return Comparison([c["trial_id"] for c in cards], trials, differs,
                      [_evidence(c) for c in cards] if evidence else None)
