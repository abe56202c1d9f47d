"""What the analyst reads from a store (issue 22), on SQLite and PostgreSQL: the card, the README's
allogeneic-products question, disease names in the analyst view, find's checked filters."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from apps.serve.metadata import ANALYST_QUERIES
from kb.analysis.card import card_lines, trial_card
from kb.analysis.find import Filters, FindError, find_trials
from kb.ingest.importer import import_paths
from tests.conftest import CTGOV

RECORDS = ("oncology/NCT03939026.json",    # ALLO-501 allogeneic CAR-T after ALLO-647 (anti-CD52), doses unstated
           "autoimmune/NCT05798117.json",  # SLE and lupus nephritis
           "autoimmune/NCT07335562.json")  # BMS-986353 with rituximab and tocilizumab arms


@pytest.fixture
def store(engine):  # type: ignore[no-untyped-def]
    import_paths(engine, [CTGOV / "realworld" / r for r in RECORDS], workers=0)
    return engine


def test_the_card_lists_car_products_and_co_medications_apart(store):
    card = trial_card(store, "nct03939026")
    lines = dict(card_lines(card))
    assert (card["products"], card["co_medications"]) == (["ALLO-501"], ["ALLO-647"])
    assert (lines["products"], lines["co-medications"]) == ("ALLO-501", "ALLO-647")
    assert lines["lymphodepletion"] == "cyclophosphamide, dose not stated; fludarabine, dose not stated"


def test_the_report_pipeline_lists_cell_products_only(store):
    from apps.report.data import load_report_data, pipeline

    rows = pipeline(load_report_data(store)).records()
    assert [(r["product"], r["trials"]) for r in rows if r["product"] in ("BMS-986353", "Rituximab", "Tocilizumab")] \
        == [("BMS-986353", 1)]
    assert trial_card(store, "NCT07335562")["co_medications"] == ["Rituximab", "Tocilizumab"]


def test_the_readme_allogeneic_products_are_car_products(store):
    with store.connect() as conn:
        rows = conn.execute(text(ANALYST_QUERIES["allogeneic_products"]["sql"])).all()
    assert [(r.product, r.trial_id) for r in rows] == [("ALLO-501", "NCT03939026")]


def test_the_analyst_view_names_the_diseases(store):
    with store.connect() as conn:
        names = conn.execute(text("SELECT disease_names FROM relevant_trial WHERE trial_id = 'NCT05798117'")).scalar()
    assert (names if isinstance(names, list) else __import__("json").loads(names)) == [
        "systemic lupus erythematosus", "lupus nephritis"]


@pytest.mark.parametrize("filters, message", [
    (Filters(status=["recruitng"]), "unknown status 'recruitng'; did you mean 'recruiting'"),
    (Filters(target=["CD1999"]), "unknown target 'CD1999'; did you mean 'CD19'"),
    (Filters(country=["Untied States"]), "unknown country 'Untied States'; did you mean 'United States'?"),
    (Filters(cell=["NKK"]), "unknown cell 'nkk'; did you mean 'NK'?"),
    (Filters(origin=["allo"]), "unknown origin 'allo'; did you mean 'allogeneic'?"),
    (Filters(sponsor=["Allogen Therapeutix"]), "unknown sponsor 'Allogen Therapeutix'; did you mean 'Allogene Therapeutics'?"),
    (Filters(disease=["lupuss"]), "unknown disease 'lupuss'; did you mean 'lupus'?"),
    (Filters(modality=["car-nkk"]), "unknown modality 'car-nkk'"),
])
def test_every_find_filter_is_checked_with_a_suggestion(store, filters, message):
    with pytest.raises(FindError, match="^" + re.escape(message)):
        find_trials(store, filters)


def test_known_values_in_any_case_find_trials(store):
    _, rows = find_trials(store, Filters(status=["Completed"], country=["united states"], cell=["t"],
                                         origin=["Allogeneic"], sponsor=["allogene"]))
    assert [r[0] for r in rows] == ["NCT03939026"]
