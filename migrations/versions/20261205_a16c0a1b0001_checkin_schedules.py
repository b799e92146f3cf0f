"""check-ins on a schedule: a couple's schedule and one row per session's sending

Revision ID: a16c0a1b0001
Revises: 5436fb547fd4
Create Date: 2026-12-05 10:09:45.094360

checkin_schedule holds when a couple's sessions are (weekly, fortnightly or a list of
dates) and how long before each one the check-in goes out. checkin_sending has one row
per session whose check-in went out; its unique (schedule_id, session_at) is what keeps
two send-checkins runs, even concurrent ones, from sending the same session twice.
"""
from alembic import op
import sqlalchemy as sa

import clinic.db_types


# revision identifiers, used by Alembic.
revision = 'a16c0a1b0001'
down_revision = '5436fb547fd4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('checkin_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('couple_id', sa.Integer(), nullable=False),
    sa.Column('cadence', sa.Enum('dates', 'weekly', 'fortnightly', name='checkin_cadence', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('first_session_at', clinic.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('session_dates', sa.JSON(), nullable=False),
    sa.Column('lead_hours', sa.Integer(), server_default='24', nullable=False),
    sa.Column('paused', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('ended_at', clinic.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', clinic.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clinic.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['couple_id'], ['couple.id'], name=op.f('fk_checkin_schedule_couple_id_couple'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkin_schedule')),
    sa.UniqueConstraint('couple_id', name=op.f('uq_checkin_schedule_couple_id'))
    )
    op.create_table('checkin_sending',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('session_at', clinic.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('assessment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', clinic.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessment.id'], name=op.f('fk_checkin_sending_assessment_id_assessment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['checkin_schedule.id'], name=op.f('fk_checkin_sending_schedule_id_checkin_schedule'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkin_sending')),
    sa.UniqueConstraint('schedule_id', 'session_at', name='uq_checkin_sending_session')
    )
    with op.batch_alter_table('checkin_sending', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkin_sending_assessment_id'), ['assessment_id'], unique=False)



def downgrade():
    with op.batch_alter_table('checkin_sending', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkin_sending_assessment_id'))

    op.drop_table('checkin_sending')
    op.drop_table('checkin_schedule')
