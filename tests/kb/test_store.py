"""Upserts, idempotence and version rows, on SQLite and PostgreSQL."""

import zlib

import orjson
from sqlalchemy import func, select

from kb.store.models import Location, RawRecord, Trial, TrialFact, TrialVersion
from kb.store.read import get_history, get_trial
from kb.store.write import load_raw, write_studies
from tests.conftest import CTGOV, DATA, load


def _write(engine, *relatives):
    with engine.begin() as conn:
        return write_studies(conn, [(r, load(r)) for r in relatives], source="test")


def _count(engine, model):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_reimport_changes_nothing(engine):
    first = _write(engine, "domain/NCT06464679.json", "registry_samples/NCT04267848.json")
    with engine.connect() as conn:
        before = conn.execute(select(Trial.trial_id, Trial.updated_at, Trial.content_hash).order_by(Trial.trial_id)).all()
    again = _write(engine, "domain/NCT06464679.json", "registry_samples/NCT04267848.json")
    with engine.connect() as conn:
        after = conn.execute(select(Trial.trial_id, Trial.updated_at, Trial.content_hash).order_by(Trial.trial_id)).all()
    assert (first.new, again.new, again.changed, again.unchanged) == (2, 0, 0, 2)
    assert before == after
    assert _count(engine, TrialVersion) == 0
    assert _count(engine, Location) == 1149


def test_status_change_writes_one_version_with_the_diff(engine):
    _write(engine, "history/NCT06464679.2024-06.json")
    result = _write(engine, "domain/NCT06464679.json")
    assert (result.changed, result.changed_ids) == (1, ["NCT06464679"])
    versions = get_history(engine, "NCT06464679")["versions"]
    assert len(versions) == 1
    diff = versions[0]["diff"]
    assert diff["overall_status"] == ["NOT_YET_RECRUITING", "RECRUITING"]
    assert diff["start_date"] == ["2024-06-30", "2024-06-27"]
    assert diff["start_date_type"] == ["ESTIMATED", "ACTUAL"]
    assert get_trial(engine, "NCT06464679")["status"] == "RECRUITING"


def test_changed_trial_child_rows_are_replaced_not_added(engine):
    _write(engine, "history/NCT06464679.2024-06.json")
    _write(engine, "domain/NCT06464679.json")
    with engine.connect() as conn:
        facts = conn.execute(select(TrialFact.value).where(TrialFact.kind == "disease")).scalars().all()
    assert sorted(facts) == ["myositis", "rheumatoid_arthritis", "sjogren", "systemic_sclerosis"]
    assert _count(engine, Location) == 1


def test_raw_record_round_trips(engine):
    _write(engine, "registry_samples/NCT03475563.json")
    with engine.connect() as conn:
        body = conn.execute(select(RawRecord.body)).scalar_one()
    assert body[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame
    assert load_raw(body) == load("registry_samples/NCT03475563.json")


def test_zlib_body_of_an_older_store_still_loads():
    record = load("registry_samples/NCT03475563.json")
    assert load_raw(zlib.compress(orjson.dumps(record), 1)) == record


def test_first_seen_survives_a_change(engine):
    _write(engine, "history/NCT06464679.2024-06.json")
    with engine.connect() as conn:
        first = conn.execute(select(Trial.first_seen_at)).scalar_one()
    _write(engine, "domain/NCT06464679.json")
    with engine.connect() as conn:
        seen, updated = conn.execute(select(Trial.first_seen_at, Trial.updated_at)).one()
    assert seen == first and updated > first


def test_duplicate_ids_in_one_batch_store_once(engine):
    with engine.begin() as conn:
        result = write_studies(conn, [("a", load("domain/NCT06010472.json")), ("b", load("domain/NCT06010472.json"))],
                               source="test")
    assert result.new == 1 and _count(engine, Trial) == 1


def test_views_answer_on_both_dialects(engine):
    _write(engine, "domain/NCT06464679.json", "domain/NCT06010472.json", "domain/NCT98000001.json")
    from kb.store.read import run_readonly_sql
    _, rows = run_readonly_sql(engine, "SELECT target, disease, trials FROM target_disease_count "
                                       "ORDER BY target, disease")
    assert rows == [("CD19", "myositis", 1), ("CD19", "rheumatoid_arthritis", 1), ("CD19", "sjogren", 1),
                    ("CD19", "sle", 1), ("CD19", "systemic_sclerosis", 1)]
    _, rows = run_readonly_sql(engine, "SELECT trial_id, targets, products, cell_type, modality, domain, is_relevant "
                                       "FROM car_trial ORDER BY trial_id")  # CAR trials only: not the antibody
    assert [r[:6] for r in rows] == [("NCT06010472", "CD19", "KN5501", "NK", "CAR-NK", "immune-mediated"),
                                     ("NCT06464679", "CD19", "KN5501", "NK", "CAR-NK", "immune-mediated")]
    assert [bool(r[6]) for r in rows] == [True, True]


def test_rebuild_renormalizes_from_raw_without_versions(engine):
    from sqlalchemy import update

    from kb.ingest.importer import rebuild_store
    _write(engine, "domain/NCT06464679.json", "registry_samples/NCT04267848.json")
    with engine.begin() as conn:  # as if an older normalizer had stored less
        conn.execute(update(Trial).values(targets=[], cell_type=None))
        conn.execute(TrialFact.__table__.delete())
    result = rebuild_store(engine)
    assert (result.changed, result.rejected) == (2, [])
    seed = get_trial(engine, "NCT06464679")
    assert (seed["targets"], seed["cell_type"], seed["evidence"]["product"]["KN5501"]) == (["CD19"], "NK", ["outcome"])
    assert _count(engine, TrialVersion) == 0
    assert _count(engine, Location) == 1149


def test_postgresql_compresses_a_long_text_with_lz4(pg_schema_url):
    from sqlalchemy import text

    from kb.store.db import init_db, make_engine

    engine = make_engine(pg_schema_url)
    try:
        init_db(engine)
        _write(engine, "domain/NCT06464679.json")  # eligibility criteria of 7,903 characters
        with engine.connect() as conn:
            assert conn.execute(text("SHOW default_toast_compression")).scalar_one() == "lz4"
            assert conn.execute(text("SELECT pg_column_compression(eligibility_criteria), length(eligibility_criteria) "
                                     "FROM trial WHERE trial_id = 'NCT06464679'")).one() == ("lz4", 7903)
    finally:
        engine.dispose()


def test_a_new_sqlite_store_has_pages_of_16_kb_and_an_older_store_keeps_its_own(tmp_path):
    from kb.store.db import PAGE_SIZE, init_db, make_engine
    from tests.conftest import sqlite_store_of_4kb_pages

    sqlite_store_of_4kb_pages(tmp_path / "old.db")
    for name, pages in (("new.db", PAGE_SIZE), ("old.db", 4096)):
        engine = make_engine(f"sqlite:///{tmp_path}/{name}")
        init_db(engine)
        _write(engine, "domain/NCT06464679.json")  # eligibility criteria of 7,903 characters: over 4 KB
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == pages
            assert conn.execute(select(func.length(Trial.eligibility_criteria))).scalar_one() == 7903
        engine.dispose()
    assert PAGE_SIZE == 16_384


def test_a_sponsors_class_once_known_is_kept_whatever_the_order_of_the_records(engine):
    """WHO ICTRP rows give a sponsor no class: one that came after the registry's record in the same batch had
    erased it, and one stored first kept it NULL for ever (the upsert ignored every later record)."""
    from kb.ingest.importer import import_paths
    from kb.store.models import Sponsor

    takeda, ictrp = CTGOV / "domain" / "NCT06377228.json", DATA / "ictrp" / "ictrp_main_sample.csv"

    def class_of(name: str) -> str | None:
        with engine.connect() as conn:
            return conn.execute(select(Sponsor.agency_class).where(Sponsor.name == name)).scalar_one()

    import_paths(engine, [ictrp], workers=0)  # stored first without a class
    assert class_of("Takeda") is None
    import_paths(engine, [takeda, ictrp], workers=0)  # the registry's record, then a row without one, in one batch
    assert class_of("Takeda") == "INDUSTRY"
    import_paths(engine, [ictrp], workers=0)
    assert class_of("Takeda") == "INDUSTRY"
