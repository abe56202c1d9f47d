"""Fuzzing: real records mutated along the OpenAPI schema never crash the normalizer or the import.

Each record is stored or rejected with a reason, and the rest of its batch is stored. CI runs
about 10,000 records (``TRIALKB_FUZZ_RECORDS`` runs more); the stored / rejected counts are
printed at the end (``pytest -s``).
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.ingest.importer import import_paths
from kb.store.write import PreparedStudy, Rejected, prepare
from tests.conftest import load
from tests.kb.fuzz_records import mutated_record, nested, walk, with_duplicate_key

RECORDS = int(os.environ.get("TRIALKB_FUZZ_RECORDS", "10000"))
BATCH = 25
FAST = settings(max_examples=max(1, RECORDS // BATCH), deadline=None, derandomize="TRIALKB_FUZZ_SEED" not in os.environ,
                suppress_health_check=list(HealthCheck))
COUNTS: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if COUNTS:
        print(f"\nfuzz: {dict(sorted(COUNTS.items()))}")


@FAST
@given(st.lists(mutated_record(), min_size=BATCH, max_size=BATCH))
@pytest.mark.slow
def test_the_normalizer_stores_or_rejects_every_record(records):
    for record in records:
        result = prepare("fuzz", record.data)  # must not raise, whatever the record
        assert isinstance(result, (PreparedStudy, Rejected))
        if isinstance(result, Rejected):
            assert result.reason
        COUNTS["normalizer_" + ("stored" if isinstance(result, PreparedStudy) else "rejected")] += 1


def test_a_value_nested_thousands_deep_is_rejected_not_a_crash():
    """Found by this fuzzing: the error message's repr of the value recursed without end."""
    record = load("domain/NCT06464679.json")
    record["protocolSection"]["identificationModule"]["nctId"] = nested(2000)
    result = prepare("deep", record)
    assert isinstance(result, Rejected) and result.reason.startswith("protocolSection.identificationModule.nctId:")


IMPORT_BATCHES = max(1, RECORDS // 200)


@settings(FAST, max_examples=IMPORT_BATCHES)
@given(st.lists(mutated_record(), min_size=10, max_size=10), st.data())
@pytest.mark.slow
def test_import_stores_or_rejects_each_record_and_keeps_the_rest(tmp_path_factory, records, data):
    """One JSON Lines file per example: mutated records (some with duplicated keys) and a good one."""
    from kb.store.db import open_store

    folder = tmp_path_factory.mktemp("fuzz")
    lines = []
    for mutated in records:
        record = mutated.data
        try:
            text = json.dumps(record, ensure_ascii=data.draw(st.booleans()))
        except (ValueError, RecursionError):  # deeper than json can write: it cannot reach a file either
            continue
        paths = [p for p in walk(record) if isinstance(p[-1], str)]
        if paths and data.draw(st.booleans()):
            path = data.draw(st.sampled_from(paths))
            text = with_duplicate_key(text, record, path, data.draw(st.sampled_from([None, 1, "dup", [], {}])))
        lines.append(text)
    lines.append(json.dumps(load("domain/NCT06464679.json")))
    (folder / "studies.jsonl").write_text("\n".join(lines) + "\n", errors="surrogatepass")
    engine = open_store(str(folder / "kb.db"))
    summary = import_paths(engine, [folder / "studies.jsonl"], workers=0)
    engine.dispose()
    assert summary.read == len(lines)
    assert summary.result.stored + len(summary.rejected) == summary.read
    assert all(r.reason for r in summary.rejected)
    assert "NCT06464679" not in {r.trial_id for r in summary.rejected if r.origin.endswith(f":{len(lines)}")}
    COUNTS["import_read"] += summary.read
    COUNTS["import_stored"] += summary.result.stored
    COUNTS["import_rejected"] += len(summary.rejected)
