"""The registry look-alike answers as the registry does (NOTES.md, "The real API"), over real HTTP."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.support.ctgov_server import CtgovTestServer
from tests.conftest import CTGOV, load


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def get(url: str) -> tuple[int, str, str, dict[str, str]]:
    """(status, content type, body, headers) of a GET, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode(), dict(exc.headers)


@pytest.fixture(scope="module")
def api():  # type: ignore[no-untyped-def]
    studies = [load(f"domain/{i}.json") for i in ("NCT06464679", "NCT06010472", "NCT98000001")]
    with CtgovTestServer(studies, aliases={"NCT00000017": "NCT06464679"}) as server:
        yield server


def search(api: CtgovTestServer, **params: str) -> tuple[int, str, str, dict[str, str]]:
    return get(f"{api.url}/studies?{urlencode(params)}")


def test_it_serves_the_registrys_robots_txt(api):
    status, kind, body, _ = get(api.url.replace("/api/v2", "/robots.txt"))
    assert (status, kind) == (200, "text/plain")
    assert body == (CTGOV / "robots.txt").read_text()
    assert "Disallow: /api/\n" in body and "Crawl-delay: 1\n" in body


def test_errors_are_text_plain(api):
    assert search(api, **{"query.bogus": "x"})[:3] == (400, "text/plain", "Unknown parameter(s): query.bogus")
    assert get(f"{api.url}/studies/NCT99999999")[:3] == (404, "text/plain", "Study not found: NCT99999999")
    status, kind, body, _ = search(api, **{"query.term": "(lupus"})
    assert (status, kind, body) == (400, "text/plain", "Invalid search expression: missing ')'")


def test_an_alias_id_answers_301_to_the_current_id(api):
    status, _, _, headers = get(f"{api.url}/studies/NCT00000017")
    assert (status, headers["Location"]) == (301, "/api/v2/studies/NCT06464679")


def test_an_exactly_full_last_page_has_a_token_whose_page_is_empty(api):
    status, _, body, _ = search(api, pageSize="3", countTotal="true")
    page = json.loads(body)
    assert (status, len(page["studies"]), page["totalCount"]) == (200, 3, 3)
    token = page["nextPageToken"]
    assert len(token) > 100 and set(token) >= {"-", "_"} and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    nxt = json.loads(search(api, pageSize="3", pageToken=token)[2])
    assert nxt == {"studies": []}
    assert search(api, pageSize="3", pageToken=token, **{"query.term": "lupus"})[0] == 400  # bound to its parameters


def test_page_size_above_1000_is_clamped_silently(api):
    assert json.loads(search(api, pageSize="5000")[2])["studies"].__len__() == 3


def test_each_parameter_searches_its_own_fields(api):
    def ids(**params: str) -> list[str]:
        return [s["protocolSection"]["identificationModule"]["nctId"] for s in json.loads(search(api, **params)[2])["studies"]]
    assert ids(**{"query.spons": '"Changhai Hospital"'}) == ["NCT06010472", "NCT06464679"]
    assert ids(**{"query.spons": "lupus"}) == []
    assert ids(**{"query.cond": "Fludarabine"}) == []  # an intervention, not a condition
    assert "NCT06464679" in ids(**{"query.intr": "Fludarabine"})
    assert "NCT06464679" in ids(**{"query.term": "Fludarabine"})
    assert ids(**{"query.term": '"CAR NK"'}) == ["NCT06010472", "NCT06464679"]
    assert ids(**{"query.term": 'NOT "CAR NK"'}) == ["NCT98000001"]


def test_text_fields_carry_commonmark_escapes_unless_legacy(api):
    seed = load("domain/NCT06464679.json")
    criteria = seed["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    shown = json.loads(get(f"{api.url}/studies/NCT06464679")[2])["protocolSection"]["eligibilityModule"]
    assert shown["eligibilityCriteria"] == re.sub(r"([<>*\[\]\\])", r"\\\1", criteria)
    assert "\\<" in shown["eligibilityCriteria"]  # "(INR) < 1.5" as the API sends it: "(INR) \\< 1.5"
    legacy = json.loads(get(f"{api.url}/studies/NCT06464679?markupFormat=legacy")[2])
    assert legacy["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] == criteria


def test_the_bot_filter_answers_403_with_a_page(api):
    api.bot_filter_every = 1
    try:
        status, kind, body, _ = get(f"{api.url}/version")
    finally:
        api.bot_filter_every = 0
    assert (status, kind) == (403, "text/html") and "Access Denied" in body
