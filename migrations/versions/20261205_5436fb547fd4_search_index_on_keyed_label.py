"""search: a second trigram index on the keyed label (initials such as "M & D")

Revision ID: 5436fb547fd4
Revises: b5d1e7f20c43
Create Date: 2026-12-05 06:20:00

pg_trgm splits labels into words at anything but letters and digits, so "M & D" is two
one-letter words and the label's trigram index hands the dashboard's search thousands of
candidates to recheck (at 100,000 couples: 6,655 rows read for 171 matches). This index
keeps each label keyed as clinic.models.label_key does (lower case, no spaces, "&" as
"q"), where "m & d" is "mqd", a trigram only such labels have. PostgreSQL only, like the
first trigram index; SQLite gets nothing (its search reads the table either way). The table
is analyzed at once, so the planner knows the keyed label's statistics from the start.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5436fb547fd4'
down_revision = 'b5d1e7f20c43'
branch_labels = None
depends_on = None

# The expression must stay exactly clinic.models.label_key's, or the search cannot use it.
KEY = "replace(replace(lower(label), ' ', ''), '&', 'q')"


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f'CREATE INDEX ix_couple_label_key_trgm ON couple USING gin (({KEY}) gin_trgm_ops)')
    op.execute('ANALYZE couple')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX ix_couple_label_key_trgm')
