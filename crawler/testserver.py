"""A local look-alike of the ClinicalTrials.gov API v2 for tests and benchmarks.

A real HTTP server on 127.0.0.1 that serves API-shaped answers from a set of study records:
``GET /api/v2/version``, ``GET /api/v2/studies/{nctId}`` (404 unknown, 301 for aliases) and
``GET /api/v2/studies`` with ``query.term`` / ``query.cond`` / ``query.intr`` (OR / AND of words
and quoted phrases, whole-word, case-insensitive), ``filter.ids``, ``filter.advanced`` with
``AREA[LastUpdatePostDate]RANGE[a,b]``, ``pageSize`` (max 1000), opaque ``pageToken`` /
``nextPageToken`` bound to the other parameters, and ``countTotal``. Faults on demand: 429 with
Retry-After, 500, a truncated body, a slow answer. Every request is logged.

Run it by hand: ``python -m crawler.testserver DIR [DIR...] --port 8765``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_PAGE_SIZE = 1000


@dataclass
class Fault:
    """Answer matching requests badly: ``kind`` is 429, 500, truncate or slow; ``times`` how often."""

    kind: str
    path: str = ""  # substring of the request path+query that triggers it ("" = any)
    times: int = 1
    retry_after: int | None = None
    seconds: float = 0.0


@dataclass
class LoggedRequest:
    path: str
    params: dict[str, str]
    status: int
    at: float


def _study_id(study: dict[str, Any]) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def _texts(study: dict[str, Any], area: str) -> str:
    """The text a query parameter searches."""
    p = study.get("protocolSection", {})
    ident = p.get("identificationModule", {})
    titles = [ident.get("briefTitle", ""), ident.get("officialTitle", ""), ident.get("acronym", "")]
    if area == "cond":
        cond = p.get("conditionsModule", {})
        meshes = study.get("derivedSection", {}).get("conditionBrowseModule", {}).get("meshes", [])
        return " | ".join([*cond.get("conditions", []), *cond.get("keywords", []), *titles,
                           *(m.get("term", "") for m in meshes)])
    if area == "intr":
        arms = p.get("armsInterventionsModule", {})
        parts = []
        for iv in arms.get("interventions", []):
            parts += [iv.get("name", ""), iv.get("description", ""), *iv.get("otherNames", [])]
        parts += [a.get("label", "") for a in arms.get("armGroups", [])]
        return " | ".join(parts)
    return json.dumps(p, ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _compile_expression(expression: str):  # type: ignore[no-untyped-def]
    """A predicate for an Essie-like expression: AND of OR-groups of words / quoted phrases."""
    groups = []
    for part in re.split(r"\)\s+AND\s+\(|\s+AND\s+", expression.strip()):
        terms = [t.strip().strip("()").strip().strip('"') for t in re.split(r"\s+OR\s+", part.strip().strip("()"))]
        pattern = "|".join(rf"(?<![\w-]){re.escape(t)}(?![\w-])" for t in terms if t)
        groups.append(re.compile(pattern, re.IGNORECASE))
    return lambda text: all(g.search(text) for g in groups)


_RANGE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[([^,\]]+),\s*([^\]]+)\]")


class CtgovTestServer:
    """Serve ``studies`` on 127.0.0.1 in a background thread (``with CtgovTestServer(...) as s``)."""

    def __init__(self, studies: list[dict[str, Any]], *, port: int = 0, data_timestamp: str = "2026-11-26T09:00:00",
                 aliases: dict[str, str] | None = None) -> None:
        self.studies: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.set_studies(studies)
        self.data_timestamp = data_timestamp
        self.aliases = aliases or {}
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---------------------------------------------------------------- control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v2"

    def set_studies(self, studies: list[dict[str, Any]]) -> None:
        self.studies = {_study_id(s): s for s in studies}
        self._forget()

    def put(self, study: dict[str, Any]) -> None:
        self.studies[_study_id(study)] = study
        self._forget()

    def _forget(self) -> None:
        """Drop what was derived from the data (search texts, query hits)."""
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
            if status != 200 or "nextPageToken" not in body:
                return pages
            params = dict(params, pageToken=body["nextPageToken"])

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def requests(self, path_part: str = "") -> list[LoggedRequest]:
        return [r for r in self.log if path_part in r.path]

    def __enter__(self) -> "CtgovTestServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---------------------------------------------------------------- answers

    def _fault_for(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in target:
                    fault.times -= 1
                    return fault
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        fault = self._fault_for(handler.path)
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault and fault.kind in ("429", "500"):
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._send(handler, split.path, params, int(fault.kind), {"error": "fault"}, headers)
        cached = self._page_cache.get((split.path, tuple(sorted(params.items()))))
        if cached is not None and not fault:
            return self._send_raw(handler, split.path, params, 200, cached, {})
        status, body, headers = self._route(split.path, params)
        if fault and fault.kind == "truncate":
            raw = json.dumps(body).encode()
            return self._send_raw(handler, split.path, params, status, raw[: len(raw) // 2], headers)
        return self._send(handler, split.path, params, status, body, headers)

    def _route(self, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/robots.txt":
            return 200, None, {"X-Text": "User-agent: *\nCrawl-delay: 1\n"}
        if path == "/api/v2/version":
            return 200, {"apiVersion": "2.0.5", "dataTimestamp": self.data_timestamp}, {}
        match = re.fullmatch(r"/api/v2/studies/(NCT\d{8})", path)
        if match:
            nct_id = match.group(1)
            if nct_id in self.aliases:
                return 301, {"redirect": self.aliases[nct_id]}, {"Location": f"/api/v2/studies/{self.aliases[nct_id]}"}
            if nct_id not in self.studies:
                return 404, {"message": f"Study {nct_id} not found"}, {}
            return 200, self.studies[nct_id], {}
        if path == "/api/v2/studies":
            return self._search(params)
        return 404, {"message": "not found"}, {}

    def _search(self, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            size = min(int(params.get("pageSize", "10")), MAX_PAGE_SIZE)
        except ValueError:
            return 400, {"message": "pageSize must be an integer"}, {}
        fingerprint = hashlib.sha1(json.dumps(sorted((k, v) for k, v in params.items() if k != "pageToken"))
                                   .encode()).hexdigest()[:12]
        offset = 0
        if "pageToken" in params:
            try:
                fp, offset_text = base64.urlsafe_b64decode(params["pageToken"].encode()).decode().split(":")
                offset = int(offset_text)
            except (ValueError, UnicodeDecodeError):
                return 400, {"message": "invalid pageToken"}, {}
            if fp != fingerprint:
                return 400, {"message": "pageToken does not match the other parameters"}, {}
        with self._lock:
            ids = self._hits_cache.get(fingerprint)
        if ids is None:
            ids = [nct_id for nct_id, s in sorted(self.studies.items()) if self._matches(s, params)]
            with self._lock:
                self._hits_cache[fingerprint] = ids
        page = [self.studies[i] for i in ids[offset: offset + size]]
        body: dict[str, Any] = {"studies": page}
        if offset == 0 and params.get("countTotal") == "true":
            body["totalCount"] = len(ids)
        if offset + size < len(ids):
            body["nextPageToken"] = base64.urlsafe_b64encode(f"{fingerprint}:{offset + size}".encode()).decode()
        return 200, body, {}

    def _matches(self, study: dict[str, Any], params: dict[str, str]) -> bool:
        for key, area in (("query.term", "term"), ("query.cond", "cond"), ("query.intr", "intr")):
            if key in params and not _compile_expression(params[key])(self._text(study, area)):
                return False
        if "filter.ids" in params and _study_id(study) not in set(re.split(r"[,|]", params["filter.ids"])):
            return False
        window = _RANGE.search(params.get("filter.advanced", ""))
        if window:
            posted = study["protocolSection"].get("statusModule", {}).get("lastUpdatePostDateStruct", {}).get("date")
            low, high = window.group(1).strip(), window.group(2).strip()
            if posted is None or (low != "MIN" and posted < low) or (high != "MAX" and posted > high):
                return False
        return True

    def _text(self, study: dict[str, Any], area: str) -> str:
        key = (_study_id(study), area)
        text = self._text_cache.get(key)
        if text is None:
            text = self._text_cache[key] = _texts(study, area)
        return text

    def _send(self, handler: BaseHTTPRequestHandler, path: str, params: dict[str, str], status: int, body: Any,
              headers: dict[str, str]) -> None:
        if "X-Text" in headers:
            raw, content_type = headers.pop("X-Text").encode(), "text/plain"
        else:
            raw, content_type = json.dumps(body).encode(), "application/json"
        self._send_raw(handler, path, params, status, raw, headers, content_type)

    def _send_raw(self, handler: BaseHTTPRequestHandler, path: str, params: dict[str, str], status: int, raw: bytes,
                  headers: dict[str, str], content_type: str = "application/json") -> None:
        self.log.append(LoggedRequest(path, params, status, time.monotonic()))
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(raw)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(raw)


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
