"""What a new user reads from the commands (issue 22): the card, find's checked filters, runs' time
zone, similar's whole titles, history's sides; on the domain records plus two real-world ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli import app
from kb.ingest.importer import import_paths
from kb.store.db import open_store
from tests.conftest import CTGOV

runner = CliRunner()
TRIALKB = str(Path(sys.executable).with_name("trialkb"))


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('reads') / 'kb.db'}"
    engine = open_store(url)
    import_paths(engine, [CTGOV / "domain", CTGOV / "realworld/oncology/NCT03939026.json",
                          CTGOV / "realworld/oncology/NCT07617753.json"], workers=0)
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"], workers=0)  # older, after the newer
    engine.dispose()
    return url


def lines_of(db: str, *args: str) -> list[str]:
    result = runner.invoke(app, [*args, "--db", db])
    assert result.exit_code == 0, result.output
    return [line.rstrip() for line in result.stdout.splitlines()]


def test_show_says_dose_not_stated_and_lists_co_medications_apart(db):
    lines = lines_of(db, "show", "nct03939026")
    for line in ("products          ALLO-501", "co-medications    ALLO-647"):
        assert line in lines, line
    at = next(n for n, line in enumerate(lines) if line.startswith("lymphodepletion"))
    assert " ".join(" ".join(lines[at:at + 2]).split()) == (
        "lymphodepletion cyclophosphamide, dose not stated; fludarabine, dose not stated")
    assert not any("None mg/m2" in line for line in lines)
    card = json.loads(runner.invoke(app, ["show", "NCT03939026", "--json", "--db", db]).stdout)
    assert (card["products"], card["co_medications"]) == (["ALLO-501"], ["ALLO-647"])


def test_show_reads_the_antigen_list_of_a_title(db):
    assert "targets           Mesothelin, FRα, MUC16" in lines_of(db, "show", "NCT07617753")


@pytest.mark.parametrize("args, message", [
    (("--status", "recruitng"), "Error: unknown status 'recruitng'; did you mean 'recruiting'"),
    (("--target", "CD1999"), "Error: unknown target 'CD1999'; did you mean 'CD19'"),
    (("--country", "Chna"), "Error: unknown country 'Chna'; did you mean 'China'"),
])
def test_a_find_filter_naming_nothing_is_one_line_and_exit_1(db, args, message):
    result = runner.invoke(app, ["find", *args, "--db", db])
    assert result.exit_code == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message)


def test_runs_times_carry_their_zone(db):
    runs = json.loads(runner.invoke(app, ["runs", "--json", "--db", db]).stdout)
    assert all(r["started_at"].endswith("+00:00") and r["finished_at"].endswith("+00:00") for r in runs)
    table = "\n".join(lines_of(db, "runs", "--format", "table"))
    assert table.count(" UTC") == 2 * len(runs)


def test_history_names_the_current_file_after_and_says_late(db):
    lines = lines_of(db, "history", "NCT06464679")
    assert lines[1].startswith("2025-08-29 (registry update; recorded ")
    assert lines[1].endswith("UTC; an older record that arrived later: history, not news)")
    assert lines[2:4] == [f"  before: {CTGOV / 'history/NCT06464679.2024-06.json'}",
                          f"  after:  {CTGOV / 'domain/NCT06464679.json'}"]
    assert "Changes:" not in "\n".join(lines_of(db, "changes", "--since", "1d"))


def test_similar_titles_wrap_whole(db):
    result = subprocess.run([TRIALKB, "--db", db, "similar", "NCT06464679", "--top", "1"], capture_output=True,
                            text=True, env={**os.environ, "COLUMNS": "100"}, timeout=120)
    assert result.returncode == 0, result.stderr
    words = " ".join(cell.strip() for line in result.stdout.splitlines() for cell in line.split("│")[4:5])
    assert " ".join(words.split()) == ("An Exploratory Clinical Study of Anti-CD19 CAR NK Cell (KN5501) in the "
                                       "Treatment of Relapsed/Refractory Immune Nephropathy")  # 118 characters
