"""The front page and the manual stay true: a page long, every link resolves, every file and module
they name exists, and every command they show is one the app accepts (options and all).

Their SQL runs in tests/kb/test_readme_queries.py, the front page's examples in
tests/kb/test_front_page.py; tests/kb/test_cli.py checks that every command is on the front page.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.main import get_command

from apps.cli import build_app
from tests.support.manual import DOCS, PAGES, README, ROOT, blocks, prose, spans, trialkb_commands

INSTALL_AND_RUN = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[postgres]' && .venv/bin/trialkb crawl"


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def ci_test_command() -> str:
    """The command .ci/run runs: the README's test command, verbatim (its last line)."""
    return (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]


def code(page: Path) -> list[str]:
    """Every code span and fenced block of a page (where commands, paths and modules are named)."""
    return blocks(page) + spans(page)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", prose(page), re.M)}


def test_front_page_is_a_page_with_the_two_commands_first() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 200
    assert INSTALL_AND_RUN in lines[:15]
    assert ci_test_command() in lines[:15]


def test_every_page_is_in_the_index() -> None:
    index = (DOCS / "README.md").read_text()
    missing = [p.name for p in PAGES[1:] if p.name != "README.md" and f"]({p.name})" not in index]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_links_resolve(page: Path) -> None:
    broken = []
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", prose(page)):
        if re.match(r"https?://", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(target)
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
            broken.append(target)
    assert broken == []


REPO_PATH = re.compile(r"(?<![\w/.-])((?:kb|crawler|graph|apps|tests|bench|docs|\.ci)/[\w./*-]*)")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_named_files_exist(page: Path) -> None:
    named = {m.group(1).rstrip(".") for snippet in code(page) for m in REPO_PATH.finditer(snippet)
             if not snippet[m.end():].startswith("<")}
    assert sorted(p for p in named if not any(ROOT.glob(p))) == []


DOTTED = re.compile(r"^(?:kb|crawler|graph|apps)(?:\.\w+)+(?<!\.py)$")


def resolves(dotted: str) -> bool:
    """Whether ``a.b.c`` is a module, or a name in one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            thing = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for name in parts[cut:]:
                thing = getattr(thing, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_named_modules_exist(page: Path) -> None:
    named = {s for s in code(page) if DOTTED.match(s)}
    assert sorted(s for s in named if not resolves(s)) == []


def _rest(ctx: typer.Context) -> list[str]:
    """The arguments a group left for its command (typer's click keeps the command's name apart)."""
    return [*getattr(ctx, "_protected_args", []), *ctx.args]


def parse(args: list[str], whole: bool = True) -> None:
    """Parse ``trialkb ARGS`` as the app would, without running the command (raises on a mistake);
    not ``whole``: arguments may be left out, but every command and option must exist."""
    command = get_command(build_app())
    ctx = command.make_context("trialkb", list(args))
    rest = _rest(ctx)
    while isinstance(command, TyperGroup) and rest:
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=not whole)
        rest = _rest(ctx) if isinstance(command, TyperGroup) else []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_documented_commands_parse(page: Path) -> None:
    wrong = []
    for args, whole in trialkb_commands(page):
        try:
            parse(args, whole)
        except typer.Exit:
            pass  # --help
        except Exception as exc:  # noqa: BLE001 - a usage error, or a callback's: a mistake either way
            wrong.append(f"trialkb {shlex.join(args)}: {exc}")
    assert wrong == []


def script_commands(page: Path) -> list[tuple[Path, list[str]]]:
    """(file, options) of every ``python FILE ...`` or ``python -m MODULE ...`` a page shows."""
    found = []
    for snippet in code(page):
        for match in re.finditer(r"python3? (-m )?([\w./]+)((?: [^`\n|>]*)?)", snippet):
            target = match.group(2)
            if not re.match(r"(bench|docs|tests|kb|crawler|graph|apps)[./]", target):
                continue  # python -m venv, pytest, ...
            path = ROOT / (target.replace(".", "/") + ".py" if match.group(1) else target)
            if path.suffix == ".py":
                found.append((path, re.findall(r"(?<!\S)(--[\w-]+)", match.group(3))))
    return found


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_documented_scripts_take_their_options(page: Path) -> None:
    wrong = [f"{path.relative_to(ROOT)} {option}" for path, options in script_commands(page)
             for option in options if not path.exists() or f'"{option}"' not in path.read_text()]
    assert wrong == []
