"""The served trial page takes an id in any case; an unknown or malformed id is a helpful 404 and one
line in the server's log, never a traceback (a real ``trialkb serve`` on 127.0.0.1)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.browser import serving


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_any_case_and_helpful_404s_with_one_log_line_each(served_store):
    with serving(["--db", str(served_store), "serve"]) as (process, base):
        status, page = _get(f"{base}/trial/nct06464679")
        assert status == 200 and '<h1 id="trial-title">NCT06464679 <small>' in page
        assert "<dd>Sjogren&#39;s syndrome (sjogren), systemic sclerosis" in page  # disease names, key beside
        status, page = _get(f"{base}/trial/foo")
        assert status == 404 and "&#39;foo&#39; is not a trial id (e.g. NCT06464679" in page
        status, page = _get(f"{base}/trial/nct99999999")
        assert status == 404 and "NCT99999999 is not in the store (import or crawl it first)" in page
        assert 'href="https://clinicaltrials.gov/study/NCT99999999"' in page and "/trialkb/relevant_trial" in page
    log = process.stdout.read()
    assert "Traceback" not in log
    assert [line.split(": ")[0:2] for line in log.splitlines() if "trial page" in line] == [
        ["WARNING trialkb.serve", "trial page foo"], ["WARNING trialkb.serve", "trial page nct99999999"]]
