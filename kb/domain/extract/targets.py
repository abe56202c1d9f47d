"""Antigens an engineered receptor is directed at, and armoring cytokines, from their context.

An antigen counts when a receptor term follows it ('CD19 CAR-T', 'BCMA-CD19 cCAR T cells') or a
targeting phrase after a CAR precedes it ('CAR T cells targeting CD7'); the members of a pair
('CD19/BCMA', 'CD19 and BCMA', 'CD19/20', '(CD19+CD22)') count together. Product codes carry
antigens too ('CAR-20/19-T', '4SCAR19', 'P-CD19CD20-ALLO1'). Only when nothing names one does the
antigen a tumour is selected for ('CD19-positive lymphoma', 'mesothelin-expressing cancers') stand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kb.domain.extract.car import CAR_PHRASE, DASH, negated
from kb.domain.extract.facts import Facts, snippet
from kb.domain.extract.fields import READS, Texts, tier
from kb.domain.extract.speed import CuedAlternation, lower_same_offsets, odd_case, shortcut
from kb.domain.lexicon import ANTIGENS, CHINESE_CAR_PHRASES, CHINESE_CELLS, CHINESE_TARGETING

ANTIGEN_GROUPS = {f"a{i}": symbol for i, symbol in enumerate(ANTIGENS)}
_SPELLINGS = "|".join(f"(?P<{g}>{'|'.join(ANTIGENS[s])})" for g, s in ANTIGEN_GROUPS.items())
_ANTIGEN_PREFIX = r"(?<![A-Za-z0-9])(?:(?i:anti)" + DASH + r"*)?"
_ANTIGEN_SUFFIX = r"(?:(?![0-9A-Za-z])|(?=CAR|[x×]\d))"
ANTIGEN = re.compile(_ANTIGEN_PREFIX + "(?:" + _SPELLINGS + ")" + _ANTIGEN_SUFFIX, re.IGNORECASE)
_ANTIGEN_CUED = CuedAlternation(_ANTIGEN_PREFIX, [(g, ANTIGENS[s]) for g, s in ANTIGEN_GROUPS.items()],
                                suffix=_ANTIGEN_SUFFIX, flags=re.IGNORECASE, lower=False, min_cue=2)
antigen_mentions = shortcut("antigen", ANTIGEN.finditer, lambda text: ANTIGEN.finditer(text) if odd_case(text)
                            else _ANTIGEN_CUED.finditer(text, lower_same_offsets(text)))
"""Only the antigens whose cue literals the text holds are tried (seventy spellings at every
character cost 40 us a title and milliseconds a description)."""
CELL_TERM = re.compile(
    r"c?CAA?R(?![a-z])|(?i:chimeric\W+antigen)|(?<![A-Za-z])(?:(?:iNKT|NKT|NK|DNT|Treg|T|γδ ?T)[\s\-]*)?"
    r"(?i:cells?)(?![a-z])|(?i:cell\W+(?:injection|therapy))|"
    + "|".join(map(re.escape, (*CHINESE_CAR_PHRASES, *CHINESE_CELLS))))
TARGET_GAP_FORBIDDEN = re.compile(
    r"[+⁺]|^[\-−]\s|\.(?=\s|[A-Z][a-z])|(?i:positive|negative|\bB[\s\-]?cells?|\bafter\b|\bbefore\b|deplet|count|"
    r"level|express|antibod|engager|\bmab\b|conjugate|\bCD3\b(?!\W?(?:z|ζ))|\bin\b(?![\s\-]?vivo)|\bwith\b|\bfor\b|"
    r"\bof\b|\bthe\b|armou?red|"
    r"secreting|\bCD(?!28|137|27|3\W?(?:z|ζ|e\b|ε))\d+)")
"""Between an antigen and its receptor term: nothing that makes the antigen a marker, a count, an
antibody's target, armoring, or another CD than the costimulatory ones ('CD4 and CD8 T cells')."""
AFTER_TERM_FORBIDDEN = re.compile(r"^\W*(?i:engager|bispecific|antibod|count|depletion|fraction|population|subset)")
TARGETING_BEFORE = re.compile(r"(?i:targeting|targeted\W+(?:to|against|at)|to\W+target|directed\W+(?:against|at|to)|"
                              r"specific\W+for|against)\W+(?:the\W+)?(?:(?i:both|either|simultaneously|dual)\W+)?"
                              r"(?:(?:[A-Za-z\-]+\W+){0,3}?(?i:antigens?)\W+"
                              r"|(?:[A-Za-z\-]+\W+){1,8}?(?i:called|named|known\W+as)\W+)?$"
                              r"|(?:" + "|".join(map(re.escape, CHINESE_TARGETING)) + r")\W*$")
"""'CAR T cells targeting CD7', 'T cells genetically targeted to the B-cell specific antigen CD19', '靶向CD19'."""
PAIR_GAP = re.compile(r"(?:[\s()\[\]]*(?:/|\\|\+|&|,|-|x|×|(?i:and|or))?[\s()\[\]]*){1,3}$")
"""Between the two antigens of a pair: 'CD19/BCMA', 'CD19 and BCMA', 'CD19 x BCMA', '(CD19+CD22)'."""
CD_NUMBERS = re.compile(r"(?:\s*[/+&,x×]\s*(?:CD)?\d{1,3}[a-z]?(?![\d\w]))+", re.IGNORECASE)
"""Further CD numbers after a CD antigen: 'CD19/20', 'CD19/22/20'."""
ANTIGEN_LIST_REST = re.compile(r"(?:[\s,/;&]|(?i:\band\b|\bor\b))*")
"""What may stand between the antigens of a bracketed list: separators only."""
NUMBER = re.compile(r"\d{1,3}[a-z]?")
NEGATIVE = re.compile(r"[\-−]\s|\W*(?i:negative)")
"""'CD19- ALL', 'CD19 negative': a marker the tumour lacks."""
CLUSTER = re.compile(r"(?i:cluster\W+of\W+differentiation\W*(?:\(CD\)\W*)?)(?=\d)")
"""'cluster of differentiation (CD)19' is CD19."""
INTERLEUKIN = re.compile(r"(?<![A-Za-z])IL-?\d{1,2}(?!\d)")
CAR_CODE_ANTIGENS = re.compile(r"CAR(?:-?T)?[\-.]?((?:(?!CAR)[A-Za-z0-9]+[\-./x+]?)+)")
"""What follows 'CAR' inside a code: 'CAR-20/19-T' 20 and 19, '4SCAR19' 19, 'CART-meso' meso."""
CAR_NUMBER = re.compile(r"(?<![A-Za-z])CAR(?:[\s\-]?T)?\s(\d{1,3})(?=[\-/][A-Za-z])")
"""'CAR 70-BCMA CAR-T': the number after CAR is a CD antigen (only before another antigen's dash)."""
CODE = re.compile(r"(?<![\w\-])(?=[\w\-./+]*(?:\d|CAR))(?=[\w\-./+]*[A-Z])[\w][\w\-./+]*")
COSTIMULATORY = re.compile(r"4-?1BB|(?:CD28|CD27|CD137)(?!\d)|CD3[zζ]\w*|CD3-zeta|zeta|OX40|ICOS", re.IGNORECASE)
"""Signalling domains inside a construct's name ('CD19CAR-4-1BB-CD3zeta'): not antigens."""
ENGAGER = re.compile(r"CD3(?:x|×)|(?:x|×)CD3(?!\d)")
"""'CD3xCD20': a bispecific engager, not a CAR's antigens."""
CODE_PIECE = re.compile(r"(?<![0-9])\d{1,3}(?![0-9])|[A-Za-z][A-Za-z0-9]*")
GLUED_CD = re.compile(r"(?<=[A-Za-z0-9])CD(\d{1,3})(?!\d|t\b|t[\-_])"
                      r"|(?<![A-Za-z0-9])CD(\d{1,3})(?=[A-Za-z])(?!t\b|t[\-_])")
"""A CD number glued to a code's letters ('SupCD7', 'P-CD19CD20-ALLO1', 'CD19X'); not 'CD19+' or 'CD19-CAR'."""
POSITIVE_DISEASE = re.compile(
    r"\W{0,2}(?:[A-Za-z]+\W+){0,2}?(?:(?i:positive|[+⁺]|expressing|overexpressing|high|bright)\W+)"
    r"(?:[A-Za-z0-9\-+]+\W+){0,4}?"
    r"(?i:malignan|lymphoma|leuka?emia|cancer|tumou?r|carcinoma|myeloma|glioma|glioblastoma|neoplasm|sarcoma|"
    r"neuroblastoma|mesothelioma|ALL\b|AML\b|B[\s\-]?ALL|T[\s\-]?ALL|NHL|HCC|solid|disease|hematolog|haematolog)")
"""'CD19 positive lymphoma', 'CD7+ T-ALL', 'Mesothelin Expressing Cancers', 'HER2 overexpressing tumours'."""
POSITIVE_BEFORE = re.compile(r"(?i:positive|high)\W+$")
EXPRESSION_AFTER = re.compile(r"\W*(?i:expression|positivity)")
"""'gliomas with positive CD70 expression'."""


def parse_targets(texts: Texts, facts: Facts, long_texts: bool = True) -> None:
    """Targets from the names of what is tested, else from the summary (its background names other
    trials' targets), else, with ``long_texts`` (a trial that names a CAR), from the descriptions
    and outcomes."""
    for number in range(len(READS["target"]) if long_texts else len(READS["target"]) - 1):
        if facts.has("target"):
            return
        for where, text in tier(texts, "target", number):
            targets_in(where, text, facts)


def parse_selected_antigens(texts: Texts, facts: Facts) -> None:
    """The antigen the trial's tumours must carry ('CD19-positive lymphoma'): the target of a CAR
    trial that names none otherwise (not even through its product)."""
    for where, text in tier(texts, "target_selection"):
        found = list(_antigens(text))
        selected = _chained(text, found, [bool(POSITIVE_DISEASE.match(text, m.end()) or (
            POSITIVE_BEFORE.search(text, max(0, m.start() - 30), m.start()) and EXPRESSION_AFTER.match(text, m.end())))
            for m, _ in found])
        for (match, symbol), yes in zip(found, selected):
            if yes:
                facts.add("target", symbol, f"{where}:selection", snippet(text, match.start(), match.end()))


def targets_in(where: str, text: str, facts: Facts) -> None:
    """Targets (and armoring interleukins between a target and its receptor) in one text."""
    if "luster" in text:
        text = CLUSTER.sub("CD", text)
    found = list(_antigens(text))
    accepted = _chained(text, found, [_accepted(where, text, match) for match, _ in found])
    if found and where in READS["target"][0] and CAR_PHRASE.search(text):  # no antigen: nothing to accept
        accepted = [term or _in_antigen_list(text, match, found) for term, (match, _) in zip(accepted, found)]
    for (match, symbol), term in zip(found, accepted):
        if not term:
            continue
        facts.add("target", symbol, where, snippet(text, match.start(), match.end()))
        if symbol.startswith("CD") and (more := CD_NUMBERS.match(text, match.end())):
            for number in NUMBER.findall(more.group(0)):
                if f"CD{number}" in ANTIGENS:
                    facts.add("target", f"CD{number}", where, snippet(text, match.start(), more.end()))
        if isinstance(term, re.Match):
            gap = text[match.end():match.end() + term.start()]
            for il in INTERLEUKIN.finditer(gap):
                facts.add("armoring", il.group(0).replace("-", "").replace("IL", "IL-"), where,
                          snippet(text, match.start(), match.end() + term.end()))
    _code_antigens(where, text, facts)
    for car in CAR_NUMBER.finditer(text) if "CAR" in text else ():  # the pattern's literal: most texts lack it
        if f"CD{car.group(1)}" in ANTIGENS:
            facts.add("target", f"CD{car.group(1)}", where, snippet(text, car.start(), car.end()))


def _chained(text: str, found: list[tuple[re.Match, str]], accepted: list) -> list:
    """The antigens of a pair or list share their context ('CD19/BCMA CAR', '(CD19, BCMA, and CD70)')."""
    chains: list[list[int]] = []
    for i, (match, _) in enumerate(found):
        if i and PAIR_GAP.match(text, found[i - 1][0].end(), match.start()):
            chains[-1].append(i)
        else:
            chains.append([i])
    for chain in chains:
        if any(accepted[i] for i in chain):
            for i in chain:
                accepted[i] = accepted[i] or True
    return accepted


def _in_antigen_list(text: str, match: re.Match, found: list[tuple[re.Match, str]]) -> bool:
    """Whether an antigen stands in a bracketed list of antigens and nothing else: the targets
    of a CAR named in the same title ('Dual-Targeting CAR-NK Cells ... (MSLN, FRα, MUC16)')."""
    opened, closed = text.rfind("(", 0, match.start()), text.find(")", match.end())
    if opened < 0 or closed < 0 or ")" in text[opened:match.start()] or "(" in text[match.end():closed]:
        return False
    rest = text[opened + 1:closed]
    for other, _ in found:
        if opened < other.start() and other.end() <= closed:
            rest = rest.replace(other.group(0), " ", 1)
    return ANTIGEN_LIST_REST.fullmatch(rest) is not None


def _antigens(text: str) -> Iterator[tuple[re.Match, str]]:
    for match in antigen_mentions(text):
        yield match, ANTIGEN_GROUPS[match.lastgroup]


def _accepted(where: str, text: str, match: re.Match) -> re.Match | bool:
    """The receptor term after an antigen (the gap may hold armoring), True for 'CAR ... targeting
    <antigen>' (in a title or an intervention name, 'targeting <antigen>' is enough), or False."""
    if negated(text, match) or NEGATIVE.match(text, match.end()):  # 'after CD19-CART', 'CD19- ALL'
        return False
    end = more.end() if (more := CD_NUMBERS.match(text, match.end())) else match.end()  # 'CD19+22 CAR-T'
    after = text[end:end + 70]
    term = CELL_TERM.search(after)
    if term and not TARGET_GAP_FORBIDDEN.search(after[:term.start()]) and not AFTER_TERM_FORBIDDEN.search(
            after[term.end():term.end() + 20]):
        return term
    before = text[max(0, match.start() - 100):match.start()]
    return bool(TARGETING_BEFORE.search(before) and (where in READS["target"][0] or CAR_PHRASE.search(before)
                                                     or CELL_TERM.search(before)))


def _code_antigens(where: str, text: str, facts: Facts) -> None:
    """Antigens inside product codes: numbers after CAR ('CAR-20/19-T', '4SCAR19', 'DuoCAR20.19.22'),
    spellings after CAR ('CAR-GPRC5D', 'CART-meso') and CD numbers glued into a code ('P-CD19CD20-ALLO1',
    'SupCD7', 'CD19X')."""
    if "CAR" not in text and "CD" not in text:
        return
    for code in CODE.finditer(text):
        token = code.group(0)
        if "CAR" not in token and "CD" not in token:
            continue
        token = COSTIMULATORY.sub("", token)
        if ENGAGER.search(token):
            continue
        symbols: list[str] = []
        if "CAR" in token:
            for car in CAR_CODE_ANTIGENS.finditer(token):  # 'CAR-T19/CAR-T22'
                for piece in CODE_PIECE.findall(re.sub(r"(?<=\d)[x×](?=\d)", "/", car.group(1))):  # 20x22
                    if piece.isdigit():
                        symbols.append(f"CD{piece}")
                    elif antigen := ANTIGEN.fullmatch(piece):
                        symbols.append(ANTIGEN_GROUPS[antigen.lastgroup])
        else:
            symbols += [f"CD{a or b}" for a, b in GLUED_CD.findall(token)]
        for symbol in symbols:
            if symbol in ANTIGENS:
                facts.add("target", symbol, where, snippet(text, code.start(), code.end()))
