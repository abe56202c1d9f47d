"""Pure functions from API v2 answers to what the spider needs (no Scrapy state)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from kb import gcpause
from kb.normalize import canonical_json


class CorruptPage(ValueError):
    """An answer whose body is not the JSON the API promises (e.g. truncated)."""


def parse_json(body: bytes) -> Any:
    """The JSON of an answer, or CorruptPage saying what is wrong."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CorruptPage(f"body is not valid JSON ({exc}; {len(body)} bytes)") from None


def parse_search_page(body: bytes) -> tuple[list[dict[str, Any]], str | None, int | None]:
    """(studies, nextPageToken, totalCount) of a ``GET /studies`` answer."""
    data = parse_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("studies", []), list):
        raise CorruptPage("not a search page (no 'studies' list)")
    token = data.get("nextPageToken")
    return data.get("studies", []), token if isinstance(token, str) and token else None, data.get("totalCount")


def read_search_page(body: bytes) -> tuple[list[bytes], list[str], str | None, int | None]:
    """(canonical JSON of each study, their NCT ids, nextPageToken, totalCount) of a search answer.

    The parsed page (a million objects for 1,000 studies) is freed before this returns, with the
    garbage collector suspended meanwhile: collections triggered by the parse walked the whole
    growing tree and took most of the spider's time.
    """
    with gcpause.suspended():
        studies, token, total = parse_search_page(body)
        return canonical_records(studies), study_ids(studies), token, total


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
    out = []
    for study in studies:
        try:
            out.append(study["protocolSection"]["identificationModule"]["nctId"])
        except (KeyError, TypeError):
            continue
    return out


def canonical_records(studies: list[Any]) -> list[bytes]:
    """Each study as canonical JSON (sorted keys), as the store hashes and keeps it."""
    return [canonical_json(study) for study in studies]
