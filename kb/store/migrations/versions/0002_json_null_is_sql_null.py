"""JSON columns hold SQL NULL, not the JSON text 'null', for a missing value

Until 0.2, trial and run_log columns stored Python None as JSON 'null' while child tables
stored SQL NULL; the models now say ``none_as_null`` everywhere, and this makes stored rows agree
(so ``WHERE phases IS NULL`` finds every trial without phases).

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

JSON_COLUMNS = {
    "trial": ["secondary_ids", "phases", "countries", "std_ages", "keywords", "targets", "products",
              "disease_categories", "armoring", "lymphodepletion", "warnings"],
    "intervention": ["other_names", "arm_labels"],
    "run_log": ["args", "counts", "errors"],
}


def upgrade() -> None:
    for table, columns in JSON_COLUMNS.items():
        for column in columns:
            op.execute(f"UPDATE {table} SET {column} = NULL WHERE CAST({column} AS TEXT) = 'null'")


def downgrade() -> None:
    pass  # SQL NULL reads back as None either way
