"""Find trials by the facets an analyst filters on, without SQL.

Each filter takes one or more values (any of them matches); filters combine with AND. Words are
read the way the extraction reads records: ``lupus`` is the SLE category (and lupus nephritis
under it), ``b cell maturation antigen`` is BCMA, ``recruiting`` is RECRUITING, ``1`` is PHASE1.
The query is SQLAlchemy Core, so it runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, Sequence

from sqlalchemy import Engine, String, cast, exists, func, or_, select

from kb.domain.lexicon import ANTIGENS, CELL_TYPES, DISEASES, DISEASES_BY_KEY
from kb.domain.normalize import OVERALL_STATUSES
from kb.store.models import Location, Trial, TrialFact

__all__ = ["Filters", "FindError", "Known", "suggest", "COLUMNS", "find_trials", "disease_keys", "target_symbols"]

T = Trial.__table__.c
COLUMNS = ("trial_id", "title", "status", "phases", "start_date", "modality", "cell_type", "origin", "targets",
           "diseases", "countries", "sponsor", "other_ids")
"""A trial registered in several registries is one row: its preferred registration (kb.store.registrations)
with the others' ids in ``other_ids``."""
_SELECT = (T.trial_id, T.brief_title, T.overall_status, T.phases, T.start_date, T.modality, T.cell_type, T.origin,
           T.targets, T.disease_categories, T.countries, T.sponsor)


class FindError(ValueError):
    """A filter value that names nothing trialkb knows."""


@dataclass
class Filters:
    """What to look for; empty lists filter nothing."""

    target: list[str] = field(default_factory=list)
    disease: list[str] = field(default_factory=list)
    cell: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)
    modality: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    country: list[str] = field(default_factory=list)
    sponsor: list[str] = field(default_factory=list)
    started_after: str | None = None
    relevant_only: bool = False


ORIGINS = ("autologous", "allogeneic", "in_vivo")


def suggest(what: str, word: str, known: Sequence[str], shown: int = 12) -> FindError:
    """The one-line error for a value that names nothing known, with the closest known values.

    >>> str(suggest("status", "recruitng", ["recruiting", "completed"]))
    "unknown status 'recruitng'; did you mean 'recruiting'? (known: completed, recruiting)"
    """
    lowered = word.strip().lower()
    by_lower = {k.lower(): k for k in known}
    close = [k for k in by_lower if lowered and k.startswith(lowered)][:3] or get_close_matches(
        lowered, list(by_lower), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(by_lower[c]) for c in close)}?" if close else ""
    listed = sorted(set(known), key=str.lower)
    more = f", ... ({len(listed)} in all)" if len(listed) > shown else ""
    return FindError(f"unknown {what} {word!r}{hint} (known: {', '.join(listed[:shown])}{more})")


def target_symbols(word: str) -> list[str]:
    """The antigen symbols a word names (``cd-19`` -> CD19); an error with suggestions if none.

    >>> target_symbols("b cell maturation antigen"), target_symbols("cd 19"), target_symbols("GD2")
    (['BCMA'], ['CD19'], ['GD2'])
    """
    found = [symbol for symbol, patterns in ANTIGENS.items()
             if any(re.fullmatch(p, word.strip(), re.I) for p in patterns) or symbol.lower() == word.strip().lower()]
    if not found:
        raise suggest("target", word, list(ANTIGENS))
    return found


def disease_keys(word: str) -> list[str]:
    """The disease categories a word names, with the narrower categories under them.

    >>> disease_keys("lupus"), disease_keys("SSc"), disease_keys("lupus nephritis")
    (['lupus_nephritis', 'sle'], ['systemic_sclerosis'], ['lupus_nephritis'])
    """
    text = word.strip()
    keys = {d.key for d in DISEASES
            if d.key == text.lower().replace(" ", "_").replace("-", "_") or d.label.lower() == text.lower()
            or any(re.search(p, text, re.I) for p in d.patterns) or text in d.abbreviations}
    if not keys:
        words = {w for d in DISEASES for w in re.findall(r"[a-z]{4,}", d.label.lower())}
        close = [w for w in get_close_matches(text.lower(), sorted(words), n=3, cutoff=0.75) if _names_disease(w)]
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise FindError(f"unknown disease {word!r}{hint} (known categories: {', '.join(sorted(DISEASES_BY_KEY))})")
    children = {d.key for d in DISEASES if any(_under(d.key, k) for k in keys)}
    return sorted(keys | children)


def _names_disease(word: str) -> bool:
    """Whether a word names a disease category (a suggestion must work)."""
    return any(re.search(p, word, re.I) for d in DISEASES for p in d.patterns) or word in DISEASES_BY_KEY


def _under(key: str, ancestor: str) -> bool:
    """Whether category ``key`` is (transitively) under ``ancestor``."""
    parent = DISEASES_BY_KEY[key].parent
    while parent:
        if parent == ancestor:
            return True
        parent = DISEASES_BY_KEY[parent].parent
    return False


def _phase(word: str) -> str:
    """``1``, ``phase 1``, ``PHASE1``, ``early 1``, ``na`` -> the registry's phase code."""
    text = re.sub(r"[\s_-]+", "", word.strip().upper())
    if text in ("NA", "N/A"):
        return "NA"
    number = re.fullmatch(r"(EARLY)?(?:PHASE)?([1-4])", text)
    if not number:
        raise FindError(f"unknown phase {word!r}: use 1, 2, 3, 4, early1 or na")
    return f"{'EARLY_PHASE' if number.group(1) else 'PHASE'}{number.group(2)}"


def _status(word: str, stored: Sequence[str]) -> str:
    """``not yet recruiting`` -> NOT_YET_RECRUITING; a status neither the registry nor the store has is an error."""
    value = re.sub(r"[\s-]+", "_", word.strip()).upper()
    known = {*OVERALL_STATUSES, *stored}
    if value not in known:
        raise suggest("status", word, [k.lower().replace("_", " ") for k in known])
    return value


def _known(word: str, what: str, known: Sequence[str]) -> str:
    """A word that must be one of ``known`` (any case), lower-cased; an error with suggestions otherwise."""
    value = word.strip().lower()
    if value not in {k.lower() for k in known}:
        raise suggest(what, word, known)
    return value


def _fact(kind: str, values: Sequence[str]) -> Any:
    """The trial has a fact of this kind with one of these values."""
    f = TrialFact.__table__.c
    return exists().where(f.trial_id == T.trial_id, f.kind == kind, f.value.in_(list(values)))


def _date(text: str) -> str:
    """A YYYY, YYYY-MM or YYYY-MM-DD date, as stored (ISO text compares in order)."""
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text.strip()):
        raise FindError(f"not a date: {text!r} (use YYYY-MM-DD, YYYY-MM or YYYY)")
    return text.strip()


def modalities(words: Sequence[str], known: Sequence[str]) -> list[str]:
    """The stored modalities a word names: the whole name, or a part of it between spaces.

    >>> modalities(["car-t"], ["autologous CAR-T", "allogeneic CAR-T", "CAR-Treg", "CAR-NK"])
    ['allogeneic CAR-T', 'autologous CAR-T']
    """
    found = {m for w in words for m in known
             if re.search(rf"(?<![\w-]){re.escape(w.strip())}(?![\w-])", m, re.I)}
    if not found:
        raise suggest("modality", ", ".join(words), known)
    return sorted(found)


@dataclass
class Known:
    """What the store holds, for checking filter values: modalities, statuses, countries, sponsors."""

    modalities: Sequence[str] = ()
    statuses: Sequence[str] = ()
    countries: Sequence[str] = ()
    sponsors: Sequence[str] = ()


def conditions(filters: Filters, known: Known | None = None) -> list[Any]:
    """The WHERE clauses of a search; every value is checked against what trialkb and the store know."""
    known = known or Known()
    where: list[Any] = []
    if filters.target:
        where.append(_fact("target", [s for w in filters.target for s in target_symbols(w)]))
    if filters.disease:
        where.append(_fact("disease", [k for w in filters.disease for k in disease_keys(w)]))
    if filters.cell:
        where.append(func.lower(T.cell_type).in_([_known(_cell(w), "cell", CELL_TYPES) for w in filters.cell]))
    if filters.origin:
        where.append(func.lower(T.origin).in_([_known(w.strip().replace(" ", "_").replace("-", "_"), "origin", ORIGINS)
                                               for w in filters.origin]))
    if filters.modality:
        where.append(T.modality.in_(modalities(filters.modality, known.modalities)))
    if filters.status:
        where.append(T.overall_status.in_([_status(w, known.statuses) for w in filters.status]))
    if filters.phase:
        where.append(or_(*(cast(T.phases, String).like(f'%"{_phase(w)}"%') for w in filters.phase)))
    if filters.country:
        loc = Location.__table__.c
        where.append(exists().where(loc.trial_id == T.trial_id,
                                    func.lower(loc.country).in_([_known(w, "country", known.countries)
                                                                 for w in filters.country])))
    if filters.sponsor:
        for word in filters.sponsor:
            if not any(word.strip().lower() in s.lower() for s in known.sponsors):
                raise suggest("sponsor", word, known.sponsors)
        where.append(or_(*(func.lower(T.sponsor).like(f"%{w.strip().lower()}%") for w in filters.sponsor)))
    if filters.started_after:
        where.append(T.start_date >= _date(filters.started_after))
    if filters.relevant_only:
        where.append(T.is_relevant)
    return where


def _cell(word: str) -> str:
    """``car-nk`` / ``NK cells`` / ``nk`` -> ``nk`` (cell types compare lower-cased)."""
    text = re.sub(r"^CAR[-\s]?|\s*cells?$", "", word.strip(), flags=re.I)
    return {"gamma delta t": "gdt", "γδt": "gdt", "γδ t": "gdt"}.get(text.lower(), text.lower())


def _store_values(conn: Any, filters: Filters) -> Known:
    """The store's values of the columns the filters name (only those: a sponsor list costs a scan)."""
    def distinct(column: Any, wanted: bool) -> list[str]:
        return conn.execute(select(column).distinct().where(column.is_not(None))).scalars().all() if wanted else []

    return Known(distinct(T.modality, bool(filters.modality)), distinct(T.overall_status, bool(filters.status)),
                 distinct(Location.__table__.c.country, bool(filters.country)), distinct(T.sponsor, bool(filters.sponsor)))


def find_trials(engine: Engine, filters: Filters, limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of the trials that match, latest start first; a trial registered in several
    registries once, as the first of its registrations that matches, with the other ids."""
    from kb.store.read import reader_of
    from kb.store.registrations import groups

    with engine.connect() as conn:
        query = (select(*_SELECT).where(*conditions(filters, _store_values(conn, filters)))
                 .order_by(T.start_date.desc().nulls_last(), T.trial_id))
        rows = [tuple(r) for r in conn.execute(query)]
    with reader_of(engine) as reader:
        registrations = groups(reader, [row[0] for row in rows])
    matched = {row[0]: row for row in rows}
    out, seen = [], set()
    for row in rows:  # in order; a linked trial where its first registration falls, as its preferred one
        ids = registrations.get(row[0], [row[0]])
        if seen.intersection(ids):
            continue
        seen.update(ids)
        pick = next(matched[i] for i in ids if i in matched)
        out.append((*pick, [i for i in ids if i != pick[0]]))
    return list(COLUMNS), out[:limit] if limit else out
