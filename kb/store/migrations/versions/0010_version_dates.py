"""A change is dated by the registry: trial_version gains posted_date (the registry's last-update date of
the newer record), old_source (where the older record came from) and late (written after the newer
record was already stored: an out-of-order record, history and never news)

Revision ID: 0010
Revises: 0009

Rows written before 0010 get their posted_date from their diff's last_update_posted_date; their
old_source and late stay NULL (unknown: the store did not record them).
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trial_version") as batch:
        batch.add_column(sa.Column("posted_date", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("old_source", sa.Text(), nullable=True))
        batch.add_column(sa.Column("late", sa.Boolean(), nullable=True))
    conn = op.get_bind()
    version = sa.table("trial_version", sa.column("id", sa.Integer), sa.column("diff", sa.JSON),
                       sa.column("posted_date", sa.String))
    dates = []
    for row_id, diff in conn.execute(sa.select(version.c.id, version.c.diff)):
        diff = json.loads(diff) if isinstance(diff, str) else diff
        pair = (diff or {}).get("last_update_posted_date")
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str):
            dates.append({"row_id": row_id, "posted": pair[1][:10]})
    if dates:
        conn.execute(version.update().where(version.c.id == sa.bindparam("row_id"))
                     .values(posted_date=sa.bindparam("posted")), dates)


def downgrade() -> None:
    with op.batch_alter_table("trial_version") as batch:
        batch.drop_column("late")
        batch.drop_column("old_source")
        batch.drop_column("posted_date")
