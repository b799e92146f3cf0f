"""Assessments and the partners' private links: create, send, reissue, revoke, remind.

A link's token is shown once, when it is made; only its SHA-256 is stored. Sending
a link again therefore means making a new one. A reminder's new link joins the
partner's earlier ones (InvitationLink): the link they have and the session they
are answering in keep working. Reissuing or revoking ends every older link, and
every session one of them opened.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.orm import contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from clinic import audit, catalog
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.links import external_url
from clinic.mail import send_email
from clinic.models import Assessment, Clinician, Couple, Invitation, InvitationLink, Partner, Practice
from clinic.services import status
from clinic.tokens import hash_token, new_token

# The default intake set, in the order partners fill it.
INTAKE = ("connection", "differentiation", "life_context", "safety")
MAX_EXPIRY_DAYS = 90
# What a mail server that refuses a message, or cannot be reached, raises.
MAIL_ERRORS = (smtplib.SMTPException, OSError)

log = logging.getLogger(__name__)


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
    expiry_days: int | None = None,
    expires_at: datetime | None = None,
    by: Clinician,
) -> tuple[Assessment, dict[int, str]]:
    """A new assessment with one invitation per partner; returns the raw tokens by partner id.

    The links last `expiry_days` from now, or until `expires_at` (a scheduled check-in's
    links close when the session starts); exactly one of the two is given.
    """
    if (expiry_days is None) == (expires_at is None):
        raise TypeError("start_assessment needs exactly one of expiry_days and expires_at")
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
    if expires_at is None:
        expires_at = _expiry(expiry_days)
    elif expires_at <= utcnow():
        raise InvitationError("The links would close before anyone could open them.")
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
    _end_reminder_links([invitation.id])
    if expiry_days is not None:
        invitation.expires_at = _expiry(expiry_days)
        invitation.revoked_at = None
    db.session.flush()
    refresh_status(invitation.assessment.couple)
    _audit(invitation, "invitation.reissued")
    return raw


def _end_reminder_links(invitation_ids) -> None:
    """Delete the links reminders made: with the main link replaced or revoked, they end too."""
    db.session.execute(
        sa.delete(InvitationLink)
        .where(InvitationLink.invitation_id.in_(invitation_ids))
        .execution_options(synchronize_session=False)
    )


def revoke(invitation: Invitation) -> None:
    """Stop a link from working; answers already saved are kept."""
    if invitation.submitted_at is not None:
        raise InvitationError("This partner has already submitted; the link no longer opens anything.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
    _end_reminder_links([invitation.id])
    db.session.flush()
    refresh_status(invitation.assessment.couple)
    _audit(invitation, "invitation.revoked")


def revoke_all_open(couple: Couple) -> None:
    """Revoke every unsubmitted link of the couple (used when archiving)."""
    now = utcnow()
    revoked = db.session.scalars(
        sa.update(Invitation)
        .where(
            Invitation.assessment_id.in_(sa.select(Assessment.id).where(Assessment.couple_id == couple.id)),
            Invitation.submitted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(Invitation.id)
        .execution_options(synchronize_session="fetch")
    ).all()
    if revoked:
        _end_reminder_links(revoked)
    refresh_status(couple, touch=False)


def link_is_live(token_hash) -> sa.ColumnElement[bool]:
    """SQL: the link with this token hash still opens the invitation row it is tested against
    (the main link, or one a reminder made since the last reissue or revocation)."""
    row = Invitation.__table__.c
    return sa.or_(
        row.token_hash == token_hash,
        sa.exists().where(InvitationLink.invitation_id == row.id, InvitationLink.token_hash == token_hash),
    )


def find_by_token(raw: str | None) -> Invitation | None:
    """The invitation a raw link token belongs to (in any state), with what its pages show."""
    if not raw or len(raw) > 200:
        return None
    digest = hash_token(raw)
    # Both lookups use a unique index on the hash; the invitation is then found by id.
    matching = sa.union_all(
        sa.select(Invitation.id).where(Invitation.token_hash == digest),
        sa.select(InvitationLink.invitation_id).where(InvitationLink.token_hash == digest),
    )
    return db.session.scalar(
        sa.select(Invitation)
        .join(Invitation.assessment)
        .join(Assessment.couple)
        .join(Invitation.partner)
        .where(Invitation.id.in_(matching))
        .options(
            contains_eager(Invitation.assessment).contains_eager(Assessment.couple),
            contains_eager(Invitation.partner),
        )
    )


def link_for(raw: str) -> str:
    """The full address of a partner's link."""
    return external_url("client.open_link", token=raw)


@dataclass(frozen=True)
class _Email:
    to: str
    subject: str
    body: str


def _link_email(invitation: Invitation, raw: str, *, reminder: bool) -> _Email:
    """The email carrying a partner's link: the practice, the therapist and the link, nothing else."""
    partner = invitation.partner
    if not partner.email:
        raise InvitationError(f"There is no email address for {partner.display_name}.")
    couple = invitation.assessment.couple
    # As stored now: a long reminder run must not use a practice name read minutes ago.
    practice = db.session.get(Practice, couple.practice_id, populate_existing=True)
    clinician = db.session.get(Clinician, couple.clinician_id, populate_existing=True)
    context = {
        "partner": partner,
        "practice": practice,
        "clinician": clinician,
        "link": link_for(raw),
        "expires_at": invitation.expires_at,
        "zone": practice.timezone,
        # The estimate the welcome page gives too (the definitions' minutes).
        "minutes": sum(
            catalog.instrument(key, version).minutes for key, version in invitation.assessment.instrument_keys
        ),
    }
    if reminder:
        subject = f"A reminder from {practice.name}"
        body = render_template("email/partner_reminder.txt", **context)
    else:
        subject = f"Your questionnaires from {practice.name}"
        body = render_template("email/partner_invitation.txt", **context)
    return _Email(partner.email, subject, body)


def send_link(invitation: Invitation, raw: str) -> None:
    """Email a partner their link (the caller commits)."""
    message = _link_email(invitation, raw, reminder=False)
    send_email(message.to, message.subject, message.body)
    invitation.last_sent_at = utcnow()
    db.session.flush()
    _audit(invitation, "invitation.emailed")


def send_reminder(invitation: Invitation, *, only_if: sa.ColumnElement[bool] | None = None) -> None:
    """Remind one partner now, with a further link to the same questionnaires and deadline.

    The links the partner already has, and the session they may be answering in, keep
    working. This function commits, around the email: the new link and the count are
    committed before the message goes out, so a sent reminder always carries a live link
    and is always counted (a crash between the two leaves a counted reminder unsent, never
    one sent uncounted). If the mail server refuses the message or cannot be reached, the
    new link (which nobody received) and the count are taken back, that is committed, and
    the error (one of MAIL_ERRORS) is raised; the partner's earlier links work as before.
    Raises InvitationError, with nothing written, for a link that takes no reminder now (or
    whose row no longer meets `only_if`, a condition on the invitation table's row).
    """
    now = utcnow()
    if not invitation.usable(now):
        raise InvitationError("Reminders go only to links that are open and not yet submitted.")
    raw, digest = new_token()
    message = _link_email(invitation, raw, reminder=True)  # before any write: it may refuse
    row = Invitation.__table__.c
    # The count and the last send as stored now (the object may have been loaded a while ago).
    stored = db.session.execute(sa.select(row.reminders_sent, row.last_sent_at).where(row.id == invitation.id)).first()
    if stored is None:
        raise InvitationError("This link no longer exists.")
    seen, previous_sent_at = stored
    # Conditional on the count just read: two runs (or a run and a therapist) reminding the
    # same partner at once send one reminder, not two.
    conditions = [
        row.id == invitation.id,
        row.token_hash == invitation.token_hash,  # not reissued since it was loaded
        row.reminders_sent == seen,
        row.submitted_at.is_(None),
        row.revoked_at.is_(None),
        row.expires_at > now,
    ]
    if only_if is not None:
        conditions.append(only_if)
    counted = db.session.execute(
        sa.update(Invitation.__table__).where(*conditions).values(reminders_sent=seen + 1, last_sent_at=now)
    )
    if counted.rowcount != 1:  # nothing was written
        raise InvitationError("This link changed just now. Please reload the page and try again.")
    link = InvitationLink(invitation_id=invitation.id, token_hash=digest, created_at=now)
    db.session.add(link)
    # Recorded with the link it made: no live link exists that the trail does not know of.
    _audit(invitation, "invitation.reminded")
    db.session.commit()
    try:
        send_email(message.to, message.subject, message.body)
    except MAIL_ERRORS:
        db.session.execute(sa.delete(InvitationLink).where(InvitationLink.id == link.id))
        db.session.execute(
            sa.update(Invitation.__table__)
            .where(row.id == invitation.id, row.reminders_sent > 0)
            .values(reminders_sent=row.reminders_sent - 1, last_sent_at=previous_sent_at)
        )
        # The trail is append-only: the failure is a row of its own, after the one above.
        _audit(invitation, "invitation.reminder_failed")
        db.session.commit()
        raise
    set_committed_value(invitation, "reminders_sent", seen + 1)
    set_committed_value(invitation, "last_sent_at", now)


@dataclass(frozen=True)
class ReminderRun:
    """What one send-reminders run did, in counts only."""

    sent: int = 0
    failed: int = 0  # the mail server refused the message or could not be reached
    skipped: int = 0  # the link changed while the run went (submitted, revoked, reminded elsewhere)


def send_due_reminders(now: datetime | None = None) -> ReminderRun:
    """Send every reminder that is due, each in its own transaction; a failed one is left due.

    Commits (see send_reminder). Logs counts and error kinds only, never a name, address or link.
    """
    now = now or utcnow()
    last_contact = sa.func.coalesce(Invitation.last_sent_at, Invitation.created_at)

    def due(*where: sa.ColumnElement[bool]) -> sa.Select:
        return (
            sa.select(Invitation, Practice.reminder_after_days, Practice.reminder_max, last_contact)
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
                *where,
            )
            .options(
                contains_eager(Invitation.partner),
                contains_eager(Invitation.assessment).contains_eager(Assessment.couple),
            )
        )

    rows = db.session.execute(due().order_by(Invitation.id)).all()
    ids = [invitation.id for invitation, days, _, last in rows if last + timedelta(days=days) <= now]
    db.session.commit()  # end the read: each reminder below is its own transaction
    sent = failed = skipped = 0
    for invitation_id in ids:
        # Read again just before sending: a run can take minutes, and the partner's address,
        # the couple or the link may have changed meanwhile (the email goes to what is stored now).
        fresh = db.session.execute(due(Invitation.id == invitation_id)).first()
        if fresh is None:  # submitted, revoked, archived, address removed, ... since the first read
            db.session.commit()
            skipped += 1
            continue
        invitation, days, most, _ = fresh
        # The query's conditions were checked as stored now; the objects may hold older values.
        db.session.refresh(invitation, ["token_hash", "expires_at", "reminders_sent", "last_sent_at"])
        db.session.refresh(invitation.partner, ["email", "display_name"])
        # Still due as the row stands when it is sent (checked again by the counting UPDATE).
        still_due = sa.and_(Invitation.reminders_sent < most, last_contact <= now - timedelta(days=days))
        try:
            send_reminder(invitation, only_if=still_due)
        except InvitationError:
            db.session.rollback()
            skipped += 1
        except MAIL_ERRORS as exc:
            failed += 1
            # The class only: an SMTP error's text can name the recipient.
            log.warning("a reminder email could not be sent (%s)", type(exc).__name__)
        else:
            sent += 1
    return ReminderRun(sent=sent, failed=failed, skipped=skipped)
