"""A small evaluator of ClinicalTrials.gov search expressions (Essie syntax), for the test server.

What the registry documents (api/gui/ref/syntax, api/gui/ref/expr), and what this module does:

- terms are words; a quoted string is a phrase (its words adjacent, in order);
- ``NOT`` (unary) binds tighter than ``AND``, ``AND`` tighter than ``OR``; words side by side
  are ANDed (``bethesda NOT maryland``); parentheses group;
- ``AREA[Field]expr`` evaluates ``expr`` over one field, ``RANGE[low,high]`` compares a field's
  value (``MIN`` / ``MAX`` open ends), e.g. ``AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]``.

Text is tokenized as the registry's search does for words: case-insensitive runs of letters and
digits, every other character a separator, so ``CAR-T`` is the phrase ``car t`` and matches
"CAR T cells" and "CAR-T", while ``CAR`` does not match inside ``LCAR-AIO`` (token ``lcar``) and
``cabtagene`` does not match ``rapcabtagene``. The registry also expands synonyms and stems;
this evaluator does not (a search that finds a trial here finds it there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol, Union

__all__ = ["Document", "ExpressionError", "compile_expression", "tokens", "token_text"]

_WORD = re.compile(r"[^\W_]+")
_LEX = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|"(?P<phrase>(?:[^"\\]|\\.)*)"'
                  r'|(?P<area>AREA\[(?P<field>[^\]]*)\])|(?P<range>RANGE\[(?P<low>[^,\]]*),(?P<high>[^\]]*)\])'
                  r'|(?P<word>(?:[^\s()"\\]|\\.)+))')


class ExpressionError(ValueError):
    """A search expression that cannot be parsed (the registry answers 400)."""


class Document(Protocol):
    """What an expression is evaluated against."""

    def text(self, area: str | None) -> str:
        """The area's tokens as ``" tok tok | tok "`` (see :func:`token_text`); None: the default area."""

    def value(self, area: str | None) -> str | None:
        """The area's value for RANGE (e.g. a date), or None."""


def tokens(text: str) -> list[str]:
    """The search tokens of a text.

    >>> tokens("Anti-CD19 CAR-T cells (KYV-101), γδ T")
    ['anti', 'cd19', 'car', 't', 'cells', 'kyv', '101', 'γδ', 't']
    """
    return [t.casefold() for t in _WORD.findall(text)]


def token_text(values: list[str]) -> str:
    """Field values as one space-padded token string; a phrase never spans two values.

    >>> token_text(["CAR-T cells", "Lupus"])
    ' car t cells | lupus '
    """
    return " " + " | ".join(" ".join(tokens(v)) for v in values) + " "


@dataclass(frozen=True)
class _Term:
    words: str  # " w1 w2 " (space-padded)
    area: str | None = None


@dataclass(frozen=True)
class _Range:
    low: str
    high: str
    area: str | None


@dataclass(frozen=True)
class _Not:
    node: "_Node"


@dataclass(frozen=True)
class _And:
    nodes: tuple["_Node", ...]


@dataclass(frozen=True)
class _Or:
    nodes: tuple["_Node", ...]


_Node = Union[_Term, _Range, _Not, _And, _Or]


def _lex(expression: str) -> list[tuple[str, str | tuple[str, str]]]:
    out: list[tuple[str, str | tuple[str, str]]] = []
    pos = 0
    expression = expression.rstrip()
    while pos < len(expression):
        match = _LEX.match(expression, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"unexpected text at {pos}: {expression[pos:pos + 20]!r}")
        pos = match.end()
        if match.group("open"):
            out.append(("(", "("))
        elif match.group("close"):
            out.append((")", ")"))
        elif match.group("phrase") is not None:
            out.append(("term", match.group("phrase").replace('\\"', '"')))
        elif match.group("area"):
            out.append(("area", match.group("field").strip()))
        elif match.group("range"):
            out.append(("range", (match.group("low").strip(), match.group("high").strip())))
        else:
            word = match.group("word")
            out.append((word, word) if word in ("AND", "OR", "NOT") else ("term", word.replace("\\", "")))
    return out


class _Parser:
    """Recursive descent: or := and (OR and)*; and := not (AND? not)*; not := NOT not | AREA[f] not | atom."""

    def __init__(self, expression: str) -> None:
        self.items = _lex(expression)
        self.pos = 0

    def parse(self) -> _Node:
        if not self.items:
            raise ExpressionError("empty expression")
        node = self._or(None)
        if self.pos != len(self.items):
            raise ExpressionError(f"unexpected {self.items[self.pos][1]!r}")
        return node

    def _peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def _or(self, area: str | None) -> _Node:
        nodes = [self._and(area)]
        while self._peek() == "OR":
            self.pos += 1
            nodes.append(self._and(area))
        return nodes[0] if len(nodes) == 1 else _Or(tuple(nodes))

    def _and(self, area: str | None) -> _Node:
        nodes = [self._not(area)]
        while self._peek() not in (None, "OR", ")"):
            if self._peek() == "AND":
                self.pos += 1
            nodes.append(self._not(area))
        return nodes[0] if len(nodes) == 1 else _And(tuple(nodes))

    def _not(self, area: str | None) -> _Node:
        kind = self._peek()
        if kind == "NOT":
            self.pos += 1
            return _Not(self._not(area))
        if kind == "area":
            field = self.items[self.pos][1]
            self.pos += 1
            return self._not(str(field))
        return self._atom(area)

    def _atom(self, area: str | None) -> _Node:
        if self.pos >= len(self.items):
            raise ExpressionError("expression ends too early")
        kind, value = self.items[self.pos]
        self.pos += 1
        if kind == "(":
            node = self._or(area)
            if self._peek() != ")":
                raise ExpressionError("missing ')'")
            self.pos += 1
            return node
        if kind == "range":
            low, high = value  # type: ignore[misc]
            return _Range(low, high, area)
        if kind == "term":
            words = tokens(str(value))
            if not words:
                raise ExpressionError(f"a term without words: {value!r}")
            return _Term(" " + " ".join(words) + " ", area)
        raise ExpressionError(f"unexpected {value!r}")


def _evaluate(node: _Node, doc: Document) -> bool:
    if isinstance(node, _Term):
        return node.words in doc.text(node.area)
    if isinstance(node, _Range):
        value = doc.value(node.area)
        return value is not None and (node.low == "MIN" or value >= node.low) and (
            node.high == "MAX" or value <= node.high)
    if isinstance(node, _Not):
        return not _evaluate(node.node, doc)
    if isinstance(node, _And):
        return all(_evaluate(n, doc) for n in node.nodes)
    return any(_evaluate(n, doc) for n in node.nodes)


@lru_cache(maxsize=512)
def compile_expression(expression: str) -> Callable[[Document], bool]:
    """A predicate for an expression; raises ExpressionError for one that does not parse.

    >>> class Doc:
    ...     def text(self, area): return token_text(["LCAR-AIO T cells", "CAR-T in lupus nephritis"])
    ...     def value(self, area): return "2025-03-01"
    >>> [compile_expression(e)(Doc()) for e in ('"CAR T" AND lupus NOT myeloma', 'CAR AND (AIO OR x)',
    ...     'nephritis lupus', '"nephritis lupus"', 'AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]', 'LCAR')]
    [True, True, True, False, True, True]
    """
    tree = _Parser(expression).parse()
    return lambda doc: _evaluate(tree, doc)
