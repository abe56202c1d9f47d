"""The SQL of the manual runs on SQLite and PostgreSQL; the analyst's three questions answer correctly."""

import pytest

from kb.ingest.importer import import_paths
from kb.store.read import run_readonly_sql
from tests.conftest import CTGOV
from tests.support.manual import ANALYST_QUESTIONS, sql_queries


def test_the_manual_has_three_analyst_questions():
    assert len(sql_queries([ANALYST_QUESTIONS])) == 3


def test_the_analyst_questions_answer(engine):
    import_paths(engine, [CTGOV / "domain"], workers=0)
    lupus, counts, allogeneic = (run_readonly_sql(engine, q)[1] for q in sql_queries([ANALYST_QUESTIONS]))
    assert [row[0] for row in lupus] == ["NCT07490041", "NCT06614270", "NCT06010472"]
    assert counts[0] == ("CD19", "sle", 9)
    assert [(row[0], row[1]) for row in allogeneic] == [
        ("CNTY-101", "NCT06255028"), ("FT819", "NCT07570862"), ("NKX019", "NCT06518668"),
        ("NKX019", "NCT06557265"), ("NKX019", "NCT06733935"), ("TAK-007", "NCT06377228")]


@pytest.mark.parametrize("query", sql_queries(), ids=lambda q: q.strip().splitlines()[0][:40])
def test_every_query_of_the_manual_runs(engine, query):
    import_paths(engine, [CTGOV / "domain" / "NCT06464679.json"], workers=0)
    columns, _ = run_readonly_sql(engine, query)
    assert columns
