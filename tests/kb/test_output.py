"""Query output is the same on SQLite and PostgreSQL: real booleans, nested JSON, ISO times."""

import json

from kb.ingest.importer import import_paths
from apps.output import to_csv, to_json, to_tsv
from kb.store.read import run_readonly_sql
from tests.conftest import CTGOV

QUERY = ("SELECT t.trial_id, t.is_car_therapy, t.phases, t.targets, t.lymphodepletion, t.enrollment_count, "
         "v.diff FROM trial t JOIN trial_version v ON v.trial_id = t.trial_id")


def test_json_csv_and_tsv_alike_on_every_database(engine):
    import_paths(engine, [CTGOV / "history/NCT06464679.2024-06.json"], workers=0)
    import_paths(engine, [CTGOV / "domain/NCT06464679.json"], workers=0)
    columns, rows = run_readonly_sql(engine, QUERY)
    assert json.loads(to_json(columns, rows)) == [{
        "trial_id": "NCT06464679", "is_car_therapy": True, "phases": ["PHASE1"], "targets": ["CD19"],
        "lymphodepletion": [{"drug": "fludarabine", "dose_mg_m2": 25, "days": [-5, -4, -3]},
                            {"drug": "cyclophosphamide", "dose_mg_m2": 300, "days": [-5, -4, -3]}],
        "enrollment_count": 72,
        "diff": {"overall_status": ["NOT_YET_RECRUITING", "RECRUITING"], "start_date": ["2024-06-30", "2024-06-27"],
                 "start_date_type": ["ESTIMATED", "ACTUAL"], "last_update_posted_date": [None, "2025-08-29"]}}]
    # for spreadsheets: a list's items joined by "; " (objects stay JSON)
    assert to_csv(columns, rows).splitlines()[1].startswith(
        'NCT06464679,true,PHASE1,CD19,"{""drug"":""fludarabine"",""dose_mg_m2"":25,""days"":[-5,-4,-3]}; '
        '{""drug"":""cyclophosphamide"",""dose_mg_m2"":300,""days"":[-5,-4,-3]}",72,"{""overall_status"":')
    assert to_tsv(columns, rows).splitlines()[1].startswith(
        'NCT06464679\ttrue\tPHASE1\tCD19\t{"drug":"fludarabine","dose_mg_m2":25,"days":[-5,-4,-3]}; {"drug":')
    (first_seen,) = run_readonly_sql(engine, "SELECT first_seen_at FROM trial")[1]
    assert json.loads(to_json(["first_seen_at"], [first_seen]))[0]["first_seen_at"][10] == "T"
