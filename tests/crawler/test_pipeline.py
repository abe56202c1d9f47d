"""The store pipeline's page transaction: slices of a page are stored together or not at all."""

import orjson
from sqlalchemy import func, select

from crawler.items import StudyPage
from crawler.pipelines import PageTransaction
from crawler.page_workers import prepare_slice, slices
from kb.store.models import Trial
from tests.conftest import load

IDS = ["NCT06464679", "NCT06469190", "NCT06010472"]


def _page() -> StudyPage:
    records = [orjson.dumps(load(f"domain/{nct}.json")) for nct in IDS]
    return StudyPage("http://127.0.0.1/api/v2/studies", "car_therapies", 1, records, True, [], IDS)


def _trials(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(Trial.trial_id)).scalars())


def test_slices_of_a_page_are_committed_together(engine):
    page = _page()
    transaction = PageTransaction(engine)
    for start, stop in [(0, 1), (1, 3)]:
        transaction.write(prepare_slice(page.url, start, page.records[start:stop], {}))
    assert _trials(engine) == []  # nothing visible before the commit
    transaction.commit(page)
    assert _trials(engine) == sorted(IDS)
    assert (transaction.result.new, transaction.result.unchanged) == (3, 0)


def test_a_page_rolled_back_after_one_slice_leaves_nothing(engine):
    page = _page()
    transaction = PageTransaction(engine)
    transaction.write(prepare_slice(page.url, 0, page.records[:2], {}))
    transaction.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Trial)).scalar_one() == 0


def test_a_page_is_cut_into_slices_of_at_least_a_hundred_studies():
    assert slices(1000, 8) == [(i * 125, (i + 1) * 125) for i in range(8)]
    assert slices(250, 8) == [(0, 125), (125, 250)]
    assert slices(3, 8) == [(0, 3)]
