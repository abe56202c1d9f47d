"""One schema source: Alembic's migrations build exactly the models' schema."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from kb.store.db import SCHEMA_REVISION, alembic_config, init_db
from kb.store.views import VIEW_NAMES


def test_upgrade_from_empty_matches_the_models(store_url_engine):
    dialect, engine = store_url_engine
    command.upgrade(alembic_config(engine), "head")
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == []
    assert set(VIEW_NAMES) <= set(inspect(engine).get_view_names())


def test_fresh_store_is_stamped_and_upgrade_is_a_no_op(store_url_engine):
    _, engine = store_url_engine
    init_db(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == SCHEMA_REVISION
    assert SCHEMA_REVISION == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    stamped = _version_table(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    command.stamp(alembic_config(engine), "head")  # as Alembic itself stamps
    assert _version_table(engine) == stamped
    init_db(engine)  # existing store: alembic upgrade head, nothing to do
    assert set(VIEW_NAMES) <= set(inspect(engine).get_view_names())


def test_0002_turns_json_null_text_into_sql_null(store_url_engine):
    _, engine = store_url_engine
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    with engine.begin() as conn:  # as 0.1 stored a trial without phases
        conn.execute(text("INSERT INTO trial (nct_id, registry_name, site_count, is_relevant, normalizer_version, "
                          "content_hash, first_seen_at, updated_at, phases, keywords) VALUES ('NCT00000001', "
                          "'ctgov', 0, false, 1, 'h', '2026-01-01', '2026-01-01', 'null', '[\"CAR-T\"]')"))
    command.upgrade(config, "head")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT phases IS NULL, CAST(keywords AS TEXT) FROM trial")).one()
    assert tuple(row) == (True, '["CAR-T"]')


def test_0004_adds_domain_and_modality_and_relevance_needs_a_car(store_url_engine):
    _, engine = store_url_engine
    config = alembic_config(engine)
    command.upgrade(config, "0002")
    with engine.begin() as conn:  # 0.2 called a trial of unknown nature with a cell type relevant
        for trial_id, is_car in (("NCT00000001", "true"), ("NCT00000002", "NULL")):
            conn.execute(text("INSERT INTO trial (nct_id, registry_name, site_count, is_relevant, normalizer_version, "
                              f"content_hash, first_seen_at, updated_at, is_car_therapy) VALUES ('{trial_id}', 'ctgov', "
                              f"0, true, 1, 'h', '2026-01-01', '2026-01-01', {is_car})"))
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT trial_id, is_relevant, domain, modality FROM trial ORDER BY trial_id")).all()
        car_trials = conn.execute(text("SELECT trial_id, domain, modality FROM car_trial")).all()
    assert [(r[0], bool(r[1]), r[2], r[3]) for r in rows] == [("NCT00000001", True, None, None),
                                                              ("NCT00000002", False, None, None)]
    assert [tuple(r) for r in car_trials] == [("NCT00000001", None, None)]


def test_schema_revision_is_the_newest_migration(sqlite_engine):
    assert ScriptDirectory.from_config(alembic_config(sqlite_engine)).get_heads() == [SCHEMA_REVISION]


def test_0006_renames_the_key_to_trial_id_and_keeps_every_row(store_url_engine):
    _, engine = store_url_engine
    config = alembic_config(engine)
    command.upgrade(config, "0005")
    with engine.begin() as conn:  # a 0.2 store: one trial with a condition, a version and a rejected record
        conn.execute(text("INSERT INTO trial (nct_id, registry_name, site_count, is_relevant, normalizer_version, "
                          "content_hash, first_seen_at, updated_at) VALUES ('NCT06464679', 'ctgov', 0, true, 1, 'h', "
                          "'2026-01-01', '2026-01-01')"))
        conn.execute(text("INSERT INTO trial_condition (nct_id, position, name) VALUES ('NCT06464679', 0, 'Lupus')"))
        conn.execute(text("INSERT INTO trial_version (nct_id, recorded_at, old_hash, new_hash, diff) "
                          "VALUES ('NCT06464679', '2026-01-01', 'a', 'b', '{}')"))
    command.upgrade(config, "head")
    with engine.begin() as conn:
        trial = conn.execute(text("SELECT trial_id, nct_id, registry_name FROM trial")).one()
        condition = conn.execute(text("SELECT trial_id, name FROM trial_condition")).one()
        version = conn.execute(text("SELECT trial_id FROM trial_version")).scalar()
        conn.execute(text("INSERT INTO trial (trial_id, registry_name, site_count, is_relevant, normalizer_version, "
                          "content_hash, first_seen_at, updated_at) VALUES ('ChiCTR2000034346', 'chictr', 0, false, 1, "
                          "'h', '2026-01-01', '2026-01-01')"))
        conn.execute(text("DELETE FROM trial WHERE trial_id = 'NCT06464679'"))
        left = conn.execute(text("SELECT count(*) FROM trial_condition")).scalar()
    assert tuple(trial) == ("NCT06464679", "NCT06464679", "ctgov")
    assert tuple(condition) == ("NCT06464679", "Lupus")
    assert version == "NCT06464679"
    assert left == 0  # the foreign key still cascades after the rename
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def _version_table(engine):
    table = inspect(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return ([(c["name"], str(c["type"]), c["nullable"]) for c in table.get_columns("alembic_version")],
            table.get_pk_constraint("alembic_version"), rows)
