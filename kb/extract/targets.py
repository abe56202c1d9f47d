"""Antigens an engineered receptor is directed at, and armoring cytokines, from their context."""

from __future__ import annotations

import re

from kb.extract.car import CAR_PHRASE, DASH
from kb.extract.facts import Facts, snippet
from kb.extract.fields import Texts, tier
from kb.lexicon import ANTIGENS

ANTIGEN_GROUPS = {f"a{i}": symbol for i, symbol in enumerate(ANTIGENS)}
ANTIGEN = re.compile(
    r"(?<![A-Za-z0-9])(?:(?i:anti)" + DASH + r"*)?(?:"
    + "|".join(f"(?P<{g}>{'|'.join(ANTIGENS[s])})" for g, s in ANTIGEN_GROUPS.items())
    + r")(?![0-9A-Za-z])", re.IGNORECASE)
CELL_TERM = re.compile(
    r"c?CAA?R(?![a-z])|(?i:chimeric\W+antigen)|(?<![A-Za-z])(?:iNKT|NKT|NK|DNT|Treg|T|γδ ?T)"
    r"(?:[\s\-]*(?i:cells?))(?![a-z])|(?i:cell\W+(?:injection|therapy))")
TARGET_GAP_FORBIDDEN = re.compile(
    r"\+|(?i:positive|negative|\bB[\s\-]?cells?|\bafter\b|\bbefore\b|deplet|count|level|express|"
    r"antibod|engager|\bmab\b|conjugate|\bCD3\b|\bin\b|\bwith\b|\bfor\b|\bof\b|\bthe\b)")
AFTER_TERM_FORBIDDEN = re.compile(r"^\W*(?i:engager|bispecific|antibod|count|depletion)")
TARGETING_BEFORE = re.compile(r"(?i:targeting|directed\W+(?:against|at|to)|specific\W+for|against)\W+(?:the\W+)?$")
INTERLEUKIN = re.compile(r"(?<![A-Za-z])IL-?\d{1,2}(?!\d)")


def parse_targets(texts: Texts, facts: Facts) -> None:
    """Targets from the names of what is tested; from descriptions and outcomes only if those name none."""
    for number in range(2):
        if facts.has("target"):
            return
        for where, text in tier(texts, "target", number):
            targets_in(where, text, facts)


def targets_in(where: str, text: str, facts: Facts) -> None:
    """Targets (and armoring interleukins between a target and its receptor) in one text."""
    for match in ANTIGEN.finditer(text):
        symbol = ANTIGEN_GROUPS[match.lastgroup]
        after = text[match.end():match.end() + 70]
        term = CELL_TERM.search(after)
        ok = False
        if term and not TARGET_GAP_FORBIDDEN.search(after[:term.start()]):
            ok = not AFTER_TERM_FORBIDDEN.search(after[term.end():term.end() + 20])
        before = text[max(0, match.start() - 60):match.start()]
        if not ok and TARGETING_BEFORE.search(before) and CAR_PHRASE.search(before):
            ok = True
        if ok:
            facts.add("target", symbol, where, snippet(text, match.start(), match.end()))
            gap = after[:term.start()] if term else ""
            for il in INTERLEUKIN.finditer(gap):
                facts.add("armoring", il.group(0).replace("-", "").replace("IL", "IL-"), where,
                          snippet(text, match.start(), match.end() + term.end()))
