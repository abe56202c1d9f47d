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
        end = 0
        for start in sorted(starts):
            if start >= end and (match := self.pattern.match(text, start)):
                end = match.end()
                yield match

    def search(self, text: str) -> re.Match | None:
        return next(self.finditer(text), None)


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


def lower_pattern(pattern: str) -> str:
    """A pattern for lower-cased text: its letters lower-cased, escapes (``\\W``) kept."""
    return re.sub(r"(?<!\\)[A-Z]", lambda m: m.group(0).lower(), pattern)


def any_cue(cues: Iterable[str]) -> Callable[[str], bool]:
    """A test of whether a text holds one of ``cues``."""
    cues = tuple(cues)
    return lambda text: any(cue in text for cue in cues)


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
