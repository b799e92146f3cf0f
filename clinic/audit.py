"""The audit trail: who did what to which couple, chained by hashes so edits show.

Each row's hash covers its own fields and the previous row's hash; changing or
deleting any row breaks the chain from there on (`flask --app wsgi audit verify`).
Rows hold ids and actions only — never answers, notes, names or tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user

from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import AuditEvent

GENESIS = "0" * 64
# Any number unique to this lock: PostgreSQL serialises appends so two requests
# never chain onto the same previous row.
_LOCK_KEY = 7_305_114


def _canonical(event: AuditEvent) -> bytes:
    fields = {
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


def compute_hash(event: AuditEvent) -> str:
    """The hash a row must carry, given its fields and the previous hash."""
    return hashlib.sha256(_canonical(event)).hexdigest()


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
    """Append one event (flushed with the caller's transaction, committed with it)."""
    if actor is None:
        if has_request_context() and current_user and current_user.is_authenticated:
            actor, actor_id = "clinician", current_user.id
            practice_id = practice_id or current_user.practice_id
        else:
            actor = "anonymous" if has_request_context() else "system"
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    previous = db.session.scalar(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        at=utcnow(),
        practice_id=practice_id,
        actor_id=actor_id,
        actor=actor,
        action=action,
        couple_id=couple_id,
        target=target,
        detail=detail or {},
        ip=request.remote_addr if has_request_context() else None,
        prev_hash=previous or GENESIS,
    )
    event.hash = compute_hash(event)
    db.session.add(event)
    db.session.flush()
    return event


@dataclass(frozen=True)
class Break:
    """Where the chain stops adding up."""

    event_id: int
    reason: str


def verify(events: Iterable[AuditEvent] | None = None) -> list[Break]:
    """Every place the stored chain was edited or had rows removed (empty when intact)."""
    if events is None:
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000)
    problems = []
    previous = GENESIS
    for event in events:
        if event.prev_hash != previous:
            problems.append(Break(event.id, "does not follow the row before it (a row was removed or changed)"))
        if compute_hash(event) != event.hash:
            problems.append(Break(event.id, "its content does not match its hash (the row was edited)"))
        previous = event.hash
    return problems
