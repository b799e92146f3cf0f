"""two-factor sign-in, sign-in lock, password reset tokens

Revision ID: e33b39683542
Revises: d9d94e60f85e
Create Date: 2026-11-25 18:06:48.524847

"""
from alembic import op
import sqlalchemy as sa

import clinic.db_types


# revision identifiers, used by Alembic.
revision = 'e33b39683542'
down_revision = 'd9d94e60f85e'
branch_labels = None
depends_on = None

# The CHECK constraint of the account_token_purpose enum, named by the metadata's convention.
PURPOSE_CHECK = 'ck_account_token_account_token_purpose'

CLINICIAN_COLUMNS = [
    sa.Column('failed_signins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed_signins_since', clinic.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_until', clinic.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_secret', sa.Text(), nullable=True),
    sa.Column('totp_enabled_at', clinic.db_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_last_counter', sa.Integer(), nullable=True),
    sa.Column('recovery_code_hashes', sa.Text(), server_default=sa.text("''"), nullable=False),
]


def _purpose_check(values):
    # SQLite cannot alter a CHECK constraint, so batch mode rebuilds account_token
    # (safe: no other table refers to it).
    listed = ', '.join(f"'{v}'" for v in values)
    with op.batch_alter_table('account_token', schema=None, recreate='always') as batch_op:
        batch_op.drop_constraint(op.f(PURPOSE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(PURPOSE_CHECK), sa.text(f'purpose IN ({listed})'))


def upgrade():
    # Plain ALTER TABLE ... ADD COLUMN, not batch mode: on SQLite a batch with these
    # expression defaults would rebuild clinician and practice, and dropping the old
    # tables with foreign keys on would cascade into every table that refers to them.
    for column in CLINICIAN_COLUMNS:
        op.add_column('clinician', column)
    op.add_column('practice', sa.Column('require_two_factor', sa.Boolean(), server_default=sa.false(), nullable=False))
    _purpose_check(['invite', 'reset'])


def downgrade():
    # Reset links cannot be expressed before this revision: they are removed.
    op.execute(sa.text("DELETE FROM account_token WHERE purpose = 'reset'"))
    _purpose_check(['invite'])
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), again without rebuilding the tables.
    op.drop_column('practice', 'require_two_factor')
    for column in reversed(CLINICIAN_COLUMNS):
        op.drop_column('clinician', column.name)
