"""A local look-alike of the ClinicalTrials.gov API v2 for tests and benchmarks.

A real HTTP server on 127.0.0.1 that answers the way the registry does (NOTES.md, "The real API"):
the registry's own robots.txt (``Disallow: /api/``); ``GET /api/v2/version``;
``GET /api/v2/studies/{nctId}`` (301 for an alias id, 404 as text/plain); ``GET /api/v2/studies``
with every ``query.*`` parameter evaluated as a search expression (:mod:`tests.support.essie`) over its
own part of the record (``query.term`` over all of it), ``filter.ids``, ``filter.overallStatus``,
``filter.advanced`` (e.g. ``AREA[LastUpdatePostDate]RANGE[a,MAX]``), ``pageSize`` silently clamped
to 1000, long URL-safe ``nextPageToken``s bound to the other parameters (issued even after an
exactly full last page, whose next page is empty), ``totalCount`` on page one with
``countTotal=true``; 400 (text/plain, naming an unknown parameter or a bad expression); text
fields with CommonMark escapes (``\\>=``, ``\\[``) unless ``markupFormat=legacy``. Faults on demand:
429 with Retry-After, 500, 403 from a bot filter (also every Nth request with ``bot_filter_every``),
a truncated body, a slow answer. Every request is logged.

Run it by hand: ``python -m tests.support.ctgov_server DIR [DIR...] --port 8765``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.support.essie import ExpressionError, compile_expression, token_text

MAX_PAGE_SIZE = 1000
SEARCH_PARAMS = frozenset([  # GET /studies parameters of the API's OpenAPI file (v2.0.5)
    "format", "markupFormat", "query.cond", "query.term", "query.locn", "query.titles", "query.intr", "query.outc",
    "query.spons", "query.lead", "query.id", "query.patient", "filter.overallStatus", "filter.geo", "filter.ids",
    "filter.advanced", "filter.synonyms", "postFilter.overallStatus", "postFilter.geo", "postFilter.ids",
    "postFilter.advanced", "postFilter.synonyms", "aggFilters", "geoDecay", "fields", "sort", "countTotal",
    "pageSize", "pageToken"])
QUERY_AREAS = {"query.term": "BasicSearch", "query.cond": "ConditionSearch", "query.intr": "InterventionSearch",
               "query.titles": "TitleSearch", "query.spons": "SponsorSearch", "query.lead": "LeadSponsorName",
               "query.outc": "OutcomeSearch", "query.locn": "LocationSearch", "query.id": "IdSearch",
               "query.patient": "BasicSearch"}
MARKDOWN_FIELDS = ("briefSummary", "detailedDescription", "eligibilityCriteria", "description")
_MARKDOWN_SPECIAL = re.compile(r"([\\<>\[\]*])")


def _shared_robots_txt() -> str:
    """The registry's robots.txt as published (../shared/data/ctgov_v2/robots.txt)."""
    data = Path(os.environ.get("TRIALKB_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    return (data / "ctgov_v2" / "robots.txt").read_text()


@dataclass
class Fault:
    """Answer matching requests badly: ``kind`` is 403, 429, 500, truncate, slow, or hold (answer once ``until``
    is set, or after ``seconds``); ``times`` how often, once ``after`` matching requests were answered well."""

    kind: str
    path: str = ""  # substring of the request path+query that triggers it ("" = any)
    times: int = 1
    retry_after: int | None = None
    seconds: float = 0.0
    after: int = 0
    until: threading.Event | None = None


@dataclass
class LoggedRequest:
    """A request as the server saw it; ``at`` is when it arrived (monotonic seconds)."""

    path: str
    params: dict[str, str]
    status: int
    at: float
    user_agent: str = ""


def _study_id(study: dict[str, Any]) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _area_values(study: dict[str, Any], area: str) -> list[str]:
    """The values a search area covers (the registry's search areas, reduced to the fields records here have)."""
    p = study.get("protocolSection", {})
    derived = study.get("derivedSection", {})
    ident = p.get("identificationModule", {})
    titles = [ident.get("briefTitle", ""), ident.get("officialTitle", ""), ident.get("acronym", "")]
    sponsors = p.get("sponsorCollaboratorsModule", {})
    arms = p.get("armsInterventionsModule", {})
    outcomes = p.get("outcomesModule", {})

    def meshes(module: str) -> list[str]:
        browse = derived.get(module, {})
        return [m.get("term", "") for m in browse.get("meshes", []) + browse.get("ancestors", [])]

    if area == "BasicSearch":
        return _strings(p) + meshes("conditionBrowseModule") + meshes("interventionBrowseModule")
    if area == "ConditionSearch":
        cond = p.get("conditionsModule", {})
        return [*cond.get("conditions", []), *cond.get("keywords", []), *titles, *meshes("conditionBrowseModule")]
    if area == "InterventionSearch":
        parts: list[str] = []
        for iv in arms.get("interventions", []):
            parts += [iv.get("name", ""), iv.get("description", ""), *iv.get("otherNames", [])]
        for arm in arms.get("armGroups", []):
            parts += [arm.get("label", ""), arm.get("description", ""), *arm.get("interventionNames", [])]
        return parts + meshes("interventionBrowseModule")
    if area in ("TitleSearch", "BriefTitle", "OfficialTitle", "Acronym"):
        return titles if area == "TitleSearch" else [ident.get(area[0].lower() + area[1:], "")]
    if area in ("SponsorSearch", "LeadSponsorName"):
        lead = [sponsors.get("leadSponsor", {}).get("name", "")]
        return lead if area == "LeadSponsorName" else lead + [c.get("name", "") for c in sponsors.get("collaborators", [])]
    if area == "OutcomeSearch":
        return _strings(outcomes)
    if area == "LocationSearch":
        return _strings(p.get("contactsLocationsModule", {}).get("locations", []))
    if area == "IdSearch":
        return [ident.get("nctId", ""), ident.get("orgStudyIdInfo", {}).get("id", ""),
                *(s.get("id", "") for s in ident.get("secondaryIdInfos", []))]
    if area == "Condition":
        return p.get("conditionsModule", {}).get("conditions", [])
    if area == "InterventionName":
        return [iv.get("name", "") for iv in arms.get("interventions", [])]
    if area == "OverallStatus":
        return [p.get("statusModule", {}).get("overallStatus", "")]
    raise ExpressionError(f"unknown search area {area!r}")


DATE_AREAS = {"LastUpdatePostDate": "lastUpdatePostDateStruct", "StudyFirstPostDate": "studyFirstPostDateStruct",
              "StartDate": "startDateStruct", "CompletionDate": "completionDateStruct"}


class _StudyDoc:
    """One study as the search engine sees it (token texts per area, cached by the server)."""

    def __init__(self, server: "CtgovTestServer", study: dict[str, Any], default_area: str) -> None:
        self.server, self.study, self.default_area = server, study, default_area

    def text(self, area: str | None) -> str:
        return self.server._area_text(self.study, area or self.default_area)

    def value(self, area: str | None) -> str | None:
        key = DATE_AREAS.get(area or "")
        if key is None:
            raise ExpressionError(f"RANGE needs a date area, got {area!r}")
        return self.study["protocolSection"].get("statusModule", {}).get(key, {}).get("date")


def _markdown(study: Any) -> Any:
    """A study as the API sends it by default: text fields with CommonMark escapes (``>=`` -> ``\\>=``)."""
    if isinstance(study, dict):
        return {k: _MARKDOWN_SPECIAL.sub(r"\\\1", v) if k in MARKDOWN_FIELDS and isinstance(v, str) else _markdown(v)
                for k, v in study.items()}
    if isinstance(study, list):
        return [_markdown(v) for v in study]
    return study


class LoopbackServer:
    """What the registry look-alikes share: an HTTP server on 127.0.0.1 in a background thread, faults on
    demand and the log of requests (``with Server(...) as s``)."""

    _lock: threading.Lock
    faults: list[Fault]
    log: list[LoggedRequest]
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    def _listen(self, port: int, post: bool = False) -> None:
        """Make the server (started by ``with``): GET (and with ``post``, POST) requests go to ``_handle``."""
        self.faults, self.log = [], []
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self, b"")

            def do_POST(self) -> None:  # noqa: N802
                if not post:
                    return self.send_error(501)
                server._handle(self, self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        raise NotImplementedError

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _fault_for(self, target: str) -> Fault | None:
        """The first fault still due whose path is in ``target`` (used up once per answer)."""
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in target:
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    return fault
        return None

    def _send_raw(self, handler: BaseHTTPRequestHandler, path: str, params: dict[str, str], status: int, raw: bytes,
                  headers: dict[str, str], content_type: str = "application/json", agent: str = "") -> None:
        self.log.append(LoggedRequest(path, params, status, getattr(handler, "arrived", time.monotonic()), agent))
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(raw)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(raw)

    def requests(self, path_part: str = "") -> list[LoggedRequest]:
        return [r for r in self.log if path_part in r.path]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CtgovTestServer(LoopbackServer):
    """Serve ``studies`` on 127.0.0.1 in a background thread (``with CtgovTestServer(...) as s``)."""

    def __init__(self, studies: list[dict[str, Any]], *, port: int = 0, data_timestamp: str = "2026-11-26T09:00:00",
                 aliases: dict[str, str] | None = None, robots_txt: str | None = None,
                 bot_filter_every: int = 0) -> None:
        self._lock = threading.Lock()
        self.set_studies(studies)
        self.data_timestamp = data_timestamp
        self.aliases = aliases or {}
        self.robots_txt = _shared_robots_txt() if robots_txt is None else robots_txt
        self.bot_filter_every = bot_filter_every  # every Nth API request answers 403 (0: never)
        self._api_requests = 0
        self._tokens: dict[str, tuple[str, int]] = {}
        self._listen(port)

    # ---------------------------------------------------------------- control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v2"

    def set_studies(self, studies: list[dict[str, Any]]) -> None:
        self.studies: dict[str, dict[str, Any]] = {_study_id(s): s for s in studies}
        self._forget()

    def put(self, study: dict[str, Any]) -> None:
        self.studies[_study_id(study)] = study
        self._forget()

    def _forget(self) -> None:
        """Drop what was derived from the data (search texts, query hits, rendered pages)."""
        self._text_cache: dict[tuple[str, str], str] = {}
        self._hits_cache: dict[str, list[str]] = {}
        self._page_cache: dict[tuple, bytes] = {}

    def warm(self, url: str) -> int:
        """Render every page of a search URL ahead of time (benchmarks); returns the page count."""
        split = urlsplit(url)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        pages = 0
        while True:
            status, body, _ = self._route(split.path, params)
            self._page_cache[(split.path, tuple(sorted(params.items())))] = json.dumps(body).encode()
            pages += 1
            if status != 200 or not body["studies"] or "nextPageToken" not in body:
                return pages
            params = {k: v for k, v in params.items() if k != "countTotal"}  # as the spider pages
            params["pageToken"] = body["nextPageToken"]

    # ---------------------------------------------------------------- answers

    def _fault_for(self, target: str) -> Fault | None:
        with self._lock:
            if target.startswith("/api/") and self.bot_filter_every:
                self._api_requests += 1
                if self._api_requests % self.bot_filter_every == 0:
                    return Fault("403")
        return super()._fault_for(target)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes = b"") -> None:
        handler.arrived = time.monotonic()  # type: ignore[attr-defined]
        split = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        agent = handler.headers.get("User-Agent", "")
        fault = self._fault_for(handler.path)
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault and fault.kind == "hold" and fault.until is not None:
            fault.until.wait(fault.seconds)
        if fault and fault.kind == "403":  # what a bot-management layer sends: a page, not the API's JSON
            return self._send_raw(handler, split.path, params, 403, b"<html><body><h1>Access Denied</h1></body></html>",
                                  {}, "text/html", agent)
        if fault and fault.kind in ("429", "500"):
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._send_raw(handler, split.path, params, int(fault.kind), b"Too many requests"
                                  if fault.kind == "429" else b"Internal server error", headers, "text/plain", agent)
        cached = self._page_cache.get((split.path, tuple(sorted(params.items()))))
        if cached is not None and not fault:
            return self._send_raw(handler, split.path, params, 200, cached, {}, "application/json", agent)
        status, body, headers = self._route(split.path, params)
        if isinstance(body, str):
            raw, content_type = body.encode(), "text/plain"
        else:
            raw, content_type = json.dumps(body).encode(), "application/json"
        if fault and fault.kind == "truncate":
            raw = raw[: len(raw) // 2]
        return self._send_raw(handler, split.path, params, status, raw, headers, content_type, agent)

    def _route(self, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/robots.txt":
            return 200, self.robots_txt, {}
        if path == "/api/v2/version":
            return 200, {"apiVersion": "2.0.5", "dataTimestamp": self.data_timestamp}, {}
        match = re.fullmatch(r"/api/v2/studies/([^/]+)", path)
        if match:
            trial_id = match.group(1)
            if trial_id in self.aliases:
                return 301, "", {"Location": f"/api/v2/studies/{self.aliases[trial_id]}"}
            if not re.fullmatch(r"NCT\d{8}", trial_id):
                return 400, f"Invalid NCT number: {trial_id}", {}
            if trial_id not in self.studies:
                return 404, f"Study not found: {trial_id}", {}
            return 200, self._shown(self.studies[trial_id], params), {}
        if path == "/api/v2/studies":
            return self._search(params)
        return 404, f"Not found: {path}", {}

    def _shown(self, study: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        return study if params.get("markupFormat") == "legacy" else _markdown(study)

    def _search(self, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        unknown = sorted(set(params) - SEARCH_PARAMS)
        if unknown:
            return 400, f"Unknown parameter(s): {', '.join(unknown)}", {}
        try:
            size = min(int(params.get("pageSize", "10")), MAX_PAGE_SIZE)  # silently clamped, like the registry
        except ValueError:
            return 400, f"pageSize: not an integer: {params['pageSize']}", {}
        fingerprint = hashlib.sha1(json.dumps(sorted((k, v) for k, v in params.items()
                                                     if k not in ("pageToken", "pageSize", "countTotal")))
                                   .encode()).hexdigest()
        offset = 0
        if "pageToken" in params:
            bound = self._tokens.get(params["pageToken"])
            if bound is None or bound[0] != fingerprint:
                return 400, "pageToken: invalid or not issued for these parameters", {}
            offset = bound[1]
        with self._lock:
            ids = self._hits_cache.get(fingerprint)
        if ids is None:
            try:
                ids = [trial_id for trial_id, s in sorted(self.studies.items()) if self._matches(s, params)]
            except ExpressionError as exc:
                return 400, f"Invalid search expression: {exc}", {}
            with self._lock:
                self._hits_cache[fingerprint] = ids
        page = [self._shown(self.studies[i], params) for i in ids[offset: offset + size]]
        body: dict[str, Any] = {"studies": page}
        if offset == 0 and params.get("countTotal") == "true":
            body["totalCount"] = len(ids)
        if page and offset + size <= len(ids):  # also after an exactly full last page: the next one is empty
            body["nextPageToken"] = self._token(fingerprint, offset + size)
        return 200, body, {}

    def _token(self, fingerprint: str, offset: int) -> str:
        """A long opaque URL-safe token (with ``-`` and ``_``, as the registry's since Nov 2025)."""
        digest = b"".join(hashlib.sha512(f"{fingerprint}:{offset}:{i}".encode()).digest() for i in range(2))
        token = "-".join(base64.urlsafe_b64encode(digest[i:i + 32]).decode().rstrip("=") for i in range(0, 128, 32)) + "_"
        with self._lock:
            self._tokens[token] = (fingerprint, offset)
        return token

    def _matches(self, study: dict[str, Any], params: dict[str, str]) -> bool:
        for key, area in QUERY_AREAS.items():
            if params.get(key) and not compile_expression(params[key])(_StudyDoc(self, study, area)):
                return False
        if params.get("filter.advanced") and not compile_expression(params["filter.advanced"])(
                _StudyDoc(self, study, "BasicSearch")):
            return False
        if "filter.ids" in params and _study_id(study) not in set(re.split(r"[,|\s]+", params["filter.ids"])):
            return False
        statuses = params.get("filter.overallStatus")
        if statuses and study["protocolSection"].get("statusModule", {}).get("overallStatus") not in set(
                re.split(r"[,|]", statuses)):
            return False
        return True

    def _area_text(self, study: dict[str, Any], area: str) -> str:
        key = (_study_id(study), area)
        text = self._text_cache.get(key)
        if text is None:
            text = self._text_cache[key] = token_text(_area_values(study, area))
        return text


def load_studies(*paths: str | Path) -> list[dict[str, Any]]:
    """API v2 studies from files or directories (arrays and search pages unpacked; invalid ids left out)."""
    studies = []
    for path in paths:
        path = Path(path)
        for file in sorted(path.rglob("*.json")) if path.is_dir() else [path]:
            data = json.loads(file.read_text())
            items = data.get("studies", [data]) if isinstance(data, dict) else data
            studies += [s for s in items if re.fullmatch(r"NCT\d{8}", _study_id(s))]
    return studies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with CtgovTestServer(load_studies(*args.paths), port=args.port) as server:
        print(f"serving {len(server.studies)} studies at {server.url}")
        try:
            server.thread.join()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
