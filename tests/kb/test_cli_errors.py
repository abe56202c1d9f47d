"""Every command, every domain error: one clean line on stderr and exit 1, never a traceback."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli import app
from tests.conftest import CTGOV

runner = CliRunner()
SEED = str(CTGOV / "domain/NCT06464679.json")


def commands(tmp):
    return {"import": ["import", SEED], "show": ["show", "NCT06464679"], "history": ["history", "NCT06464679"],
            "sql": ["sql", "SELECT 1"], "rebuild": ["rebuild"], "runs": ["runs"],
            "crawl": ["crawl", "--nct", "NCT06464679", "--api-url", "http://127.0.0.1:1"],
            "similar": ["similar", "NCT06464679"], "graph export": ["graph", "export", str(tmp / "g.graphml")]}


BAD_STORES = {
    "unreachable": ("postgresql://postgres@127.0.0.1:1/kb", "cannot open the store: connection failed"),
    "unknown driver": ("mysql://root@localhost/kb", "cannot open the store: 'mysql' databases are not supported"),
    "unwritable path": ("/proc/trialkb/kb.db", r"(cannot open the store|no store at /proc/trialkb/kb.db)"),
}
READ_COMMANDS = {"show", "history", "sql", "runs", "similar", "graph export"}


def clean_error(result, pattern, code=1):
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # not an exception escaping the command
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("store", BAD_STORES)
@pytest.mark.parametrize("command", list(commands(Path("."))))
def test_a_store_that_cannot_be_opened(tmp_path, store, command):
    url, pattern = BAD_STORES[store]
    args = commands(tmp_path)[command]
    clean_error(runner.invoke(app, [*args, "--db", url]), pattern)


@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
def test_read_commands_never_create_a_store(tmp_path, command):
    result = runner.invoke(app, [*commands(tmp_path)[command], "--db", str(tmp_path / "typo.db")])
    clean_error(result, f"no store at {tmp_path / 'typo.db'}")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("store") / "kb.db")
    assert runner.invoke(app, ["--db", db, "import", str(CTGOV / "domain")]).exit_code == 0
    return db


@pytest.mark.parametrize(("args", "pattern"), [
    (["show", "NCT99999999"], "NCT99999999 is not in the store"),
    (["history", "NCT99999999"], "NCT99999999 is not in the store"),
    (["similar", "NCT99999999"], "NCT99999999 is not in the graph"),
    (["show", "foo"], "'foo' is not a trial id"),
    (["history", "foo"], "'foo' is not a trial id"),
    (["similar", "foo"], "'foo' is not a trial id"),
    (["similar", "NCT06464679", "--top", "-3"], "--top must be at least 1, got -3"),
    (["sql", "SELECT trial_id FROM trial", "--limit", "0"], "--limit must be at least 1, got 0"),
    (["runs", "--limit", "0"], "--limit must be at least 1, got 0"),
    (["sql", "SELECT nope FROM trial"], "query failed: no such column: nope"),
    (["sql", "DELETE FROM trial"], "read-only"),
    (["sql", "SELECT 1; SELECT 2"], "exactly one statement"),
    (["crawl", "--since", "2025-13-01"], "--since takes a date YYYY-MM-DD"),
    (["graph", "export", "/nonexistent-dir/g.graphml"], "no directory /nonexistent-dir"),
    (["graph", "export", "/proc/g.graphml"], r"No such file or directory: /proc/g.graphml|Permission denied"),
    (["graph", "export", "g.txt"], "unknown format 'txt'"),
    (["import", "/nonexistent/studies.json"], "no such file or directory: /nonexistent/studies.json"),
])
def test_domain_errors(store, args, pattern):
    clean_error(runner.invoke(app, [*args, "--db", store]), pattern)


def test_import_of_nothing_fails_and_says_why(tmp_path):
    db = str(tmp_path / "kb.db")
    (tmp_path / "empty").mkdir()
    clean_error(runner.invoke(app, ["--db", db, "import", str(tmp_path / "empty")]),
                "nothing imported: no API v2 study JSON or WHO ICTRP export found")
    (tmp_path / "bad.json").write_text('{"x": 1}')
    clean_error(runner.invoke(app, ["--db", db, "import", str(tmp_path / "bad.json")]),
                "nothing imported: all 1 records were rejected .*no protocolSection")
    assert runner.invoke(app, ["--db", db, "import", SEED]).exit_code == 0


@pytest.mark.postgres
def test_read_commands_on_postgresql_read_only(pg_url):
    """show / history / sql / runs through the read-only opener and engine on a PostgreSQL store."""
    import json
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = pg_url + f"?options=-csearch_path%3D{schema}"
    try:
        assert runner.invoke(app, ["import", SEED, "--db", url]).exit_code == 0
        shown = runner.invoke(app, ["show", "NCT06464679", "--json", "--db", url])
        assert json.loads(shown.stdout)["status"] == "RECRUITING"
        assert runner.invoke(app, ["history", "NCT06464679", "--db", url]).exit_code == 0
        rows = runner.invoke(app, ["sql", "SELECT trial_id FROM trial", "--json", "--db", url])
        assert json.loads(rows.stdout) == [{"trial_id": "NCT06464679"}]
        clean_error(runner.invoke(app, ["sql", "SELECT 1; COMMIT; DELETE FROM trial_fact", "--db", url]),
                    "exactly one statement")
        assert "import" in runner.invoke(app, ["runs", "--db", url]).stdout
        with admin.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {schema}.trial_fact")).scalar() > 0
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _mounted_read_only(folder: Path) -> bool:
    """Mount ``folder`` on itself, read-only (needs root and mount rights); whether that worked."""
    import subprocess

    for command in (["mount", "--bind", str(folder), str(folder)], ["mount", "-o", "remount,bind,ro", str(folder)]):
        if subprocess.run(command, capture_output=True).returncode != 0:
            return False
    return True


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder and a function that mounts it read-only; unmounted afterwards."""
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    yield folder, lambda: _mounted_read_only(folder)
    subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)  # a reader may still hold the store open


def test_a_store_in_a_read_only_folder_says_why_it_cannot_be_written_and_is_still_read(store, read_only_folder):
    """SQLite's own 'unable to open database file' names no cause: the line adds that the folder is read-only
    (the store's log, its index and the writer lock are files beside it), and the store is still read."""
    import shutil

    folder, make_read_only = read_only_folder
    shutil.copy(store, folder / "kb.db")
    if not make_read_only():
        pytest.skip("cannot mount a read-only folder here (needs root and mount rights)")
    db = str(folder / "kb.db")
    clean_error(runner.invoke(app, ["--db", db, "import", SEED]),
                re.escape(f"cannot open the store: unable to open database file (the folder {folder} is read-only; a "
                          "store is written with files beside it: -wal, -shm, .lock; read commands still work)"))
    shown = runner.invoke(app, ["--db", db, "show", "NCT06464679", "--json"])
    assert shown.exit_code == 0 and '"trial_id": "NCT06464679"' in shown.stdout
