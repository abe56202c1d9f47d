"""The served store in a real headless Chromium: trial pages, their links, facets; nothing leaves 127.0.0.1."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from tests.support.browser import requested_urls

pytestmark = pytest.mark.slow  # a real Chromium: seconds a page

SEED = "NCT06464679"


@pytest.fixture
def page(browser, server):
    """Open a path; afterwards check the console had no error and every request went to the server."""
    browser.get_log("browser"), requested_urls(browser)  # start clean

    def open_(path: str):
        browser.get(server + path)
        return browser

    yield open_
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    urls = requested_urls(browser)
    assert urls and all(u.startswith(server + "/") for u in urls), [u for u in urls if not u.startswith(server)]


def text_of(driver, css: str) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(driver.find_element(By.CSS_SELECTOR, css).text.split())


def links(driver, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, css)]


def test_trial_page_shows_facts_with_field_and_quote(page):
    from selenium.webdriver.common.by import By

    driver = page(f"/trial/{SEED}")
    assert text_of(driver, "#trial-title").startswith(f"{SEED} An Exploratory Clinical Study of CD19 CAR NK Cell")
    assert driver.find_element(By.ID, "registry-link").get_attribute("href") == f"https://clinicaltrials.gov/study/{SEED}"
    cells = [[" ".join(td.text.split()) for td in row.find_elements(By.TAG_NAME, "td")]
             for row in driver.find_elements(By.CSS_SELECTOR, "tr.fact")]
    rows = {(kind, value): quotes for kind, value, quotes in cells}
    assert rows[("disease", "Sjogren's syndrome (sjogren)")] == "eligibility_cohort “Relapsing refractory dry syndrome”"
    assert rows[("product", "KN5501")].startswith("outcome “…terize the safety of CD19 CAR NK Cells (KN5501)")
    summary = text_of(driver, "#summary")
    assert "lymphodepletion fludarabine 25 mg/m2 on days -5, -4, -3; cyclophosphamide 300 mg/m2 on days -5, -4, -3" \
        in summary
    history = text_of(driver, "#history")
    assert "1 change since" in history and "overall_status NOT_YET_RECRUITING RECRUITING" in history


def test_similar_trials_are_linked_and_the_links_work(page, server, served_store):
    from graph.cache import load_index
    from kb.store.db import readonly_engine

    expected = load_index(readonly_engine(f"sqlite:///{served_store}"))[0].similar(SEED, top=10)  # as `trialkb similar`
    driver = page(f"/trial/{SEED}")
    hrefs = links(driver, "a.similar-trial")
    assert hrefs == [f"{server}/trial/{r['trial_id']}" for r in expected]
    first = text_of(driver, "#similar tbody tr:nth-child(1)")
    assert f"{expected[0]['score']:.3f}" in first and expected[0]["why"] in first and "KN5501" in first
    for href in hrefs:  # every link answers with that trial's page
        with urllib.request.urlopen(href) as answer:
            assert answer.status == 200 and href.rsplit("/", 1)[1] in answer.read().decode()
    driver.get(hrefs[0])
    assert text_of(driver, "#trial-title").startswith(f"{expected[0]['trial_id']} ")
    assert f"{server}/trial/{SEED}" in links(driver, "a.similar-trial")  # and it links back


def test_a_fact_links_to_the_filtered_analyst_view(page):
    from selenium.webdriver.common.by import By

    driver = page(f"/trial/{SEED}")
    driver.find_element(By.LINK_TEXT, "Sjogren's syndrome (sjogren)").click()
    assert re.match(r"\d+ rows? where disease_names contains \"Sjogren's syndrome\"", text_of(driver, "h3"))


def row_count(driver) -> int:
    return int(re.match(r"([\d,]+) rows?", text_of(driver, "h3")).group(1).replace(",", ""))


def test_a_facet_changes_the_count(page):
    from selenium.webdriver.common.by import By

    driver = page("/")
    driver.find_element(By.LINK_TEXT, "CAR cell-therapy trials in immune-mediated disease").click()
    assert driver.current_url.endswith("/trialkb/relevant_trial")
    assert row_count(driver) == 32
    facet = driver.find_element(By.CSS_SELECTOR, "#facet-targets")
    facet.find_element(By.XPATH, ".//a[normalize-space()='CD19']").click()
    assert row_count(driver) == 24
    status = driver.find_element(By.CSS_SELECTOR, "#facet-status")
    status.find_element(By.XPATH, ".//a[normalize-space()='RECRUITING']").click()
    assert row_count(driver) == 14
    assert all(nct.startswith(f"{driver.current_url.split('/trialkb/')[0]}/trial/NCT")
               for nct in links(driver, "td.col-trial_id a"))


def test_canned_query_answers(page):
    driver = page("/trialkb/recruiting_cd19_car_nk_in_lupus")
    assert [a.rsplit("/", 1)[1] for a in links(driver, "td.col-trial_id a")] == [
        "NCT07490041", "NCT06614270", "NCT06010472"]


def test_unknown_trial_is_a_404_page(server):
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{server}/trial/NCT99999999")
    assert answer.value.code == 404
    assert "NCT99999999 is not in the store" in answer.value.read().decode()
