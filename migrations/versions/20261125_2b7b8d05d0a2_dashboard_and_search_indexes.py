"""dashboard and search indexes

Revision ID: 2b7b8d05d0a2
Revises: e33b39683542
Create Date: 2026-11-25 19:15:29.404480

"""
from alembic import op
import sqlalchemy as sa

import clinic.db_types


# revision identifiers, used by Alembic.
revision = '2b7b8d05d0a2'
down_revision = 'e33b39683542'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # Trigram matching answers the dashboard's search by label (ILIKE '%…%') from an index.
        # pg_trgm ships with PostgreSQL and is a trusted extension (13+): the database owner may
        # create it. On SQLite the index below is a plain one on label.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    with op.batch_alter_table('couple', schema=None) as batch_op:
        batch_op.create_index('ix_couple_clinician_status_activity', ['clinician_id', 'archived', 'status', 'last_activity_at', 'id'], unique=False)
        batch_op.create_index('ix_couple_label_trgm', ['label'], unique=False, postgresql_using='gin', postgresql_ops={'label': 'gin_trgm_ops'})
        batch_op.create_index('ix_couple_practice_status_activity', ['practice_id', 'archived', 'status', 'last_activity_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('couple', schema=None) as batch_op:
        batch_op.drop_index('ix_couple_practice_status_activity')
        batch_op.drop_index('ix_couple_label_trgm', postgresql_using='gin', postgresql_ops={'label': 'gin_trgm_ops'})
        batch_op.drop_index('ix_couple_clinician_status_activity')
    # pg_trgm stays: an extension belongs to the database, and something else may use it.
