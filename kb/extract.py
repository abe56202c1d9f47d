"""Domain facts from registry text: CAR targets, cell type and origin, products, diseases,
lymphodepletion, and whether a trial tests a CAR cell therapy at all.

Pure functions over a normalized trial (``kb.normalize``). Every fact keeps the field it was
found in and a snippet of evidence. Rules are lexicons (``kb.lexicon``) plus patterns; none
names a trial.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kb.lexicon import (ANTIGENS, CANCER_BY_MESH, CANCER_UMBRELLA, CANCERS, DISEASE_BY_MESH, DISEASES, PRODUCT_ALIASES,
                        PRODUCTS_BY_CODE, UMBRELLA, Product)

_DASH = r"[\s\-\u2010\u2011\u2012\u2013\u2212]"


def _effector(group: str) -> str:
    """A named group matching an effector-cell abbreviation."""
    return rf"(?P<{group}>iNKT|NKT|NK|DNT|γδ ?T|gdT|Treg|T|M)"


CAR_PHRASE = re.compile(
    r"(?<![A-Za-z])(?:U[\s\-]?)?c?(?P<caar>CAA?R)" + _DASH + r"*" + _effector("cell") + r"(?![a-z])"
    r"|(?<![A-Za-z])U?CART(?=\d|\b)"
    r"|(?i:chimeric\W+(?:auto)?antigen\W+receptors?)(?:\W+\(c?CAA?R\))?(?:" + _DASH
    + r"+(?i:modified|engineered|expressing|transduced|redirected))?(?:" + _DASH + r"+" + _effector("cell2")
    + r"(?i:[\s\-]*cells?))?"
    r"|(?<![A-Za-z])c?CAA?R(?=\W+(?i:cells?|therapy|constructs?|products?|injection|infusion))"
)
NEGATION_BEFORE = re.compile(
    r"(?i:\b(?:after|following|prior|previous(?:ly)?|post|failed|no|without|not|resistant to|refractory to)"
    r"\b)[^.;]{0,25}$")
NEGATION_AFTER = re.compile(r"^[\s\-]*(?i:cells?\W+)?(?i:therapy\W+)?(?i:failure|relapse)")

_ANTIGEN_GROUPS = {f"a{i}": symbol for i, symbol in enumerate(ANTIGENS)}
ANTIGEN = re.compile(
    r"(?<![A-Za-z0-9])(?:(?i:anti)" + _DASH + r"*)?(?:"
    + "|".join(f"(?P<{g}>{'|'.join(ANTIGENS[s])})" for g, s in _ANTIGEN_GROUPS.items())
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
PRODUCT_CODE = re.compile(r"(?<![\w\-/])(?=[A-Z0-9\-.]*\d)[A-Z][A-Z0-9]*(?:[\-.][A-Z0-9]+)*(?![\w\-/])")
CODE_STOPWORDS = re.compile(
    r"^(?:CD\d+|IL\d+|HLA\w*|COVID\w*|SARS\w*|DAS\d+|SF\d+|EQ\d\w*|ACR\d+|SLEDAI\w*|BILAG\w*|MMT\d+|HAQ\w*|"
    r"CTCAE\w*|V\d+|PHASE\d|FEV\d|DLCO\w*|T\d|N\d|M\d|G\d|C\d|H\d|B\d+|HBV|HIV\d|CR\d|PR\d|CAR\w*|CART\d*|"
    r"ANCA\w*|ICD\d+|P\d+|Q\d+|W\d+|D\d+|IGG\d*|IGA\d*|FCGR\w*|DRB\d+|TNFRSF\d+\w*|GPRC5D)$")
INN = re.compile(r"\b([A-Za-z]{4,}(?:mab|cept))(?:-[a-z]{4})?\b(?:\s+(tesirine|vedotin|mafodotin|emtansine|"
                 r"deruxtecan|govitecan|ozogamicin|pegol))?", re.IGNORECASE)
CODE_TOKEN = re.compile(r"(?<![\w\-])[A-Za-z][\w\-.]*\d[\w\-.]*")
SHORT_CODE_FIELDS = ("title", "intervention", "arm")
"""Where a code of three characters or fewer ('F01', also an ICD-10 code) may name a product."""
_ALIASES = sorted(PRODUCT_ALIASES, key=len, reverse=True)
_ALIAS = re.compile(r"(?i:\b(" + "|".join(re.escape(a) for a in _ALIASES) + r")\b)")

@dataclass(frozen=True)
class CuedPattern:
    """A regex each match of which holds one of ``cues`` at most ``reach`` characters from its start.

    :meth:`finditer` and :meth:`search` give what the pattern's own do, but try only the starts
    near a cue: scanning every position of a long description cost 0.3 ms per text. The cues are
    looked for in ``cue_text`` (default: the text itself), e.g. its lower-cased copy.
    """

    pattern: re.Pattern
    cues: tuple[str, ...]
    reach: int

    def finditer(self, text: str, cue_text: str | None = None) -> Iterator[re.Match]:
        cue_text = text if cue_text is None else cue_text
        present = [cue for cue in self.cues if cue in cue_text]  # most texts hold none
        starts = {max(0, at - k) for cue in present for at in _occurrences(cue_text, cue) for k in range(self.reach + 1)}
        end = 0
        for start in sorted(starts):
            if start >= end and (match := self.pattern.match(text, start)):
                end = match.end()
                yield match

    def search(self, text: str) -> re.Match | None:
        return next(self.finditer(text), None)


def _occurrences(text: str, word: str) -> Iterator[int]:
    """Every index where ``word`` starts in ``text``."""
    at = text.find(word)
    while at >= 0:
        yield at
        at = text.find(word, at + 1)


IN_VIVO = re.compile(
    r"\bin[\s\-]?vivo\W+(?:circular\W+rna\W+|(?!and\b|of\b|the\b|with\b|to\b)[a-z]+\W+)?"
    r"(?:car\b|car[\s\-/]|chimeric|lv\b|lentivir)(?![\w\-]*\W+(?:cells?\W+)?(?:expansion|persistence|proliferation|"
    r"kinetics|trafficking))|\blipid\W+nanoparticles?\b|\blnps?\b")
"""A CAR made inside the body ('in vivo CAR-T', 'in vivo LV injection', 'lipid nanoparticles (LNPs)'), in
lower-cased text; not the in vivo expansion or persistence of cells made outside it."""

ORIGIN_PATTERNS = (
    ("in_vivo", CuedPattern(IN_VIVO, ("vivo", "lipid", "lnp"), 3), None),
    ("autologous", CuedPattern(re.compile(r"\bautologous\b|patient-derived|patients'? own"),
                               ("autologous", "patient-derived", "patients"), 0), None),
    ("allogeneic", CuedPattern(re.compile(r"\ballogeneic|\ballogenic|\buniversal\b|off[\s\-]the[\s\-]shelf|\bipsc|"
                                          r"induced pluripotent|cord[\s\-]blood|healthy[\s\-]donor|donor[\s\-]derived"),
                               ("allogen", "universal", "shelf", "ipsc", "pluripotent", "cord", "donor"), 8),
     CuedPattern(re.compile(r"\bU[\s\-]?CAR|\bUCART"), ("CAR",), 2)),
)
"""(origin, cue in lower-cased text, case-sensitive cue in the text): a case-sensitive search of
lower-cased text runs several times faster than an ``(?i:...)`` one."""

LD_DRUGS = ("fludarabine", "cyclophosphamide", "bendamustine", "melphalan", "cytarabine")
_LD_DRUG = re.compile(r"(?i:\b(" + "|".join(LD_DRUGS) + r")\b)")
_LD_DOSE = re.compile(r"(?i:^[^.;]{0,30}?(\d+(?:\.\d+)?)\s*(mg|g)\s*/\s*m(?:2|²|\^2))")
_LD_DAYS = re.compile(r"(?i:\bdays?\s*((?:[-−–]\s?\d+)(?:\s*(?:,|and|to|through|~|/|or|,\s*and)\s*(?:day\s*)?"
                      r"[-−–]?\s?\d+)*))")
_SENTENCE = re.compile(r"(?<!\d)\.(?!\d)|;|\n")
DOSE_LEVEL = re.compile(r"(\d+(?:\.\d+)?)\s*[x×*]\s*10\s*\^?\s*(\d{1,2})\s*(?:CAR[\s\-+]*)?(?:\w+\s+)?"
                        r"(cells?)?(\s*/\s*kg)?", re.IGNORECASE)
COHORT_HEADER = re.compile(
    r"(?i:inclusion\s+criteria\s+(?:for|of|in)\s+(?:patients?\s+with\s+)?)([^:;\n]{3,120}?)\s*(?::|\n)"
    r"|(?i:\bcohort\s+[A-Z0-9]{1,2}\s*[:(\-–]\s*)([^:;\n)]{3,80})")

COHORT_HEADER_CUED = CuedPattern(COHORT_HEADER, ("inclusion", "cohort"), 0)
"""Every COHORT_HEADER match starts with one of these words (in any case)."""


def _cohort_headers(eligibility: str) -> Iterator[re.Match]:
    """``COHORT_HEADER.finditer(eligibility)``, tried only where a header word starts: an
    ``(?i:...)`` scan of every position took a quarter of a millisecond per eligibility text."""
    lower = eligibility.lower()
    if len(lower) != len(eligibility):  # lower-casing moved offsets (rare Unicode)
        return COHORT_HEADER.finditer(eligibility)
    return COHORT_HEADER_CUED.finditer(eligibility, lower)


DISEASES_BY_GROUP = {f"d{i}": d for i, d in enumerate(DISEASES)}
DISEASE_PHRASE = re.compile("|".join(f"(?P<d{i}>{'|'.join(d.patterns)})" for i, d in enumerate(DISEASES)),
                            re.IGNORECASE)


def _lower_pattern(pattern: str) -> str:
    """A pattern for lower-cased text: its letters lower-cased, escapes (``\\W``) kept."""
    return re.sub(r"(?<!\\)[A-Z]", lambda m: m.group(0).lower(), pattern)


DISEASE_PHRASE_LOWER = re.compile("|".join(f"(?P<d{i}>{'|'.join(map(_lower_pattern, d.patterns))})"
                                           for i, d in enumerate(DISEASES)))
"""DISEASE_PHRASE for lower-cased text, case-sensitive: 40% faster, same matches."""
DISEASE_ANCHORS = ("lupus", "scler", "myosit", "myopath", "synthetase", "rheumat", "sj", "dry", "sicca", "anca",
                   "neutrophil", "polyangiitis", "granulomatosis", "myasthenia", "neuromyelitis", "thrombocytop",
                   "hemoly", "haemoly", "aplastic", "igg4", "iga", "membranous", "glomerul", "nephropath",
                   "podocyt", "kidney", "pemphig", "phospholipid", "connective", "pediatric", "paediatric",
                   "juvenile", "nervous", "encephalitis", "demyelinating", "vitiligo", "immun", "b cell", "b-cell")
"""Lower-case fragments of which every disease phrase contains one: texts without any skip the regex."""
DISEASE_BY_ABBREVIATION = {a: d for d in DISEASES for a in d.abbreviations}
CANCERS_BY_GROUP = {f"c{i}": c for i, c in enumerate(CANCERS)}
CANCER_PHRASE = re.compile(r"(?<![A-Za-z])(?:" + "|".join(f"(?P<c{i}>{'|'.join(c.patterns)})" for i, c in enumerate(CANCERS))
                           + ")", re.IGNORECASE)
CANCER_BY_ABBREVIATION = {a: c for c in CANCERS for a in c.abbreviations}
WORD = re.compile(r"[\w\-]+")
PART = re.compile(r"[^\W_]+")
"""A hyphenated word's parts ('SLE-ITP' names SLE and ITP)."""

CAR_FIELDS = ("title", "official_title", "intervention", "intervention_description", "arm",
              "arm_description", "summary", "detailed_description", "keyword")
ORIGIN_FIELDS = ("title", "official_title", "intervention", "intervention_description", "arm",
                 "arm_description", "summary", "detailed_description")
DISEASE_FIELDS = ("condition", "title", "official_title", "keyword")
TEXT_FIELDS_NO_ELIGIBILITY = CAR_FIELDS + ("outcome",)


@dataclass
class Fact:
    """One extracted fact and where it was found."""

    kind: str
    value: str
    field: str
    evidence: str
    code: str | None = None


@dataclass
class Facts:
    """The extracted facts of one trial and the trial columns they decide."""

    is_car_therapy: bool | None = None
    car_evidence: str | None = None
    cell_type: str | None = None
    origin: str | None = None
    targets: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    disease_categories: list[str] = field(default_factory=list)
    armoring: list[str] = field(default_factory=list)
    lymphodepletion: list[dict[str, Any]] = field(default_factory=list)
    cancer_categories: list[str] = field(default_factory=list)
    domain: str = "other"
    modality: str | None = None
    facts: list[Fact] = field(default_factory=list)

    def add(self, kind: str, value: str, where: str, evidence: str, code: str | None = None) -> None:
        self.facts.append(Fact(kind, value, where, evidence, code))

    def trial_columns(self) -> dict[str, Any]:
        """The trial table's domain columns."""
        relevant = self.is_car_therapy is True and self.domain in ("immune-mediated", "mixed")
        return {"is_car_therapy": self.is_car_therapy, "car_evidence": self.car_evidence,
                "cell_type": self.cell_type, "origin": self.origin, "targets": self.targets,
                "products": self.products, "disease_categories": self.disease_categories,
                "armoring": self.armoring or None, "lymphodepletion": self.lymphodepletion or None,
                "domain": self.domain, "modality": self.modality, "is_relevant": relevant}

    def rows(self) -> list[dict[str, Any]]:
        """trial_fact rows, one per (kind, value, field)."""
        seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        for f in self.facts:
            seen.setdefault((f.kind, f.value, f.field), {"kind": f.kind, "value": f.value, "field": f.field,
                                                         "code": f.code, "evidence": f.evidence[:500]})
        return list(seen.values())


def _snippet(text: str, start: int, end: int, pad: int = 40) -> str:
    """The matched text with some context."""
    left, right = max(0, start - pad), min(len(text), end + pad)
    return ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")


def _texts(trial: dict[str, Any], children: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """(field, text) pairs of every text that extraction reads, most telling first."""
    out: list[tuple[str, str]] = []
    for name, column in (("title", "brief_title"), ("official_title", "official_title"), ("acronym", "acronym")):
        if trial.get(column):
            out.append((name, trial[column]))
    for iv in children["intervention"]:
        for text in filter(None, [iv["name"], *(iv["other_names"] or [])]):
            out.append(("intervention", text))
        if iv["description"]:
            out.append(("intervention_description", iv["description"]))
    for arm in children["arm_group"]:
        if arm["label"]:
            out.append(("arm", arm["label"]))
        if arm["description"]:
            out.append(("arm_description", arm["description"]))
    for name, column in (("summary", "brief_summary"), ("detailed_description", "detailed_description")):
        if trial.get(column):
            out.append((name, trial[column]))
    for outcome in children["outcome"]:
        for text in filter(None, (outcome["measure"], outcome["description"])):
            out.append(("outcome", text))
    out += [("condition", c["name"]) for c in children["trial_condition"]]
    out += [("keyword", k) for k in trial.get("keywords") or []]
    if trial.get("eligibility_criteria"):
        out.append(("eligibility", trial["eligibility_criteria"]))
    return out


def _normal_cell(cell: str | None) -> str | None:
    """One spelling per effector cell."""
    if not cell:
        return None
    cell = cell.replace(" ", "")
    return {"NKT": "iNKT", "γδT": "gdT", "M": "macrophage"}.get(cell, cell)


# ---------------------------------------------------------------- the parts

def _car_mentions(texts: list[tuple[str, str]]) -> Iterator[tuple[str, str, re.Match]]:
    """CAR phrases in the fields that describe what a trial tests, negated ones left out."""
    for where, text in texts:
        if where not in CAR_FIELDS or ("CAR" not in text and "CAAR" not in text and "himeric" not in text):
            continue
        for match in CAR_PHRASE.finditer(text):
            if NEGATION_BEFORE.search(text[max(0, match.start() - 40):match.start()]):
                continue
            if NEGATION_AFTER.search(text[match.end():match.end() + 30]):
                continue
            yield where, text, match


LONG_FIELDS = ("intervention_description", "arm_description", "detailed_description", "outcome")
"""Long texts: read for targets and products only when the short fields named none."""


def _parse_targets(texts: list[tuple[str, str]], facts: Facts) -> None:
    """Antigens that an engineered receptor is directed at, from their context."""
    for long_fields in (False, True):
        if long_fields and any(f.kind == "target" for f in facts.facts):
            return
        for where, text in texts:
            if where in ("eligibility", "condition") or (where in LONG_FIELDS) != long_fields:
                continue
            _targets_in(where, text, facts)


def _targets_in(where: str, text: str, facts: Facts) -> None:
    """Targets in one text."""
    for match in ANTIGEN.finditer(text):
        symbol = _ANTIGEN_GROUPS[match.lastgroup]
        after = text[match.end():match.end() + 70]
        term = CELL_TERM.search(after)
        ok = False
        if term and not TARGET_GAP_FORBIDDEN.search(after[:term.start()]):
            ok = not AFTER_TERM_FORBIDDEN.search(after[term.end():term.end() + 20])
        before = text[max(0, match.start() - 60):match.start()]
        if not ok and TARGETING_BEFORE.search(before) and CAR_PHRASE.search(before):
            ok = True
        if ok:
            facts.add("target", symbol, where, _snippet(text, match.start(), match.end()))
            gap = after[:term.start()] if term else ""
            for il in INTERLEUKIN.finditer(gap):
                facts.add("armoring", il.group(0).replace("-", "").replace("IL", "IL-"), where,
                          _snippet(text, match.start(), match.end() + term.end()))


PRODUCT_FIELDS = ("title", "official_title", "acronym", "intervention", "arm", "summary", "keyword")
"""Where product codes are looked for; with a CAR named, the long descriptions and outcomes too."""


def _parse_products(texts: list[tuple[str, str]], facts: Facts, deep: bool) -> list[Product]:
    """Product codes, drug names (INN) and lexicon products named in the text."""
    known: list[Product] = []
    for where, text in texts:
        if where == "eligibility" or not (deep or where in PRODUCT_FIELDS):
            continue
        if where in LONG_FIELDS and any(f.kind == "product" for f in facts.facts):
            continue  # the short fields named the product already
        for match in CODE_TOKEN.finditer(text):
            product = PRODUCTS_BY_CODE.get(match.group(0).rstrip(".-").upper())
            if product and (len(product.code) > 3 or where in SHORT_CODE_FIELDS):
                facts.add("product", product.code, where, _snippet(text, match.start(), match.end()))
                if product not in known:
                    known.append(product)
        lower = text.lower()
        if any(alias in lower for alias in _ALIASES):
            for match in _ALIAS.finditer(text):
                product = PRODUCT_ALIASES[match.group(1).lower()]
                facts.add("product", product.code, where, _snippet(text, match.start(), match.end()))
                if product not in known:
                    known.append(product)
        if where in ("title", "intervention", "arm"):
            for match in PRODUCT_CODE.finditer(text):
                code = match.group(0).rstrip(".")
                parts = re.split(r"[\-.]", code)
                if (len(code) < 4 or sum(c.isdigit() for c in code) < 2 or sum(c.isalpha() for c in code) < 2
                        or any(CODE_STOPWORDS.match(p) or p in ANTIGENS for p in parts)
                        or code.upper() in PRODUCTS_BY_CODE):
                    continue
                facts.add("product", code, where, _snippet(text, match.start(), match.end()))
        if where == "intervention":
            for match in INN.finditer(text):
                name = match.group(1).capitalize() + (f" {match.group(2).lower()}" if match.group(2) else "")
                facts.add("product", name, where, _snippet(text, match.start(), match.end()))
    return known


def _parse_diseases(trial: dict[str, Any], texts: list[tuple[str, str]], mesh_terms: dict[str, str],
                    children: dict[str, list[dict]], facts: Facts) -> None:
    """Immune-mediated disease and cancer categories from conditions, titles, keywords, MeSH and
    eligibility cohort headers; from the summaries only when those name none."""
    sources = [(where, text) for where, text in texts if where in DISEASE_FIELDS]
    eligibility = trial.get("eligibility_criteria") or ""
    for match in _cohort_headers(eligibility):
        header = match.group(1) or match.group(2)
        sources.append(("eligibility_cohort", header))
    for where, text in sources:
        _diseases_in(where, text, facts)
    for link in children["trial_mesh"]:
        if link["domain"] != "condition" or link["is_ancestor"]:
            continue
        for kind, disease in (("disease", DISEASE_BY_MESH.get(link["mesh_id"])),
                              ("cancer", CANCER_BY_MESH.get(link["mesh_id"]))):
            if disease:
                facts.add(kind, disease.key, "mesh", f"{link['mesh_id']} {mesh_terms.get(link['mesh_id'])}",
                          disease.mesh_id)
    if not any(f.kind in ("disease", "cancer") for f in facts.facts):
        for where, text in texts:
            if where == "summary":
                _diseases_in(where, text, facts)


def _diseases_in(where: str, text: str, facts: Facts) -> None:
    """Disease and cancer categories named in one text."""
    lower = text.lower()
    if any(anchor in lower for anchor in DISEASE_ANCHORS):
        matches = (DISEASE_PHRASE_LOWER.finditer(lower) if len(lower) == len(text)  # same offsets
                   else DISEASE_PHRASE.finditer(text))
        for match in matches:
            disease = DISEASES_BY_GROUP[match.lastgroup]
            facts.add("disease", disease.key, where, _snippet(text, match.start(), match.end()), disease.mesh_id)
    for match in CANCER_PHRASE.finditer(text):
        cancer = CANCERS_BY_GROUP[match.lastgroup]
        facts.add("cancer", cancer.key, where, _snippet(text, match.start(), match.end()), cancer.mesh_id)
    for word in WORD.finditer(text):
        cancer = CANCER_BY_ABBREVIATION.get(word.group(0))
        if cancer:
            facts.add("cancer", cancer.key, where, _snippet(text, word.start(), word.end()), cancer.mesh_id)
        for part in (word, *(PART.finditer(text, word.start(), word.end()) if "-" in word.group(0) else ())):
            disease = DISEASE_BY_ABBREVIATION.get(part.group(0))
            if disease:
                facts.add("disease", disease.key, where, _snippet(text, part.start(), part.end()), disease.mesh_id)


def _parse_lymphodepletion(texts: list[tuple[str, str]], facts: Facts) -> list[dict[str, Any]]:
    """Lymphodepleting drugs with mg/m² per day and days, where stated."""
    regimen: dict[str, dict[str, Any]] = {}
    for where, text in texts:
        if where not in ORIGIN_FIELDS:
            continue
        lower = text.lower()
        if not any(drug in lower for drug in LD_DRUGS) or not _LD_DRUG.search(text):
            continue
        for sentence in _SENTENCE.split(text):
            days_match = _LD_DAYS.search(sentence)
            days = _parse_days(days_match.group(1)) if days_match else None
            for drug_match in _LD_DRUG.finditer(sentence):
                drug = drug_match.group(1).lower()
                dose = _LD_DOSE.search(sentence[drug_match.end():])
                entry = {"drug": drug,
                         "dose_mg_m2": _number(dose.group(1)) * (1000 if dose.group(2).lower() == "g" else 1)
                         if dose else None,
                         "days": days}
                current = regimen.get(drug)
                if current is None or (entry["dose_mg_m2"] and not current["dose_mg_m2"]):
                    regimen[drug] = entry
                    facts.add("lymphodepletion", drug, where, _snippet(sentence, drug_match.start(), drug_match.end()))
    return list(regimen.values())


def _parse_days(text: str) -> list[int]:
    """Day numbers from '-5, -4, and -3' or '-5 to -3'."""
    numbers = [int(n.replace("−", "-").replace("–", "-").replace(" ", ""))
               for n in re.findall(r"[-−–]?\s?\d+", text)]
    if len(numbers) == 2 and re.search(r"to|through|~", text):
        step = 1 if numbers[1] >= numbers[0] else -1
        return list(range(numbers[0], numbers[1] + step, step))
    return numbers


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def _parse_dose_levels(texts: list[tuple[str, str]], facts: Facts) -> None:
    """Cell dose levels such as '6x10^9 cells' or '1 x 10^6 cells/kg'."""
    for where, text in texts:
        if where not in ORIGIN_FIELDS or "10" not in text:
            continue
        for match in DOSE_LEVEL.finditer(text):
            if not match.group(3) and not match.group(4):
                continue
            value = f"{match.group(1)}x10^{match.group(2)} cells{'/kg' if match.group(4) else ''}"
            facts.add("dose_level", value, where, _snippet(text, match.start(), match.end()))


def _parse_origin(texts: list[tuple[str, str]], facts: Facts) -> None:
    """Autologous or allogeneic cues in what the trial tests (long texts only if the short name none)."""
    for long_fields in (False, True):
        if long_fields and any(f.kind == "origin" for f in facts.facts):
            return
        _origin_in([(w, t) for w, t in texts if w in ORIGIN_FIELDS and (w in LONG_FIELDS) == long_fields], facts)


def _origin_in(texts: list[tuple[str, str]], facts: Facts) -> None:
    for where, text in texts:
        lower = text.lower()
        if len(lower) != len(text):  # lower-casing moved offsets (rare Unicode): search a copy that keeps them
            lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        for kind, in_lower, in_text in ORIGIN_PATTERNS:
            matches = [m for m in (in_lower.search(lower), in_text.search(text) if in_text else None) if m]
            if matches:
                match = min(matches, key=lambda m: m.start())
                facts.add("origin", kind, where, _snippet(text, match.start(), match.end()))


def _plain_cells(texts: list[tuple[str, str]]) -> tuple[str, str, str] | None:
    """(cell, field, evidence) of unmodified or antigen-targeted cells given as an intervention."""
    for where, text in texts:
        if where not in ("title", "intervention", "arm"):
            continue
        for match in re.finditer(r"(?<![A-Za-z])(iNKT|NKT|NK|DNT|Treg|T|γδ ?T)[\s\-]*(?i:cells?)(?![a-z])", text):
            if "CAR" in text[max(0, match.start() - 5):match.start()] or AFTER_TERM_FORBIDDEN.search(text[match.end():match.end() + 20]):
                continue
            return _normal_cell(match.group(1)), where, _snippet(text, match.start(), match.end())
    return None


# ---------------------------------------------------------------- entry point

def _first(facts: Facts, kind: str) -> Fact | None:
    return next((f for f in facts.facts if f.kind == kind), None)


def _unique(values: Iterator[str] | list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def extract_facts(trial: dict[str, Any], children: dict[str, list[dict]], mesh_terms: dict[str, str]) -> Facts:
    """All domain facts of one normalized trial."""
    texts = _texts(trial, children)
    facts = Facts()

    car = list(_car_mentions(texts))
    for where, text, match in car:
        cell = _normal_cell(match.group("cell") or match.group("cell2"))
        if match.group(0).startswith(("UCART", "CART")):
            cell = "T"
        facts.add("car_evidence", match.group(0), where, _snippet(text, match.start(), match.end()))
        if cell:
            facts.add("cell_type", cell, where, _snippet(text, match.start(), match.end()))
    products = _parse_products(texts, facts, deep=bool(car))
    plain = _plain_cells(texts)
    antibody_only = any(f.kind == "product" and INN.fullmatch(f.value) for f in facts.facts) and not car

    if car:
        where, text, match = car[0]
        facts.is_car_therapy, facts.car_evidence = True, f"{where}: {_snippet(text, match.start(), match.end())}"
    elif any(p.is_car for p in products):
        product = next(p for p in products if p.is_car)
        facts.is_car_therapy, facts.car_evidence = True, f"product lexicon: {product.code} ({product.source})"
    elif any(p.is_car is False for p in products):
        product = next(p for p in products if p.is_car is False)
        facts.is_car_therapy, facts.car_evidence = False, f"product lexicon: {product.code} ({product.source})"
    elif antibody_only or (plain and not _targeted(texts)):
        facts.is_car_therapy = False
        facts.car_evidence = ("tests an antibody or drug, no CAR named" if antibody_only
                              else f"unmodified {plain[0]} cells, no CAR named: {plain[2]}")
    elif (plain and _targeted(texts)) or products or _first(facts, "product"):
        facts.is_car_therapy = None
        facts.car_evidence = ("antigen-targeted cells, receptor not stated" if plain
                              else "product code not in the lexicon; nature not stated")
    else:
        facts.is_car_therapy, facts.car_evidence = False, "no CAR or cell therapy named"

    cell_therapy = facts.is_car_therapy is not False or plain is not None
    if facts.is_car_therapy is not False:
        _parse_targets(texts, facts)
    for product in products:
        for target in product.targets if facts.is_car_therapy is not False else ():
            facts.add("target", target, f"product:{product.code}", product.source)
        if product.cell_type:
            facts.add("cell_type", product.cell_type, f"product:{product.code}", product.source)
        if product.origin:
            facts.add("origin", product.origin, f"product:{product.code}", product.source)
    if plain and cell_therapy:
        facts.add("cell_type", plain[0], plain[1], plain[2])
    if cell_therapy:
        _parse_origin(texts, facts)
    _parse_diseases(trial, texts, mesh_terms, children, facts)
    facts.lymphodepletion = _parse_lymphodepletion(texts, facts) if cell_therapy else []
    if cell_therapy:
        _parse_dose_levels(texts, facts)

    facts.targets = _unique(f.value for f in facts.facts if f.kind == "target")
    facts.armoring = _unique(f.value for f in facts.facts if f.kind == "armoring")
    facts.products = _unique(f.value for f in facts.facts if f.kind == "product")
    cell = _first(facts, "cell_type")
    facts.cell_type = cell.value if cell and cell_therapy else None
    origins = _unique(f.value for f in facts.facts if f.kind == "origin")
    facts.origin = "in_vivo" if "in_vivo" in origins else origins[0] if len(origins) == 1 else None
    diseases = _unique(f.value for f in facts.facts if f.kind == "disease")
    specific = [d for d in diseases if d != UMBRELLA]
    facts.disease_categories = specific or diseases
    if specific:  # the umbrella only stands for trials that name no specific disease
        facts.facts = [f for f in facts.facts if not (f.kind == "disease" and f.value == UMBRELLA)]
    cancers = _unique(f.value for f in facts.facts if f.kind == "cancer")
    if len(cancers) > 1 and CANCER_UMBRELLA in cancers:
        facts.facts = [f for f in facts.facts if not (f.kind == "cancer" and f.value == CANCER_UMBRELLA)]
    facts.cancer_categories = [c for c in cancers if c != CANCER_UMBRELLA] or cancers
    _decide_domain(facts)
    _decide_modality(facts)
    return facts


DOMAINS = ("immune-mediated", "oncology", "mixed", "other")
MODALITIES = ("autologous CAR-T", "allogeneic CAR-T", "CAR-NK", "CAR-gamma-delta T", "CAR-iNKT", "CAR-Treg",
              "CAAR-T", "in vivo CAR", "CAR-M", "other")
_MODALITY_BY_CELL = {"NK": "CAR-NK", "gdT": "CAR-gamma-delta T", "iNKT": "CAR-iNKT", "Treg": "CAR-Treg",
                     "macrophage": "CAR-M"}


def _decide_domain(facts: Facts) -> None:
    """immune-mediated, oncology, mixed (both) or other, from the disease and cancer facts; the
    domain fact's evidence names the disease and the cancer that decided it."""
    immune = _first(facts, "disease")
    cancer = _first(facts, "cancer")
    facts.domain = ("mixed" if immune and cancer else "immune-mediated" if immune
                    else "oncology" if cancer else "other")
    if immune or cancer:
        evidence = "; ".join(f"{label}: {f.value} ({f.field}: {f.evidence})" for label, f in
                             (("immune-mediated", immune), ("oncology", cancer)) if f)
        facts.add("domain", facts.domain, (immune or cancer).field, evidence)


def _decide_modality(facts: Facts) -> None:
    """The platform of a CAR cell therapy from its receptor, effector cell and origin; None when
    the trial tests no CAR. A CAR-T whose origin is not stated counts as autologous (the usual
    product) and its evidence says so."""
    if facts.is_car_therapy is not True:
        return
    caar = next((f for f in facts.facts if f.kind == "car_evidence" and "CAAR" in f.value.upper()), None)
    cell = _first(facts, "cell_type")
    origin = next((f for f in facts.facts if f.kind == "origin" and f.value == facts.origin), None)
    if facts.origin == "in_vivo":
        modality, basis = "in vivo CAR", origin
    elif caar:
        modality, basis = "CAAR-T", caar
    elif facts.cell_type in _MODALITY_BY_CELL:
        modality, basis = _MODALITY_BY_CELL[facts.cell_type], cell
    elif facts.cell_type == "T" and facts.origin == "allogeneic":
        modality, basis = "allogeneic CAR-T", origin
    elif facts.cell_type == "T":
        modality, basis = "autologous CAR-T", origin or cell
    else:
        modality, basis = "other", cell or _first(facts, "car_evidence")
    facts.modality = modality
    if basis is not None:
        note = "" if modality != "autologous CAR-T" or facts.origin else "origin not stated, autologous by default; "
        facts.add("modality", modality, basis.field, note + basis.evidence)


def _targeted(texts: list[tuple[str, str]]) -> bool:
    """Whether the tested cells are said to target an antigen ('CD19-targeted iNKT cells')."""
    return any(re.search(r"(?i:(?:targeted|directed|redirected|specific)\W+(?:[A-Za-z]+\W+){0,2}cells?)", text)
               for where, text in texts if where in ("title", "intervention", "arm"))
