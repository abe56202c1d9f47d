"""Whether a trial tests a CAR cell therapy, and the effector cell: CAR phrases in what the trial
tests, negated ones (prior treatment, failure) left out; cells given without a CAR."""

from __future__ import annotations

import re
from typing import NamedTuple

from kb.domain.extract.facts import snippet
from kb.domain.extract.fields import Texts, reads, tier
from kb.domain.extract.speed import CuedPattern, only_with, shortcut
from kb.domain.lexicon import CHINESE_CAR_PHRASES, CHINESE_CELLS

DASH = r"[\s\-\u2010\u2011\u2012\u2013\u2212]"


def _effector(group: str) -> str:
    """A named group matching an effector-cell abbreviation."""
    return (rf"(?P<{group}>iNKT|NKT|NK|DNT|γ\s?δ\s?T|gdT|(?i:gamma)[\s\-]?(?i:delta)\s?T|Tregs?"
            r"|T[\s\-]?(?i:regulatory)|T|[Mm](?:onocytes?|acrophages?)|M)")


CAR_PHRASE = re.compile(
    r"(?<![A-Za-z])(?:U[\s\-]?)?c?(?P<caar>CAA?R)" + DASH + r"*" + _effector("cell") + r"(?![a-z])"
    r"|(?<![A-Za-z])U?CART(?=\d|\b|细胞)"
    r"|(?i:chimeric\W+(?:(?:auto)?antigen|T[\s\-]?cell|immune|immuno)\W*receptors?)(?:\W+\(c?CAA?R\))?(?:" + DASH
    + r"+(?i:modified|engineered|expressing|transduced|redirected))?(?:" + DASH + r"+" + _effector("cell2")
    + r"(?i:[\s\-]*cells?))?"
    r"|(?<![\w\-])(?P<code>(?:[A-Za-z]{1,6}-?)?CART?(?:-?\d[\w.\-]*|-[A-Z][\w.\-]*))"
    r"|(?<![A-Za-z])(?P<bare>c?CAA?Rs?)(?![A-Za-z0-9])"
    r"|(?P<inn>(?i:\b[a-z]{3,}cabtagene\b)(?P<auto>\s+(?i:autoleucel))?)"
    r"|(?:" + "|".join(map(re.escape, CHINESE_CAR_PHRASES)) + r")(?:[^\s，。；;,.]{0,12}?(?P<zhcell>"
    + "|".join(map(re.escape, sorted(CHINESE_CELLS, key=len, reverse=True))) + r"))?"
)
"""A CAR named: 'CAR-T', 'CAR NK', 'cCAR', 'CAAR-T', 'UCART19', 'chimeric antigen receptor', a code
holding CAR ('LCAR-AIO', 'MB-CART19.1', 'C-CAR168'), a CAR-T INN ('-cabtagene autoleucel'), or a Chinese CAR
wording with the cell it names ('嵌合抗原受体基因修饰的T细胞'; kb/domain/lexicon/chinese.json)."""
_CAR_CUED = CuedPattern(CAR_PHRASE, ("CAR", "CAAR", "himeric", "HIMERIC", "abtagene", "ABTAGENE",
                                     *(phrase[:2] for phrase in CHINESE_CAR_PHRASES)), 20)
car_phrases = shortcut("car phrase", CAR_PHRASE.finditer, _CAR_CUED.finditer)
"""Every CAR phrase starts at most 20 characters before 'CAR', 'CAAR', 'chimeric', '-cabtagene' (a
code's or an INN's prefix) or the first two characters of a Chinese CAR wording: only those starts are tried."""

BARE_CAR_CONTEXT = re.compile(
    r"(?i:\banti\b|anti-|specific|target|directed|chimeric|vector|transduc|gene|\bcells?\b|lymphocyte|construct|"
    r"infusion|therap|\bT\b|\bNK\b)|\bCD\d+|BCMA|[A-Z]{2,}\d")
"""Words near a bare 'CAR' that make it a chimeric antigen receptor ('CD30 CAR for ...', 'anti-CD20-CAR vector')."""
OTHER_RECEPTOR = re.compile(r"(?i:(?<!chimeric antigen )(?<!chimeric )receptor\W*\(\W*$)")
"""'... receptor (CAR': another receptor's abbreviation."""
NEGATION_BEFORE = re.compile(
    r"(?i:\b(?:after|following|prior|previous(?:ly)?|post|failed|no|without|not|resistant to|refractory to)"
    r"\b)[^.;]{0,25}$")
NEGATION_AFTER = re.compile(r"^[\s\-]*(?i:cells?\W+)?(?i:(?:therapy|treatment|infusion)\W+)?"
                            r"(?i:failure|relapse|refractory|related|associated|induced)")
PLAIN_CELLS = re.compile(r"(?<![A-Za-z])(iNKT|NKT|NK|DNT|Tregs?|T|γδ ?T)[\s\-]*(?i:cells?|lymphocytes?)(?![a-z])")
NOT_GIVEN_CELLS = re.compile(r"^\W*(?i:acute|lympho|leuka?emi|malignan|neoplas|derived|rich|large|prolymph|engager|"
                             r"bispecific|antibod|count|depletion)")
"""After 'T-cell': a disease ('T-cell lymphoma'), an engager or a count, not cells that are given."""
ENGINEERED_CELLS = re.compile(
    r"(?i:(?:targeted|directed|redirected|specific|modified|engineered|transduced|expressing|armed|gene)\W+"
    r"(?:[A-Za-z0-9]+\W+){0,3}(?:cells?|lymphocytes?))"
    r"|(?i:(?:cells?|lymphocytes?)(?:\W+therapy)?\W+(?:targeted|targeting|directed|redirected|specific|modified|"
    r"engineered|transduced|expressing|genetically))")
"""Cells said to be engineered or to target an antigen ('CD19-targeted iNKT cells', 'T cells
genetically engineered to ...'): a receptor is implied but not named."""


def _names_cells(text: str) -> bool:
    """Whether a text holds 'cell' or 'lymphocyte' in any case: every match of :data:`PLAIN_CELLS` and
    :data:`ENGINEERED_CELLS` does (their letters have no other case-insensitive forms)."""
    lower = text.lower()
    return "cell" in lower or "lymphocyte" in lower


plain_cell_mentions = shortcut("plain cells", PLAIN_CELLS.finditer, only_with(_names_cells, PLAIN_CELLS))
engineered_cell_mentions = shortcut("engineered cells", ENGINEERED_CELLS.finditer,
                                    only_with(_names_cells, ENGINEERED_CELLS))
"""Most trials name no cells: their labels are not searched (plain_cells took 0.038 ms a study of the import
bench's mix, 0.013 ms since)."""
TCR = re.compile(r"\bTCR\b|(?<!chimeric )(?i:T[\s\-]cell\s+receptor)(?!\W+\(?CAR)")
CODE_IN_NAME = re.compile(r"(?<![\w])[A-Z][A-Za-z]*[\-]?\d[\w\-]*|(?<![\w\-])[A-Z]{2,}[\-][A-Z0-9]+")
"""A product code in the text that names the cells ('SENL101 Autologous T Cell Injection', 'ARC-T Cells')."""


def normal_cell(cell: str | None) -> str | None:
    """One spelling per effector cell."""
    if not cell:
        return None
    cell = re.sub(r"[\s\-]", "", cell)
    if "γ" in cell or cell.lower().startswith("gamma"):
        return "gdT"
    if cell[0] in "Mm":
        return "macrophage"
    if cell.startswith("Treg") or cell.lower() == "tregulatory":
        return "Treg"
    return {"NKT": "iNKT"}.get(cell, cell)


def car_mentions(texts: Texts, number: int = 0) -> list[tuple[str, str, re.Match]]:
    """CAR phrases in one tier of the fields that describe what a trial tests (tier 1: the outcomes,
    'CAR expression on T cells'), negated ones (a prior treatment, a cause) left out."""
    read = tier(texts, "car", number)
    joined = "\n".join(text for _, text in read)  # most trials hold no cue anywhere: one look at them all
    if not any(cue in joined for cue in _CAR_CUED.cues):  # then no text holds one, and car_phrases finds nothing
        return []
    return [(where, text, match) for where, text in read
            for match in car_phrases(text) if not negated(text, match) and not _other_car(text, match)]


def _other_car(text: str, match: re.Match) -> bool:
    """A bare 'CAR' that is not a chimeric antigen receptor: no antigen, cell or construct word near
    it, or the abbreviation of another receptor ('constitutive androstane receptor (CAR)')."""
    if not match.group("bare"):
        return False
    before, after = text[max(0, match.start() - 40):match.start()], text[match.end():match.end() + 40]
    if OTHER_RECEPTOR.search(before):
        return True
    return not (BARE_CAR_CONTEXT.search(before) or BARE_CAR_CONTEXT.search(after))


def negated(text: str, match: re.Match) -> bool:
    """Whether a mention is of something before or besides the trial ('after CAR-T failure',
    'CAR-T-associated CRS')."""
    return bool(NEGATION_BEFORE.search(text[max(0, match.start() - 40):match.start()])
                or NEGATION_AFTER.search(text[match.end():match.end() + 30]))


def mention_cell(match: re.Match) -> str | None:
    """The effector cell a CAR phrase names ('CAR-NK' NK, 'CART19' T, '-cabtagene autoleucel' T)."""
    if match.group(0).startswith(("UCART", "CART")) or match.group("auto") or (
            match.group("code") and "CART" in match.group("code")):
        return "T"
    if match.group("zhcell"):
        return CHINESE_CELLS[match.group("zhcell")]
    return normal_cell(match.group("cell") or match.group("cell2"))


class PlainCells(NamedTuple):
    """Cells given as an intervention without a CAR named."""

    cell: str | None  # the effector cell, None when no effector is named
    field: str  # where it was read
    evidence: str  # the words read
    engineered: str | None  # why a receptor is implied (targeted or engineered cells, a product code, a TCR);
    # None for unmodified cells


def plain_cells(texts: Texts) -> PlainCells | None:
    """Cells given as an intervention without a CAR named, or None."""
    for where, text in reads(texts, "plain_cells"):
        for match in plain_cell_mentions(text):
            if "CAR" in text[max(0, match.start() - 5):match.start()] or NOT_GIVEN_CELLS.search(
                    text[match.end():match.end() + 20]):
                continue
            return PlainCells(normal_cell(match.group(1)), where, snippet(text, match.start(), match.end()),
                              _engineered(texts, where, text))
    for where, text in reads(texts, "plain_cells"):  # 'Genetically Engineered Lymphocytes': no effector named
        if (match := next(iter(engineered_cell_mentions(text)), None)):
            return PlainCells(None, where, snippet(text, match.start(), match.end()), "engineered cells, receptor not stated")
    return None


def _engineered(texts: Texts, where: str, text: str) -> str | None:
    """Why the given cells carry a receptor though no CAR is named, or None."""
    if any(TCR.search(t) for _, t in reads(texts, "plain_cells")):
        return "TCR"
    if any(ENGINEERED_CELLS.search(t) for _, t in reads(texts, "plain_cells")):
        return "engineered or antigen-targeted cells, receptor not stated"
    if CODE_IN_NAME.search(text):
        return "cells named by a product code, receptor not stated"
    return None
