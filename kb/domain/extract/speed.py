"""Speed helpers: try a pattern only where a cue word is, or only in texts that hold one.

Scanning every position of every long description with every pattern cost most of the import's
extraction time. Each shortcut is registered with the plain pattern it stands for
(:data:`SHORTCUTS`), and a test runs both on every fixture and real-world record: a shortcut whose
cues miss what its pattern matches fails that test instead of silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick_rs


@dataclass(frozen=True)
class CuedPattern:
    """A regex each match of which holds one of ``cues`` at most ``reach`` characters from its start.

    :meth:`finditer` and :meth:`search` give what the pattern's own do, but try only the starts
    near a cue. The cues are looked for in ``cue_text`` (default: the text itself), e.g. its
    lower-cased copy.
    """

    pattern: re.Pattern
    cues: tuple[str, ...]
    reach: int

    def finditer(self, text: str, cue_text: str | None = None) -> Iterator[re.Match]:
        cue_text = text if cue_text is None else cue_text
        present = [cue for cue in self.cues if cue in cue_text]  # most texts hold none
        starts = {max(0, at - k) for cue in present for at in occurrences(cue_text, cue) for k in range(self.reach + 1)}
        return matches_from(self.pattern, text, starts)

    def search(self, text: str) -> re.Match | None:
        return next(self.finditer(text), None)


def matches_from(pattern: re.Pattern, text: str, starts: Iterable[int]) -> Iterator[re.Match]:
    """What ``pattern.finditer(text)`` gives when every match begins at one of ``starts``."""
    end = 0
    for start in sorted(starts):
        if start >= end and (match := pattern.match(text, start)):
            end = match.end()
            yield match


class Words:
    """Many literal words found in one pass (Aho-Corasick, Rust's DFA: a third to a half of the time of
    pyahocorasick's iteration): where they start."""

    def __init__(self, words: Iterable[str]) -> None:
        self.automaton = _automaton(words)

    def starts(self, text: str) -> set[int]:
        return {start for _, start, _ in self.automaton.find_matches_as_indexes(text, overlapping=True)}


def _automaton(words: Iterable[str]) -> ahocorasick_rs.AhoCorasick:
    """An automaton that finds every occurrence of ``words`` (overlapping ones too), at character offsets."""
    return ahocorasick_rs.AhoCorasick([w for w in dict.fromkeys(words) if w],
                                      matchkind=ahocorasick_rs.MatchKind.Standard,
                                      implementation=ahocorasick_rs.Implementation.DFA)


def occurrences(text: str, word: str) -> Iterator[int]:
    """Every index where ``word`` starts in ``text``."""
    at = text.find(word)
    while at >= 0:
        yield at
        at = text.find(word, at + 1)


def lower_same_offsets(text: str) -> str:
    """``text`` lower-cased, every character kept at its offset (a few Unicode letters lower-case
    to two characters: those stay as they are)."""
    lower = text.lower()
    return lower if len(lower) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


_PLAIN_LETTER = {"ı": "i", "İ": "I", "ſ": "s", "\u212a": "K", "ϰ": "κ"}
ODD_CASE = tuple(_PLAIN_LETTER)
"""Letters a case-insensitive pattern matches to a letter of the lexicon's patterns ('ı' and 'İ' to 'i',
'ſ' to 's', the Kelvin sign to 'k', the kappa symbol 'ϰ' to the 'κ' of 'Igκ') that lower-casing does not
turn into it: a cue looked for in lower-cased text misses them. A test looks for such letters of every
letter the patterns and the lexicon hold."""


_TO_PLAIN_LETTERS = str.maketrans(_PLAIN_LETTER)


def plain_letters(text: str) -> str:
    """``text`` with each letter of :data:`ODD_CASE` as the letter a case-insensitive pattern takes it for
    ('ıde-ſel' is 'ide-sel'), at the same offsets: a lower-cased copy then holds the cues such a pattern
    matches."""
    return text.translate(_TO_PLAIN_LETTERS) if odd_case(text) else text


def odd_case(text: str) -> bool:
    """Whether ``text`` holds one of :data:`ODD_CASE` (then a case-insensitive shortcut takes the plain way)."""
    return not text.isascii() and any(letter in text for letter in ODD_CASE)  # isascii: a flag, no scan


def plain_way(text: str, lower: str) -> bool:
    """Whether a case-insensitive shortcut reading ``lower`` (``text.lower()``) must take its plain pattern:
    lower-casing moved an offset, or the text holds a letter of :data:`ODD_CASE`."""
    return len(lower) != len(text) or odd_case(text)


def lower_pattern(pattern: str) -> str:
    """A pattern for lower-cased text: its letters lower-cased, escapes (``\\W``) kept."""
    return re.sub(r"(?<!\\)[A-Z]", lambda m: m.group(0).lower(), pattern)


@dataclass(frozen=True)
class Shortcut:
    """A fast way to find a pattern's matches and the plain way it stands for; both give
    ``(start, end, group)`` triples of one text."""

    name: str
    plain: Callable[[str], Iterable[re.Match]]
    fast: Callable[[str], Iterable[re.Match]]

    def spans(self, text: str, fast: bool = True) -> list[tuple[int, int, str | None]]:
        return [(m.start(), m.end(), m.lastgroup) for m in (self.fast if fast else self.plain)(text)]


SHORTCUTS: list[Shortcut] = []


def shortcut(name: str, plain: Callable[[str], Iterable[re.Match]],
             fast: Callable[[str], Iterable[re.Match]]) -> Callable[[str], Iterable[re.Match]]:
    """Register a shortcut (for the test) and return its fast finder."""
    SHORTCUTS.append(Shortcut(name, plain, fast))
    return fast


def only_with(cue: Callable[[str], bool], pattern: re.Pattern) -> Callable[[str], Iterable[re.Match]]:
    """``pattern.finditer``, skipped for texts without a cue."""
    return lambda text: pattern.finditer(text) if cue(text) else ()


def mandatory_literal(pattern: str) -> str | None:
    """The longest run of plain characters that every match of ``pattern`` holds (lower-cased), or
    None: escapes, classes, groups and optional characters break runs; a top-level '|' gives None.

    >>> mandatory_literal(r"lupus\\W+er[a-z]*th[a-z]*"), mandatory_literal(r"tumou?rs?(?!\\W+necrosis)")
    ('lupus', 'tumo')
    """
    runs, run, i = [], "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            runs.append(run)
            run, i = "", i + 2
        elif c in "[(":
            runs.append(run)
            run, i = "", _skip_group(pattern, i)
        elif c in "?*{":
            runs.append(run[:-1])
            run, i = "", pattern.index("}", i) + 1 if c == "{" else i + 1
        elif c == "|":
            return None
        elif c in "+^$.":
            runs.append(run)
            run, i = "", i + 1
        else:
            run, i = run + c, i + 1
    longest = max([*runs, run], key=len).lower()
    return longest or None


def _skip_group(pattern: str, i: int) -> int:
    """The index after the class or group that starts at ``i`` and after its quantifier."""
    if pattern[i] == "[":
        end = pattern.index("]", i + 2 if pattern[i + 1] == "]" else i + 1)
    else:
        depth, end = 0, i
        while True:
            if pattern[end] == "\\":
                end += 2
                continue
            depth += {"(": 1, ")": -1}.get(pattern[end], 0)
            if depth == 0:
                break
            end += 1
    end += 1
    if end < len(pattern) and pattern[end] in "?*+":
        end += 1
    elif end < len(pattern) and pattern[end] == "{":
        end = pattern.index("}", end) + 1
    return end


class CuedAlternation:
    """A named-group alternation compiled only from the patterns whose cue (a mandatory literal of the
    pattern) the text holds: the same matches as the whole alternation, since a pattern without its
    cue cannot match. A pattern with no cue of ``min_cue`` characters is always kept, the rest of its
    entry only with their cues (a kind with one short abbreviation, '\\bCK\\b', no longer brings in
    all its phrases). Subsets are compiled once.

    ``lower``: the patterns are lower-cased and matched case-sensitively on lower-cased text (the
    caller passes it); otherwise they are compiled with ``flags`` and matched on the text itself,
    the cues being looked for in its lower-cased copy.
    """

    def __init__(self, prefix: str, entries: list[tuple[str, tuple[str, ...]]], suffix: str = "",
                 flags: int = 0, lower: bool = True, min_cue: int = 3) -> None:
        self.prefix, self.suffix, self.entries, self.flags, self.lower = prefix, suffix, entries, flags, lower
        if lower and any("(?-i" in p or "(?i" in p for p in (prefix, suffix, *(p for _, ps in entries for p in ps))):
            raise ValueError("a pattern for lower-cased text cannot turn case-sensitivity on or off: "
                             "lower_pattern would change what it matches")
        self.always: list[tuple[int, int]] = []  # (entry, pattern) pairs tried in every text
        cues: dict[str, set[tuple[int, int]]] = {}
        for index, (_, patterns) in enumerate(entries):
            for number, pattern in enumerate(patterns):
                literal = mandatory_literal(lower_pattern(pattern))
                if literal is None or len(literal) < min_cue:
                    self.always.append((index, number))
                else:
                    cues.setdefault(literal, set()).add((index, number))
        literals = list(cues)  # unique and non-empty: the automaton numbers them in this order
        self.automaton = _automaton(literals)
        self.indices = [frozenset(cues[literal]) for literal in literals]  # of each literal, by its number
        self.whole = self._compile(tuple((i, n) for i, (_, patterns) in enumerate(entries) for n in range(len(patterns))))

    def _compile(self, pairs: tuple[tuple[int, int], ...]) -> re.Pattern:
        chosen: dict[int, list[str]] = {}
        for index, number in pairs:  # sorted: entries and their patterns in the lexicon's order
            pattern = self.entries[index][1][number]
            chosen.setdefault(index, []).append(lower_pattern(pattern) if self.lower else pattern)
        return re.compile(self.prefix + "(?:" + "|".join(f"(?P<{self.entries[i][0]}>{'|'.join(p)})"
                                                         for i, p in chosen.items()) + ")" + self.suffix, self.flags)

    def finditer(self, text: str, cue_text: str | None = None) -> Iterator[re.Match]:
        present = set(self.always)
        found = self.automaton.find_matches_as_indexes(text if cue_text is None else cue_text, overlapping=True)
        for literal in {number for number, _, _ in found}:
            present |= self.indices[literal]
        return self._subset(tuple(sorted(present))).finditer(text) if present else iter(())

    def holds_cue(self, cue_text: str) -> bool:
        """Whether some pattern may match a text whose (lower-cased) copy is ``cue_text``: a pattern
        without a cue is always tried, else a cue must be there."""
        return bool(self.always) or bool(self.automaton.find_matches_as_indexes(cue_text))

    def _subset(self, pairs: tuple[tuple[int, int], ...]) -> re.Pattern:
        return _compiled_subset(self, pairs)


@lru_cache(maxsize=4096)
def _compiled_subset(alternation: CuedAlternation, pairs: tuple[tuple[int, int], ...]) -> re.Pattern:
    """A subset of an alternation, compiled once (0.4 ms). Every real record together needs 1,005 subsets of all
    the alternations; a more varied archive may need more: the least recently used are dropped first."""
    return alternation._compile(pairs)


# ---------------------------------------------------------------- the import's pre-filter

CAR_ENUMS = (b"SUPPORTIVE_CARE", b"CARE_PROVIDER")
"""API enum values that hold 'CAR' (primaryPurpose, whoMasked): not a cue."""
UNSURE_BYTES = (b"\\u", b"&#", b"&lowbar;", b"&UnderBar;", b"&period;", *(letter.encode() for letter in ODD_CASE))
"""What could hide a cue from a byte search: a JSON or HTML escape that decodes into a cue's
characters, or a letter that a case-insensitive pattern matches to an ASCII one ('ı' is 'i' to
``(?i)``). A record holding one goes to the full rules."""


class CueWords:
    """Whether a study's raw JSON bytes hold any cue of a CAR (or, with ``cells``, of any cell
    therapy), without parsing them: two passes of a byte automaton (Rust's aho-corasick DFA,
    ~4 ns a byte; pyahocorasick took ~20 ns a character).

    Every way the rules (:func:`kb.domain.extract.extract_facts`) come to ``is_car_therapy`` true
    starts from one of these, so a record without any cannot be a CAR trial: 'CAR' or 'CAAR' in
    capitals (every CAR phrase and CAR code holds one) outside the enum values :data:`CAR_ENUMS`,
    'chimeric' or 'cabtagene' in any case, or a code or alias of a CAR product of the lexicon.
    With ``cells`` also 'cell' and 'lymphocyte' (cells given without a CAR) and the products of a
    known effector cell. A cue word's punctuation may come CommonMark-escaped (:func:`escaped_forms`);
    :data:`UNSURE_BYTES` send a record to the full rules.
    ``tests/kb/test_prefilter.py`` checks both agree on every real record.
    """

    def __init__(self, cells: bool) -> None:
        from kb.domain.lexicon import PRODUCTS

        words = {"chimeric", "cabtagene"}
        for product in PRODUCTS:
            if product.is_car or (cells and product.cell_type):
                words |= {w.lower() for w in (product.code, *product.aliases)}
        if cells:
            words |= {"cell", "lymphocyte"}
        if not all(w.isascii() for w in words):  # lower() and the automaton below work on ASCII bytes
            raise ValueError(f"non-ASCII cue words: {sorted(w for w in words if not w.isascii())}")
        dfa, longest = ahocorasick_rs.Implementation.DFA, ahocorasick_rs.MatchKind.LeftmostLongest
        self.exact_words = [*CAR_ENUMS, *UNSURE_BYTES, b"CAR", b"CAAR"]
        self.exact = ahocorasick_rs.BytesAhoCorasick(self.exact_words, matchkind=longest, implementation=dfa)
        self.enums = frozenset(range(len(CAR_ENUMS)))  # their indexes: a match of one is no cue
        forms = sorted({form for w in words for form in escaped_forms(w.encode())})
        self.words = ahocorasick_rs.BytesAhoCorasick(forms, implementation=dfa)

    def __call__(self, raw: bytes) -> bool:
        if any(index not in self.enums for index, _, _ in self.exact.find_matches_as_indexes(raw)):
            return True  # leftmost-longest: 'CARE_PROVIDER' is one match, not a 'CAR' in it
        return bool(self.words.find_matches_as_indexes(raw.lower()))


def escaped_forms(word: bytes) -> set[bytes]:
    """A cue word as JSON bytes may hold it: each of its punctuation marks as is or after a CommonMark
    escape (the text's backslash, written as two in JSON: 'kyv\\\\-101')."""
    forms = {b""}
    for char in (word[i:i + 1] for i in range(len(word))):
        forms = {f + char for f in forms} | ({f + b"\\\\" + char for f in forms} if char in b"-._" else set())
    return forms


_CUE_WORDS: dict[bool, CueWords] = {}


def has_cue(raw: bytes, cells: bool = False) -> bool:
    """Whether ``raw`` (a study's JSON bytes) may be a CAR trial (with ``cells``: any cell therapy)."""
    if cells not in _CUE_WORDS:
        _CUE_WORDS[cells] = CueWords(cells)
    return _CUE_WORDS[cells](raw)
