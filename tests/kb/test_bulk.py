"""Driver-level inserts and upserts store exactly what SQLAlchemy's own insert() stores."""

from datetime import datetime, timezone

from sqlalchemy import insert, select

from kb.bulk import insert_rows, table_rows, upsert
from kb.models import CrawlState, RunLog, Trial, TrialFact

ROW = {"kind": "crawl", "status": "ok", "started_at": datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc),
       "finished_at": None, "args": {"queries": ["car_x_immune"], "since": None}, "counts": None, "errors": []}


def _raw_rows(conn, table, order_by):
    """Stored values as the driver returns them, bypassing SQLAlchemy's result processing."""
    names = ", ".join(c.name for c in table.columns if c.name != "id")
    return conn.exec_driver_sql(f"SELECT {names} FROM {table.name} ORDER BY {order_by}").all()


def test_insert_rows_stores_what_sqlalchemy_stores(engine):
    with engine.begin() as conn:
        conn.execute(insert(RunLog.__table__), ROW)
        insert_rows(conn, RunLog.__table__, [ROW])
        first, second = _raw_rows(conn, RunLog.__table__, "id")
    assert first == second
    with engine.connect() as conn:
        runs = conn.execute(select(RunLog.started_at, RunLog.args, RunLog.counts)).all()
    assert runs[1] == (datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc),
                       {"queries": ["car_x_immune"], "since": None}, None) == runs[0]


def test_upsert_updates_on_conflict_and_ignores_with_no_columns(engine):
    table = CrawlState.__table__
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    with engine.begin() as conn:
        upsert(conn, table, [{"key": "a", "value": "1", "updated_at": now}, {"key": "b", "value": "2", "updated_at": now}],
               ["key"])
        upsert(conn, table, [{"key": "a", "value": "3", "updated_at": now}, {"key": "a", "value": "4", "updated_at": now}],
               ["key"])  # duplicate keys in one batch: the last wins
        upsert(conn, table, [{"key": "b", "value": "5", "updated_at": now}], ["key"], ())
        state = dict(conn.execute(select(table.c.key, table.c.value)).all())
    assert state == {"a": "4", "b": "2"}


def test_missing_columns_take_their_defaults(engine):
    with engine.begin() as conn:
        upsert(conn, Trial.__table__, [{"nct_id": "NCT00000001", "content_hash": "h", "source": "t",
                                        "first_seen_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                                        "updated_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}], ["nct_id"])
        row = conn.execute(select(Trial.registry_name, Trial.site_count, Trial.is_relevant, Trial.phases)).one()
    assert tuple(row) == ("ctgov", 0, False, None)


def test_table_rows_serializes_json_columns_only():
    rows = table_rows(TrialFact.__table__, [{"nct_id": "NCT00000001", "kind": "target", "value": "CD19"}])
    names = [c.name for c in TrialFact.__table__.columns]
    assert dict(zip(names, rows[0]))["value"] == "CD19"
    assert len(rows[0]) == len(names)


def test_insert_tuples_stores_json_text_and_nulls_alike_on_both_dialects(engine):
    from kb.bulk import insert_tuples
    from kb.models import Intervention

    with engine.begin() as conn:
        upsert(conn, Trial.__table__, [{"nct_id": "NCT00000001", "content_hash": "h", "source": "t",
                                        "first_seen_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                                        "updated_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}], ["nct_id"])
        rows = [{"nct_id": "NCT00000001", "position": 0, "type": "BIOLOGICAL", "name": "KN5501 CAR-NK",
                 "other_names": ["KN5501", "CD19 CAR-NK"], "description": "Sjögren's; 2×10⁶ cells/kg"},
                {"nct_id": "NCT00000001", "position": 1, "type": "DRUG", "name": "Fludarabine"}]
        insert_tuples(conn, Intervention.__table__, table_rows(Intervention.__table__, rows))
        stored = conn.execute(select(Intervention.name, Intervention.other_names, Intervention.description)
                              .order_by(Intervention.position)).all()
    assert [tuple(r) for r in stored] == [("KN5501 CAR-NK", ["KN5501", "CD19 CAR-NK"], "Sjögren's; 2×10⁶ cells/kg"),
                                          ("Fludarabine", None, None)]
