"""trialkb sql is read-only, enforced by the database on SQLite and PostgreSQL."""

import pytest

from kb.queries import ReadOnlyViolation, run_readonly_sql
from kb.store import write_studies
from tests.conftest import load


@pytest.mark.parametrize("statement", ["DELETE FROM trial", "UPDATE trial SET sponsor = 'x'",
                                       "CREATE TABLE evil (x int)", "DROP VIEW car_trial"])
def test_writes_are_refused(engine, statement):
    with engine.begin() as conn:
        write_studies(conn, [("seed", load("domain/NCT06464679.json"))], source="test")
    with pytest.raises(ReadOnlyViolation, match="read-only"):
        run_readonly_sql(engine, statement)
    assert run_readonly_sql(engine, "SELECT count(*) FROM trial")[1] == [(1,)]


def test_query_returns_columns_and_rows(engine):
    with engine.begin() as conn:
        write_studies(conn, [("seed", load("domain/NCT06464679.json"))], source="test")
    assert run_readonly_sql(engine, "SELECT nct_id, enrollment_count FROM trial") == \
        (["nct_id", "enrollment_count"], [("NCT06464679", 72)])
