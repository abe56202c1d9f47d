"""Pure parts of the crawler: answers to records, URLs, Retry-After, the plan's windows."""

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy import Request
from scrapy.http import TextResponse

from crawler.middlewares import retry_after_seconds
from crawler.parse import CorruptPage, parse_study, read_search_page, parse_version, search_url, study_ids
from crawler.plan import make_plan, watermark_key
from kb.store.runlog import set_state
from crawler.searches import base_queries, query_named
from tests.conftest import CTGOV, load

API = "https://clinicaltrials.gov/api/v2"


def response(url: str, body: bytes) -> TextResponse:
    return TextResponse(url=url, request=Request(url), body=body, encoding="utf-8")


def test_search_page_gives_studies_token_and_total():
    body = json.dumps({"studies": [load("domain/NCT06464679.json")], "nextPageToken": "NF0g5JGBlPMu",
                       "totalCount": 41}).encode()
    resp = response(f"{API}/studies?query.term=CAR", body)
    page = read_search_page(resp.body)
    assert (page.ids, page.token, page.total) == (["NCT06464679"], "NF0g5JGBlPMu", 41)
    assert [json.loads(r) for r in page.records] == [load("domain/NCT06464679.json")]


def test_last_page_has_no_token():
    page = read_search_page(b'{"studies": []}')
    assert (page.records, page.token, page.total) == ([], None, None)


@pytest.mark.parametrize("body", [b'{"studies": 5}', b'[1, 2]', b'"studies"'])
def test_answer_without_a_studies_list_is_corrupt(body):
    with pytest.raises(CorruptPage, match=r"not a search page"):
        read_search_page(body)


def test_a_page_entry_that_is_not_a_study_travels_on_to_be_rejected():
    page = read_search_page(b'{"studies": [17, {"protocolSection": {}}]}')
    assert (page.records, page.ids) == ([b"17", b'{"protocolSection":{}}'], [])


def test_truncated_page_is_corrupt():
    body = (CTGOV / "domain/NCT06464679.json").read_bytes()
    with pytest.raises(CorruptPage, match=r"body is not valid JSON"):
        read_search_page(b'{"studies": [' + body[: len(body) // 2])


def test_one_study_and_version():
    body = (CTGOV / "domain/NCT06464679.json").read_bytes()
    assert study_ids([parse_study(body)]) == ["NCT06464679"]
    assert parse_version(b'{"apiVersion": "2.0.5", "dataTimestamp": "2026-11-26T09:00:05"}') == "2026-11-26T09:00:05"


def test_search_url_keeps_parameters_and_adds_the_token():
    url = search_url(API, {"query.term": '"CAR-T" OR "CAR NK"'}, 1000, "abc", count_total=True)
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert params == {"query.term": '"CAR-T" OR "CAR NK"', "pageSize": "1000", "pageToken": "abc",
                      "countTotal": "true", "format": "json"}


@pytest.mark.parametrize("header,seconds", [(b"120", 120.0), (b"Wed, 27 Nov 2026 10:00:30 GMT", 30.0),
                                            (b"soon", None), (None, None)])
def test_retry_after(header, seconds):
    assert retry_after_seconds(header, now=datetime(2026, 11, 27, 10, 0, 0, tzinfo=timezone.utc)) == seconds


def test_plan_window_is_one_day_before_the_watermark(sqlite_engine):
    set_state(sqlite_engine, {watermark_key(query_named("car_therapies").key): "2026-11-26"})
    plan = make_plan(sqlite_engine, trial_ids=["nct06010472"])
    assert plan.trial_ids == ["NCT06464679", "NCT06010472"]
    assert plan.advanced_filter("car_therapies") == "AREA[LastUpdatePostDate]RANGE[2026-11-25,MAX]"
    assert plan.advanced_filter("known_products") is None  # never completed: search everything
    assert make_plan(sqlite_engine, full=True).advanced_filter("car_therapies") is None



def test_a_search_whose_terms_changed_covers_every_date(sqlite_engine):
    from crawler.searches import Query
    old = Query("car_therapies", {"query.term": "CAR-T"})  # the same name with other terms (a lexicon grew)
    set_state(sqlite_engine, {watermark_key(old.key): "2026-11-26"})
    assert make_plan(sqlite_engine).advanced_filter("car_therapies") is None


def test_every_search_url_fits_scrapys_url_length_limit():
    """Scrapy drops a longer request silently (URLLENGTH_LIMIT, 2,083): long OR lists are split."""
    from crawler.searches import snowball_queries
    window = {"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-11-25,MAX]"}
    queries = base_queries() + snowball_queries([f"XY-{i:04d}" for i in range(400)])
    assert len({q.name for q in queries}) == len(queries)
    for query in queries:
        assert len(search_url(API, dict(query.params, **window), 1000, "t" * 250, True)) <= 2083, query.name
