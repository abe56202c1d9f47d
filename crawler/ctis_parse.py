"""Pure functions from EU CTIS answers to what the CTIS spider needs (no Scrapy state).

CTIS's public API is undocumented and unversioned (docs/ctis.md): a search answer is checked for its
envelope (``pagination`` with ``totalRecords``, and a ``data`` list) so that "no trials match" is told
from "the answer changed shape", and a retrieve answer must be the JSON object of the trial asked for
(the portal answers some unknown paths with its HTML page and status 200).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from crawler.parse import CorruptPage, parse_json
from kb.domain.ctis import iso_date

SEARCH_WINDOW = 10_000
"""CTIS's search stops at this many results: later pages come back empty (ctrdata issue #59)."""


class ChangedShape(CorruptPage):
    """Valid JSON that is not what CTIS answered so far: the API changed (not worth fetching again)."""


@dataclass
class SearchRow:
    """One trial of a search answer: its number, last update (ISO) and the row as sent."""

    ct_number: str
    last_updated: str | None
    row: dict[str, Any]


@dataclass
class CtisSearchPage:
    """A ``POST /search`` answer."""

    rows: list[SearchRow]
    total: int
    has_next: bool


def search_body(criteria: dict[str, Any], page: int, size: int) -> bytes:
    """The JSON body of a search request; pages count from 1 (page 0 answers no trials for every query).

    >>> search_body({"containAny": "CAR-T"}, 1, 100)
    b'{"pagination":{"page":1,"size":100},"sort":{"property":"decisionDate","direction":"DESC"},"searchCriteria":{"containAny":"CAR-T"}}'
    """
    if page < 1:
        raise ValueError("CTIS search pages start at 1")
    return orjson.dumps({"pagination": {"page": page, "size": size},
                         "sort": {"property": "decisionDate", "direction": "DESC"}, "searchCriteria": criteria})


def read_search_page(body: bytes, page: int, size: int) -> CtisSearchPage:
    """Check and read a search answer; CorruptPage if it is not one (truncated, HTML, changed shape)."""
    data = parse_json(body)
    pagination = data.get("pagination") if isinstance(data, dict) else None
    rows = data.get("data") if isinstance(data, dict) else None
    total = pagination.get("totalRecords") if isinstance(pagination, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or not isinstance(rows, list):
        raise ChangedShape("CTIS's search answer has changed shape (no pagination.totalRecords or no data list); "
                           "nothing was read as 'no trials': trialkb needs an update")
    read = []
    for row in rows:
        number = row.get("ctNumber") if isinstance(row, dict) else None
        if not isinstance(number, str) or not number:
            raise ChangedShape(f"a CTIS search row without its ctNumber: {orjson.dumps(row)[:80].decode(errors='replace')}")
        read.append(SearchRow(number, iso_date(row.get("lastUpdated")), row))
    following = pagination.get("nextPage")
    more = following if isinstance(following, bool) else page * size < total
    return CtisSearchPage(read, total, bool(read) and more and page * size < min(total, SEARCH_WINDOW))


def read_trial(body: bytes, ct_number: str) -> dict[str, Any] | None:
    """The trial of a retrieve answer; None when the portal answered its HTML page (no such trial);
    CorruptPage when the body is broken or another trial."""
    if body.lstrip()[:1] == b"<":
        return None
    data = parse_json(body)
    if not isinstance(data, dict):
        raise CorruptPage("not a CTIS trial object")
    if data.get("ctNumber") != ct_number:
        raise CorruptPage(f"asked for {ct_number}, the answer is {str(data.get('ctNumber'))[:40]!r}")
    return data


ROW_DROPPED = ("id", "ctNumber", "product", "endPoint", "eudraCtInfo", "ctTitle", "primaryEndPoint", "sponsor",
               "conditions")
"""Search-row fields ctrdata leaves out when it adds the row to a retrieved trial (R/ctrLoadQueryIntoDbCtis.R)."""


def with_search_row(trial: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The retrieved trial with its search row's fields (``lastUpdated``, ``trialPhase``, ``trialCountries`` ...)
    merged in, as ctrdata stores CTIS trials.

    >>> with_search_row({"ctNumber": "2023-505613-24-00", "ctStatus": 4}, {"ctNumber": "x", "ctTitle": "t",
    ...                 "lastUpdated": "19/08/2025"})
    {'ctNumber': '2023-505613-24-00', 'ctStatus': 4, 'lastUpdated': '19/08/2025'}
    """
    return trial | {k: v for k, v in row.items() if k not in ROW_DROPPED}
