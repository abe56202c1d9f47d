"""The front page and the manual's pages, and what they show: code, SQL, links (for the tests that keep them true)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
"""Every page: the front page, then docs/ in reading order."""

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)


def text_of(page: Path) -> str:
    """A page without its HTML comments (notes to editors)."""
    return re.sub(r"<!--.*?-->", "", page.read_text(), flags=re.S)


def blocks(page: Path, language: str | None = None) -> list[str]:
    """The fenced code blocks of a page (of one language when given)."""
    return [body for lang, body in FENCE.findall(text_of(page)) if language is None or lang == language]


def prose(page: Path) -> str:
    """A page without its fenced code blocks."""
    return FENCE.sub("", text_of(page))


def spans(page: Path) -> list[str]:
    """The code spans of a page's prose."""
    return re.findall(r"`([^`\n]+)`", prose(page))


ANALYST_QUESTIONS = DOCS / "03-data-and-sql.md"
"""The page with the analyst's three questions (also the served store's canned queries)."""


def sql_queries(pages: list[Path] | None = None) -> list[str]:
    """Every ```sql block of the pages (default: all), in reading order."""
    return [query for page in (PAGES if pages is None else pages) for query in blocks(page, "sql")]


SHELL_OPERATORS = re.compile(r"\s(?:\|\|?|&&|;|>>?|<|2>&1)\s")


def trialkb_commands(page: Path) -> list[tuple[list[str], bool]]:
    """(arguments, whole) of every ``trialkb ...`` command a page shows: whole for a command line in
    a code block, not whole for a code span in prose (`trialkb show` names a command, without its id)."""
    found = []
    for snippets, whole in ((blocks(page), True), (spans(page), False)):
        for line in (line for snippet in snippets for line in snippet.splitlines()):
            for segment in SHELL_OPERATORS.split(f" {line} "):
                try:
                    words = shlex.split(segment, comments=True)
                except ValueError:
                    continue
                if words and (words[0] == "trialkb" or words[0].endswith("bin/trialkb")):
                    args = [w for w in words[1:] if w not in ("...", "…")]
                    if args and not args[0].isupper():  # `trialkb COMMAND --help` names no command
                        found.append((args, whole))
    return found
