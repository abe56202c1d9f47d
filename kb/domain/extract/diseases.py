"""Immune-mediated disease and cancer categories (``kb.domain.lexicon``), and the trial's domain."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from kb.domain.extract.facts import Facts, snippet
from kb.domain.extract.fields import Texts, tier
from kb.domain.extract.speed import CuedAlternation, CuedPattern, Words, matches_from, plain_way, shortcut
from kb.domain.lexicon import (CANCER_BY_MESH, CANCER_UMBRELLA, CANCERS, DISEASE_BY_MESH, DISEASES, UMBRELLA, Disease)

DOMAINS = ("immune-mediated", "oncology", "mixed", "other")

COHORT_HEADER = re.compile(
    r"(?i:inclusion\s+criteria\s+(?:for|of|in)\s+(?:patients?\s+with\s+)?)([^:;\n]{3,120}?)\s*(?::|\n)"
    r"|(?i:\bcohort\s+[A-Z0-9]{1,2}\s*[:(\-–]\s*)([^:;\n)]{3,80})")
_COHORT_CUED = CuedPattern(COHORT_HEADER, ("inclusion", "cohort"), 0)


def _cohort_headers_fast(text: str) -> Iterator[re.Match]:
    """Every header starts with 'inclusion' or 'cohort' in any case: only those starts are tried
    (an ``(?i:...)`` scan of every position took a quarter of a millisecond per eligibility text)."""
    lower = text.lower()
    plain = plain_way(text, lower)  # 'incluſion': (?i) reads the long s as an s
    return COHORT_HEADER.finditer(text) if plain else _COHORT_CUED.finditer(text, lower)


cohort_headers = shortcut("cohort header", COHORT_HEADER.finditer, _cohort_headers_fast)


def _alternation(prefix: str, entries: tuple[Disease, ...]) -> str:
    return "|".join(f"(?P<{prefix}{i}>{'|'.join(d.patterns)})" for i, d in enumerate(entries))


DISEASES_BY_GROUP = {f"d{i}": d for i, d in enumerate(DISEASES)}
DISEASE_PHRASE = re.compile(r"(?<![A-Za-z0-9])(?:" + _alternation("d", DISEASES) + ")", re.IGNORECASE)
"""A disease phrase starts a word."""
_DISEASE_CUED = CuedAlternation(r"(?<![a-z0-9])", [(f"d{i}", d.patterns) for i, d in enumerate(DISEASES)])


def _disease_phrases_fast(text: str, lower: str | None = None) -> Iterator[re.Match]:
    """Searched lower-cased (``lower``, if made already) and case-sensitively (40% faster than
    ``re.IGNORECASE``), with only the categories whose cue words the text holds (a hundred alternatives
    tried at every character cost 0.4 ms a title). A text with a letter of :data:`ODD_CASE` takes the plain
    way: ``re.IGNORECASE`` reads 'ı' as a letter before a word and 'ſ' as an 's'."""
    lower = text.lower() if lower is None else lower
    return DISEASE_PHRASE.finditer(text) if plain_way(text, lower) else _DISEASE_CUED.finditer(lower)


disease_phrases = shortcut("disease phrase", DISEASE_PHRASE.finditer, _disease_phrases_fast)
DISEASE_BY_ABBREVIATION = {a: d for d in DISEASES for a in d.abbreviations}

CANCERS_BY_GROUP = {f"c{i}": c for i, c in enumerate(CANCERS)}
CANCER_PHRASE = re.compile(r"(?<![A-Za-z0-9])(?:" + _alternation("c", CANCERS) + ")", re.IGNORECASE)
_CANCER_CUED = CuedAlternation(r"(?<![a-z0-9])", [(f"c{i}", c.patterns) for i, c in enumerate(CANCERS)])


def _cancer_phrases_fast(text: str, lower: str | None = None) -> Iterator[re.Match]:
    """Like the disease phrases."""
    lower = text.lower() if lower is None else lower
    return CANCER_PHRASE.finditer(text) if plain_way(text, lower) else _CANCER_CUED.finditer(lower)


cancer_phrases = shortcut("cancer phrase", CANCER_PHRASE.finditer, _cancer_phrases_fast)
CANCER_BY_ABBREVIATION = {a: c for c in CANCERS for a in c.abbreviations}
CANCER_ABBREVIATION = re.compile(r"(?<![\w\-])(" + "|".join(map(re.escape, sorted(CANCER_BY_ABBREVIATION, key=len,
                                                                                    reverse=True))) + r")(?![\w\-])")
"""A cancer's abbreviation as a whole hyphenated word ('B-ALL'; not 'GBM' in 'anti-GBM disease')."""
DISEASE_ABBREVIATION = re.compile(r"(?<![^\W_])(" + "|".join(map(re.escape, sorted(DISEASE_BY_ABBREVIATION, key=len,
                                                                                   reverse=True))) + r")(?![^\W_])")
"""A disease's abbreviation as a word or a part of a hyphenated one ('SLE-ITP' names SLE and ITP)."""
_ABBREVIATION_WORDS = Words([*CANCER_BY_ABBREVIATION, *DISEASE_BY_ABBREVIATION])


def _abbreviations_fast(pattern: re.Pattern) -> Callable[..., Iterator[re.Match]]:
    """``pattern.finditer(text)`` tried only where an abbreviation starts (``starts``: computed once
    for both kinds of abbreviation)."""
    return lambda text, starts=None: matches_from(pattern, text, _ABBREVIATION_WORDS.starts(text)
                                                  if starts is None else starts)


cancer_abbreviations = shortcut("cancer abbreviation", CANCER_ABBREVIATION.finditer,
                                _abbreviations_fast(CANCER_ABBREVIATION))
disease_abbreviations = shortcut("disease abbreviation", DISEASE_ABBREVIATION.finditer,
                                 _abbreviations_fast(DISEASE_ABBREVIATION))


def parse_diseases(trial: dict[str, Any], texts: Texts, mesh_terms: dict[str, str],
                   children: dict[str, list[dict]], facts: Facts, one_look: bool = True) -> None:
    """Disease and cancer categories from conditions, titles, keywords, eligibility cohort headers
    and MeSH; from the summary only when those name none. ``one_look``: a kind of phrase whose cues
    none of a tier's texts holds is not looked for in them (the plain way looks in every text; a test
    compares the two)."""
    first = list(tier(texts + list(_cohorts(trial)), "disease", 0))
    _diseases_in_all(first, facts, one_look)
    for link in children["trial_mesh"]:
        if link["domain"] != "condition" or link["is_ancestor"]:
            continue
        for kind, entry in (("disease", DISEASE_BY_MESH.get(link["mesh_id"])),
                            ("cancer", CANCER_BY_MESH.get(link["mesh_id"]))):
            if entry:
                evidence = f"{link['mesh_id']} {mesh_terms.get(link['mesh_id'])}"
                facts.add(kind, entry.key, "mesh", evidence, entry.mesh_id)
    if not facts.has("disease") and not facts.has("cancer"):
        _diseases_in_all(tier(texts, "disease", 1), facts, one_look)
    for kind, umbrella in (("disease", UMBRELLA), ("cancer", CANCER_UMBRELLA)):
        found = facts.values(kind)
        if umbrella in found and len(found) > 1:  # the umbrella stands only when nothing specific is named
            facts.drop(kind, umbrella)
    facts.disease_categories = facts.values("disease")
    facts.cancer_categories = facts.values("cancer")


def _cohorts(trial: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Cohort headers of the eligibility text ('Inclusion criteria for lupus nephritis:')."""
    for match in cohort_headers(trial.get("eligibility_criteria") or ""):
        yield "eligibility_cohort", match.group(1) or match.group(2)


def _diseases_in_all(read: Texts, facts: Facts, one_look: bool) -> None:
    """Disease and cancer categories named in some texts. With ``one_look``, a kind whose cues their
    joined text lacks is not looked for in any of them: a cue one text holds the joined text holds too
    (lower-casing is the same letter by letter, and the texts stand apart by a line break)."""
    kinds = (True, True, True)
    if one_look and read:
        joined = "\n".join(text for _, text in read)
        lower = joined.lower()
        if not plain_way(joined, lower):  # else a text may take the plain way
            kinds = (_DISEASE_CUED.holds_cue(lower), _CANCER_CUED.holds_cue(lower),
                     bool(_ABBREVIATION_WORDS.starts(joined)))
    if any(kinds):
        for where, text in read:
            _diseases_in(where, text, facts, *kinds)


def _diseases_in(where: str, text: str, facts: Facts, diseases: bool = True, cancers: bool = True,
                 abbreviations: bool = True) -> None:
    """Disease and cancer categories named in one text (of the kinds not ruled out for it)."""
    lower = text.lower() if diseases or cancers else ""
    for match in disease_phrases(text, lower) if diseases else ():
        disease = DISEASES_BY_GROUP[match.lastgroup]
        facts.add("disease", disease.key, where, snippet(text, match.start(), match.end()), disease.mesh_id)
    for match in cancer_phrases(text, lower) if cancers else ():
        cancer = CANCERS_BY_GROUP[match.lastgroup]
        facts.add("cancer", cancer.key, where, snippet(text, match.start(), match.end()), cancer.mesh_id)
    starts = _ABBREVIATION_WORDS.starts(text) if abbreviations else None
    if not starts:  # no abbreviation starts anywhere: neither scan can match (most texts; 3 µs saved each)
        return
    for match in cancer_abbreviations(text, starts):
        cancer = CANCER_BY_ABBREVIATION[match.group(1)]
        facts.add("cancer", cancer.key, where, snippet(text, match.start(), match.end()), cancer.mesh_id)
    for match in disease_abbreviations(text, starts):
        disease = DISEASE_BY_ABBREVIATION[match.group(1)]
        facts.add("disease", disease.key, where, snippet(text, match.start(), match.end()), disease.mesh_id)


def decide_domain(facts: Facts) -> None:
    """immune-mediated, oncology, mixed (both) or other; the domain fact's evidence names the
    disease and the cancer that decided it."""
    immune, cancer = facts.first("disease"), facts.first("cancer")
    facts.domain = ("mixed" if immune and cancer else "immune-mediated" if immune
                    else "oncology" if cancer else "other")
    if immune or cancer:
        evidence = "; ".join(f"{label}: {f.value} ({f.field}: {f.evidence})"
                             for label, f in (("immune-mediated", immune), ("oncology", cancer)) if f)
        facts.add("domain", facts.domain, (immune or cancer).field, evidence)
