"""A local look-alike of the EU CTIS public API for tests (docs/ctis.md says where each behaviour was read).

A real HTTP server on 127.0.0.1 under ``/ctis-public-api``:

- ``POST /search`` with a JSON body ``{"pagination": {"page", "size"}, "sort": {...}, "searchCriteria": {...}}``
  answers ``{"pagination": {"currentPage", "size", "totalRecords", "totalPages", "nextPage", "previousPage"},
  "data": [rows]}``. Pages start at 1: page 0 answers 200 with no trials and ``totalRecords`` 0 for every
  query. A size above 100 is cut to 100. Results beyond the first 10,000 come back as empty pages while
  ``totalRecords`` tells the full count. A GET on the path answers 403.
- ``searchCriteria``: ``containAll`` / ``containAny`` / ``containNot`` (comma-separated phrases matched as
  whole words anywhere in the trial), ``title``, ``number``, ``medicalCondition``, ``sponsor``,
  ``productName`` (a phrase in that part), ``status`` (a list of status codes). Unknown keys are ignored.
- ``GET /retrieve/{ctNumber}``: the trial (without its search-row fields); an unknown number is a 404;
  other unknown paths answer the portal's HTML page with status 200.

Trials are held as ctrdata stores them (the retrieve answer plus the search row's fields), which is the
shape of ``../shared/data/registries/ctis``; the server splits them back into the two answers. Faults on
demand, as the CT.gov server's: 429 with Retry-After, 500/503, 403 (an HTML page), a truncated body, an answer of
another shape (``shape``: an API change), a search claiming 10,000 more trials (``oversize``).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.ctgov_server import LoopbackServer, _strings

MAX_PAGE_SIZE = 100
SEARCH_WINDOW = 10_000
SEARCH_ONLY = ("shortTitle", "trialCountries", "decisionDateOverall", "therapeuticAreas", "sponsorType", "trialPhase",
               "ageRangeSecondary", "ageGroup", "gender", "totalNumberEnrolled", "resultsFirstReceived", "lastUpdated",
               "lastPublicationUpdate")
"""Fields of a trial's search row that its retrieve answer lacks (ctrdata appends them to the trial)."""
CTRDATA_KEYS = ("_id", "ctrname", "record_last_import")
PORTAL_PAGE = b"<!doctype html><html><head><title>CTIS - Clinical Trials Information System</title></head>" \
              b"<body><app-root></app-root></body></html>"


def _part_one(trial: dict[str, Any]) -> dict[str, Any]:
    return (trial.get("authorizedApplication") or {}).get("authorizedPartI") or trial.get("authorizedPartI") or {}


def retrieve_answer(trial: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /retrieve/{ctNumber}`` answers for a trial held as ctrdata stores it."""
    return {k: v for k, v in trial.items() if k not in SEARCH_ONLY and k not in CTRDATA_KEYS}


def search_row(trial: dict[str, Any]) -> dict[str, Any]:
    """The trial's row in a search answer."""
    part = _part_one(trial)
    details = part.get("trialDetails") or {}
    info = details.get("trialInformation") or {}
    sponsors = [s.get("organisation", {}).get("name") for s in part.get("sponsors") or []]
    products = [p.get("productName") for p in part.get("products") or []]
    conditions = [c.get("medicalCondition") for c in (info.get("medicalCondition") or {}).get("partIMedicalConditions") or []]
    points = (info.get("endPoint") or {}).get("primaryEndPoints") or []
    row = {"ctNumber": trial["ctNumber"], "ctStatus": trial.get("ctPublicStatusCode", trial.get("ctStatus")),
           "ctTitle": (details.get("clinicalTrialIdentifiers") or {}).get("fullTitle"),
           "sponsor": ", ".join(filter(None, sponsors)), "conditions": ", ".join(filter(None, conditions)),
           "product": ", ".join(filter(None, products)),
           "primaryEndPoint": ", ".join(filter(None, (p.get("endPoint") for p in points))),
           "startDateEU": trial.get("startDateEU"), "decisionDate": trial.get("decisionDate")}
    return row | {k: trial[k] for k in SEARCH_ONLY if k in trial}


def _words(text: str) -> str:
    """Lower-case text with every run of non-word characters as one space, padded (for whole-word finds)."""
    return " " + " ".join(re.findall(r"\w+", text.casefold())) + " "


def _phrases(value: Any) -> list[str]:
    """The comma-separated phrases of a free-text criterion, as word runs."""
    return [w for part in str(value or "").split(",") if (w := _words(part).strip())]


class CtisTestServer(LoopbackServer):
    """Serve ``trials`` on 127.0.0.1 in a background thread (``with CtisTestServer(...) as s``)."""

    def __init__(self, trials: list[dict[str, Any]], *, port: int = 0) -> None:
        self._lock = threading.Lock()
        self.trials: dict[str, dict[str, Any]] = {t["ctNumber"]: t for t in trials}
        self._listen(port, post=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/ctis-public-api"

    def put(self, trial: dict[str, Any]) -> None:
        with self._lock:
            self.trials[trial["ctNumber"]] = trial

    # ---------------------------------------------------------------- answers

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        handler.arrived = time.monotonic()  # type: ignore[attr-defined]
        path = handler.path.split("?")[0]
        params = {"body": body.decode(errors="replace")} if body else {}
        agent = handler.headers.get("User-Agent", "")
        fault = self._fault_for(f"{handler.command} {path} {params.get('body', '')}")
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault and fault.kind == "403":
            return self._send_raw(handler, path, params, 403, b"<html><body><h1>Access Denied</h1></body></html>",
                                  {}, "text/html", agent)
        if fault and fault.kind in ("429", "500", "503"):
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._send_raw(handler, path, params, int(fault.kind), b"", headers, "text/plain", agent)
        status, answer = self._route(handler.command, path, body)
        if fault and fault.kind == "oversize" and isinstance(answer, dict):  # a search past CTIS's 10,000 rows
            answer["pagination"] |= {"totalRecords": answer["pagination"]["totalRecords"] + SEARCH_WINDOW,
                                     "nextPage": True}
        raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        content_type = "text/html" if isinstance(answer, bytes) else "application/json"
        if fault and fault.kind == "truncate":
            raw = raw[: len(raw) // 2]
        if fault and fault.kind == "shape":  # valid JSON, but not the answer's shape (an API change)
            raw = b'{"results": []}'
        return self._send_raw(handler, path, params, status, raw, {}, content_type, agent)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path == "/ctis-public-api/search":
            if method != "POST":
                return 403, b"<html><body><h1>403 Forbidden</h1></body></html>"
            return self._search(body)
        match = re.fullmatch(r"/ctis-public-api/retrieve/([^/]+)", path)
        if match and method == "GET":
            trial = self.trials.get(match.group(1))
            return (200, retrieve_answer(trial)) if trial else (404, {"status": 404, "error": "Not Found"})
        return 200, PORTAL_PAGE

    def _search(self, body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body or b"{}")
            page = int(request["pagination"]["page"])
            size = min(int(request["pagination"]["size"]), MAX_PAGE_SIZE)
        except (ValueError, KeyError, TypeError):
            return 400, {"status": 400, "error": "Bad Request"}
        criteria = request.get("searchCriteria") or {}
        with self._lock:
            hits = [t for n, t in sorted(self.trials.items(), reverse=True) if self._matches(t, criteria)]
        total = len(hits) if page >= 1 else 0
        start = (page - 1) * size
        rows = [search_row(t) for t in hits[start: min(start + size, SEARCH_WINDOW)]] if page >= 1 else []
        pages = math.ceil(total / size) if size else 0
        return 200, {"pagination": {"currentPage": page, "size": size, "totalRecords": total, "totalPages": pages,
                                    "nextPage": page < pages, "previousPage": page > 1}, "data": rows}

    def _matches(self, trial: dict[str, Any], criteria: dict[str, Any]) -> bool:
        text = _words(" ".join(_strings(trial)))
        if (phrases := _phrases(criteria.get("containAll"))) and not all(f" {p} " in text for p in phrases):
            return False
        if (phrases := _phrases(criteria.get("containAny"))) and not any(f" {p} " in text for p in phrases):
            return False
        if (phrases := _phrases(criteria.get("containNot"))) and any(f" {p} " in text for p in phrases):
            return False
        row = search_row(trial)
        for key, part in (("title", row["ctTitle"]), ("medicalCondition", row["conditions"]),
                          ("sponsor", row["sponsor"]), ("productName", row["product"]), ("number", row["ctNumber"])):
            if criteria.get(key) and _words(str(criteria[key])) not in _words(part or ""):
                return False
        statuses = criteria.get("status")
        return not statuses or row["ctStatus"] in statuses


def load_trials(*paths: str | Path) -> list[dict[str, Any]]:
    """CTIS trials (as ctrdata stores them) from files or directories."""
    trials = []
    for path in map(Path, paths):
        for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
            trials.append(json.loads(file.read_text()))
    return trials
