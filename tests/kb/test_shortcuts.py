"""The speed shortcuts find exactly what their plain patterns find, on every text of every
fixture and real-world record: a shortcut whose cues miss a new pattern fails here."""

from __future__ import annotations

import json
import re

import pytest

from kb.domain.extract.fields import READS, trial_texts
from kb.domain.extract.speed import SHORTCUTS
from kb.domain.normalize import RecordError, normalize_study
from kb.domain.lexicon import CHINESE, CHINESE_CAR_PHRASES, CHINESE_CELLS
from tests.conftest import CTGOV, DATA, ROOT


def _texts() -> tuple[int, list[str]]:
    """(records read, their distinct texts)."""
    texts: set[str] = set()
    records = 0
    for path in sorted(CTGOV.rglob("*.json")):
        if "api_spec" in path.parts:
            continue
        data = json.loads(path.read_text())
        try:
            study = normalize_study(data[0] if isinstance(data, list) else data)
        except RecordError:  # the bad-input fixtures
            continue
        texts.update(text for _, text in trial_texts(study.trial, study.children))
        records += 1
    for study in _ictrp_studies():  # registry text of other registries, Chinese included
        texts.update(text for _, text in trial_texts(study.trial, study.children))
        records += 1
    texts.update((ROOT / "tests" / "files" / "ictrp" / "chictr_titles_zh.txt").read_text(encoding="utf-8").splitlines())
    for entry in CHINESE["diseases"]:  # every Chinese term in a sentence, after a CAR wording
        texts.update(f"CD19 CAR-T细胞治疗难治性{term}的临床研究" for term in entry["terms"])
    texts.update(f"靶向CD19的{phrase}{cell}" for phrase in CHINESE_CAR_PHRASES for cell in CHINESE_CELLS)
    return records, sorted(texts)


def _ictrp_studies() -> list:
    """The WHO ICTRP samples and test files, normalized."""
    from kb.domain.ictrp import normalize_record
    from kb.ingest.ictrp_files import csv_records, xml_records

    sample = DATA / "ictrp" / "ictrp_main_sample.csv"
    records = [r for _, r, _ in csv_records(sample.read_text(encoding="utf-8"))]
    for path in (DATA / "ictrp" / "ChiCTR2000034346.xml", ROOT / "tests" / "files" / "ictrp" / "chictr_car_autoimmune.xml"):
        records += [r for _, r, _ in xml_records(path.read_bytes())]
    return [normalize_record(r) for r in records]


@pytest.fixture(scope="module")
def read() -> tuple[int, list[str]]:
    return _texts()


@pytest.fixture(scope="module")
def texts(read) -> list[str]:
    return read[1]


@pytest.mark.slow
def test_every_record_is_read(read):
    assert read[0] >= 1241 + 44  # the real-world records and the labelled development set at least


@pytest.mark.parametrize("shortcut", SHORTCUTS, ids=lambda s: s.name)
@pytest.mark.slow
def test_shortcut_finds_what_its_pattern_finds(shortcut, texts):
    found = 0
    for text in texts:
        fast = shortcut.spans(text)
        assert fast == shortcut.spans(text, fast=False), (shortcut.name, text[:200])
        found += bool(fast)
    assert found > 0  # the pattern matches something real


@pytest.mark.parametrize("shortcut", SHORTCUTS, ids=lambda s: s.name)
@pytest.mark.slow
def test_shortcut_keeps_matches_in_upper_and_odd_case(shortcut, texts):
    """Upper case, swapped case, a dotless i before words, a long s for every s: fast and plain agree."""
    for text in texts:
        if shortcut.spans(text, fast=False):
            odd = ("ı" + text.replace(" ", " ı", 3), text.replace("s", "ſ"))
            for variant in (text.upper(), text.swapcase(), *odd):
                assert shortcut.spans(variant) == shortcut.spans(variant, fast=False), (shortcut.name, variant[:200])


def test_every_field_the_read_table_names_is_a_field_of_the_texts():
    """A misspelt field in fields.READS would silently read nothing."""
    produced = {"eligibility_cohort"}
    for path in [*sorted((CTGOV / "domain").glob("*.json")), *sorted((CTGOV / "registry_samples").glob("NCT*.json"))]:
        data = json.loads(path.read_text())
        study = normalize_study(data[0] if isinstance(data, list) else data)
        produced |= {where for where, _ in trial_texts(study.trial, study.children)}
    named = {f for tiers in READS.values() for fields in tiers for f in fields}
    assert named <= produced, named - produced


@pytest.mark.parametrize("name", ["endpoint kind", "antigen", "disease phrase", "cancer phrase"])
def test_case_insensitive_shortcuts_take_the_plain_way_for_odd_case_letters(name):
    """'İCANS', 'lımıtıng', 'doſe', 'BCMA' with a Kelvin sign: a case-insensitive pattern matches these
    letters to ASCII ones that a cue looked for in lower-cased text would miss (found in review: the
    endpoint shortcut gave nothing, or another kind, for 132 such variants of real outcome texts)."""
    shortcut = next(s for s in SHORTCUTS if s.name == name)
    texts = ["Obtain the maximum tolerated doſe of CD19 CAR-T", "İCANS occurrence evaluation",
             "Frequency of dose lımıtıng toxıcıtıes (DLTs)", "Anti-BCMA and CD19 CAR-T cells", "ſLAMF7 and \u212aIT",
             "B-cell ıMalignancy", "Refractory ıImmune Thrombocytopenia and Lupus", "B Cell ſAcute Lymphoblastic Leukemia",
             "ſystemic ſclerosis", "Multiple ſclerosis and lymphoma", "Igϰ CAR-T cells in lymphoma"]
    found = 0
    for text in texts:
        assert shortcut.spans(text) == shortcut.spans(text, fast=False), text
        found += bool(shortcut.spans(text))
    assert found >= 2


def test_every_letter_a_pattern_matches_without_lower_casing_into_it_is_an_odd_case_letter():
    """A letter that ``(?i)`` matches to a letter of the patterns or the lexicon but does not lower-case into
    it ('ϰ' to the 'κ' of 'Igκ', 'ı' to 'i') hides a cue in lower-cased text: each is in ODD_CASE."""

    from kb.domain.extract.speed import ODD_CASE

    letters = {c for s in SHORTCUTS if isinstance(pattern := getattr(s.plain, "__self__", None), re.Pattern)
               for c in pattern.pattern if c.upper() != c.lower()}
    letters |= {c for path in (ROOT / "kb/domain/lexicon").glob("*.json") for c in path.read_text()
                if c.upper() != c.lower()}
    assert {"a", "S", "é", "κ", "α"} <= letters
    hiding = {other for letter in letters for other in map(chr, range(0x80, 0x3000))
              if other.lower() != letter.lower() and re.fullmatch("(?i)" + re.escape(letter), other)}
    assert hiding == {"ı", "İ", "ſ", "ϰ"} and hiding <= set(ODD_CASE)


def test_a_pattern_without_a_cue_does_not_bring_in_the_rest_of_its_entry():
    """An entry with one short abbreviation ('\\bCK\\b') is tried in every text, but only that pattern is:
    its phrases join the alternation only with their cues, and the matches stay the whole alternation's."""
    from kb.domain.extract.speed import CuedAlternation

    entries = [("myositis", (r"\bCK\b", "creatine kinase", "manual muscle test")), ("crs", ("cytokine release",))]
    cued = CuedAlternation("", entries)
    assert cued.always == [(0, 0)]
    for text in ("ck at week 12", "creatine kinase and ck", "cytokine release syndrome", "no cue here"):
        spans = [(m.start(), m.end(), m.lastgroup) for m in cued.finditer(text)]
        assert spans == [(m.start(), m.end(), m.lastgroup) for m in cued.whole.finditer(text)]
    assert cued._subset(tuple(cued.always)).pattern == r"(?:(?P<myositis>\bck\b))"  # what a text without cues gets
    assert cued.whole.pattern == r"(?:(?P<myositis>\bck\b|creatine kinase|manual muscle test)|(?P<crs>cytokine release))"


@pytest.mark.slow
def test_origin_and_diseases_find_the_same_with_one_look_at_all_texts():
    """parse_origin and parse_diseases skip what no text of a tier holds a cue of: the same facts as
    looking in every text, on every real record."""
    from kb.domain.extract.diseases import parse_diseases
    from kb.domain.extract.facts import Facts
    from kb.domain.extract.origin import parse_origin

    compared, found = 0, {"origin": 0, "disease": 0}
    for path in sorted(CTGOV.rglob("NCT*.json")):
        data = json.loads(path.read_text())
        try:
            study = normalize_study(data[0] if isinstance(data, list) else data)
        except RecordError:
            continue
        texts = trial_texts(study.trial, study.children)
        for kind, parse in (("origin", lambda facts, one_look: parse_origin(texts, facts, one_look)),
                            ("disease", lambda facts, one_look: parse_diseases(
                                study.trial, texts, study.mesh_terms, study.children, facts, one_look))):
            fast, plain = Facts(), Facts()
            parse(fast, True)
            parse(plain, False)
            assert fast.facts == plain.facts, (kind, path.name)
            found[kind] += bool(fast.facts)
        compared += 1
    assert compared >= 1241 and found["origin"] >= 150 and found["disease"] >= 1000


def test_one_look_takes_the_plain_way_for_a_tier_with_a_long_s():
    """A long s hides every disease cue from the lower-cased joined text ('lupuſ' is not 'lupus'), while
    the plain pattern reads it as an s: one look then tries every kind, and finds what looking in every
    text finds."""
    from kb.domain.extract.diseases import parse_diseases
    from kb.domain.extract.facts import Facts

    texts = [("condition", "Lupuſ Nephritiſ"), ("condition", "Syſtemic Sclerosiſ")]
    found = []
    for one_look in (True, False):
        facts = Facts()
        parse_diseases({}, texts, {}, {"trial_mesh": []}, facts, one_look)
        found.append(facts.disease_categories)
    assert found == [["lupus_nephritis", "systemic_sclerosis"]] * 2


def test_a_pattern_for_lower_cased_text_may_not_switch_case_sensitivity():
    """Lower-casing '(?-i:CAR)' would match 'car' only: such a pattern is refused, not changed."""
    from kb.domain.extract.speed import CuedAlternation

    with pytest.raises(ValueError, match="cannot turn case-sensitivity on or off"):
        CuedAlternation(r"\b", [("car", (r"(?-i:CAR)[- ]T",))], lower=True)
    assert CuedAlternation(r"\b", [("car", (r"(?-i:CAR)[- ]T",))], flags=re.IGNORECASE, lower=False).whole


def test_a_product_named_with_a_dotless_i_or_a_long_s_is_the_lexicon_s_product():
    """'ıde-cel' is ide-cel to the case-insensitive alias pattern: the fast path finds it, and the alias's
    product is found (the lookup by the lower-cased match had raised KeyError)."""
    from kb.domain.extract.facts import Facts
    from kb.domain.extract.products import parse_products

    found = []
    for text in ("Ide-cel in myeloma", "ıde-cel in myeloma", "Tiſagenlecleucel", "KYV-101 and cılta-cel"):
        facts = Facts()
        found.append([p.code for p in parse_products([("intervention", text)], facts, True)])
    assert found == [["bb2121"], ["bb2121"], ["CTL019"], ["KYV-101", "JNJ-68284528"]]
