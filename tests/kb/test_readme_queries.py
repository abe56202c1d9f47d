"""The analyst queries of the manual (docs/, and the front page) run on SQLite and PostgreSQL and answer correctly."""

from kb.ingest.importer import import_paths
from kb.store.read import run_readonly_sql
from tests.conftest import CTGOV
from tests.support.manual import sql_queries


def test_the_manual_has_three_analyst_queries():
    assert len(sql_queries()) == 3


def test_the_manual_queries_answer(engine):
    import_paths(engine, [CTGOV / "domain"], workers=0)
    lupus, counts, allogeneic = (run_readonly_sql(engine, q)[1] for q in sql_queries())
    assert [row[0] for row in lupus] == ["NCT07490041", "NCT06614270", "NCT06010472"]
    assert counts[0] == ("CD19", "sle", 9)
    assert [(row[0], row[1]) for row in allogeneic] == [
        ("CNTY-101", "NCT06255028"), ("FT819", "NCT07570862"), ("NKX019", "NCT06518668"),
        ("NKX019", "NCT06557265"), ("NKX019", "NCT06733935"), ("TAK-007", "NCT06377228")]
