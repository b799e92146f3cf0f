"""partner side: the neutral site "Leave this page" opens, a practice setting

Revision ID: b5d1e7f20c43
Revises: a4cc8384e981
Create Date: 2026-12-04 18:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d1e7f20c43'
down_revision = 'a4cc8384e981'
branch_labels = None
depends_on = None

DEFAULT_LEAVE_URL = "https://www.bbc.com/weather"


def upgrade():
    # Plain ADD COLUMN (never a batch copy of the practice table on SQLite: its foreign keys cascade).
    op.add_column(
        'practice',
        sa.Column('leave_url', sa.String(length=500), server_default=DEFAULT_LEAVE_URL, nullable=False),
    )


def downgrade():
    op.drop_column('practice', 'leave_url')
