"""Registry ids: ASCII only, whole strings, one canonical form (kb.core.ids)."""

import pytest

from kb.core.errors import BadArgument
from kb.core.ids import is_nct_id, match_trial_id, parse_trial_id, registry_url


@pytest.mark.parametrize("text, registry, canonical", [
    ("NCT06464679", "ctgov", "NCT06464679"),
    ("ChiCTR2000034346", "chictr", "ChiCTR2000034346"),
    ("ChiCTR-IOR-17013726", "chictr", "ChiCTR-IOR-17013726"),
    ("2023-505613-24-00", "ctis", "2023-505613-24-00"),  # CTIS before EudraCT, whose pattern matches its front
    ("2021-004994-30", "euctr", "2021-004994-30"),
    ("EUCTR2019-002663-10-ES", "euctr", "2019-002663-10"),
    ("ISRCTN13281214", "isrctn", "ISRCTN13281214"),
    ("JPRN-jRCT2031210001", "jrct", "jRCT2031210001"),
    ("ACTRN12620000123456", "anzctr", "ACTRN12620000123456"),
    ("CTRI/2021/05/033581", "ctri", "CTRI/2021/05/033581"),
    ("DRKS00012345", "drks", "DRKS00012345"),
    ("IRCT20200101046006N1", "irct", "IRCT20200101046006N1"),
])
def test_every_registry_id_has_one_canonical_form(text, registry, canonical):
    found = match_trial_id(text)
    assert (found.registry, found.id) == (registry, canonical)


@pytest.mark.parametrize("text", [
    "NCT\u0660\u0666\u0664\u0666\u0664\u0666\u0667\u0669",  # Arabic-Indic digits
    "NCT\uff10\uff16\uff14\uff16\uff14\uff16\uff17\uff19",  # full-width digits
    "NCT91000009\n", " NCT91000009", "NCT0646467", "NCT064646790", "ChiCTR20000343461",
])
def test_lookalike_ids_are_not_ids(text):
    assert match_trial_id(text) is None
    assert not is_nct_id(text)


def test_a_typed_argument_is_trimmed_and_any_case_but_never_unicode_digits():
    assert parse_trial_id(" nct06464679\n") == "NCT06464679"
    with pytest.raises(BadArgument, match="is not a trial id"):
        parse_trial_id("NCT\u0660\u0666\u0664\u0666\u0664\u0666\u0667\u0669")


def test_registry_links():
    assert registry_url("2023-505613-24-00") == "https://euclinicaltrials.eu/ctis-public/view/2023-505613-24-00"
    assert registry_url("ISRCTN13281214") == "https://www.isrctn.com/ISRCTN13281214"
