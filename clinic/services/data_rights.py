"""A couple's data, whole: export it as JSON, or delete it (the audit keeps a line saying so)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from clinic import audit, catalog
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Answer, Assessment, Couple, Partner, Report, SafetyReview, Score
from clinic.services.responses import result_json
from instruments import score

EXPORT_FORMAT = "tandem-couple-export/1"


def _iso(value):
    return value.isoformat() if value else None


def export_couple(couple: Couple) -> dict:
    """Everything Tandem holds about one couple, with answers, scores and instrument versions."""
    partners = db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id).order_by(Partner.position))
    assessments = db.session.scalars(
        sa.select(Assessment)
        .where(Assessment.couple_id == couple.id)
        .order_by(Assessment.id)
        .options(selectinload(Assessment.invitations))
    ).all()
    invitation_ids = [i.id for a in assessments for i in a.invitations]
    answers: dict[int, dict[str, dict]] = {}
    for row in db.session.scalars(sa.select(Answer).where(Answer.invitation_id.in_(invitation_ids))):
        answers.setdefault(row.invitation_id, {}).setdefault(row.instrument_id, {})[row.item_id] = (
            row.value if row.value is not None else row.text
        )
    stored_scores = {
        (s.invitation_id, s.instrument_id): s
        for s in db.session.scalars(sa.select(Score).where(Score.invitation_id.in_(invitation_ids)))
    }
    reviews = db.session.scalars(sa.select(SafetyReview).where(SafetyReview.invitation_id.in_(invitation_ids))).all()
    reports = db.session.execute(
        sa.select(Report.id, Report.kind, Report.status, Report.requested_at)
        .where(Report.couple_id == couple.id)
        .order_by(Report.id)
    ).all()
    partner_letter = {}
    partner_rows = []
    for p in partners:
        partner_letter[p.id] = p.letter
        partner_rows.append(
            {"partner": p.letter, "display_name": p.display_name, "email": p.email, "pronouns": p.pronouns}
        )
    assessment_rows = []
    for a in assessments:
        invitation_rows = []
        for inv in a.invitations:
            given = answers.get(inv.id, {})
            responses = []
            for instrument_id, version in a.instrument_keys:
                instrument = catalog.instrument(instrument_id, version)
                own = given.get(instrument_id, {})
                entry = {"instrument": instrument_id, "version": version, "answers": own}
                if inv.submitted_at is not None:
                    result = score(instrument, own)
                    # Written as a Score row keeps them (the values as shown), so the two compare.
                    written = result_json(result)
                    entry["scores"] = {**written["scores"], **written["totals"]}
                    entry["safety_flags"] = [
                        {"item": f.item_id, "answer": f.value, "level": f.level} for f in result.flags
                    ]
                    kept = stored_scores.get((inv.id, instrument_id))
                    entry["scores_recorded_at_submission"] = kept.result if kept else None
                responses.append(entry)
            invitation_rows.append(
                {
                    "partner": partner_letter[inv.partner_id],
                    "created_at": _iso(inv.created_at),
                    "expires_at": _iso(inv.expires_at),
                    "opened_at": _iso(inv.opened_at),
                    "submitted_at": _iso(inv.submitted_at),
                    "revoked_at": _iso(inv.revoked_at),
                    "responses": responses,
                }
            )
        assessment_rows.append(
            {
                "occasion": a.occasion,
                "created_at": _iso(a.created_at),
                "instruments": [{"id": i, "version": v} for i, v in a.instrument_keys],
                "invitations": invitation_rows,
            }
        )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(utcnow()),
        "couple": {
            "label": couple.label,
            "archived": couple.archived,
            "created_at": _iso(couple.created_at),
            "prep_notes": couple.prep_notes,
        },
        "partners": partner_rows,
        "assessments": assessment_rows,
        "safety_reviews": [
            {"item": r.item_id, "instrument": r.instrument_id, "note": r.note, "reviewed_at": _iso(r.reviewed_at)}
            for r in reviews
        ],
        "reports": [
            {"id": r.id, "kind": r.kind.value, "status": r.status.value, "requested_at": _iso(r.requested_at)}
            for r in reports
        ],
    }


def delete_couple(couple: Couple) -> None:
    """Delete the couple with its partners, responses, scores, reviews, reports and invitations."""
    couple_id, practice_id = couple.id, couple.practice_id
    # The database cascades every dependent row (ON DELETE CASCADE on each foreign key).
    db.session.execute(sa.delete(Couple).where(Couple.id == couple_id).execution_options(synchronize_session=False))
    db.session.expunge(couple)
    audit.record("couple.deleted", couple_id=couple_id, practice_id=practice_id, target=f"couple:{couple_id}")
