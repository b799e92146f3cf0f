"""Assessments and the partners' private links: create, send, reissue, revoke, remind.

A link's token is shown once, when it is made; only its SHA-256 is stored. Sending
a link again therefore means making a new one (the old one dies).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.orm import contains_eager, joinedload

from clinic import audit, catalog
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.links import external_url
from clinic.mail import send_email
from clinic.models import Assessment, Clinician, Couple, Invitation, Partner, Practice
from clinic.services import status
from clinic.tokens import hash_token, new_token

# The default intake set, in the order partners fill it.
INTAKE = ("connection", "differentiation", "life_context", "safety")
MAX_EXPIRY_DAYS = 90


class InvitationError(ValueError):
    """A request about an assessment or link that cannot be carried out; safe to show."""


def _audit(invitation: Invitation, action: str) -> None:
    couple = invitation.assessment.couple
    audit.record(action, couple_id=couple.id, practice_id=couple.practice_id, target=f"invitation:{invitation.id}")


def latest_assessment(couple: Couple) -> Assessment | None:
    """The couple's most recent assessment, with its invitations."""
    return db.session.scalar(
        sa.select(Assessment)
        .where(Assessment.couple_id == couple.id)
        .order_by(Assessment.id.desc())
        .limit(1)
        .options(joinedload(Assessment.invitations))
    )


def refresh_status(couple: Couple, *, touch: bool = True) -> None:
    """Recompute the couple's dashboard status from its latest assessment."""
    latest = latest_assessment(couple)
    status.refresh(couple, list(latest.invitations) if latest else [], touch=touch)


def _expiry(days: int) -> datetime:
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvitationError(f"Links can last from 1 to {MAX_EXPIRY_DAYS} days.")
    return utcnow() + timedelta(days=days)


def start_assessment(
    couple: Couple,
    *,
    occasion: str,
    instrument_ids: Sequence[str],
    expiry_days: int,
    by: Clinician,
) -> tuple[Assessment, dict[int, str]]:
    """A new assessment with one invitation per partner; returns the raw tokens by partner id."""
    if couple.archived:
        raise InvitationError("This couple is archived. Bring them back before sending questionnaires.")
    if not occasion.strip():
        raise InvitationError("Name the occasion, such as Intake or Week 6.")
    if not instrument_ids:
        raise InvitationError("Choose at least one questionnaire.")
    registry = catalog.registry()
    keys = []
    for instrument_id in dict.fromkeys(instrument_ids):  # keep order, drop repeats
        try:
            keys.append([instrument_id, registry.latest(instrument_id).version])
        except KeyError:
            raise InvitationError(f"Unknown questionnaire {instrument_id!r}.") from None
    expires_at = _expiry(expiry_days)
    assessment = Assessment(
        couple_id=couple.id, occasion=occasion.strip(), instruments=keys, created_by_id=by.id, invitations=[]
    )
    db.session.add(assessment)
    tokens: dict[int, str] = {}
    partners = db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id)).all()
    for partner in partners:
        raw, digest = new_token()
        assessment.invitations.append(Invitation(partner_id=partner.id, token_hash=digest, expires_at=expires_at))
        tokens[partner.id] = raw
    db.session.flush()
    refresh_status(couple)
    audit.record(
        "assessment.created", couple_id=couple.id, practice_id=couple.practice_id, target=f"assessment:{assessment.id}"
    )
    for invitation in assessment.invitations:
        _audit(invitation, "invitation.created")
    return assessment, tokens


def reissue(invitation: Invitation, *, expiry_days: int | None = None) -> str:
    """A new link for this partner: the old one (and any session it opened) stops working.

    With expiry_days the link gets a new deadline (and a revoked or expired link
    reopens); without, it keeps the current one.
    """
    if invitation.submitted_at is not None:
        raise InvitationError("This partner has already submitted; there is nothing left to fill in.")
    if expiry_days is None and not invitation.usable(utcnow()):
        raise InvitationError("This link is closed; give the new one a number of days to stay open.")
    raw, digest = new_token()
    invitation.token_hash = digest
    if expiry_days is not None:
        invitation.expires_at = _expiry(expiry_days)
        invitation.revoked_at = None
    db.session.flush()
    refresh_status(invitation.assessment.couple)
    _audit(invitation, "invitation.reissued")
    return raw


def revoke(invitation: Invitation) -> None:
    """Stop a link from working; answers already saved are kept."""
    if invitation.submitted_at is not None:
        raise InvitationError("This partner has already submitted; the link no longer opens anything.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
    db.session.flush()
    refresh_status(invitation.assessment.couple)
    _audit(invitation, "invitation.revoked")


def revoke_all_open(couple: Couple) -> None:
    """Revoke every unsubmitted link of the couple (used when archiving)."""
    now = utcnow()
    db.session.execute(
        sa.update(Invitation)
        .where(
            Invitation.assessment_id.in_(sa.select(Assessment.id).where(Assessment.couple_id == couple.id)),
            Invitation.submitted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    refresh_status(couple, touch=False)


def find_by_token(raw: str | None) -> Invitation | None:
    """The invitation a raw link token belongs to (in any state), with what its pages show."""
    if not raw or len(raw) > 200:
        return None
    return db.session.scalar(
        sa.select(Invitation)
        .join(Invitation.assessment)
        .join(Assessment.couple)
        .join(Invitation.partner)
        .where(Invitation.token_hash == hash_token(raw))
        .options(
            contains_eager(Invitation.assessment).contains_eager(Assessment.couple),
            contains_eager(Invitation.partner),
        )
    )


def link_for(raw: str) -> str:
    """The full address of a partner's link."""
    return external_url("client.open_link", token=raw)


def send_link(invitation: Invitation, raw: str, *, reminder: bool = False) -> None:
    """Email a partner their link: the practice, the therapist and the link, nothing else."""
    partner = invitation.partner
    if not partner.email:
        raise InvitationError(f"There is no email address for {partner.display_name}.")
    couple = invitation.assessment.couple
    practice = db.session.get(Practice, couple.practice_id)
    clinician = db.session.get(Clinician, couple.clinician_id)
    context = {
        "partner": partner,
        "practice": practice,
        "clinician": clinician,
        "link": link_for(raw),
        "expires_at": invitation.expires_at,
        "zone": practice.timezone,
    }
    if reminder:
        subject = f"A reminder from {practice.name}"
        body = render_template("email/partner_reminder.txt", **context)
    else:
        subject = f"Your questionnaires from {practice.name}"
        body = render_template("email/partner_invitation.txt", **context)
    send_email(partner.email, subject, body)
    invitation.last_sent_at = utcnow()
    db.session.flush()
    _audit(invitation, "invitation.reminded" if reminder else "invitation.emailed")


def send_reminder(invitation: Invitation) -> None:
    """Remind one partner now: a fresh link with the same deadline (the old link stops working)."""
    if not invitation.usable(utcnow()):
        raise InvitationError("Reminders go only to links that are open and not yet submitted.")
    raw = reissue(invitation)
    send_link(invitation, raw, reminder=True)
    invitation.reminders_sent += 1
    db.session.flush()


def send_due_reminders(now: datetime | None = None) -> int:
    """Send every reminder that is due; returns how many went out."""
    now = now or utcnow()
    rows = db.session.execute(
        sa.select(
            Invitation, Practice.reminder_after_days, sa.func.coalesce(Invitation.last_sent_at, Invitation.created_at)
        )
        .join(Invitation.partner)
        .join(Invitation.assessment)
        .join(Assessment.couple)
        .join(Practice, Practice.id == Couple.practice_id)
        .where(
            Invitation.submitted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
            Partner.email.is_not(None),
            Couple.archived.is_(False),
            Invitation.reminders_sent < Practice.reminder_max,
        )
        .options(
            contains_eager(Invitation.partner),
            contains_eager(Invitation.assessment).contains_eager(Assessment.couple),
        )
        .order_by(Invitation.id)
    ).all()
    sent = 0
    for invitation, after_days, last_contact in rows:
        if last_contact + timedelta(days=after_days) > now:
            continue
        send_reminder(invitation)
        sent += 1
    return sent
