"""Imports go down the layers only (docs/architecture.md): each layer imports only what lies below it.

Every ``import`` and ``from ... import`` of the shipped code is read from its syntax tree, those
inside functions too (a deferred import is still a dependency), and checked against :data:`MAY_IMPORT`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

SHIPPED = ("kb", "crawler", "graph", "apps")
"""The packages users install (pyproject's packages); ``tests``, ``bench`` and ``docs`` are not shipped."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    "kb.core": frozenset(),
    "kb.domain": frozenset({"kb.core"}),
    "kb.process": frozenset({"kb.core"}),
    "kb.store": frozenset({"kb.core", "kb.domain", "kb.process"}),
    "kb.ingest": frozenset({"kb.core", "kb.domain", "kb.process", "kb.store"}),
    "kb.analysis": frozenset({"kb.core", "kb.domain", "kb.store"}),
    "crawler": frozenset({"kb.core", "kb.domain", "kb.process", "kb.store", "kb.ingest"}),
    "graph": frozenset({"kb.core", "kb.domain", "kb.store", "kb.analysis"}),
    "apps": frozenset({"kb.core", "kb.domain", "kb.process", "kb.store", "kb.ingest", "kb.analysis",
                       "crawler", "graph"}),
}
"""What each shipped layer may import besides itself. ``tests`` is no layer of the product: nothing shipped imports it."""

LAYERS = sorted([*MAY_IMPORT, "kb", "tests", "bench"], key=len, reverse=True)


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching prefix), None for a third party."""
    return next((name for name in LAYERS if module == name or module.startswith(name + ".")), None)


def module_of(path: Path, root: Path = ROOT) -> str:
    """The dotted name of a module file below ``root``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in a file, relative ones resolved; ``from m import x`` also yields ``m.x``."""
    module = module_of(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def violations(root: Path = ROOT) -> list[str]:
    """``file:line: layer imports module`` for every import that goes up or sideways."""
    found = []
    for top in SHIPPED:
        for path in sorted((root / top).rglob("*.py")):
            own = layer_of(module_of(path, root))
            for line, module in imported(path, root):
                target = layer_of(module)
                if target is None or target == own or (own == "kb" and target.startswith("kb")):
                    continue
                if own is None or target not in MAY_IMPORT.get(own, ()):
                    found.append(f"{path.relative_to(root)}:{line}: {own} imports {module}")
    return sorted(set(found))


def test_imports_go_down_the_layers() -> None:
    assert violations() == []


def test_every_module_of_kb_is_in_a_layer() -> None:
    assert [str(p.relative_to(ROOT)) for p in (ROOT / "kb").rglob("*.py")
            if layer_of(module_of(p)) == "kb" and p != ROOT / "kb" / "__init__.py"] == []


@pytest.mark.parametrize("where, line, found", [
    ("kb/core/ids.py", "from kb.store import models", "kb/core/ids.py:1: kb.core imports kb.store"),
    ("kb/store/write.py", "import graph.build", "kb/store/write.py:1: kb.store imports graph.build"),
    ("kb/ingest/importer.py", "from kb.analysis.find import find_trials",
     "kb/ingest/importer.py:1: kb.ingest imports kb.analysis.find"),
    ("kb/analysis/find.py", "from ..ingest import importer", "kb/analysis/find.py:1: kb.analysis imports kb.ingest"),
    ("apps/cli/store.py", "def f():\n    from tests.support import browser",
     "apps/cli/store.py:2: apps imports tests.support"),
    ("graph/build.py", "from apps.output import to_csv", "graph/build.py:1: graph imports apps.output"),
])
def test_an_import_up_or_sideways_is_found(tmp_path: Path, where: str, line: str, found: str) -> None:
    file = tmp_path / where
    file.parent.mkdir(parents=True)
    file.write_text(line + "\n")
    assert found in violations(tmp_path)
