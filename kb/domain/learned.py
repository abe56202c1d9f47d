"""Products learned from the store: what one trial's text says a product code is ("RXIM002, an in
vivo CD19 CAR-T") serves every trial that names the code, with the evidence chain kept.

Pure functions; :mod:`kb.store.products` runs them over a store. Three steps:

- :func:`readings` -- the statements one trial makes about the codes it names: a sentence that
  names a code and a CAR (not negated) says the code is a CAR product, and that sentence's antigens,
  effector cell and origin are the product's; a trial that names one code only and states its
  targets elsewhere in its own text lends them too.
- :func:`learn` -- every trial's readings folded into one :class:`LearnedProduct` per code: per kind,
  the value read by the most trials (ties: the value whose first trial id sorts first), so the same
  store gives the same facts in any order. Codes the curated lexicon already describes keep the
  lexicon's facts (learning fills only what the lexicon leaves open). Codes that no sentence
  describes become candidates with a reason (all their trials name CAR cells; their sponsor's other
  codes of the same family are CAR products), never facts.
- :func:`fill` -- what a learned product gives a trial that names its code: only what the trial's own
  text leaves open (CAR unknown, no target, no cell, no origin); a trial's own text always wins.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kb.domain.extract.car import PLAIN_CELLS, car_mentions, mention_cell, normal_cell
from kb.domain.extract.facts import Facts, snippet, unique
from kb.domain.extract.fields import Texts
from kb.domain.extract.origin import modality_for, parse_origin
from kb.domain.extract.products import ANTIGEN_NAME, is_drug_name
from kb.domain.extract.targets import targets_in
from kb.domain.lexicon import PRODUCTS_BY_CODE

__all__ = ["Fill", "LearnedProduct", "Reading", "code_key", "fill", "learn", "readings", "trial_codes"]

LEARNED_FIELD = "learned:"
"""The ``field`` prefix of a trial_fact row a learned product gave ('learned:RXIM002')."""
STATEMENT_FIELDS = ("title", "official_title", "acronym", "intervention", "intervention_description", "arm",
                    "arm_description", "summary", "detailed_description", "keyword")
"""Where a trial may say what a product is: what it tests and its descriptions (not outcomes,
conditions or eligibility, which name other trials' products)."""
SENTENCE = re.compile(r"[^.;\n]+(?:\.(?=\w)[^.;\n]*)*")
"""A sentence (a period inside a token, 'KN5501.1', does not end it)."""
FIELD_NAMES = {"title": "title", "official_title": "official title", "acronym": "acronym",
               "intervention": "intervention name", "intervention_description": "intervention description",
               "arm": "arm label", "arm_description": "arm description", "summary": "brief summary",
               "detailed_description": "detailed description", "keyword": "keywords"}
FILLABLE = ("is_car_therapy", "targets", "cell_type", "origin")
"""The trial columns a learned product may fill (and with them modality and is_relevant)."""


@dataclass(frozen=True)
class Reading:
    """One trial's statement of one fact about a product code."""

    code: str
    kind: str  # car | target | cell_type | origin
    value: str  # for target: the sorted antigens joined by '+'
    trial_id: str
    field: str
    evidence: str


@dataclass
class LearnedProduct:
    """What the store's trials say of one code, where it was read, and which trials name it."""

    code: str
    status: str  # learned | candidate
    is_car: bool | None = None
    targets: tuple[str, ...] = ()
    cell_type: str | None = None
    origin: str | None = None
    sources: dict[str, Reading] = field(default_factory=dict)  # kind -> the reading the fact rests on
    trials: list[str] = field(default_factory=list)
    reason: str | None = None  # why a candidate is one

    def facts(self) -> dict[str, Any]:
        """The learned facts by kind (targets as a list), unset ones left out."""
        out = {"is_car": self.is_car, "targets": list(self.targets), "cell_type": self.cell_type,
               "origin": self.origin}
        return {k: v for k, v in out.items() if v not in (None, [])}

    def chain(self, kind: str, value: str) -> str:
        """The evidence chain of one fact: 'target CD19: from the product RXIM002, as read in
        NCT07320000's brief summary: "..."'."""
        source = self.sources[kind]
        return (f"{kind if kind != 'car' else 'CAR'} {value}: from the product {self.code}, as read in "
                f"{source.trial_id}'s {FIELD_NAMES.get(source.field, source.field)}: {source.evidence}")

    def as_dict(self) -> dict[str, Any]:
        """A plain dict for the store and JSON output."""
        return {"code": self.code, "status": self.status, "facts": self.facts(), "reason": self.reason,
                "sources": {k: {"trial_id": r.trial_id, "field": r.field, "evidence": r.evidence, "value": r.value}
                            for k, r in sorted(self.sources.items())},
                "trials": self.trials}


@dataclass
class Fill:
    """What learned products give one trial: its new columns, the fact rows saying why, and its own
    values before (to restore when the learned facts change)."""

    trial_id: str
    columns: dict[str, Any]
    facts: list[dict[str, Any]]
    own: dict[str, Any]


def code_key(code: str) -> str:
    """One key for a code's spellings: 'SNC-109', 'snc109' and 'SNC 109' are one product."""
    return re.sub(r"[\s\-]", "", code.upper())


CURATED = {code_key(code): product for code, product in PRODUCTS_BY_CODE.items()}
"""The product lexicon by code key."""


def trial_codes(facts: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The product codes a trial's own text names, {key: first spelling}: drug INNs, learned rows and
    names that describe rather than name ('CD19X', 'CLDN18' of 'CLDN18.2', 'IL-21') left out."""
    out: dict[str, str] = {}
    for f in facts:
        if f["kind"] == "product" and not f["field"].startswith(LEARNED_FIELD) and (key := _code_key_of(f["value"])) is not None:
            out.setdefault(key, f["value"])
    return out


@lru_cache(maxsize=1 << 16)
def _code_key_of(value: str) -> str | None:
    """The code key of a product value that names a code; None for a drug INN or a name that describes
    (a pure function of the value, remembered: relearning asks it for every product fact of the store)."""
    return None if is_drug_name(value) or _describes(value) else code_key(value)


def _describes(code: str) -> bool:
    return bool(ANTIGEN_NAME.match(code) or ANTIGEN_NAME.match(code + ".2") or re.match(r"(?i)IL-?\d", code))


def readings(trial_id: str, texts: Texts, facts: Sequence[dict[str, Any]]) -> list[Reading]:
    """What one trial's own text says about the codes it names (see the module docstring)."""
    codes = trial_codes(facts)
    if not codes:
        return []
    patterns = {key: re.compile(r"(?<![\w\-])" + r"[\s\-]?".join(map(re.escape, key)) + r"(?![\w\-]*\d)",
                                re.IGNORECASE) for key in codes}
    out: list[Reading] = []
    for where, text in texts:
        if where not in STATEMENT_FIELDS:
            continue
        for sentence in SENTENCE.finditer(text):
            said = sentence.group(0)
            named = [c for c in codes if patterns[c].search(said)]
            car = car_mentions([("title", said)]) if named else []
            if len(named) != 1 or not car:  # two codes in one sentence: which is which is not said
                continue
            code, match = named[0], car[0][2]
            evidence = snippet(said.strip(), 0, len(said.strip()), pad=0)[:300]
            out.append(Reading(code, "car", "true", trial_id, where, evidence))
            if cell := mention_cell(match) or _cells_named(said):
                out.append(Reading(code, "cell_type", cell, trial_id, where, evidence))
            found = Facts()
            targets_in(where, said, found)
            parse_origin([(where, said)], found)
            if targets := sorted(found.values("target")):
                out.append(Reading(code, "target", "+".join(targets), trial_id, where, evidence))
            for origin in found.values("origin")[:1]:
                out.append(Reading(code, "origin", origin, trial_id, where, evidence))
    if len(codes) == 1 and any(r.kind == "car" for r in out) and not any(r.kind == "target" for r in out):
        (key,) = codes
        own = [f for f in facts if f["kind"] == "target" and not f["field"].startswith(("product:", LEARNED_FIELD))]
        if own and not any(f["field"].endswith(":selection") for f in own):
            targets = sorted({f["value"] for f in own})
            out.append(Reading(key, "target", "+".join(targets), trial_id, own[0]["field"],
                               own[0]["evidence"] or ""))
    return out


GAMMA_DELTA = re.compile(r"(?i:gamma[\s\-]?delta)|γ\s?δ|Vδ\d")


def _cells_named(sentence: str) -> str | None:
    """The effector cell a sentence names beside its CAR when the CAR phrase names none ('an
    Engineered gamma-delta Chimeric Receptor [CAR] Vδ1 T Cell product')."""
    if GAMMA_DELTA.search(sentence):
        return "gdT"
    match = PLAIN_CELLS.search(sentence)
    return normal_cell(match.group(1)) if match else None


def _choose(found: list[Reading]) -> Reading:
    """The value read by the most trials; ties: the value first read by the lowest trial id. The
    reading returned is that value's first (lowest trial id, then field, then evidence)."""
    by_value: dict[str, list[Reading]] = defaultdict(list)
    for reading in found:
        by_value[reading.value].append(reading)
    best = min(by_value.values(), key=lambda rs: (-len({r.trial_id for r in rs}),
                                                  min((r.trial_id, r.field, r.evidence) for r in rs)))
    return min(best, key=lambda r: (r.trial_id, r.field, r.evidence))


def learn(all_readings: Iterable[Reading], named_by: dict[str, Sequence[str]],
          car_trials: set[str] | frozenset[str] = frozenset(), sponsors: dict[str, str] | None = None,
          spellings: dict[str, Sequence[str]] | None = None) -> dict[str, LearnedProduct]:
    """One product per code key that some trial names: learned facts where a sentence describes it,
    else a candidate with a reason, else nothing.

    ``named_by`` maps a code key to the trials naming it; ``car_trials`` are the trials whose own
    text names a CAR; ``sponsors`` maps a trial to its lead sponsor (for code families);
    ``spellings`` maps a key to the spelling each trial used (the product is shown by the most used,
    ties: the first in sort order).
    """
    spellings = spellings or {}
    by_code: dict[str, dict[str, list[Reading]]] = defaultdict(lambda: defaultdict(list))
    for reading in all_readings:
        by_code[reading.code][reading.kind].append(reading)
    products: dict[str, LearnedProduct] = {}
    for code in sorted(by_code):
        curated = CURATED.get(code)
        if curated is not None and curated.is_car is False:
            continue  # the lexicon says it is no CAR product: never overruled
        product = LearnedProduct(_spelling(code, spellings), "learned", trials=sorted(set(named_by.get(code, ()))))
        for kind, found in sorted(by_code[code].items()):
            if curated is not None and _curated_has(curated, kind):
                continue
            chosen = _choose(found)
            product.sources[kind] = chosen
            if kind == "car":
                product.is_car = True
            elif kind == "target":
                product.targets = tuple(chosen.value.split("+"))
            else:
                setattr(product, kind, chosen.value)
        if product.sources:
            products[code] = product
    products |= _candidates(products, named_by, car_trials, sponsors or {}, spellings)
    return dict(sorted(products.items()))


def _spelling(key: str, spellings: dict[str, Sequence[str]]) -> str:
    """The most used spelling of a code (ties: the first in sort order); the key if none is known."""
    counts: dict[str, int] = defaultdict(int)
    for spelled in spellings.get(key, ()):
        counts[spelled] += 1
    return min(counts, key=lambda s: (-counts[s], s)) if counts else key


def _curated_has(curated: Any, kind: str) -> bool:
    return bool({"car": curated.is_car, "target": curated.targets, "cell_type": curated.cell_type,
                 "origin": curated.origin}[kind])


def family(code: str) -> str | None:
    """A code's family: its letters before the first digit ('JY231' -> 'JY'), None if under two."""
    match = re.match(r"[A-Z]{2,}", code)
    return match.group(0) if match else None


def _candidates(learned: dict[str, LearnedProduct], named_by: dict[str, Sequence[str]], car_trials: set[str] |
                frozenset[str], sponsors: dict[str, str],
                spellings: dict[str, Sequence[str]]) -> dict[str, LearnedProduct]:
    """Codes no sentence describes but whose trials (two or more) all name CAR cells, or whose
    sponsor's other codes of the same family are CAR products: candidates, with their reason."""
    car_codes = {code for code, p in learned.items() if p.is_car} | {c for c, p in CURATED.items() if p.is_car}
    families: dict[tuple[str, str], set[str]] = defaultdict(set)
    for code, trials in named_by.items():
        for trial in trials:
            if (name := family(code)) and trial in sponsors and code in car_codes:
                families[(sponsors[trial], name)].add(code)
    out: dict[str, LearnedProduct] = {}
    for code in sorted(named_by):
        trials = sorted(set(named_by[code]))
        curated = CURATED.get(code)
        if code in learned or (curated is not None and curated.is_car is not None) or not trials:
            continue
        reason = None
        if len(trials) > 1 and all(t in car_trials for t in trials):
            reason = f"all {len(trials)} trial(s) naming it name CAR cells ({', '.join(trials[:5])})"
        elif name := family(code):
            kin = sorted({c for t in trials if t in sponsors for c in families.get((sponsors[t], name), ())} - {code})
            if kin:
                shown = ", ".join(learned[k].code if k in learned else CURATED[k].code if k in CURATED else k
                                  for k in kin[:5])
                reason = f"its sponsor's codes of the {name} family are CAR products ({shown})"
        if reason:
            out[code] = LearnedProduct(_spelling(code, spellings), "candidate", trials=trials, reason=reason)
    return out


def fill(trial: dict[str, Any], facts: Sequence[dict[str, Any]], learned: dict[str, LearnedProduct]) -> Fill | None:
    """What the learned products a trial names give it, only where its own text (and the curated
    lexicon) left a column open; None when they give nothing. A trial whose text says it tests no
    CAR (false) is left alone."""
    if trial["is_car_therapy"] is False:
        return None
    products = [learned[c] for c in trial_codes(facts) if c in learned and learned[c].status == "learned"]
    if not products:
        return None
    columns: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    trial_id = trial["trial_id"]

    def give(column: str, kind: str, value: Any, product: LearnedProduct, shown: str) -> None:
        columns[column] = value
        rows.append({"trial_id": trial_id, "kind": kind if kind != "car" else "car_evidence",
                     "value": shown if kind != "car" else product.code, "field": LEARNED_FIELD + product.code,
                     "code": product.code, "evidence": product.chain(kind, shown)[:500]})

    if trial["is_car_therapy"] is None and (car := next((p for p in products if p.is_car), None)):
        give("is_car_therapy", "car", True, car, "true")
        columns["car_evidence"] = f"learned product: {car.chain('car', 'true')}"[:1000]
    if not trial.get("targets") and (with_targets := [p for p in products if p.targets]):
        targets = unique(t for p in with_targets for t in p.targets)
        for product in with_targets:
            for target in product.targets:
                give("targets", "target", targets, product, target)
    for column in ("cell_type", "origin"):
        if not trial.get(column) and (product := next((p for p in products if getattr(p, column)), None)):
            give(column, column, getattr(product, column), product, getattr(product, column))
    if not columns:
        return None
    is_car = columns.get("is_car_therapy", trial["is_car_therapy"])
    if is_car:
        cell, origin = columns.get("cell_type", trial.get("cell_type")), columns.get("origin", trial.get("origin"))
        columns["modality"] = modality_for(cell, origin, caar="CAAR" in (trial.get("car_evidence") or "").upper())
        columns["is_relevant"] = trial.get("domain") in ("immune-mediated", "mixed")
    own = {column: trial.get(column) for column in (*FILLABLE, "car_evidence", "modality", "is_relevant")}
    return Fill(trial_id, columns, rows, own)
