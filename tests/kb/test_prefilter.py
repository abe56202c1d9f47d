"""The import's byte pre-filter (kb.domain.extract.speed.has_cue) never rejects what the full rules keep."""

import json

import orjson
import pytest

from kb.domain.extract.speed import has_cue
from kb.domain.normalize import RecordError, normalize_study
from tests.conftest import CTGOV


def _real_records() -> list[tuple[str, bytes, dict]]:
    """(name, bytes, study) of every real API v2 record: a file's own bytes when it holds one study."""
    out = []
    for path in sorted(CTGOV.rglob("*.json")):
        if "api_spec" in path.parts:
            continue
        data = json.loads(path.read_bytes())
        if isinstance(data, list):
            out += [(f"{path.relative_to(CTGOV)}[{i}]", orjson.dumps(study), study) for i, study in enumerate(data)]
        else:
            out.append((str(path.relative_to(CTGOV)), path.read_bytes(), data))
    return out


RECORDS = _real_records()


def _kept(study: dict, cells: bool) -> bool:
    try:
        trial = normalize_study(study).trial
    except RecordError:
        return False
    return trial["is_car_therapy"] is True or (cells and trial["cell_type"] is not None)


@pytest.mark.parametrize("cells", [False, True], ids=["car", "cell"])
def test_no_cue_means_the_full_rules_do_not_keep_it_on_every_real_record(cells):
    missed = [name for name, raw, study in RECORDS if not has_cue(raw, cells) and _kept(study, cells)]
    missed += [f"{name} (compact)" for name, _, study in RECORDS
               if not has_cue(orjson.dumps(study), cells) and _kept(study, cells)]
    assert missed == []


def test_the_pre_filter_passes_the_car_trials_and_rejects_the_registry_samples():
    kept = {name for name, _, study in RECORDS if _kept(study, False)}
    cued = {name for name, raw, _ in RECORDS if has_cue(raw)}
    assert (len(RECORDS), len(kept), len(cued)) == (1297, 1182, 1196) and kept <= cued
    # of the real registry records, only the CAR-T trial in myositis is parsed
    assert sorted(n for n in cued if n.startswith("registry_samples")) == [
        "registry_samples/NCT07715136.fields_subset.json[0]"]


@pytest.mark.parametrize("text, cue", [
    ("SUPPORTIVE_CARE", False), ("CARE_PROVIDER", False), ("cardiac care", False),
    ("CAR-T cells", True), ("anti-CD19 CAAR T", True), ("Chimeric Antigen Receptor", True), ("CHIMERIC", True),
    ("obecabtagene autoleucel", True), ("KYV\\\\-101 in lupus", True), ("kyv-101", True),
    ("&#67;AR-T", True), ("\\u0043AR-T", True), ("ch\u0131meric antigen receptor", True),
])
def test_cues_and_what_sends_a_record_to_the_full_rules(text, cue):
    raw = b'{"protocolSection": {"identificationModule": {"briefTitle": "' + text.encode() + b'"}}}'
    assert has_cue(raw) is cue


def test_cell_cues():
    assert has_cue(b'{"title": "Autologous NK cells"}', cells=True) and not has_cue(b'{"title": "NK cells"}')
