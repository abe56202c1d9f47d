"""kb.analysis.find on SQLite and PostgreSQL: the same trials for the same words."""

import pytest

from kb.analysis.find import Filters, FindError, find_trials
from kb.ingest.importer import import_paths
from tests.conftest import CTGOV


@pytest.fixture
def store(engine):
    import_paths(engine, [CTGOV / "domain"], workers=0)
    return engine


@pytest.mark.parametrize("filters, expected", [
    (Filters(status=["recruiting"], target=["CD19"], disease=["lupus"], cell=["CAR-NK"]),
     ["NCT07490041", "NCT06614270", "NCT06557265", "NCT06010472"]),
    (Filters(phase=["2"], country=["united states"]),  # PHASE2 alone or with PHASE1; no start date last
     ["NCT07570862", "NCT06704269", "NCT06733935", "NCT06434363", "NCT06557265", "NCT98000003"]),
    (Filters(origin=["allogeneic"], started_after="2025-01"),  # 2027-08: a month-precision date
     ["NCT07389499", "NCT07570862", "NCT06377228", "NCT06255028"]),
    (Filters(sponsor=["changhai"], modality=["car-nk"]), ["NCT06464679", "NCT06469190", "NCT06010472"]),
])
def test_find(store, filters, expected):
    columns, rows = find_trials(store, filters)
    assert [row[0] for row in rows] == expected


def test_unknown_words_are_refused(store):
    with pytest.raises(FindError, match="unknown disease 'gout'"):
        find_trials(store, Filters(disease=["gout"]))
