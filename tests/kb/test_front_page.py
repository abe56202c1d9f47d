"""The front page's examples run as shown, on a store of the domain records, and answer what it says."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli import app
from kb.ingest.importer import import_paths
from kb.store.db import open_store
from tests.conftest import CTGOV
from tests.support.manual import README, trialkb_commands

runner = CliRunner()
NOT_HERE = {"crawl", "serve"}
"""Examples that need the registry or keep running (their options are checked in tests/test_docs.py)."""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('front') / 'kb.db'}"
    engine = open_store(url)
    import_paths(engine, [CTGOV / "domain"], workers=0)
    engine.dispose()
    return url


def examples() -> dict[str, list[str]]:
    """The front page's example commands (in its code blocks), by command name."""
    return {args[0]: args for args, whole in trialkb_commands(README) if whole and args[0] not in NOT_HERE}


def run(store: str, args: list[str]) -> str:
    result = runner.invoke(app, ["--db", store, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_front_page_shows_the_five_things() -> None:
    assert sorted({args[0] for args, whole in trialkb_commands(README) if whole}) == [
        "changes", "crawl", "find", "report", "serve", "similar", "sql"]


def test_ask_in_sql(store: str) -> None:
    rows = list(csv.reader(io.StringIO(run(store, examples()["sql"]))))
    assert rows[:3] == [["target", "disease", "trials"], ["CD19", "sle", "9"], ["CD19", "systemic_sclerosis", "7"]]


def test_find(store: str) -> None:
    rows = list(csv.DictReader(io.StringIO(run(store, examples()["find"]))))
    assert [r["trial_id"] for r in rows] == ["NCT07570862", "NCT07490041", "NCT06614270", "NCT06557265",
                                             "NCT06010472", "NCT05030779"]


def test_similar(store: str) -> None:
    shown = run(store, [*examples()["similar"], "--json"])
    ranked = json.loads(shown)
    assert len(ranked) == 10 and [r["trial_id"] for r in ranked[:3]] == ["NCT06469190", "NCT06010472", "NCT07358988"]
    assert ranked[0]["why"].startswith("same product KN5501, same target CD19")


def test_report_and_changes(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(store, examples()["report"])
    assert (tmp_path / "landscape.html").stat().st_size > 1_000_000
    assert run(store, examples()["changes"]).startswith("#")
