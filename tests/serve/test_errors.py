"""The served store answers what it refuses with a 4xx and one log line: no 500, no tracebacks with locals."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from apps.serve import build_datasette
from tests.support.browser import serving

RUNAWAY = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
WRITES = ["/trialkb/-/create", "/trialkb/trial/-/insert", "/trialkb/trial/-/upsert", "/trialkb/trial/-/drop",
          "/trialkb/trial/NCT06464679/-/update", "/trialkb/trial/NCT06464679/-/delete", "/trialkb", "/trialkb/trial"]
"""Datasette's write endpoints (the JSON write API), and POSTs to a database and a table."""


def test_a_query_stopped_by_the_time_limit_is_a_400_and_one_line(served_store, caplog, capsys):
    datasette = build_datasette(served_store, sql_time_limit_ms=200)
    with caplog.at_level(logging.INFO, logger="trialkb.serve"):
        answer = asyncio.run(datasette.client.get("/trialkb.json?sql=" + quote(RUNAWAY)))
    assert answer.status_code == 400 and answer.json()["title"] == "SQL Interrupted"
    assert [r.getMessage() for r in caplog.records] == [
        "400 GET /trialkb.json: SQL Interrupted: SQL query took too long. The time limit is controlled by the "
        "sql_time_limit_ms configuration option."]
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err and "locals" not in printed.out + printed.err


def test_a_missing_page_is_a_404(served_store, caplog):
    datasette = build_datasette(served_store)
    with caplog.at_level(logging.INFO, logger="trialkb.serve"):
        assert asyncio.run(datasette.client.get("/trialkb/no_such_table")).status_code == 404
    assert [r.getMessage() for r in caplog.records] == ["404 GET /trialkb/no_such_table: Table not found"]


@pytest.mark.slow
def test_posts_to_write_endpoints_are_refused_with_a_4xx(served_store):
    """Against ``trialkb serve`` as a user starts it: each refusal one line of its log."""
    with serving(["--db", str(served_store), "serve"]) as (process, base):
        statuses = {}
        for path in WRITES:
            request = urllib.request.Request(base + path, data=json.dumps({"row": {"trial_id": "x"}}).encode(),
                                             headers={"Content-Type": "application/json"}, method="POST")
            try:
                urllib.request.urlopen(request, timeout=10).close()
                statuses[path] = 200
            except urllib.error.HTTPError as refused:
                statuses[path] = refused.code
    log = process.stdout.read()
    assert statuses == dict.fromkeys(WRITES, 405)
    assert [line for line in log.splitlines() if " POST /" in line] == [
        f"WARNING trialkb.serve: 405 POST {path}: the served store is read-only" for path in WRITES]
    assert "Traceback" not in log, log
