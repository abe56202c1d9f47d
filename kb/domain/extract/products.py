"""Products a trial tests: lexicon codes and drug names (``kb.domain.lexicon``), codes the lexicon does not
know yet (by their shape), and antibody or fusion-protein INNs."""

from __future__ import annotations

import re
from collections.abc import Iterator


from kb.domain.extract.car import negated
from kb.domain.extract.facts import Facts, snippet
from kb.domain.extract.fields import READS, Texts, tier
from kb.domain.extract.speed import Words, lower_same_offsets, matches_from, only_with, plain_letters, shortcut
from kb.domain.lexicon import ANTIGENS, PRODUCT_ALIASES, PRODUCTS_BY_CODE, Product

PRODUCT_CODE = re.compile(r"(?<![\w\-/])(?=[A-Z0-9\-.]*\d)[A-Z][A-Z0-9]*(?:[\-.][A-Z0-9]+)*(?![\w\-/])")
CODE_STOPWORDS = re.compile(
    r"^(?:CD\d+|IL\d+|HLA\w*|COVID\w*|SARS\w*|DAS\d+|SF\d+|EQ\d\w*|ACR\d+|SLEDAI\w*|BILAG\w*|MMT\d+|HAQ\w*|"
    r"CTCAE\w*|V\d+|PHASE\d|FEV\d|DLCO\w*|T\d|N\d|M\d|G\d|C\d|H\d|B\d+|HBV|HIV\d|CR\d|PR\d|CAR\w*|CART\d*|"
    r"ANCA\w*|ICD\d+|P\d+|Q\d+|W\d+|D\d+|IGG\d*|IGA\d*|FCGR\w*|DRB\d+|TNFRSF\d+\w*|GPRC5D)$")
ANTIGEN_NAME = re.compile("|".join(s for spellings in ANTIGENS.values() for s in spellings), re.IGNORECASE)
"""An antigen's own name ('B7H3') is not a product code."""
INN = re.compile(r"\b([A-Za-z]{4,}(?:mab|cept))(?:-[a-z]{4})?\b(?:\s+(tesirine|vedotin|mafodotin|emtansine|"
                 r"deruxtecan|govitecan|ozogamicin|pegol))?", re.IGNORECASE)
CODE_TOKEN = re.compile(r"(?<![\w\-])[A-Za-z][\w\-.]*\d[\w\-.]*")
_ALIASES = sorted(PRODUCT_ALIASES, key=len, reverse=True)
ALIAS = re.compile(r"(?i:\b(" + "|".join(re.escape(a) for a in _ALIASES) + r")\b)")
_NAME_WORDS = Words({*_ALIASES, *(code.lower() for code in PRODUCTS_BY_CODE)})
"""Every alias and code of the lexicon, lower-cased: one Aho-Corasick pass finds where any starts."""


def _starts(text: str, starts: set[int] | None = None) -> set[int]:
    """Where a lexicon name starts in ``text`` (a long s or a dotless i read as the case-insensitive
    patterns read them)."""
    return _NAME_WORDS.starts(lower_same_offsets(plain_letters(text))) if starts is None else starts


def alias_product(alias: str) -> Product:
    """The product an alias names, in any case ('IDE-CEL', 'ıde-cel')."""
    return PRODUCT_ALIASES[plain_letters(alias).lower()]


def _aliases_fast(text: str, starts: set[int] | None = None) -> Iterator[re.Match]:
    """``ALIAS.finditer(text)``, tried only where a lexicon name starts (hundreds of aliases, one
    substring test each, cost a millisecond a text)."""
    return matches_from(ALIAS, text, _starts(text, starts))


def _lexicon_codes_plain(text: str) -> Iterator[re.Match]:
    """Code-shaped tokens that the lexicon knows ('KN5601-K.' is KN5601-K)."""
    return (m for m in CODE_TOKEN.finditer(text) if m.group(0).rstrip(".-").upper() in PRODUCTS_BY_CODE)


def _lexicon_codes_fast(text: str, starts: set[int] | None = None) -> Iterator[re.Match]:
    """The same, tried only where a lexicon name starts."""
    return (m for m in matches_from(CODE_TOKEN, text, _starts(text, starts))
            if m.group(0).rstrip(".-").upper() in PRODUCTS_BY_CODE)


lexicon_codes = shortcut("lexicon code", _lexicon_codes_plain, _lexicon_codes_fast)
aliases_in = shortcut("product alias", ALIAS.finditer, _aliases_fast)
_DIGIT = re.compile(r"\d")
code_shapes = shortcut("product code shape", PRODUCT_CODE.finditer,
                       only_with(lambda text: _DIGIT.search(text) is not None, PRODUCT_CODE))
"""Every code holds a digit: a label without one is not scanned."""
inn_names = shortcut("antibody INN", INN.finditer,
                     only_with(lambda text: "mab" in (lower := text.lower()) or "cept" in lower, INN))
"""Every INN ends in 'mab' or 'cept' (letters without other case-insensitive forms)."""


def parse_products(texts: Texts, facts: Facts, car_named: bool) -> list[Product]:
    """Products named in the trial; the lexicon's among them. Descriptions, outcomes and conditions
    are read only for a trial that names a CAR and only when the names gave no product."""
    known: list[Product] = []
    for number in range(2 if car_named else 1):
        if number and facts.has("product"):
            break
        for where, text in tier(texts, "product", number):
            _lexicon_products(where, text, facts, known)
            if where in READS["product_code"][0]:
                _unknown_codes(where, text, facts)
            if where in READS["drug_name"][0]:
                for match in inn_names(text):
                    name = match.group(1).capitalize() + (f" {match.group(2).lower()}" if match.group(2) else "")
                    facts.add("product", name, where, snippet(text, match.start(), match.end()))
    return known


def _lexicon_products(where: str, text: str, facts: Facts, known: list[Product]) -> None:
    """Codes and aliases the product lexicon knows."""
    starts = _starts(text)
    if not starts:  # no lexicon name starts anywhere: nothing to match
        return
    found = []
    for match in lexicon_codes(text, starts):
        product = PRODUCTS_BY_CODE[match.group(0).rstrip(".-").upper()]
        if len(product.code) > 3 or where in READS["short_code"][0]:
            found.append((product, match))
    found += [(alias_product(m.group(1)), m) for m in aliases_in(text, starts)]
    for product, match in found:
        facts.add("product", product.code, where, snippet(text, match.start(), match.end()))
        if product not in known and not negated(text, match):  # 'after prior tisagenlecleucel' is not tested
            known.append(product)


def _unknown_codes(where: str, text: str, facts: Facts) -> None:
    """Codes shaped like a product's ('ABC-123') that the lexicon does not know."""
    for match in code_shapes(text):
        code = match.group(0).rstrip(".")
        parts = re.split(r"[\-.]", code)
        if (len(code) < 4 or sum(c.isdigit() for c in code) < 2 or sum(c.isalpha() for c in code) < 2
                or any(CODE_STOPWORDS.match(p) or p in ANTIGENS for p in parts) or code.upper() in PRODUCTS_BY_CODE
                or ANTIGEN_NAME.fullmatch(code) or _descriptive(code)):
            continue
        facts.add("product", code, where, snippet(text, match.start(), match.end()))


def _descriptive(code: str) -> bool:
    """'CD19CART', 'BCMA-CAR': an antigen and 'CAR' describe the cells; they do not name a product."""
    antigen = ANTIGEN_NAME.match(code)
    return bool(antigen) and "CAR" in code[antigen.end():].upper()


def is_drug_name(value: str) -> bool:
    """Whether a product value is an antibody or fusion-protein INN."""
    return INN.fullmatch(value) is not None

