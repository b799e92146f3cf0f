"""reliability estimates: each practice's Cronbach's alpha and SD per instrument version and measure

Revision ID: a16c0a1b0002
Revises: a16c0a1b0001
Create Date: 2026-12-05 12:00:00

`flask --app wsgi calibrate` fills it from each partner's first submitted answers; reliable
change uses a row once its N reaches CALIBRATION_MIN_PARTNERS. Counts and statistics only.
"""
from alembic import op
import sqlalchemy as sa

import clinic.db_types


# revision identifiers, used by Alembic.
revision = 'a16c0a1b0002'
down_revision = 'a16c0a1b0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reliability_estimate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.String(length=40), nullable=False),
    sa.Column('instrument_version', sa.Integer(), nullable=False),
    sa.Column('measure_id', sa.String(length=60), nullable=False),
    sa.Column('alpha', sa.Float(), nullable=True),
    sa.Column('sd', sa.Float(), nullable=True),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('estimated_at', clinic.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_reliability_estimate_practice_id_practice'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reliability_estimate')),
    sa.UniqueConstraint('practice_id', 'instrument_id', 'instrument_version', 'measure_id', name='uq_reliability_estimate_measure')
    )


def downgrade():
    op.drop_table('reliability_estimate')
