"""The search-expression evaluator of the test server (tests.support.essie), on real record text."""

from __future__ import annotations

import pytest

from tests.support.essie import ExpressionError, compile_expression, token_text
from tests.support.ctgov_server import _area_values
from tests.conftest import load


class Doc:
    def __init__(self, values: list[str], posted: str | None = "2025-03-01") -> None:
        self._text, self.posted = token_text(values), posted

    def text(self, area):  # noqa: ANN001
        return self._text

    def value(self, area):  # noqa: ANN001
        return self.posted


LCAR = Doc(["A Study of LCAR-AIO in Subjects With Relapsed/Refractory Systemic Lupus Erythematosus",
            "LCAR-AIO T cells"])


@pytest.mark.parametrize(("expression", "expected"), [
    ("lupus", True),
    ("LUPUS", True),  # case-insensitive
    ("CAR", False),  # not inside the word LCAR
    ("LCAR", True),
    ('"LCAR-AIO"', True),
    ("LCAR-AIO", True),
    ('"lupus systemic"', False),  # a phrase keeps its order
    ("lupus systemic", True),  # words side by side are ANDed
    ("lupus AND myositis", False),
    ("lupus OR myositis", True),
    ("myositis OR lupus AND cells", True),  # AND binds tighter than OR
    ("(myositis OR lupus) AND NOT cells", False),
    ("lupus NOT myositis", True),
    ("NOT lupus", False),
    ('"T cells" AND (AIO OR XYZ)', True),
    ("Erythematos", False),  # whole words only
])
def test_expressions_on_a_real_title(expression, expected):
    assert compile_expression(expression)(LCAR) is expected


def test_hyphen_and_space_spellings_are_the_same_phrase():
    for text in ("CAR-T cells", "CAR T cells", "CAR-T-cells"):
        assert compile_expression('"CAR-T" AND cells')(Doc([text]))
    assert not compile_expression('"CAR-T"')(Doc(["CART19 cells"]))
    assert compile_expression("CAR-γδT")(Doc(["Universal CD19-targeting CAR-γδT Cells"]))


def test_a_phrase_never_spans_two_field_values():
    assert not compile_expression('"lupus nephritis"')(Doc(["Systemic Lupus", "Nephritis"]))


@pytest.mark.parametrize(("expression", "expected"), [
    ("AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]", True),
    ("AREA[LastUpdatePostDate]RANGE[2025-03-01,2025-03-01]", True),
    ("AREA[LastUpdatePostDate]RANGE[2025-03-02,MAX]", False),
    ("AREA[LastUpdatePostDate]RANGE[MIN,2024-12-31]", False),
    ("lupus AND AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]", True),
])
def test_date_ranges(expression, expected):
    assert compile_expression(expression)(LCAR) is expected


def test_a_study_without_the_date_is_outside_every_range():
    assert not compile_expression("AREA[LastUpdatePostDate]RANGE[MIN,MAX]")(Doc(["x"], posted=None))


@pytest.mark.parametrize("expression", ["", "(lupus", "lupus)", "lupus AND", "NOT", '""', "AND lupus"])
def test_bad_expressions_are_refused(expression):
    with pytest.raises(ExpressionError):
        compile_expression(expression)


def test_each_parameter_searches_its_own_part_of_the_record():
    seed = load("domain/NCT06464679.json")
    assert _area_values(seed, "ConditionSearch")[0] == "Autoimmune Diseases"
    assert "Fludarabine" not in " ".join(_area_values(seed, "ConditionSearch"))
    assert _area_values(seed, "InterventionSearch")[0] == "anti-CD19 CAR NK cells"
    assert _area_values(seed, "SponsorSearch")[0] == "Changhai Hospital"
    assert all(v in _area_values(seed, "BasicSearch") for v in _area_values(seed, "InterventionSearch") if v)
