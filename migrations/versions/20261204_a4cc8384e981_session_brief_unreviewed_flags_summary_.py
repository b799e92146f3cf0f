"""session brief: unreviewed flags on the couple, summary consent, the summary's note

Revision ID: a4cc8384e981
Revises: a7e3c9d41f20
Create Date: 2026-12-04 16:07:34.101399

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4cc8384e981'
down_revision = 'a7e3c9d41f20'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, never a batch "move and copy": on SQLite that drops the old table,
    # and its ON DELETE CASCADE foreign keys take every answer and score with it.
    op.add_column('couple', sa.Column('unreviewed_flags', sa.Integer(), server_default='0', nullable=False))
    op.add_column('invitation', sa.Column('shares_agreement', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Encrypted by the app (clinic.crypto.EncryptedText), stored as text like prep_notes.
    op.add_column('report', sa.Column('note', sa.Text(), server_default=sa.text("''"), nullable=False))
    _count_unreviewed_flags()


def _count_unreviewed_flags():
    """Each couple's flags from its score rows (kept at submission) that have no review yet."""
    bind = op.get_bind()
    flags = bind.execute(
        sa.text(
            "SELECT a.couple_id, s.invitation_id, s.instrument_id, s.result FROM score s "
            "JOIN invitation i ON i.id = s.invitation_id JOIN assessment a ON a.id = i.assessment_id"
        )
    ).all()
    reviewed = {
        (row.invitation_id, row.instrument_id, row.item_id)
        for row in bind.execute(sa.text("SELECT invitation_id, instrument_id, item_id FROM safety_review"))
    }
    counts: dict[int, int] = {}
    for couple_id, invitation_id, instrument_id, result in flags:
        data = json.loads(result) if isinstance(result, str) else result
        for flag in data.get("flags", []):
            if (invitation_id, instrument_id, flag["item_id"]) not in reviewed:
                counts[couple_id] = counts.get(couple_id, 0) + 1
    for couple_id, count in counts.items():
        bind.execute(
            sa.text("UPDATE couple SET unreviewed_flags = :n WHERE id = :id"), {"n": count, "id": couple_id}
        )


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch "move and copy" of these tables
    # on SQLite would drop the old table first, and its ON DELETE CASCADE foreign keys would
    # take every answer, score and partner with it.
    for table, column in (("report", "note"), ("invitation", "shares_agreement"), ("couple", "unreviewed_flags")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
