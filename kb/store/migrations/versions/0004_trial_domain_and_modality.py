"""trial.domain and trial.modality; is_relevant means a CAR cell therapy (true) in immune-mediated disease

``domain`` (immune-mediated / oncology / mixed / other) and ``modality`` (autologous CAR-T,
CAR-NK, in vivo CAR, ...) are new domain columns filled by extraction: stored trials get them from
``trialkb rebuild``, which re-extracts every stored raw record. Until then they are NULL, and
``is_relevant`` is cleared where ``is_car_therapy`` is not true (the rule that does not need the
text). The ``car_trial`` view now holds CAR trials only and shows both columns (env.py recreates the
views at the head revision).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from kb.store.views import drop_views

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    drop_views(bind)
    op.add_column('trial', sa.Column('modality', sa.String(length=24), nullable=True))
    op.add_column('trial', sa.Column('domain', sa.String(length=16), nullable=True))
    op.create_index(op.f('ix_trial_modality'), 'trial', ['modality'], unique=False)
    op.create_index(op.f('ix_trial_domain'), 'trial', ['domain'], unique=False)
    true = "true" if bind.dialect.name == "postgresql" else "1"
    op.execute(f"UPDATE trial SET is_relevant = false WHERE is_car_therapy IS NULL OR is_car_therapy <> {true}")


def downgrade() -> None:
    bind = op.get_bind()
    drop_views(bind)
    op.drop_index(op.f('ix_trial_domain'), table_name='trial')
    op.drop_index(op.f('ix_trial_modality'), table_name='trial')
    with op.batch_alter_table('trial') as batch:
        batch.drop_column('domain')
        batch.drop_column('modality')
