"""The served compare page and posted results on the trial page, in a real headless Chromium; nothing
leaves 127.0.0.1 and the console stays clean."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kb.analysis.compare import compare_trials
from kb.ingest.importer import import_paths
from kb.store.db import open_store, readonly_engine
from tests.conftest import CTGOV
from tests.support.browser import requested_urls, serving

SEED, NANJING, LUPUS, DUPILUMAB = "NCT06464679", "NCT06613490", "NCT06010472", "NCT02210780"


@pytest.fixture(scope="module")
def compare_store(tmp_path_factory) -> Path:
    """The domain records, one real-world CAR-NK trial and a real record with posted results."""
    path = tmp_path_factory.mktemp("compare-serve") / "kb.db"
    engine = open_store(f"sqlite:///{path}")
    import_paths(engine, [CTGOV / "domain", CTGOV / f"realworld/autoimmune/{NANJING}.json",
                          CTGOV / f"registry_samples/{DUPILUMAB}.json"], workers=0)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def compare_server(compare_store):
    with serving(["--db", str(compare_store), "serve"]) as (_, base):
        yield base


@pytest.fixture
def page(browser, compare_server):
    """Open a path; afterwards check the console had no error and every request went to the server."""
    browser.get_log("browser"), requested_urls(browser)

    def open_(path: str):
        browser.get(compare_server + path)
        return browser

    yield open_
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    urls = requested_urls(browser)
    assert urls and all(u.startswith(compare_server + "/") for u in urls), urls


def cells(driver) -> dict[str, list[str]]:
    """The comparison table: attribute label -> [mark, value per trial]."""
    from selenium.webdriver.common.by import By

    out = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#comparison tbody tr"):
        label = row.find_element(By.TAG_NAME, "th").text
        out[label] = [" ".join(td.text.split()) for td in row.find_elements(By.TAG_NAME, "td")]
    return out


@pytest.mark.slow
def test_compare_page_shows_the_same_values_as_the_library(page, compare_store):
    from selenium.webdriver.common.by import By

    driver = page(f"/compare?ids={SEED},{NANJING},{LUPUS}")
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.compared-trial")] == [SEED, NANJING, LUPUS]
    table = cells(driver)
    assert table["targets"] == ["", "CD19", "CD19", "CD19"]
    assert table["cell"] == ["", "NK", "NK", "NK"]
    assert table["products"] == ["", "KN5501", "KN5501", "KN5501"]
    assert table["diseases"] == ["≠", "sjogren systemic_sclerosis myositis rheumatoid_arthritis",
                                 "myositis rheumatoid_arthritis", "sle"]
    assert table["lymphodepletion"] == ["≠", "fludarabine 25 mg/m2 days -5, -4, -3 cyclophosphamide 300 mg/m2 days "
                                             "-5, -4, -3", "—", "—"]
    expected = compare_trials(readonly_engine(f"sqlite:///{compare_store}"), [SEED, NANJING, LUPUS])
    differing = {a.label for a in expected.attributes if expected.differs[a.key]}
    assert {label for label, row in table.items() if row[0] == "≠"} == differing


@pytest.mark.slow
def test_facets_pick_the_trials_and_the_url_is_shareable(page, compare_store):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from kb.analysis.find import Filters, find_trials

    driver = page("/compare")
    form = driver.find_element(By.ID, "compare-form")
    Select(form.find_element(By.NAME, "target")).select_by_visible_text("CD19")
    Select(form.find_element(By.NAME, "cell")).select_by_visible_text("NK")
    Select(form.find_element(By.NAME, "status")).select_by_visible_text("RECRUITING")
    form.find_element(By.NAME, "differences").click()
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, 20).until(lambda d: "target=" in d.current_url and d.find_elements(By.ID, "comparison"))
    query = urllib.parse.parse_qs(urllib.parse.urlparse(driver.current_url).query)
    assert (query["target"], query["cell"], query["status"], query["differences"]) == (["CD19"], ["NK"], ["RECRUITING"], ["1"])
    picked = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.compared-trial")]
    _, rows = find_trials(readonly_engine(f"sqlite:///{compare_store}"),
                          Filters(target=["CD19"], cell=["NK"], status=["RECRUITING"], relevant_only=True), limit=5)
    assert picked == [row[0] for row in rows] and len(picked) == 5  # the first 5 trialkb find lists
    assert all(row[0] == "≠" for row in cells(driver).values())  # only the rows that differ
    shared = driver.current_url
    driver.get(shared)  # the same address draws the same comparison
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.compared-trial")] == picked


def test_the_similar_list_leads_to_a_comparison(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = page(f"/trial/{SEED}")
    similar = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.similar-trial")][:5]
    driver.find_element(By.ID, "compare-similar").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "comparison"))
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.compared-trial")] == [SEED, *similar]


def test_a_trial_with_posted_results_shows_adverse_events_by_arm(page):
    from selenium.webdriver.common.by import By

    driver = page(f"/trial/{DUPILUMAB}")
    rows = [[" ".join(td.text.split()) for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#adverse-events tbody tr")]
    assert rows == [["Placebo qw", "0/97", "0/97", "29/97"], ["Dupilumab 300 mg qw", "0/97", "3/97", "30/97"]]
    header = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#serious-events thead th")]
    assert header == ["term", "organ system", "Placebo qw", "Dupilumab 300 mg qw"]
    first = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#serious-events tbody tr:nth-child(1) td")]
    assert first == ["Mycosis fungoides stage iv", "Neoplasms benign, malignant and unspecified (incl cysts and polyps)",
                     "0/97", "1/97"]


def test_a_bad_id_is_a_400_with_the_reason(compare_server):
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{compare_server}/compare?ids=NCT99999999")
    assert answer.value.code == 400
    assert "NCT99999999 is not in the store" in answer.value.read().decode()
