"""A trial is a registration of any registry: the key column nct_id becomes trial_id (40 characters) in every
table, and trial.nct_id is a new nullable unique column holding the ClinicalTrials.gov id of a CT.gov
registration, so saved SQL on trial.nct_id keeps working

Revision ID: 0006
Revises: 0005

Columns are renamed in place (ALTER TABLE ... RENAME COLUMN, which both dialects carry into the foreign keys and
indexes), so no row is copied and nothing can be lost. SQLite does not enforce VARCHAR lengths; its declared
length is widened in the schema text only, as SQLite's own documentation allows for changes that do not
affect the stored data.
"""
import sqlalchemy as sa
from alembic import op

from kb.store.views import drop_views

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TABLES = ("trial", "trial_condition", "intervention", "arm_group", "outcome", "location", "trial_sponsor",
          "trial_mesh", "trial_fact", "raw_record", "trial_version", "rejected_record")
INDEXES = (("trial_version", False), ("rejected_record", False))


def _rename(old: str, new: str, old_length: int, new_length: int) -> None:
    bind = op.get_bind()
    drop_views(bind)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
    for table, unique in INDEXES:
        op.drop_index(f"ix_{table}_{old}", table_name=table)
        op.create_index(f"ix_{table}_{new}", table, [new], unique=unique)
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {new} TYPE VARCHAR({new_length})")
    else:
        _widen_sqlite(bind, f"{new} VARCHAR({old_length})", f"{new} VARCHAR({new_length})")


def _widen_sqlite(bind: sa.engine.Connection, old: str, new: str) -> None:
    """Change a declared VARCHAR length in SQLite's schema text (SQLite never checks it)."""
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table'", (old, new))
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    _rename("nct_id", "trial_id", 16, 40)
    op.add_column("trial", sa.Column("nct_id", sa.String(length=11), nullable=True))
    op.execute("UPDATE trial SET nct_id = trial_id WHERE registry_name = 'ctgov'")
    op.create_index("ix_trial_nct_id", "trial", ["nct_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_trial_nct_id", table_name="trial")
    op.execute("ALTER TABLE trial DROP COLUMN nct_id")
    _rename("trial_id", "nct_id", 40, 16)
