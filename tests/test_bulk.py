"""seed-demo --couples N: bulk couples that read exactly like couples the services made."""

from __future__ import annotations

from collections import Counter, defaultdict

import sqlalchemy as sa

from clinic import catalog
from clinic.bulk import add_bulk_couples
from clinic.cli import DEMO_EMAIL
from clinic.db_types import utcnow
from clinic.models import Answer, Assessment, Clinician, Couple, CoupleStatus, Invitation, Partner, Score
from clinic.services.invitations import latest_assessment
from clinic.services.responses import result_json
from clinic.services.status import status_of
from instruments import score


def test_bulk_couples_are_consistent_with_the_services(make_practice, make_clinician, db):
    owner = make_practice()
    colleague = make_clinician(owner)
    counts = add_bulk_couples(owner.practice, 80, seed=7)
    db.session.commit()
    couples = db.session.scalars(sa.select(Couple).where(Couple.practice_id == owner.practice_id)).all()
    assert counts.couples == len(couples) == 80
    assert {c.clinician_id for c in couples} == {owner.id, colleague.id}
    assert len({c.label for c in couples}) == 80
    now = utcnow()
    for couple in couples:
        latest = latest_assessment(couple)
        # The stored status is what services.status computes from the latest assessment.
        assert (couple.status, couple.status_until) == status_of(list(latest.invitations), now), couple.label
        assessments = db.session.scalars(
            sa.select(Assessment).where(Assessment.couple_id == couple.id).order_by(Assessment.id)
        ).all()
        intake = db.session.scalars(sa.select(Invitation).where(Invitation.assessment_id == assessments[0].id)).all()
        assert len(intake) == 2 and all(i.submitted_at for i in intake), "every couple has a submitted intake"
        events = [a.created_at for a in assessments]
        events += [
            t
            for a in assessments
            for i in db.session.scalars(sa.select(Invitation).where(Invitation.assessment_id == a.id))
            for t in (i.started_at, i.submitted_at)
            if t
        ]
        assert couple.last_activity_at == max(events) <= now
    statuses = Counter(c.status for c in couples)
    assert statuses[CoupleStatus.COMPLETED] > 40
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Partner)) == 160


def test_bulk_scores_are_the_engines_for_the_stored_answers(make_practice, db):
    owner = make_practice()
    add_bulk_couples(owner.practice, 30, seed=3)
    db.session.commit()
    answers: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for invitation_id, instrument_id, item_id, value in db.session.execute(
        sa.select(Answer.invitation_id, Answer.instrument_id, Answer.item_id, Answer.value)
    ):
        answers[invitation_id, instrument_id][item_id] = value
    scores = db.session.scalars(sa.select(Score)).all()
    assert len(scores) >= 30 * 2 * 2
    registry = catalog.registry()
    for row in scores:
        instrument = registry.get(row.instrument_id, row.instrument_version)
        given = answers[row.invitation_id, row.instrument_id]
        assert len(given) == len(instrument.items), "a submitted partner answered every item"
        assert row.result == result_json(score(instrument, given))
    # Answers vary: partners do not all give the same answers.
    connection = {tuple(sorted(a.items())) for (_, i), a in answers.items() if i == "connection"}
    assert len(connection) > 20


def test_seed_demo_adds_bulk_couples_to_the_demo_practice(app, db):
    result = app.test_cli_runner().invoke(args=["seed-demo", "--couples", "25"])
    assert result.exit_code == 0, result.output
    assert "Added 25 fictional couples" in result.output
    demo = db.session.scalar(sa.select(Clinician).where(Clinician.email == DEMO_EMAIL))
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(Couple).where(Couple.practice_id == demo.practice_id)
    )
    assert total == 7 + 25
    # Again: more couples, labels still unique.
    assert app.test_cli_runner().invoke(args=["seed-demo", "--couples", "5"]).exit_code == 0
    labels = db.session.scalars(sa.select(Couple.label).where(Couple.practice_id == demo.practice_id)).all()
    assert len(labels) == len(set(labels)) == 37
