"""WHO ICTRP exports through the import: the real samples in shared/data/ictrp, every row stored or
rejected with a reason, the XML and CSV of one trial stored alike, ChiCTR text in English or Chinese."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from sqlalchemy import select

from kb.domain import records
from kb.domain.ictrp import normalize_record
from kb.ingest.ictrp_files import csv_records, xml_records
from kb.ingest.importer import import_paths
from kb.store.models import Trial
from tests.conftest import DATA, ROOT

ICTRP = DATA / "ictrp"
SAMPLE = ICTRP / "ictrp_main_sample.csv"
FILES = ROOT / "tests" / "files" / "ictrp"


@pytest.fixture(scope="module")
def sample_rows() -> list[tuple[dict, dict]]:
    """(the sample's own row, our record) for every row of the real CSV sample."""
    rows = list(csv.DictReader(SAMPLE.open(encoding="utf-8-sig")))
    records = [record for _, record, _ in csv_records(SAMPLE.read_text(encoding="utf-8"))]
    return list(zip(rows, records, strict=True))


def test_every_sample_row_is_read(sample_rows):
    assert len(sample_rows) == 125
    assert all(record is not None for _, record in sample_rows)


def test_trials_per_registry_of_the_csv_sample(sample_rows):
    registries = Counter(normalize_record(record).trial["registry_name"] for _, record in sample_rows)
    assert registries == {"ctgov": 53, "euctr": 27, "chictr": 9, "ctri": 9, "irct": 9, "jrct": 6, "umin": 2,
                          "japic": 2, "anzctr": 2, "kct": 2, "tctr": 2, "isrctn": 1, "pactr": 1}


def test_dates_follow_each_registrys_format(sample_rows):
    """The sample carries its own reading of each date (Date_*_format): ours agrees on every row, except
    that a month-only date stays a month where the sample inferred day 1 (Day_inferred)."""
    for row, record in sample_rows:
        trial = normalize_record(record).trial
        assert trial["first_posted_date"] == row["Date_registration_format"], row["TrialID"]
        if row["Day_inferred"] == "TRUE":
            assert (trial["start_date"], trial["start_date_precision"]) == (row["Date_enrollment_format"][:7], "month")
        else:
            assert trial["start_date"] == row["Date_enrollment_format"], row["TrialID"]


def test_one_csv_row_field_by_field(sample_rows):
    """ANZCTR's first row: HTML in conditions and interventions read with BeautifulSoup, placeholders dropped."""
    trial = normalize_record(sample_rows[0][1])
    row = trial.trial
    assert (row["trial_id"], row["registry_name"], row["nct_id"]) == ("ACTRN12619000423112", "anzctr", None)
    assert (row["overall_status"], row["phases"], row["study_type"]) == ("RECRUITING", ["PHASE2"], "INTERVENTIONAL")
    assert (row["enrollment_count"], row["sex"], row["minimum_age"], row["maximum_age"]) == (100, "ALL", "40 Years",
                                                                                           "80 Years")
    assert row["sponsor"] == "North Sydney Local Health District" and row["countries"] == ["Australia"]
    assert [c["name"] for c in trial.children["trial_condition"]] == [
        "Peripheral Arterial Disease", "Cardiovascular - Diseases of the vasculature and circulation including the "
        "lymphatic system"]
    assert "<br>" not in (row["eligibility_criteria"] or "")
    assert row["secondary_ids"] == []  # 'Nil Known' is a placeholder, not an id


def test_secondary_ids_and_bridging_in_the_ct_gov_shape(sample_rows):
    by_id = {record["ictrp"]["TrialID"]: record for _, record in sample_rows}
    trial = normalize_record(by_id["EUCTR2018-003012-51-DK"]).trial
    assert trial["trial_id"] == "2018-003012-51" and trial["registry_name"] == "euctr"
    assert trial["secondary_ids"] == [
        {"id": "D5084C00007", "type": None, "domain": "ICTRP SecondaryIDs"},
        {"id": "NCT03778229", "type": "REGISTRY", "domain": "ICTRP SecondaryIDs"}]
    links = {(r["key"], r["field"]) for r in records.normalize_record(by_id["EUCTR2018-003012-51-DK"]).children["trial_link"]}
    assert links == {("2018-003012-51", "self"), ("NCT03778229", "secondary_ids REGISTRY ICTRP SecondaryIDs")}


def test_the_xml_and_the_csv_of_one_trial_store_the_same_trial(tmp_path):
    from kb.store.db import open_store

    stored = []
    for name, path in (("xml", ICTRP / "ChiCTR2000034346.xml"), ("csv", FILES / "ChiCTR2000034346.csv")):
        engine = open_store(f"sqlite:///{tmp_path / name}.db")
        summary = import_paths(engine, [path], workers=0)
        assert summary.counts()["new"] == 1 and not summary.rejected
        with engine.connect() as conn:
            row = dict(conn.execute(select(Trial)).mappings().one())
        for column in ("content_hash", "source", "first_seen_at", "updated_at"):
            row.pop(column)
        stored.append(row)
    assert stored[0] == stored[1]
    assert stored[0]["trial_id"] == "ChiCTR2000034346" and stored[0]["enrollment_count"] == 2418 + 821
    both = import_paths(engine, [ICTRP / "ChiCTR2000034346.xml"], workers=0)  # the CSV's store: the same record
    assert (both.counts()["unchanged"], both.counts()["history"]) == (1, 0)
    assert stored[0]["warnings"] == ["phase 'Retrospective study' has no ClinicalTrials.gov equivalent; not stored"]


def test_the_portal_xml_shape_is_read_too():
    records = list(xml_records((DATA / "registries" / "ictrp" / "ICTRP-Results_18Mar2020.subset3.xml").read_bytes()))
    trials = [normalize_record(record).trial for _, record, _ in records]
    assert [(t["trial_id"], t["last_update_posted_date"], t["start_date"]) for t in trials] == [
        ("ChiCTR2000029953", "2020-02-17", "2020-02-01"), ("ChiCTR2000029935", "2020-02-17", "2020-02-06"),
        ("NCT00523276", None, "1996-01")]  # ICTRP's copy of a CT.gov record: never newer than the API's
    assert trials[2]["nct_id"] == "NCT00523276" and trials[2]["first_posted_date"] == "2007-08-30"


def test_every_file_of_the_samples_is_imported_or_rejected_with_a_reason(engine):
    """On SQLite and PostgreSQL; a second import changes nothing."""
    summary = import_paths(engine, [ICTRP, DATA / "registries" / "ictrp"], workers=0)
    assert summary.counts()["new"] == 125 + 1 + 3
    assert [(r.origin.rsplit("/", 1)[-1], r.reason) for r in summary.rejected] == [
        ("registry_prefixes_date_formats.csv", "not a WHO ICTRP CSV export (no TrialID column in the header)")]
    again = import_paths(engine, [ICTRP, DATA / "registries" / "ictrp"], workers=0).counts()
    assert (again["new"], again["changed"], again["unchanged"]) == (0, 0, 129)


@pytest.mark.parametrize("raw, reason", [
    (b"<catalog><book/></catalog>", "not a WHO ICTRP XML export (root element <catalog>)"),
    (b"<trials><Triall><main><trial_id>ABC123</trial_id></main></Triall></trials>",
     "TrialID 'ABC123': 'ABC123' is not a trial id"),
    (b"<trials><Triall><main><public_title>x</public_title></main></Triall></trials>", "no TrialID"),
    (b"<trials><Triall>", "invalid XML: no element found"),
])
def test_bad_xml_is_rejected_with_its_reason(tmp_path, sqlite_engine, raw, reason):
    path = tmp_path / "export.xml"
    path.write_bytes(raw)
    summary = import_paths(sqlite_engine, [path], workers=0)
    assert len(summary.rejected) == 1 and summary.rejected[0].reason.startswith(reason)


def test_a_csv_row_with_missing_cells_is_rejected_and_the_rest_stored(tmp_path, sqlite_engine):
    path = tmp_path / "export.csv"
    path.write_text("TrialID,public_title,Recruitment_status\nChiCTR2000034346,A title,Completed\nNCT00523276,short\n",
                    encoding="utf-8")
    summary = import_paths(sqlite_engine, [path], workers=0)
    assert summary.counts()["new"] == 1
    assert [(r.origin.rsplit("/", 1)[-1], r.reason) for r in summary.rejected] == [
        ("export.csv:3", "2 cells where the header has 3")]


REAL_TITLES = {  # the two real ChiCTR CAR-T registrations of tests/files/ictrp, English and Chinese titles
    "ChiCTR2500105227": ("Chimeric Antigen Receptor T-Cell Immunotherapy for Refractory Lupus Nephritis",
                         "CAR-T 治疗难治性狼疮性肾炎临床研究", ["lupus_nephritis"], []),
    "ChiCTR2600122319": ("Clinical study on the safety and efficacy of humanized chimeric antigen receptor gene "
                         "modified T cell therapy targeting CD19 for relapse/refractory systemic lupus erythematosus",
                         "靶向CD19的人源化嵌合抗原受体基因修饰的T细胞治疗复发/难治性系统性红斑狼疮安全性和有效性的临床研究",
                         ["sle"], ["CD19"]),
}


@pytest.mark.parametrize("trial_id", sorted(REAL_TITLES))
@pytest.mark.parametrize("language", [0, 1], ids=["english", "chinese"])
def test_a_chictr_car_t_trial_in_lupus_is_relevant_from_either_title(trial_id, language):
    english, chinese, diseases, targets = REAL_TITLES[trial_id]
    title = (english, chinese)[language]
    trial = normalize_record({"ictrp": {"TrialID": trial_id, "public_title": title}}).trial
    assert (trial["is_car_therapy"], trial["is_relevant"], trial["cell_type"]) == (True, True, "T")
    assert (trial["disease_categories"], trial["targets"]) == (diseases, targets)


def test_the_chinese_titles_file_holds_those_titles():
    assert (FILES / "chictr_titles_zh.txt").read_text(encoding="utf-8").splitlines() == [
        REAL_TITLES["ChiCTR2500105227"][1], REAL_TITLES["ChiCTR2600122319"][1]]


@pytest.mark.parametrize("title, cell, targets, diseases", [
    ("CD19 CAR-NK细胞治疗重症肌无力", "NK", ["CD19"], ["myasthenia_gravis"]),
    ("B细胞成熟抗原嵌合抗原受体T细胞治疗视神经脊髓炎", "T", ["BCMA"], ["nmosd"]),
    ("嵌合抗原受体自然杀伤细胞治疗干燥综合征", "NK", [], ["sjogren"]),
])
def test_chinese_wordings_of_the_lexicon(title, cell, targets, diseases):
    trial = normalize_record({"ictrp": {"TrialID": "ChiCTR2000034346", "public_title": title}}).trial
    assert (trial["is_car_therapy"], trial["cell_type"], trial["targets"], trial["disease_categories"]) == (
        True, cell, targets, diseases)


COPY = b"""<trials><Triall><main><trial_id>NCT06010472</trial_id><public_title>ICTRP's copy</public_title>
<last_refreshed_on>2030-01-01</last_refreshed_on></main></Triall></trials>"""


@pytest.mark.parametrize("copy_first", [True, False], ids=["copy-first", "api-first"])
def test_the_registrys_own_record_beats_ictrps_copy(engine, tmp_path, copy_first):
    """An ICTRP row of a ClinicalTrials.gov trial never replaces the API record, in either order."""
    copy = tmp_path / "copy.xml"
    copy.write_bytes(COPY)
    api = DATA / "ctgov_v2" / "domain" / "NCT06010472.json"
    for path in ([copy, api] if copy_first else [api, copy]):
        import_paths(engine, [path], workers=0)
    with engine.connect() as conn:
        title = conn.execute(select(Trial.brief_title)).scalar_one()
    assert title.startswith("An Exploratory Clinical Study of Anti-CD19 CAR NK Cells")


def test_chictr_chinese_punctuation():
    """ChiCTR's Chinese fields separate groups with full-width colons and semicolons."""
    study = normalize_record({"ictrp": {"TrialID": "ChiCTR2500105227", "public_title": "CAR-T 治疗难治性狼疮性肾炎临床研究",
                                        "Interventions": "试验组：CD19 CAR-T细胞；对照组：标准治疗；",
                                        "Target_size": "试验组：20；对照组：10；"}})
    assert [(row["name"], row["arm_labels"]) for row in study.children["intervention"]] == [
        ("CD19 CAR-T细胞", ["试验组"]), ("标准治疗", ["对照组"])]
    assert [arm["label"] for arm in study.children["arm_group"]] == ["试验组", "对照组"]
    assert (study.trial["enrollment_count"], study.trial["targets"], study.trial["is_relevant"]) == (30, ["CD19"], True)
