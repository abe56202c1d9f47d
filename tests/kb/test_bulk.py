"""The write path stores exactly what SQLAlchemy's own insert() stores, on SQLite and PostgreSQL.

Compared at the driver level (``exec_driver_sql``: the text, numbers and bytes in the database,
before any SQLAlchemy result processing), for every column type the models use: text, integer,
boolean, datetime (text on SQLite), JSON (list, dict, SQL NULL), binary.
"""

from datetime import datetime, timezone

import time_machine
from sqlalchemy import delete, insert, select

from kb.store.bulk import table_rows, table_rows_plain, upsert, upsert_filling
from kb.store.models import CHILD_TABLES, CrawlState, Intervention, MeshTerm, RawRecord, RunLog, Sponsor, Trial
from kb.domain.records import normalize_record
from kb.store.runlog import finish_run, start_run
from kb.store.write import TABLES, prepare, write_studies
from tests.conftest import load

FROZEN = datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=timezone.utc)  # a test across UTC midnight fails no more
STUDY_TABLES = ["trial", *CHILD_TABLES, "sponsor", "mesh_term", "raw_record"]


def _raw(conn, table_name):
    """Stored values as the driver returns them, in key order."""
    table = Trial.metadata.tables[table_name]
    names = ", ".join(c.name for c in table.columns if c is not table.autoincrement_column)
    keys = ", ".join(c.name for c in table.primary_key.columns)
    return conn.exec_driver_sql(f"SELECT {names} FROM {table_name} ORDER BY {keys}").all()


def _dump(engine, tables):
    with engine.connect() as conn:
        return {name: _raw(conn, name) for name in tables}


def _clear(engine):
    with engine.begin() as conn:
        for name in ["raw_record", *CHILD_TABLES, "trial", "sponsor", "mesh_term"]:
            conn.execute(delete(Trial.metadata.tables[name]))


@time_machine.travel(FROZEN, tick=False)
def test_write_studies_stores_what_sqlalchemy_stores(engine):
    """The production path (prepare in a worker, write_prepared) against plain insert() of the same rows."""
    studies = [("seed", load("domain/NCT06464679.json")), ("sample", load("registry_samples/NCT02210780.json"))]
    with engine.begin() as conn:  # between them: every child table, MeSH terms, sponsors
        write_studies(conn, studies, source="test")  # its clock: utcnow(), frozen
    ours = _dump(engine, STUDY_TABLES)
    _clear(engine)
    with engine.begin() as conn:
        for origin, data in studies:
            prepared = prepare(origin, data)
            study = normalize_record(data)
            conn.execute(insert(Sponsor.__table__), [{"name": n, "agency_class": c} for n, c in study.sponsors.items()])
            if study.mesh_terms:
                conn.execute(insert(MeshTerm.__table__), [{"mesh_id": m, "term": t} for m, t in study.mesh_terms.items()])
            conn.execute(insert(Trial.__table__), {**study.trial, "content_hash": prepared.content_hash,
                                                   "source": origin, "first_seen_at": FROZEN, "updated_at": FROZEN})
            for name in CHILD_TABLES:
                if study.children[name]:
                    conn.execute(insert(TABLES[name]), study.children[name])
            conn.execute(insert(RawRecord.__table__), {"trial_id": prepared.trial_id, "content_hash": prepared.content_hash,
                                                       "body": prepared.body, "source": origin,
                                                       "fetched_at": FROZEN, "checked_at": FROZEN})
    theirs = _dump(engine, STUDY_TABLES)
    assert {k: len(v) for k, v in ours.items()} == {k: len(v) for k, v in theirs.items()}
    assert all(ours.values()), [k for k, v in ours.items() if not v]
    for name in STUDY_TABLES:
        assert ours[name] == theirs[name], name


@time_machine.travel(FROZEN, tick=False)
def test_run_log_and_state_rows_match_sqlalchemy(engine):
    """upsert() (crawl state) and the run log against insert(): datetimes, JSON dicts and lists, NULLs."""
    run_id = start_run(engine, "crawl", {"queries": ["car_x_immune"], "since": None})
    finish_run(engine, run_id, "ok", {"new": 1}, [])
    with engine.begin() as conn:
        upsert(conn, CrawlState.__table__, [{"key": "a", "value": "1", "updated_at": FROZEN}], ["key"])
    ours = _dump(engine, ["run_log", "crawl_state"])
    with engine.begin() as conn:
        conn.execute(delete(RunLog.__table__))
        conn.execute(delete(CrawlState.__table__))
        row = conn.execute(select(RunLog.__table__.c.pid, RunLog.__table__.c.host)).first()
        conn.execute(insert(RunLog.__table__), {"kind": "crawl", "started_at": FROZEN, "finished_at": FROZEN,
                                                "status": "ok", "args": {"queries": ["car_x_immune"], "since": None},
                                                "counts": {"new": 1}, "errors": [], "pid": ours["run_log"][0][4],
                                                "host": ours["run_log"][0][5]})
        conn.execute(insert(CrawlState.__table__), {"key": "a", "value": "1", "updated_at": FROZEN})
    assert row is None
    assert _dump(engine, ["run_log", "crawl_state"]) == ours


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
        upsert(conn, Trial.__table__, [{"trial_id": "NCT00000001", "content_hash": "h", "source": "t",
                                        "first_seen_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                                        "updated_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}], ["trial_id"])
        row = conn.execute(select(Trial.registry_name, Trial.site_count, Trial.is_relevant, Trial.phases)).one()
    assert tuple(row) == ("ctgov", 0, False, None)


def test_table_rows_serializes_json_columns_only():
    """Intervention has JSON columns (other_names, arm_labels) beside text that looks like JSON."""
    rows = table_rows(Intervention.__table__, [{"trial_id": "NCT00000001", "position": 0, "name": '["not", "json"]',
                                               "other_names": ["KN5501", "CD19 CAR-NK"], "arm_labels": None}])
    values = dict(zip([c.name for c in Intervention.__table__.columns], rows[0]))
    assert values == {"trial_id": "NCT00000001", "position": 0, "type": None, "name": '["not", "json"]',
                      "description": None, "other_names": '["KN5501","CD19 CAR-NK"]', "arm_labels": None}


def test_table_rows_gives_what_the_plain_way_gives_on_real_records():
    """The itemgetter path and the plain one agree on every table of real records, and a row missing a
    key (the trial row before the writer stamps it) takes the plain way: NULL for the missing column."""
    from tests.kb.test_prefilter import RECORDS

    compared = 0
    for _, _, data in RECORDS:
        try:
            study = normalize_record(data)
        except ValueError:
            continue
        for name, rows in [("trial", [study.trial]), *study.children.items()]:
            table = Trial.metadata.tables[name]
            assert table_rows(table, rows) == table_rows_plain(table, rows), name
            compared += len(rows)
    assert compared > 10_000
    row = table_rows(Intervention.__table__, [{"trial_id": "NCT00000001", "position": 0, "other_names": ["A"]}])[0]
    assert row == ("NCT00000001", 0, None, None, None, '["A"]', None)


def test_copy_upsert_inserts_and_updates_many_rows_like_upsert(engine):
    """Through COPY and a temporary table on PostgreSQL (100 rows or more), plain upsert elsewhere."""
    from kb.store.bulk import copy_upsert
    from kb.store.models import ImportLedger

    table = ImportLedger.__table__
    rows = [{"trial_id": f"NCT{n:08d}", "last_update": "2026-01-02", "record_hash": "a" * 64, "decision": "skipped",
             "reason": "no CAR cue", "rules": "car:x", "member": f"m/{n}.json", "member_crc": 2**32 - 1,
             "member_size": n, "run_id": 1, "seen_at": FROZEN} for n in range(150)]
    with engine.begin() as conn:
        copy_upsert(conn, table, rows, ["trial_id"])
        again = [{**row, "decision": "stored", "reason": None, "run_id": 2} for row in rows[50:]]
        copy_upsert(conn, table, again + [{**again[0], "run_id": 3}], ["trial_id"])  # a key twice: the last wins
    with engine.connect() as conn:
        stored = conn.execute(select(table.c.trial_id, table.c.decision, table.c.run_id, table.c.member_crc)
                              .order_by(table.c.trial_id)).all()
    assert len(stored) == 150 and stored[0] == ("NCT00000000", "skipped", 1, 4294967295)
    assert stored[50] == ("NCT00000050", "stored", 3, 4294967295) and stored[149][1:3] == ("stored", 2)


def test_upsert_filling_fills_what_is_null_and_never_overwrites_a_known_value(engine):
    table = Sponsor.__table__

    def classes() -> dict[str, str | None]:
        with engine.connect() as conn:
            return dict(conn.execute(select(table.c.name, table.c.agency_class)).all())

    with engine.begin() as conn:  # one batch: each name's first known class, in either order
        upsert_filling(conn, table, [{"name": "A", "agency_class": None}, {"name": "A", "agency_class": "INDUSTRY"},
                                     {"name": "B", "agency_class": "OTHER"}, {"name": "B", "agency_class": None},
                                     {"name": "C", "agency_class": None}], ["name"], ["agency_class"])
    assert classes() == {"A": "INDUSTRY", "B": "OTHER", "C": None}
    with engine.begin() as conn:  # later batches: a NULL is filled, a known class stays
        upsert_filling(conn, table, [{"name": "A", "agency_class": "OTHER"}, {"name": "B", "agency_class": None},
                                     {"name": "C", "agency_class": "NIH"}], ["name"], ["agency_class"])
    assert classes() == {"A": "INDUSTRY", "B": "OTHER", "C": "NIH"}
