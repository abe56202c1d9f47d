"""trialkb sql stops a query after its time limit, on SQLite and PostgreSQL: one line, exit 1."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli import app
from kb.ingest.importer import import_paths
from kb.store.read import reader_of
from kb.store.readonly import DEFAULT_TIMEOUT, QueryTimeout, run_sql
from tests.conftest import CTGOV

RUNAWAY = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
"""A recursive query without end."""
RUNAWAY_ROWS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n"
"""The same, handing back its rows as it goes."""


@pytest.mark.parametrize("query", [RUNAWAY, RUNAWAY_ROWS])
def test_a_runaway_query_is_stopped_by_the_database(engine, query):
    import_paths(engine, [CTGOV / "domain/NCT06464679.json"], workers=0)
    with reader_of(engine) as store:
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match=r"^query stopped: still running after its time limit of 0\.5 s$"):
            run_sql(store, query, timeout=0.5)
        assert 0.5 <= time.monotonic() - started < 3
        # the connection is as before: no limit left behind, the next query answers
        assert run_sql(store, "SELECT trial_id FROM trial", timeout=None) == (["trial_id"], [("NCT06464679",)])
        if store.dialect == "postgresql":
            assert run_sql(store, "SHOW statement_timeout", timeout=None)[1] == [("0",)]


def test_a_quick_query_is_not_touched(engine):
    import_paths(engine, [CTGOV / "domain"], workers=0)
    with reader_of(engine) as store:
        assert run_sql(store, "SELECT count(*) FROM trial", timeout=0.5)[1] == [(42,)]


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    assert CliRunner().invoke(app, ["--db", url, "import", str(CTGOV / "domain/NCT06464679.json")]).exit_code == 0
    return url


def test_the_command_says_it_in_one_line(db):
    result = CliRunner().invoke(app, ["--db", db, "sql", RUNAWAY, "--timeout", "1"])
    assert (result.exit_code, result.output) == (
        1, "Error: query stopped: still running after its time limit of 1 s (--timeout SECONDS sets another limit)\n")


@pytest.mark.parametrize("value, message", [("-1", "--timeout must be at least 0, got -1.0"),
                                            ("soon", "Invalid value for '--timeout'")])
def test_a_bad_time_limit_is_one_line(db, value, message):
    result = CliRunner().invoke(app, ["--db", db, "sql", "SELECT 1", "--timeout", value])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_zero_is_no_limit_and_the_default_is_the_librarys(db):
    result = CliRunner().invoke(app, ["--db", db, "sql", "SELECT 42 AS n", "--timeout", "0"])
    assert (result.exit_code, result.output) == (0, "n\n42\n")
    default = next(p.default for p in __import__("typer").main.get_command(app).commands["sql"].params
                   if p.name == "timeout")
    assert default == DEFAULT_TIMEOUT == 30


@pytest.mark.slow
def test_the_default_limit_ends_a_runaway_query_within_35_s(db):
    """What a user types, in a process of its own: ``trialkb sql RUNAWAY`` ends by itself."""
    trialkb = Path(sys.executable).with_name("trialkb")
    started = time.monotonic()
    done = subprocess.run([str(trialkb), "--db", db, "sql", RUNAWAY], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 35
    assert (done.returncode, done.stdout, done.stderr.count("\n")) == (1, "", 1)
    assert done.stderr.startswith("Error: query stopped: still running after its time limit of 30 s")
