"""One schema source: Alembic's migrations build exactly the models' schema."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from kb.db import alembic_config, init_db
from kb.views import VIEW_NAMES


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
        assert MigrationContext.configure(conn).get_current_revision() == "0001"
    init_db(engine)  # existing store: alembic upgrade head, nothing to do
    assert set(VIEW_NAMES) <= set(inspect(engine).get_view_names())
