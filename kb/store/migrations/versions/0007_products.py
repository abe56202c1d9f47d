"""Products learned from the store (product) and what they filled in trials (product_fill)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("facts", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("sources", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("trials", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_product_status", "product", ["status"])
    op.create_table(
        "product_fill",
        sa.Column("trial_id", sa.String(length=40), nullable=False),
        sa.Column("own", sa.JSON(), nullable=False),
        sa.Column("given", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trial.trial_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trial_id"),
    )


def downgrade() -> None:
    op.drop_table("product_fill")
    op.drop_index("ix_product_status", table_name="product")
    op.drop_table("product")
