"""Whether a trial tests a CAR cell therapy, and the effector cell: CAR phrases in what the trial
tests, negated ones (prior treatment, failure) left out; cells given without a CAR."""

from __future__ import annotations

import re
from collections.abc import Iterator

from kb.extract.facts import snippet
from kb.extract.fields import Texts, reads
from kb.extract.speed import only_with, shortcut

DASH = r"[\s\-\u2010\u2011\u2012\u2013\u2212]"


def _effector(group: str) -> str:
    """A named group matching an effector-cell abbreviation."""
    return rf"(?P<{group}>iNKT|NKT|NK|DNT|γδ ?T|gdT|Treg|T|M)"


CAR_PHRASE = re.compile(
    r"(?<![A-Za-z])(?:U[\s\-]?)?c?(?P<caar>CAA?R)" + DASH + r"*" + _effector("cell") + r"(?![a-z])"
    r"|(?<![A-Za-z])U?CART(?=\d|\b)"
    r"|(?i:chimeric\W+(?:auto)?antigen\W+receptors?)(?:\W+\(c?CAA?R\))?(?:" + DASH
    + r"+(?i:modified|engineered|expressing|transduced|redirected))?(?:" + DASH + r"+" + _effector("cell2")
    + r"(?i:[\s\-]*cells?))?"
    r"|(?<![A-Za-z])c?CAA?R(?=\W+(?i:cells?|therapy|constructs?|products?|injection|infusion))"
)
car_phrases = shortcut("car phrase", CAR_PHRASE.finditer, only_with(
    lambda text: "CAR" in text or "CAAR" in text or "himeric" in text or "HIMERIC" in text, CAR_PHRASE))
"""Every CAR phrase holds 'CAR', 'CAAR' or 'chimeric' (texts without one are skipped)."""

NEGATION_BEFORE = re.compile(
    r"(?i:\b(?:after|following|prior|previous(?:ly)?|post|failed|no|without|not|resistant to|refractory to)"
    r"\b)[^.;]{0,25}$")
NEGATION_AFTER = re.compile(r"^[\s\-]*(?i:cells?\W+)?(?i:therapy\W+)?(?i:failure|relapse)")
PLAIN_CELLS = re.compile(r"(?<![A-Za-z])(iNKT|NKT|NK|DNT|Treg|T|γδ ?T)[\s\-]*(?i:cells?)(?![a-z])")
AFTER_TERM_FORBIDDEN = re.compile(r"^\W*(?i:engager|bispecific|antibod|count|depletion)")
TARGETED_CELLS = re.compile(r"(?i:(?:targeted|directed|redirected|specific)\W+(?:[A-Za-z]+\W+){0,2}cells?)")


def normal_cell(cell: str | None) -> str | None:
    """One spelling per effector cell."""
    if not cell:
        return None
    cell = cell.replace(" ", "")
    return {"NKT": "iNKT", "γδT": "gdT", "M": "macrophage"}.get(cell, cell)


def car_mentions(texts: Texts) -> Iterator[tuple[str, str, re.Match]]:
    """CAR phrases in the fields that describe what a trial tests, negated ones left out."""
    for where, text in reads(texts, "car"):
        for match in car_phrases(text):
            if NEGATION_BEFORE.search(text[max(0, match.start() - 40):match.start()]):
                continue
            if NEGATION_AFTER.search(text[match.end():match.end() + 30]):
                continue
            yield where, text, match


def mention_cell(match: re.Match) -> str | None:
    """The effector cell a CAR phrase names ('CAR-NK' NK, 'CART19' T)."""
    if match.group(0).startswith(("UCART", "CART")):
        return "T"
    return normal_cell(match.group("cell") or match.group("cell2"))


def plain_cells(texts: Texts) -> tuple[str, str, str] | None:
    """(cell, field, evidence) of unmodified or antigen-targeted cells given as an intervention."""
    for where, text in reads(texts, "plain_cells"):
        for match in PLAIN_CELLS.finditer(text):
            if "CAR" in text[max(0, match.start() - 5):match.start()] or AFTER_TERM_FORBIDDEN.search(
                    text[match.end():match.end() + 20]):
                continue
            return normal_cell(match.group(1)), where, snippet(text, match.start(), match.end())
    return None


def targeted(texts: Texts) -> bool:
    """Whether the tested cells are said to target an antigen ('CD19-targeted iNKT cells')."""
    return any(TARGETED_CELLS.search(text) for _, text in reads(texts, "plain_cells"))
