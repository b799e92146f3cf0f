"""Therapists acknowledge safety flags."""

from __future__ import annotations

import sqlalchemy as sa

from clinic import audit, catalog
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Answer, Assessment, Clinician, Couple, Invitation, SafetyReview, Score
from instruments import score

NOTE_LIMIT = 1000


class SafetyError(ValueError):
    """A review that cannot be recorded; safe to show."""


def review_flag(invitation: Invitation, *, instrument_id: str, item_id: str, note: str, by: Clinician) -> SafetyReview:
    """Record that a flag was reviewed (or update the note); only flags the answers really raised."""
    if invitation.submitted_at is None:
        raise SafetyError("Only submitted answers can raise a flag.")
    versions = dict(invitation.assessment.instrument_keys)
    if instrument_id not in versions:
        raise SafetyError("That questionnaire is not part of this assessment.")
    instrument = catalog.instrument(instrument_id, versions[instrument_id])
    rows = db.session.execute(
        sa.select(Answer.item_id, Answer.value, Answer.text).where(
            Answer.invitation_id == invitation.id, Answer.instrument_id == instrument_id
        )
    )
    answers = {r.item_id: (r.value if r.value is not None else r.text) for r in rows}
    if item_id not in {flag.item_id for flag in score(instrument, answers).flags}:
        raise SafetyError("There is no such safety flag to review.")
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        raise SafetyError(f"Keep the note under {NOTE_LIMIT} characters.")
    review = db.session.scalar(
        sa.select(SafetyReview).where(
            SafetyReview.invitation_id == invitation.id,
            SafetyReview.instrument_id == instrument_id,
            SafetyReview.item_id == item_id,
        )
    )
    if review is None:
        review = SafetyReview(invitation_id=invitation.id, instrument_id=instrument_id, item_id=item_id)
        db.session.add(review)
    review.note = note
    review.reviewed_by_id = by.id
    review.reviewed_at = utcnow()
    db.session.flush()
    couple = invitation.assessment.couple
    count_unreviewed(couple.id)
    audit.record(
        "safety.reviewed",
        couple_id=couple.id,
        practice_id=couple.practice_id,
        target=f"invitation:{invitation.id}",
        detail={"instrument": instrument_id, "item": item_id},
    )
    return review


def count_unreviewed(couple_id: int) -> int:
    """Recount the couple's safety flags that no clinician has reviewed, and keep the number on
    the couple for the dashboard. The flags come from the score rows kept at submission."""
    of_couple = (
        sa.select(Invitation.id)
        .join(Assessment, Assessment.id == Invitation.assessment_id)
        .where(Assessment.couple_id == couple_id)
    )
    reviewed = set(
        db.session.execute(
            sa.select(SafetyReview.invitation_id, SafetyReview.instrument_id, SafetyReview.item_id).where(
                SafetyReview.invitation_id.in_(of_couple)
            )
        ).tuples()
    )
    count = 0
    for invitation_id, instrument_id, result in db.session.execute(
        sa.select(Score.invitation_id, Score.instrument_id, Score.result).where(Score.invitation_id.in_(of_couple))
    ):
        for flag in result.get("flags", []):
            count += (invitation_id, instrument_id, flag["item_id"]) not in reviewed
    # Only a change is written: a second review of the same flag leaves the couple as it was.
    db.session.execute(
        sa.update(Couple)
        .where(Couple.id == couple_id, Couple.unreviewed_flags != count)
        .values(unreviewed_flags=count)
        .execution_options(synchronize_session=False)
    )
    return count
