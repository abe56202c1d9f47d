"""Alembic environment: the models are the schema source; views live in kb.store.views."""

from alembic import context
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from kb.store import models  # noqa: F401
from kb.store.views import create_views

target_metadata = SQLModel.metadata


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """Leave the analyst views to kb.store.views."""
    return not (type_ == "table" and reflected and compare_to is None and name in ("car_trial", "target_disease_count"))


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        from kb.store.db import make_engine
        engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          include_object=include_object, render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
            if MigrationContext.configure(connection).get_current_revision() == context.get_head_revision():
                create_views(connection)  # views always match the code, whichever migration changed a table
        connection.commit()


run_migrations_online()
