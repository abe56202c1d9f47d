"""Posted results in tables of their own (result_group, result_flow, result_baseline, result_outcome,
result_value, result_event), and endpoint facts (trial_fact kind 'endpoint')

Revision ID: 0008
Revises: 0007

New tables only: nothing stored is changed. Stored trials get their results rows and endpoint facts
from ``trialkb rebuild``, which normalizes every stored raw record again; new imports and crawls
write them directly.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString
TABLES = ("result_event", "result_value", "result_outcome", "result_baseline", "result_flow", "result_group")


def _trial_id() -> sa.Column:
    return sa.Column('trial_id', sa.String(length=40), sa.ForeignKey('trial.trial_id', ondelete='CASCADE'),
                     nullable=False)


def _measurement() -> list[sa.Column]:
    """The columns of kb.store.models.Measurement (where a posted value sits, and the value)."""
    return [sa.Column('class_title', sa.Text(), nullable=True), sa.Column('category', sa.Text(), nullable=True),
            sa.Column('group_code', AutoString(length=16), nullable=True),
            *(sa.Column(name, AutoString(), nullable=True) for name in ('value', 'spread', 'lower', 'upper'))]


def upgrade() -> None:
    op.create_table('result_group', _trial_id(),
                    sa.Column('module', AutoString(length=16), nullable=False),
                    sa.Column('group_code', AutoString(length=16), nullable=False),
                    sa.Column('title', sa.Text(), nullable=True),
                    sa.Column('description', sa.Text(), nullable=True),
                    *[sa.Column(f'{what}_{n}', sa.Integer(), nullable=True)
                      for what in ('deaths', 'serious', 'other') for n in ('affected', 'at_risk')],
                    sa.PrimaryKeyConstraint('trial_id', 'module', 'group_code'))
    op.create_table('result_flow', _trial_id(),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('period', sa.Text(), nullable=True),
                    sa.Column('step', AutoString(length=16), nullable=False),
                    sa.Column('label', sa.Text(), nullable=True),
                    sa.Column('group_code', AutoString(length=16), nullable=True),
                    sa.Column('count', sa.Integer(), nullable=True),
                    sa.PrimaryKeyConstraint('trial_id', 'position'))
    op.create_table('result_baseline', _trial_id(),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('measure', sa.Text(), nullable=True),
                    sa.Column('param_type', AutoString(), nullable=True),
                    sa.Column('unit', sa.Text(), nullable=True),
                    *_measurement(),
                    sa.PrimaryKeyConstraint('trial_id', 'position'))
    op.create_table('result_outcome', _trial_id(),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('type', AutoString(), nullable=True),
                    sa.Column('title', sa.Text(), nullable=True),
                    sa.Column('description', sa.Text(), nullable=True),
                    sa.Column('time_frame', sa.Text(), nullable=True),
                    sa.Column('population', sa.Text(), nullable=True),
                    sa.Column('param_type', AutoString(), nullable=True),
                    sa.Column('dispersion', AutoString(), nullable=True),
                    sa.Column('unit', sa.Text(), nullable=True),
                    sa.Column('reporting_status', AutoString(), nullable=True),
                    sa.Column('endpoint_kinds', sa.JSON(none_as_null=True), nullable=True),
                    sa.PrimaryKeyConstraint('trial_id', 'position'))
    op.create_table('result_value', _trial_id(),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('outcome_position', sa.Integer(), nullable=False),
                    sa.Column('group_title', sa.Text(), nullable=True),
                    sa.Column('participants', sa.Integer(), nullable=True),
                    *_measurement(),
                    sa.PrimaryKeyConstraint('trial_id', 'position'))
    op.create_table('result_event', _trial_id(),
                    sa.Column('seriousness', AutoString(length=16), nullable=False),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('group_code', AutoString(length=16), nullable=False),
                    sa.Column('term', sa.Text(), nullable=True),
                    sa.Column('organ_system', sa.Text(), nullable=True),
                    sa.Column('num_events', sa.Integer(), nullable=True),
                    sa.Column('num_affected', sa.Integer(), nullable=True),
                    sa.Column('num_at_risk', sa.Integer(), nullable=True),
                    sa.PrimaryKeyConstraint('trial_id', 'seriousness', 'position', 'group_code'))
    op.create_index('ix_result_event_term', 'result_event', ['term'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_result_event_term', table_name='result_event')
    for table in TABLES:
        op.drop_table(table)
