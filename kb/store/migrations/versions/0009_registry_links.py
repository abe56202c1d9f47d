"""One trial registered twice is one trial: trial_link (the registry ids each record names, as
normalised keys) and link_review (a person's decision on a proposed link)

Revision ID: 0009
Revises: 0008

trial_link is filled here for the trials already stored, from their own id and their secondary ids
(kb.domain.links, the rule the normalizers apply from now on), so stored trials are linked without
a rebuild. Nothing else changes.
"""
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

from kb.domain.links import link_rows

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trial_link",
        sa.Column("trial_id", sa.String(length=40), sa.ForeignKey("trial.trial_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("named_id", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
    )
    op.create_index("ix_trial_link_key", "trial_link", ["key"], unique=False)
    op.create_table(
        "link_review",
        sa.Column("trial_id", sa.String(length=40), primary_key=True),
        sa.Column("other_id", sa.String(length=40), primary_key=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reasons", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    bind = op.get_bind()
    link = sa.table("trial_link", sa.column("trial_id"), sa.column("key"), sa.column("named_id"), sa.column("field"))
    rows = []
    for trial_id, secondary in bind.execute(sa.text("SELECT trial_id, secondary_ids FROM trial")):
        if isinstance(secondary, str):  # JSON text on SQLite
            secondary = json.loads(secondary)
        rows += link_rows({"trial_id": trial_id, "secondary_ids": secondary})
        if len(rows) >= 5000:
            bind.execute(link.insert(), rows)
            rows = []
    if rows:
        bind.execute(link.insert(), rows)


def downgrade() -> None:
    op.drop_table("link_review")
    op.drop_index("ix_trial_link_key", table_name="trial_link")
    op.drop_table("trial_link")
