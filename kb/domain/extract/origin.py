"""Where the engineered cells come from (autologous, allogeneic, made in vivo), and the platform
(modality) of a CAR trial."""

from __future__ import annotations

import re
from collections.abc import Iterator

from kb.domain.extract.facts import Facts, snippet
from kb.domain.extract.fields import Texts, tier
from kb.domain.extract.speed import CuedPattern, lower_same_offsets, shortcut

IN_VIVO = re.compile(
    r"\bin[\s\-]?vivo\W+(?:circular\W+rna\W+|(?!and\b|of\b|the\b|with\b|to\b)[a-z]+\W+)?"
    r"(?:car\b|car[\s\-/]|chimeric|lv\b|lentivir)(?![\w\-]*\W+(?:cells?\W+)?(?:expansion|persistence|proliferation|"
    r"kinetics|trafficking))|\blipid\W+nanoparticles?\b|\blnps?\b")
"""A CAR made inside the body ('in vivo CAR-T', 'in vivo LV injection', 'lipid nanoparticles (LNPs)'),
in lower-cased text; not the in vivo expansion or persistence of cells made outside it."""
AUTOLOGOUS = re.compile(r"\bautologous\b|patient-derived|patients'? own|\bautoleucel\b")
ALLOGENEIC = re.compile(r"\ballogeneic|\ballogenic|\buniversal\b|off[\s\-]the[\s\-]shelf|\bipsc|"
                        r"induced pluripotent|cord[\s\-]blood|healthy[\s\-]donor|donor[\s\-]derived")
"""Both in lower-cased text: a case-sensitive search of it runs several times faster than ``(?i:...)``."""
UNIVERSAL_CAR = re.compile(r"\bU[\s\-]?CAR|\bUCART")
"""'U CAR-T', 'UCART19': in the text as written."""


class _Finder:
    """A pattern's finder ``(text, lower) -> matches``, tried only near its cues (registered with the
    plain search for the shortcut test); ``lower``: the pattern and its cues read the lower-cased text."""

    def __init__(self, name: str, pattern: re.Pattern, cues: tuple[str, ...], reach: int, lower: bool = True) -> None:
        self.cued, self.cues, self.lower = CuedPattern(pattern, cues, reach), cues, lower
        shortcut(name, lambda text: pattern.finditer(lower_same_offsets(text) if lower else text),
                 lambda text: self.cued.finditer(lower_same_offsets(text) if lower else text))

    def __call__(self, text: str, low: str) -> Iterator[re.Match]:
        return self.cued.finditer(low if self.lower else text)

    def may_match(self, text: str, low: str) -> bool:
        """Whether ``text`` (``low`` lower-cased) holds a cue: without one it cannot match."""
        return any(cue in (low if self.lower else text) for cue in self.cues)


ORIGIN_PATTERNS = (
    ("in_vivo", (_Finder("in vivo", IN_VIVO, ("vivo", "lipid", "lnp"), 3),)),
    ("autologous", (_Finder("autologous", AUTOLOGOUS, ("autologous", "patient-derived", "patients", "autoleucel"), 0),)),
    ("allogeneic", (_Finder("allogeneic", ALLOGENEIC, ("allogen", "universal", "shelf", "ipsc", "pluripotent", "cord",
                                                       "donor"), 8),
                    _Finder("universal CAR", UNIVERSAL_CAR, ("CAR",), 2, lower=False))),
)
"""(origin, finders): the first match of any finder in a text is the evidence."""

MODALITIES = ("autologous CAR-T", "allogeneic CAR-T", "CAR-NK", "CAR-gamma-delta T", "CAR-iNKT", "CAR-Treg",
              "CAAR-T", "in vivo CAR", "CAR-M", "other")
_MODALITY_BY_CELL = {"NK": "CAR-NK", "gdT": "CAR-gamma-delta T", "iNKT": "CAR-iNKT", "Treg": "CAR-Treg",
                     "macrophage": "CAR-M"}


def parse_origin(texts: Texts, facts: Facts, one_look: bool = True) -> None:
    """Origin cues in what the trial tests; in the long descriptions only if the short texts name none.
    ``one_look``: a finder whose cues none of a tier's texts holds is not tried on them (the plain way
    tries every finder on every text; a test compares the two)."""
    for number in range(2):
        if number and facts.has("origin"):
            return
        read = tier(texts, "origin", number)
        joined = "\n".join(text for _, text in read)  # one look at them all: a cue no text holds is not in it
        joined_lower = lower_same_offsets(joined)
        patterns = [(origin, kept) for origin, finders in ORIGIN_PATTERNS
                    if (kept := [f for f in finders if not one_look or f.may_match(joined, joined_lower)])]
        if not patterns:
            continue
        for where, text in read:
            lower = lower_same_offsets(text)
            for origin, finders in patterns:
                matches = [m for finder in finders if (m := next(iter(finder(text, lower)), None))]
                if matches:
                    match = min(matches, key=lambda m: m.start())
                    facts.add("origin", origin, where, snippet(text, match.start(), match.end()))


def decide_origin(facts: Facts) -> None:
    """In vivo wins (a vector makes the cells inside the body); otherwise the one origin named."""
    origins = facts.values("origin")
    facts.origin = "in_vivo" if "in_vivo" in origins else origins[0] if len(origins) == 1 else None


def modality_for(cell_type: str | None, origin: str | None, caar: bool = False) -> str:
    """The platform of a CAR cell therapy from its effector cell, origin and receptor; a CAR-T of
    unstated origin counts as autologous (the usual product).

    >>> modality_for("T", "allogeneic"), modality_for("T", None), modality_for("NK", None)
    ('allogeneic CAR-T', 'autologous CAR-T', 'CAR-NK')
    """
    if origin == "in_vivo":
        return "in vivo CAR"
    if caar:
        return "CAAR-T"
    if cell_type in _MODALITY_BY_CELL:
        return _MODALITY_BY_CELL[cell_type]
    if cell_type == "T":
        return "allogeneic CAR-T" if origin == "allogeneic" else "autologous CAR-T"
    return "other"


def decide_modality(facts: Facts) -> None:
    """The platform of a CAR cell therapy (:func:`modality_for`) with the fact it rests on; None
    when the trial tests no CAR. A default (autologous for an unstated origin) is said so."""
    if facts.is_car_therapy is not True:
        return
    caar = next((f for f in facts.facts if f.kind == "car_evidence" and "CAAR" in f.value.upper()), None)
    cell = facts.first("cell_type")
    origin = next((f for f in facts.facts if f.kind == "origin" and f.value == facts.origin), None)
    modality = modality_for(facts.cell_type, facts.origin, caar is not None)
    if facts.origin == "in_vivo":
        basis = origin
    elif caar:
        basis = caar
    elif facts.cell_type in _MODALITY_BY_CELL:
        basis = cell
    elif facts.cell_type == "T":
        basis = origin if facts.origin == "allogeneic" else origin or cell
    else:
        basis = cell or facts.first("car_evidence")
    facts.modality = modality
    if basis is not None:
        default = modality == "autologous CAR-T" and not facts.origin
        note = "origin not stated, autologous by default; " if default else ""
        facts.add("modality", modality, basis.field, note + basis.evidence)
