"""Pure functions from API v2 answers to what the spider needs (no Scrapy state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import simdjson

from kb.domain.normalize import trial_id_of


class CorruptPage(ValueError):
    """An answer whose body is not the JSON the API promises (e.g. truncated)."""


def parse_json(body: bytes) -> Any:
    """The JSON of an answer, or CorruptPage saying what is wrong."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CorruptPage(f"body is not valid JSON ({exc}; {len(body)} bytes)") from None


@dataclass
class SearchPage:
    """A ``GET /studies`` answer split into its studies, each as the JSON the API sent."""

    records: list[bytes]
    ids: list[str]  # the NCT ids found in those studies
    token: str | None  # nextPageToken
    total: int | None  # totalCount


def read_search_page(body: bytes) -> SearchPage:
    """Check and split a search answer without building Python objects of its studies.

    simdjson validates a 30 MB page and cuts out each study in 70 ms; parsing it into Python
    objects and serializing them again took 300 ms of the reactor thread. The worker processes
    parse each study.
    """
    try:
        page = simdjson.Parser().parse(body)
    except ValueError as exc:
        raise CorruptPage(f"body is not valid JSON ({exc}; {len(body)} bytes)") from None
    studies = page.get("studies", []) if isinstance(page, simdjson.Object) else None
    if not isinstance(studies, (simdjson.Array, list)):
        raise CorruptPage("not a search page (no 'studies' list)")
    records, ids = [], []
    for study in studies:
        if isinstance(study, (simdjson.Object, simdjson.Array)):
            records.append(study.mini)
        else:
            records.append(orjson.dumps(study))  # not a study: the worker rejects it with the reason
        if isinstance(study, simdjson.Object) and isinstance(trial_id := _trial_id(study), str):
            ids.append(trial_id)
    token, total = page.get("nextPageToken"), page.get("totalCount")
    return SearchPage(records, ids, token if isinstance(token, str) and token else None,
                      total if isinstance(total, int) else None)


def _trial_id(study: simdjson.Object) -> Any:
    try:
        return study.at_pointer("/protocolSection/identificationModule/nctId")
    except (KeyError, ValueError, TypeError):
        return None


def parse_study(body: bytes) -> dict[str, Any]:
    """The study of a ``GET /studies/{nctId}`` answer."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise CorruptPage("not a study object")
    return data


def parse_version(body: bytes) -> str | None:
    """The ``dataTimestamp`` of a ``GET /version`` answer."""
    data = parse_json(body)
    return data.get("dataTimestamp") if isinstance(data, dict) else None


def search_url(api_url: str, params: dict[str, str], page_size: int, page_token: str | None = None,
               count_total: bool = False) -> str:
    """A ``GET /studies`` URL; paging keeps every other parameter unchanged."""
    query = dict(params, pageSize=str(page_size), format="json")
    if count_total:
        query["countTotal"] = "true"
    if page_token:
        query["pageToken"] = page_token
    return f"{api_url.rstrip('/')}/studies?{urlencode(sorted(query.items()))}"


def study_ids(studies: list[dict[str, Any]]) -> list[str]:
    """The NCT ids of studies (those that have one)."""
    return [trial_id for study in studies if (trial_id := trial_id_of(study)) is not None]
