"""Records the normalizer rejects are kept raw with the reason (rejected_record)

A crawl or import no longer drops them: ``trialkb rebuild`` stores them once a fixed normalizer
accepts them.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rejected_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nct_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('origin', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('rejected_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rejected_record_nct_id'), 'rejected_record', ['nct_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rejected_record_nct_id'), table_name='rejected_record')
    op.drop_table('rejected_record')
