"""A trial's current state is its newest record; an older one becomes history; no race rejects."""

import shutil

import pytest
from sqlalchemy import func, select

from kb.ingest.importer import import_paths
from kb.store.models import TrialVersion
from kb.store.read import get_history, get_trial
from tests.conftest import CTGOV

OLD = CTGOV / "history/NCT06464679.2024-06.json"
NEW = CTGOV / "domain/NCT06464679.json"
STATUS_CHANGE = ["NOT_YET_RECRUITING", "RECRUITING"]


def _versions(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(TrialVersion)).scalar()


@pytest.mark.parametrize("order", [(OLD, NEW), (NEW, OLD)], ids=["old-then-new", "new-then-old"])
@pytest.mark.slow
def test_either_order_ends_recruiting_with_the_change_in_history(engine, order):
    for path in order:
        import_paths(engine, [path], workers=0)
    assert get_trial(engine, "NCT06464679")["status"] == "RECRUITING"
    [version] = get_history(engine, "NCT06464679")["versions"]
    assert version["diff"]["overall_status"] == STATUS_CHANGE
    for path in order:  # re-importing either changes nothing
        summary = import_paths(engine, [path], workers=0)
        assert (summary.result.unchanged, summary.result.changed, summary.result.history) == (1, 0, 0)
    assert _versions(engine) == 1


def test_one_folder_with_both_versions(engine, tmp_path):
    for name, path in (("a_2025.json", NEW), ("b_2024.json", OLD)):  # the older one read last
        shutil.copy(path, tmp_path / name)
    summary = import_paths(engine, [tmp_path], workers=0)
    assert (summary.result.new, summary.result.history, len(summary.rejected)) == (1, 1, 0)
    assert get_trial(engine, "NCT06464679")["status"] == "RECRUITING"
    [version] = get_history(engine, "NCT06464679")["versions"]
    assert version["diff"]["overall_status"] == STATUS_CHANGE


def test_the_import_summary_counts_the_older_version(tmp_path):
    from typer.testing import CliRunner

    from apps.cli import app

    for name, path in (("a_2025.json", NEW), ("b_2024.json", OLD)):
        shutil.copy(path, tmp_path / name)
    result = CliRunner().invoke(app, ["import", str(tmp_path), "--db", str(tmp_path / "kb.db")])
    assert result.stdout.splitlines()[0] == ("read 2, new 1, changed 0, unchanged 0, rejected 0, warnings 0, "
                                             "older versions kept as history 1")


@pytest.mark.slow
def test_realworld_and_domain_in_one_import_repeated_rejects_nothing(sqlite_engine):
    """With worker processes (where the race was): the same state every time, nothing rejected."""
    paths = [CTGOV / "realworld", CTGOV / "domain"]
    first = import_paths(sqlite_engine, paths, batch_size=50, workers=2)
    assert first.rejected == []
    state = _state(sqlite_engine)
    versions = _versions(sqlite_engine)
    for _ in range(2):
        again = import_paths(sqlite_engine, paths, batch_size=50, workers=2)
        assert again.rejected == []
        assert (again.result.new, again.result.changed, again.result.history) == (0, 0, 0)
        assert _state(sqlite_engine) == state and _versions(sqlite_engine) == versions


def _state(engine):
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT trial_id, content_hash, overall_status FROM trial ORDER BY trial_id").all()
