"""Reliability calibrated on a practice's own answers (`flask --app wsgi calibrate`, nightly).

Per practice, per instrument version and per subscale or total: Cronbach's alpha and the SD
of the score (instruments.reliability), from each partner's FIRST submitted answers to that
instrument, one set per partner, so no partner counts twice and no answer given after
sessions began counts at all. Each estimate is stored with its N and the time; a run replaces
the practice's estimates. Only this practice's couples are read (clinic.scoping), and only
its own estimates are ever used for it.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import current_app

from clinic import catalog
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Answer, Assessment, Couple, Invitation, Practice, ReliabilityEstimate
from clinic.scoping import couples_in_scope, practice_rows
from instruments.reliability import Estimate, estimates

# Invitations per statement when reading answers (a practice may hold tens of thousands).
CHUNK = 1000

# Every submitted invitation of the practice's couples, earliest submission first.
_SUBMITTED = (
    sa.select(Invitation.id, Invitation.partner_id, Assessment.instruments)
    .join(Assessment, Invitation.assessment_id == Assessment.id)
    .where(
        Assessment.couple_id.in_(couples_in_scope(owner=True).with_only_columns(Couple.id)),
        Invitation.submitted_at.is_not(None),
    )
    .order_by(Invitation.submitted_at, Invitation.id)
)
_ESTIMATES = practice_rows(ReliabilityEstimate)

Key = tuple[str, int, str]  # instrument id, version, measure id


def min_partners() -> int:
    """Partners with a valid score an estimate needs before reliable change uses it."""
    return current_app.config["CALIBRATION_MIN_PARTNERS"]


def first_answers(practice: Practice) -> dict[tuple[str, int], list[dict[str, int]]]:
    """Each partner's first submitted answers to each instrument, by (instrument id, version):
    one set of choice answers per partner (a partner who skipped every item gives an empty one)."""
    first: dict[tuple[int, str], tuple[int, int]] = {}  # (partner, instrument) -> (invitation, version)
    for invitation_id, partner_id, keys in db.session.execute(_SUBMITTED, {"scope_practice_id": practice.id}):
        for instrument_id, version in keys:
            first.setdefault((partner_id, str(instrument_id)), (invitation_id, int(version)))
    wanted = {(invitation_id, instrument_id) for (_, instrument_id), (invitation_id, _) in first.items()}
    given: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    invitation_ids = sorted({invitation_id for invitation_id, _ in wanted})
    for start in range(0, len(invitation_ids), CHUNK):
        rows = db.session.execute(
            sa.select(Answer.invitation_id, Answer.instrument_id, Answer.item_id, Answer.value).where(
                Answer.invitation_id.in_(invitation_ids[start : start + CHUNK]), Answer.value.is_not(None)
            )
        )
        for invitation_id, instrument_id, item_id, value in rows:
            if (invitation_id, instrument_id) in wanted:
                given[(invitation_id, instrument_id)][item_id] = value
    out: dict[tuple[str, int], list[dict[str, int]]] = defaultdict(list)
    for (_, instrument_id), (invitation_id, version) in first.items():
        out[(instrument_id, version)].append(given.get((invitation_id, instrument_id), {}))
    return dict(out)


def calibrate(practice: Practice) -> int:
    """Estimate alpha and SD of every scored measure from the practice's first answers and store
    them, replacing the practice's earlier estimates; returns how many were stored. The caller commits."""
    registry = catalog.registry()
    found: dict[Key, Estimate] = {}
    for (instrument_id, version), answer_sets in first_answers(practice).items():
        if (instrument_id, version) not in registry:
            continue  # `flask instruments check` reports a version that is not installed
        instrument = registry.get(instrument_id, version)
        if instrument.kind != "scored":
            continue  # only scored questionnaires show change over time
        for measure_id, estimate in estimates(instrument, answer_sets).items():
            found[(instrument_id, version, measure_id)] = estimate
    now = utcnow()
    kept = {
        (row.instrument_id, row.instrument_version, row.measure_id): row
        for row in db.session.scalars(_ESTIMATES, {"scope_practice_id": practice.id})
    }
    for key, row in kept.items():
        if key not in found:
            db.session.delete(row)  # its answers are gone (couples deleted): no estimate outlives them
    for key, estimate in found.items():
        row = kept.get(key)
        if row is None:
            instrument_id, version, measure_id = key
            row = ReliabilityEstimate(
                practice_id=practice.id, instrument_id=instrument_id, instrument_version=version, measure_id=measure_id
            )
            db.session.add(row)
        row.alpha, row.sd, row.n, row.estimated_at = estimate.alpha, estimate.sd, estimate.n, now
    db.session.flush()
    return len(found)


def practice_estimates(practice_id: int) -> dict[Key, Estimate]:
    """The practice's stored estimates, by (instrument id, version, measure id): one query."""
    return {
        (row.instrument_id, row.instrument_version, row.measure_id): Estimate(
            n=row.n, alpha=row.alpha, sd=row.sd, estimated_at=row.estimated_at
        )
        for row in db.session.scalars(_ESTIMATES, {"scope_practice_id": practice_id})
    }
