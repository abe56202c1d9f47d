"""The trialkb command as a user runs it: exact output, clean errors."""

import json
import re

import pytest
from typer.testing import CliRunner

from apps.cli import app
from tests.conftest import CTGOV, ROOT

runner = CliRunner()


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(db, *args):
    return runner.invoke(app, ["--db", db, *args])


def test_import_prints_the_summary(db):
    result = run(db, "import", str(CTGOV / "history/NCT06464679.2024-06.json"), str(CTGOV / "registry_samples"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "read 14, new 13, changed 0, unchanged 0, rejected 1, warnings 0"
    assert "invalid nctId 'NCT000001'" in result.output


def test_an_import_without_a_terminal_does_not_count_its_inputs_first(db, monkeypatch):
    """No bar is drawn when stderr is not a terminal (a nightly job's log), so its total is not worth a
    look through every input before the import."""
    import kb.ingest.sources

    def count_inputs(path):
        raise AssertionError(f"counted {path}")

    monkeypatch.setattr(kb.ingest.sources, "count_inputs", count_inputs)
    result = run(db, "import", str(CTGOV / "domain"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "read 42, new 42, changed 0, unchanged 0, rejected 0, warnings 0"


def test_show_json_has_the_contract_keys(db):
    run(db, "import", str(CTGOV / "domain"))
    result = run(db, "show", "NCT06464679", "--json")
    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert {k: shown[k] for k in ("trial_id", "title", "status", "phases", "conditions", "disease_categories",
                                  "targets", "is_car_therapy", "cell_type", "origin", "products", "sponsor",
                                  "countries")} == {
        "trial_id": "NCT06464679",
        "title": "An Exploratory Clinical Study of CD19 CAR NK Cell Injection for the Treatment of "
                 "Relapsed/Refractory Autoimmune Diseases",
        "status": "RECRUITING", "phases": ["PHASE1"], "conditions": ["Autoimmune Diseases"],
        "disease_categories": ["sjogren", "systemic_sclerosis", "myositis", "rheumatoid_arthritis"],
        "targets": ["CD19"], "is_car_therapy": True, "cell_type": "NK", "origin": None,
        "products": ["KN5501"], "sponsor": "Changhai Hospital", "countries": ["China"]}


def test_history_shows_the_status_change(db):
    run(db, "import", str(CTGOV / "history/NCT06464679.2024-06.json"))
    run(db, "import", str(CTGOV / "domain/NCT06464679.json"))
    result = run(db, "history", "NCT06464679")
    assert "overall_status: 'NOT_YET_RECRUITING' -> 'RECRUITING'" in result.output
    assert "start_date_type: 'ESTIMATED' -> 'ACTUAL'" in result.output


def test_unknown_id_is_a_clean_error(db):
    run(db, "import", str(CTGOV / "domain/NCT06464679.json"))
    result = run(db, "show", "NCT99999999")
    assert result.exit_code == 1
    assert "NCT99999999 is not in the store" in result.output
    assert "Traceback" not in result.output


def test_sql_json_and_refused_write(db):
    run(db, "import", str(CTGOV / "domain/NCT06464679.json"))
    result = run(db, "sql", "SELECT trial_id, cell_type FROM car_trial", "--json")
    assert json.loads(result.output) == [{"trial_id": "NCT06464679", "cell_type": "NK"}]
    refused = run(db, "sql", "DELETE FROM trial")
    assert refused.exit_code == 1 and "read-only" in refused.output


def test_every_command_has_help_with_an_example_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    commands = [[c.name or c.callback.__name__] for c in app.registered_commands]
    commands += [[g.name, c.name or c.callback.__name__] for g in app.registered_groups
                 for c in g.typer_instance.registered_commands]
    assert ["crawl"] in commands and ["similar"] in commands and ["graph", "export"] in commands
    for words in commands:
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0, words
        assert "Example: trialkb" in result.output, f"{words} --help has no example"
        assert re.search(rf"trialkb (?:--db \S+ )?{' '.join(words)}\b", readme), f"{words} is missing from README.md"


@pytest.mark.parametrize("module", ["apps.cli.graph", "apps.cli.crawl", "apps.cli.store", "apps.cli.analyst", "apps.cli.compare",
                                    "apps.cli.report"])
def test_a_command_group_imported_first_still_builds_the_app(module):
    import subprocess
    import sys

    code = f"import {module}; from apps.cli import app; print(sorted(c.name or c.callback.__name__ for c in app.registered_commands))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {"crawl", "similar", "show", "find", "compare", "report"} <= set(eval(done.stdout))


def test_the_import_command_s_batch_size_is_the_importer_s():
    """The command keeps its own default (importing the importer costs every command 0.6 s): one value."""
    import inspect

    from apps.cli.store import import_command
    from kb.ingest.importer import BATCH_SIZE

    assert inspect.signature(import_command).parameters["batch_size"].default == BATCH_SIZE == 500
