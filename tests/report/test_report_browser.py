"""The report in a real headless Chromium: every chart draws, no console error, nothing fetched.

Chromium and its driver come from Debian's packages (``.ci/run`` installs them); the tests skip
with the reason when they are missing, except under ``CI=true`` where they must run.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.browser import headless_chromium, open_report, requested_urls
from apps.report import build_report
from apps.report import data as rd
from apps.report.page import csv_text
from tests.conftest import require_browser

pytestmark = pytest.mark.slow  # a real Chromium: seconds a page

MARKS = "g.point path, g.hm image, .scatterlayer path.point"
"""What a drawn chart holds: bars and funnel stages, the heatmap image, scatter markers."""


@pytest.fixture(scope="module")
def chromium_ready():
    require_browser()


@pytest.fixture
def report(sqlite_store, tmp_path: Path):
    result = build_report(sqlite_store.engine, sqlite_store.between)
    path = tmp_path / "report.html"
    path.write_text(result.html, encoding="utf-8")
    return path, result


@pytest.fixture
def browser(chromium_ready, tmp_path: Path):
    driver = headless_chromium(download_dir=tmp_path / "downloads")
    yield driver
    driver.quit()


def test_every_chart_draws_without_errors_or_requests(browser, report):
    path, result = report
    assert open_report(browser, path) == "drawn"
    marks = browser.execute_script(
        "var marks = arguments[0], out = {}; document.querySelectorAll('div.chart').forEach(function (d) {"
        " out[d.id] = [d.querySelectorAll('svg.main-svg').length, d.querySelectorAll(marks).length]; });"
        " return out;", MARKS)
    assert sorted(marks) == sorted(f"chart-{key}" for key in result.charts)
    for chart, (svgs, count) in marks.items():
        assert svgs > 0 and count > 0, f"{chart} drew nothing: {svgs} svg, {count} marks"
    assert marks["chart-status"][1] == 7  # one bar per status of the 32 included trials
    assert marks["chart-countries"][1] == 8
    assert marks["chart-funnel"][1] == 4  # fetched, CAR, immune-mediated, included
    assert browser.execute_script("return document.querySelectorAll('svg.static-chart').length") == 0  # replaced
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    urls = requested_urls(browser)
    assert urls and all(u.split(":", 1)[0] in ("file", "data", "blob") for u in urls), urls


def test_csv_links_give_the_tables(browser, report, tmp_path: Path):
    path, _ = report
    open_report(browser, path)
    made = browser.execute_script("return trialkbCsv('csv-status')")
    assert made == "status,trials\nRECRUITING,19\nnot given,4\nNOT_YET_RECRUITING,3\nUNKNOWN,2\n" \
                   "ACTIVE_NOT_RECRUITING,2\nWITHDRAWN,1\nENROLLING_BY_INVITATION,1\n"
    pipeline = browser.execute_script("return trialkbCsv('csv-pipeline')")
    assert pipeline.splitlines()[0] == ("product,developer,target,cell and origin,diseases,furthest phase,trials,"
                                        "trial ids,facts from")
    assert pipeline == csv_text(rd.Table(*_table_from_csv_json(browser, "csv-pipeline")))
    browser.find_element("css selector", 'a.csv[data-table="csv-countries"]').click()
    target = tmp_path / "downloads" / "countries.csv"
    for _ in range(50):
        if target.exists():
            break
        time.sleep(0.1)
    assert target.read_text().splitlines()[:2] == ["country,trials", "China,16"]


def _table_from_csv_json(browser, element_id: str):
    data = browser.execute_script(f"return JSON.parse(document.getElementById('{element_id}').textContent)")
    return data["columns"], data["rows"]


def test_without_javascript_every_chart_is_a_static_picture(chromium_ready, report, tmp_path: Path):
    path, result = report
    driver = headless_chromium(javascript=False)
    try:
        driver.get(path.resolve().as_uri())
        pictures = driver.execute_script(
            "var out = {}; document.querySelectorAll('div.chart').forEach(function (d) {"
            " var svg = d.querySelector('svg.static-chart');"
            " out[d.id] = svg ? [svg.getBoundingClientRect().height, svg.querySelectorAll('rect, circle').length,"
            " svg.querySelector('title').textContent] : null; }); return out;")
        status = driver.execute_script("return document.querySelector('#chart-status svg').textContent")
        assert driver.execute_script("return document.body.dataset.charts || null") is None  # no script ran
    finally:
        driver.quit()
    assert sorted(pictures) == sorted(f"chart-{key}" for key in result.charts)
    for chart, picture in pictures.items():
        assert picture and picture[0] > 100 and picture[1] > 0, f"{chart}: {picture}"
    assert pictures["chart-status"][1:] == [7, "Overall status"]  # a bar per status, as the drawn chart
    assert pictures["chart-countries"][1] == 8 and pictures["chart-funnel"][1] == 4
    assert "RECRUITING" in status
