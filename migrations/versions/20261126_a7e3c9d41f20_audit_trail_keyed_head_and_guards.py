"""audit trail: keyed hashes, a head record, and triggers refusing UPDATE and DELETE

Existing rows (chained by plain SHA-256) are checked and then re-hashed with the
HMAC key (AUDIT_KEY); a trail that no longer verifies is refused rather than
re-keyed, since re-keying it would hide whatever was done to it.

Revision ID: a7e3c9d41f20
Revises: d87cfcb02ee1
Create Date: 2026-11-26 09:10:00.000000

"""
import hashlib
import hmac
import json

import sqlalchemy as sa
from alembic import op
from flask import current_app

import clinic.db_types
from clinic.migration_guard import writes_keyed_data

# revision identifiers, used by Alembic.
revision = 'a7e3c9d41f20'
down_revision = 'd87cfcb02ee1'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
MESSAGE = "the audit trail is append-only: its rows cannot be changed or removed"

audit_event = sa.table(
    "audit_event",
    sa.column("id", sa.Integer),
    sa.column("at", clinic.db_types.UTCDateTime()),
    sa.column("practice_id", sa.Integer),
    sa.column("actor_id", sa.Integer),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("couple_id", sa.Integer),
    sa.column("target", sa.String),
    sa.column("detail", sa.JSON),
    sa.column("ip", sa.String),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
audit_head = sa.table(
    "audit_head",
    sa.column("id", sa.Integer),
    sa.column("last_id", sa.Integer),
    sa.column("last_hash", sa.String),
    sa.column("mac", sa.String),
)

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END $$""",
    "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
]
DROP_SQLITE = [
    "DROP TRIGGER IF EXISTS audit_event_no_update",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    "DROP TRIGGER IF EXISTS audit_head_no_delete",
]
DROP_POSTGRES = [
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
    "DROP FUNCTION IF EXISTS audit_refuse_change()",
]


def _canonical(row, prev_hash, *, with_id):
    """The row as the hash covers it (frozen here: clinic/audit.py may change later)."""
    fields = {
        "at": row["at"].isoformat(),
        "practice_id": row["practice_id"],
        "actor_id": row["actor_id"],
        "actor": row["actor"],
        "action": row["action"],
        "couple_id": row["couple_id"],
        "target": row["target"],
        "detail": row["detail"] or {},
        "ip": row["ip"],
        "prev_hash": prev_hash,
    }
    if with_id:
        fields["id"] = row["id"]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def _plain(row, prev_hash):
    return hashlib.sha256(_canonical(row, prev_hash, with_id=False)).hexdigest()


def _keyed(key, row, prev_hash):
    return hmac.new(key, _canonical(row, prev_hash, with_id=True), hashlib.sha256).hexdigest()


def _key():
    from clinic.audit import key_from_config

    return key_from_config(current_app.config)


def _rows(conn):
    return conn.execute(sa.select(audit_event).order_by(audit_event.c.id)).mappings().all()


def _rewrite(conn, rows, hashes):
    for row, (prev_hash, new_hash) in zip(rows, hashes):
        conn.execute(
            audit_event.update().where(audit_event.c.id == row["id"]).values(prev_hash=prev_hash, hash=new_hash)
        )


@writes_keyed_data("re-keys the audit trail", settings=("AUDIT_KEY",))
def upgrade():
    conn = op.get_bind()
    key = _key()
    rows = _rows(conn)
    previous = GENESIS
    for row in rows:
        if row["prev_hash"] != previous or _plain(row, previous) != row["hash"]:
            raise RuntimeError(
                f"The audit trail was already altered at row {row['id']}: it cannot be re-keyed without "
                "hiding that. Restore the audit_event table from a backup taken before, then upgrade."
            )
        previous = row["hash"]

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )

    hashes, previous = [], GENESIS
    for row in rows:
        new_hash = _keyed(key, row, previous)
        hashes.append((previous, new_hash))
        previous = new_hash
    _rewrite(conn, rows, hashes)
    last_id = rows[-1]["id"] if rows else 0
    mac = hmac.new(key, f"audit-head:{last_id}:{previous}".encode(), hashlib.sha256).hexdigest()
    conn.execute(audit_head.insert().values(id=1, last_id=last_id, last_hash=previous, mac=mac))

    for statement in POSTGRES_TRIGGERS if conn.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        conn.execute(sa.text(statement))


def downgrade():
    conn = op.get_bind()
    for statement in DROP_POSTGRES if conn.dialect.name == "postgresql" else DROP_SQLITE:
        conn.execute(sa.text(statement))
    # Back to the plain SHA-256 chain the earlier code verifies.
    rows = _rows(conn)
    hashes, previous = [], GENESIS
    for row in rows:
        new_hash = _plain(row, previous)
        hashes.append((previous, new_hash))
        previous = new_hash
    _rewrite(conn, rows, hashes)
    op.drop_table('audit_head')
