"""The report's comparison of the seed with its ten most similar trials, on SQLite and PostgreSQL."""

from __future__ import annotations

from apps.report import build_report
from apps.report.comparison import seed_comparison
from apps.report.network import SEED, seed_neighbourhood


def test_the_seed_against_its_ten_most_similar(store):
    hood = seed_neighbourhood(store.engine)
    table = seed_comparison(store.engine, hood)
    assert table.columns == ["attribute", "differs", SEED, *(row[0] for row in hood.similar.rows[:10])]
    assert len(table.columns) == 13  # attribute, differs, the seed and ten trials
    rows = {row[0]: row for row in table.rows}
    assert rows["products"][2] == "KN5501" and rows["cell"][2] == "NK" and rows["targets"][2] == "CD19"
    assert rows["lymphodepletion"][2] == ("fludarabine 25 mg/m2 days -5, -4, -3; "
                                          "cyclophosphamide 300 mg/m2 days -5, -4, -3")
    assert rows["diseases"][1] == "yes" and rows["registry"][1] == "no"


def test_the_report_page_holds_the_comparison(store):
    html = build_report(store.engine, store.between).html
    assert '<section id="comparison">' in html and 'id="csv-comparison"' in html
    assert "The seed against its 10 most similar trials" in html
