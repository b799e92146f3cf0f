"""The audit trail: who did what to which couple, chained and keyed so edits show.

Each row's hash is an HMAC-SHA256, keyed with AUDIT_KEY, over its own fields (its id
included) and the previous row's hash; changing or deleting any row breaks the chain
from there on, and without the key nobody can compute a chain that verifies. The head
record (clinic.models.AuditHead) names the last row and carries a keyed MAC, so
removing the newest rows shows too. Database triggers refuse UPDATE and DELETE on the
trail (and TRUNCATE on PostgreSQL); `flask --app wsgi audit verify` checks the rest.

What no check inside the database can see: someone who holds the key, or someone who
removes the newest rows *and* puts back a head record saved from before them. Keep
the key out of the database's reach and the line `audit verify` prints somewhere else.

Rows hold ids and actions only — never answers, notes, names or tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_login import current_user

from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import AuditEvent, AuditHead

GENESIS = "0" * 64
HEAD_ID = 1
# The tables whose triggers keep the trail append-only (see unguarded()).
GUARDED_TABLES = ("audit_event", "audit_head")


class AuditKeyError(RuntimeError):
    """No audit key is configured where one is required."""


def key_from_config(config) -> bytes:
    """The HMAC key: AUDIT_KEY, or (development and tests only) one derived from SECRET_KEY."""
    key = (config.get("AUDIT_KEY") or "").strip()
    if key:
        return key.encode()
    if config.get("ENV_NAME") == "production":
        raise AuditKeyError("AUDIT_KEY must be set in production.")
    return hashlib.sha256(b"tandem-audit-key:" + config["SECRET_KEY"].encode()).digest()


def _key() -> bytes:
    return key_from_config(current_app.config)


def _canonical(event: AuditEvent) -> bytes:
    fields = {
        "id": event.id,
        "at": event.at.isoformat(),
        "practice_id": event.practice_id,
        "actor_id": event.actor_id,
        "actor": event.actor,
        "action": event.action,
        "couple_id": event.couple_id,
        "target": event.target,
        "detail": event.detail or {},
        "ip": event.ip,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent, key: bytes | None = None) -> str:
    """The hash a row must carry, given its fields, its id and the previous hash."""
    return hmac.new(key or _key(), _canonical(event), hashlib.sha256).hexdigest()


def head_mac(last_id: int, last_hash: str, key: bytes | None = None) -> str:
    """The MAC the head record must carry when the trail ends at this row."""
    return hmac.new(key or _key(), f"audit-head:{last_id}:{last_hash}".encode(), hashlib.sha256).hexdigest()


# The three statements of an append, built once (a view that records an event pays for
# running them, not for building and keying them again). The row goes in as a plain INSERT:
# the returned AuditEvent is a record of what was written, not an object of the session.
_head = AuditHead.__table__
_CLAIM = (
    _head.update()
    .where(_head.c.id == HEAD_ID)
    .values(last_id=_head.c.last_id + 1)
    .returning(_head.c.last_id, _head.c.last_hash)
)
_SEAL_VALUES = {
    "last_id": sa.bindparam("b_last_id"),
    "last_hash": sa.bindparam("b_last_hash"),
    "mac": sa.bindparam("b_mac"),
}
_SEAL = _head.update().where(_head.c.id == HEAD_ID).values(_SEAL_VALUES)
_START = _head.insert().values(id=HEAD_ID, **_SEAL_VALUES)
_APPEND = AuditEvent.__table__.insert()
_EVENT_COLUMNS = tuple(column.key for column in AuditEvent.__table__.columns)


def record(
    action: str,
    *,
    couple_id: int | None = None,
    target: str | None = None,
    detail: dict | None = None,
    practice_id: int | None = None,
    actor_id: int | None = None,
    actor: str | None = None,
) -> AuditEvent:
    """Append one event (flushed with the caller's transaction, committed with it).

    Three statements: claim the next id by moving the head's id on (an UPDATE … RETURNING,
    which takes the head's row lock on PostgreSQL and the write lock on SQLite, so two
    appends — a request and a report thread — never chain onto the same row), insert the
    row, then seal the head with the row's hash. Ids have no gaps.
    """
    if actor is None:
        if has_request_context() and current_user and current_user.is_authenticated:
            actor, actor_id = "clinician", current_user.id
            practice_id = practice_id or current_user.practice_id
        else:
            actor = "anonymous" if has_request_context() else "system"
    key = _key()
    head = db.session.execute(_CLAIM).first()
    next_id, previous = head if head else (1, GENESIS)
    event = AuditEvent(
        id=next_id,
        at=utcnow(),
        practice_id=practice_id,
        actor_id=actor_id,
        actor=actor,
        action=action,
        couple_id=couple_id,
        target=target,
        detail=detail or {},
        ip=request.remote_addr if has_request_context() else None,
        prev_hash=previous,
    )
    event.hash = compute_hash(event, key)
    db.session.flush()  # the caller's pending changes go first, as they did when the row was flushed with them
    db.session.execute(_APPEND, {column: getattr(event, column) for column in _EVENT_COLUMNS})
    seal = {"b_last_id": event.id, "b_last_hash": event.hash, "b_mac": head_mac(event.id, event.hash, key)}
    if head:
        db.session.execute(_SEAL, seal)
    else:
        # Only on a trail that never had a head (the migration makes one; the test suite empties it).
        db.session.execute(_START, seal)
    return event


@dataclass(frozen=True)
class Break:
    """Where the chain stops adding up."""

    event_id: int
    reason: str


@dataclass(frozen=True)
class Head:
    """Where the trail ends, as `audit verify` reports it (worth keeping outside the database)."""

    last_id: int
    last_hash: str
    rows: int


def verify(events: Iterable[AuditEvent] | None = None) -> list[Break]:
    """Every place the stored trail was edited or had rows removed (empty when intact), first first."""
    return _check(events)[0]


def check() -> tuple[list[Break], Head]:
    """verify(), and where the trail ends."""
    return _check(None)


def _check(events: Iterable[AuditEvent] | None) -> tuple[list[Break], Head]:
    key = _key()
    if events is None:
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000)
    problems = []
    previous, last_id, rows = GENESIS, 0, 0
    for event in events:
        if event.prev_hash != previous:
            problems.append(Break(event.id, "does not follow the row before it (a row was removed or changed)"))
        if not hmac.compare_digest(compute_hash(event, key), event.hash):
            problems.append(Break(event.id, "does not match its keyed hash (the row was edited)"))
        previous, last_id, rows = event.hash, event.id, rows + 1
    head = db.session.execute(
        sa.select(AuditHead.last_id, AuditHead.last_hash, AuditHead.mac).where(AuditHead.id == HEAD_ID)
    ).first()
    if head is None:
        if rows:
            problems.append(
                Break(last_id, "is the last, and the head record is missing (newer rows may have been removed)")
            )
    elif not hmac.compare_digest(head_mac(head.last_id, head.last_hash, key), head.mac):
        problems.append(
            Break(head.last_id, "is named by a head record that does not match its key (the head was edited)")
        )
    elif head.last_id > last_id:
        gone = (
            "was removed" if head.last_id == last_id + 1 else f"was removed, with every row after it to {head.last_id}"
        )
        problems.append(Break(last_id + 1, f"{gone} (the head says the trail ends at row {head.last_id})"))
    elif head.last_id < last_id or head.last_hash != previous:
        problems.append(Break(last_id, "is the last, but the head names another (rows were added or changed)"))
    return problems, Head(last_id=last_id, last_hash=previous, rows=rows)


@contextlib.contextmanager
def unguarded(conn: sa.Connection) -> Iterator[None]:
    """Let `conn` empty the audit tables within its transaction: for the test suite's clean-up only.

    It does what the database's owner could do anyway — PostgreSQL: disable the guarding
    triggers (ALTER TABLE needs ownership); SQLite: drop them — and puts them back before
    the transaction ends. The application itself never calls this.
    """
    if conn.dialect.name == "postgresql":
        for table in GUARDED_TABLES:
            conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        try:
            yield
        finally:
            for table in GUARDED_TABLES:
                conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    triggers = conn.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN :tables").bindparams(
            sa.bindparam("tables", value=list(GUARDED_TABLES), expanding=True)
        )
    ).all()
    for name, _ in triggers:
        conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
    try:
        yield
    finally:
        for _, sql in triggers:
            conn.execute(sa.text(sql))
