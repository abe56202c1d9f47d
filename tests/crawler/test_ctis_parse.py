"""What the CTIS spider reads from answers and decides, without a crawl; and the look-alike's answers."""

from __future__ import annotations

import json
from datetime import date
from urllib.request import Request, urlopen
from urllib.error import HTTPError

import pytest

from crawler.ctis_parse import (ChangedShape, CorruptPage, SearchRow, read_search_page, read_trial, search_body,
                                with_search_row)
from crawler.ctis_plan import CtisPlan, any_of, ctis_queries
from tests.conftest import DATA, FILES
from tests.support.ctis_server import CtisTestServer, load_trials, retrieve_answer, search_row

REAL = DATA / "registries" / "ctis"


def page(total: int, rows: list[dict], **pagination) -> bytes:
    return json.dumps({"pagination": {"totalRecords": total, **pagination}, "data": rows}).encode()


def test_pages_start_at_one():
    with pytest.raises(ValueError, match="CTIS search pages start at 1"):
        search_body({}, 0, 100)


def test_a_search_answer_and_its_next_page():
    body = page(3, [{"ctNumber": "2023-505613-24-00", "lastUpdated": "19/08/2025"}], nextPage=True)
    read = read_search_page(body, 1, 1)
    assert (read.total, read.has_next) == (3, True)
    assert read.rows == [SearchRow("2023-505613-24-00", "2025-08-19",
                                   {"ctNumber": "2023-505613-24-00", "lastUpdated": "19/08/2025"})]
    assert read_search_page(page(3, [{"ctNumber": "x"}], nextPage=False), 3, 1).has_next is False
    assert read_search_page(page(3, [{"ctNumber": "x"}]), 2, 1).has_next is True  # no nextPage: counted
    assert read_search_page(page(3, []), 1, 1).has_next is False  # an empty page ends the search


def test_the_search_stops_at_ten_thousand():
    row = [{"ctNumber": "2023-505613-24-00"}]
    assert read_search_page(page(10_500, row, nextPage=True), 99, 100).has_next is True
    assert read_search_page(page(10_500, row, nextPage=True), 100, 100).has_next is False


@pytest.mark.parametrize("body,error", [
    (b'{"pagination": {"totalRecords": 1}, "data": [{"ctN', CorruptPage),  # truncated: fetched again
    (b'{"results": []}', ChangedShape),                                     # another shape: the API changed
    (b'{"pagination": {}, "data": []}', ChangedShape),
    (page(1, [{"title": "no number"}]), ChangedShape),
])
def test_what_is_not_a_search_answer(body, error):
    with pytest.raises(error):
        read_search_page(body, 1, 100)


def test_a_retrieve_answer():
    trial = retrieve_answer(json.loads((REAL / "2023-505613-24-00.ctrdata-demo.json").read_text()))
    assert read_trial(json.dumps(trial).encode(), "2023-505613-24-00") == trial
    assert read_trial(b"<!doctype html><html></html>", "2023-505613-24-00") is None  # the portal's page: no trial
    with pytest.raises(CorruptPage, match="asked for 2024-510663-34-00, the answer is '2023-505613-24-00'"):
        read_trial(json.dumps(trial).encode(), "2024-510663-34-00")


def test_the_stored_record_is_the_trial_and_its_row_as_ctrdata_merges_them():
    held = json.loads((REAL / "2024-510663-34-00.ctrdata-demo.json").read_text())
    merged = with_search_row(retrieve_answer(held), search_row(held))
    assert merged == {k: v for k, v in held.items() if k not in ("ctrname", "record_last_import")}


@pytest.mark.parametrize("stored,since,full,row_date,wanted", [
    ({}, None, False, "2026-10-01", True),                              # new
    ({"T": "2026-10-01"}, None, False, "2026-10-01", False),            # unchanged
    ({"T": "2026-09-01"}, None, False, "2026-10-01", True),             # changed
    ({"T": None}, None, False, "2026-10-01", True),                     # stored without a date
    ({"T": "2026-10-01"}, None, False, None, True),                     # a row without a date
    ({"T": "2026-10-01"}, None, True, "2026-10-01", True),              # --full
    ({"T": "2026-10-01"}, date(2026, 9, 1), False, "2026-10-01", True),  # --since before the update
    ({"T": "2026-08-01"}, date(2026, 9, 1), False, "2026-08-01", False),
])
def test_which_trials_are_retrieved(stored, since, full, row_date, wanted):
    plan = CtisPlan([], [], stored, since, full)
    assert plan.wants(SearchRow("T", row_date, {})) is wanted


def test_the_searches_cover_every_wording_within_their_length():
    queries = ctis_queries()
    assert len(queries) == 33 and len({q.name for q in queries}) == 33
    assert all(len(q.params.get("containAny", "")) <= 800 for q in queries if "medicalCondition" not in q.params)
    assert any_of(["a, b", "c"]) == ["a  b, c"]  # a comma inside a term would split it


@pytest.fixture(scope="module")
def server():
    with CtisTestServer(load_trials(REAL, FILES / "ctis")) as s:
        yield s


def post(server: CtisTestServer, body: dict | bytes) -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    with urlopen(Request(f"{server.url}/search", data=data, headers={"Content-Type": "application/json"})) as answer:
        return json.loads(answer.read())


def test_the_look_alike_answers_page_zero_with_no_trials(server):
    zero = post(server, {"pagination": {"page": 0, "size": 10}, "searchCriteria": {}})
    one = post(server, {"pagination": {"page": 1, "size": 10}, "searchCriteria": {}})
    assert (zero["pagination"]["totalRecords"], zero["data"]) == (0, [])
    assert one["pagination"] == {"currentPage": 1, "size": 10, "totalRecords": 5, "totalPages": 1, "nextPage": False,
                                 "previousPage": False}


def test_the_look_alike_cuts_pages_to_a_hundred_and_matches_phrases(server):
    answer = post(server, {"pagination": {"page": 1, "size": 500}, "searchCriteria": {"containAny": "CAR-T, nothing"}})
    assert answer["pagination"]["size"] == 100
    assert [r["ctNumber"] for r in answer["data"]] == ["2025-590002-22-00", "2025-590001-11-00"]
    assert answer["data"][1]["lastUpdated"] == "01/10/2026" and answer["data"][1]["ctStatus"] == 4


def test_the_look_alike_refuses_a_get_on_search_and_serves_its_page_elsewhere(server):
    with pytest.raises(HTTPError) as refused:
        urlopen(f"{server.url}/search")
    assert refused.value.code == 403
    with urlopen(f"{server.url}/trial/2023-505613-24-00") as answer:
        assert (answer.status, answer.read()[:15]) == (200, b"<!doctype html>")
