"""import_ledger: every study an import has read, stored or not, with its record's hash and the decision, so that
the next import of an archive re-reads only what changed

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_ledger",
        sa.Column("trial_id", sa.String(length=40), nullable=False),
        sa.Column("last_update", sa.String(length=10), nullable=True),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(), nullable=True),
        sa.Column("member_crc", sa.BigInteger(), nullable=True),
        sa.Column("member_size", sa.BigInteger(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rules", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("trial_id"),
    )
    op.create_index(op.f("ix_import_ledger_member"), "import_ledger", ["member"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_import_ledger_member"), table_name="import_ledger")
    op.drop_table("import_ledger")
