"""seed-demo --couples N: bulk couples that read exactly like couples the services made,
check-ins on a schedule included, and a practice calibrated on them."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from itertools import pairwise

import sqlalchemy as sa

from clinic import catalog
from clinic.bulk import LEAD_HOURS, add_bulk_couples
from clinic.cli import DEMO_EMAIL
from clinic.db_types import utcnow
from clinic.models import (
    Answer,
    Assessment,
    CheckinCadence,
    CheckinSchedule,
    CheckinSending,
    Clinician,
    Couple,
    CoupleStatus,
    Invitation,
    Partner,
    Practice,
    ReliabilityEstimate,
    Score,
)
from clinic.results import load_couple_results
from clinic.services import calibration, checkins
from clinic.services.invitations import latest_assessment
from clinic.services.responses import result_json
from clinic.services.status import status_of
from instruments import score

NEW_YORK = "America/New_York"  # sessions keep their wall-clock time across the clock changes


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


def _sendings(db, practice_id: int) -> dict[int, list[CheckinSending]]:
    """The practice's check-in sendings by schedule id, in the order they were inserted."""
    by_schedule: dict[int, list[CheckinSending]] = defaultdict(list)
    for sending in db.session.scalars(
        sa.select(CheckinSending)
        .join(CheckinSchedule, CheckinSchedule.id == CheckinSending.schedule_id)
        .join(Couple, Couple.id == CheckinSchedule.couple_id)
        .where(Couple.practice_id == practice_id)
        .order_by(CheckinSending.id)
    ):
        by_schedule[sending.schedule_id].append(sending)
    return by_schedule


def test_scheduled_checkins_read_as_send_checkins_sent_them(make_practice, db, outbox):
    owner = make_practice(timezone=NEW_YORK)
    counts = add_bulk_couples(owner.practice, 150, seed=5)
    db.session.commit()
    now = utcnow()
    zone = checkins.practice_zone(NEW_YORK)
    checkin = catalog.registry().latest("checkin")
    couples = {c.id: c for c in db.session.scalars(sa.select(Couple).where(Couple.practice_id == owner.practice_id))}
    schedules = db.session.scalars(sa.select(CheckinSchedule).order_by(CheckinSchedule.id)).all()
    active = [c for c in couples.values() if not c.archived]
    assert counts.schedules == len(schedules)
    assert 0.25 <= len(schedules) / len(active) <= 0.55, "a realistic share of active couples meets on a schedule"
    assert all(not couples[s.couple_id].archived for s in schedules)
    assert {s.cadence for s in schedules} == {CheckinCadence.WEEKLY, CheckinCadence.FORTNIGHTLY}
    assert any(s.paused for s in schedules) and any(s.ended_at for s in schedules)
    assert any(not s.paused and s.ended_at is None for s in schedules)

    sendings = _sendings(db, owner.practice_id)
    assert set(sendings) == {s.id for s in schedules}
    assert counts.sessions == sum(len(rows) for rows in sendings.values())
    expired = 0
    for schedule in schedules:
        couple = couples[schedule.couple_id]
        rows = sendings[schedule.id]
        assert (schedule.lead_hours, schedule.session_dates) == (LEAD_HOURS, [])
        sessions = [row.session_at for row in rows]
        # Ascending and unique, and exactly the schedule's sessions (local time kept across clock changes).
        assert sessions == sorted(set(sessions)) and sessions[0] == schedule.first_session_at
        assert 3 <= sum(at <= now for at in sessions) <= 10
        for earlier, later in pairwise(sessions):
            assert checkins.next_session(schedule, zone, earlier) == later
        # Set after the intake was done, before the first session's check-in went out.
        intake = db.session.scalars(
            sa.select(Invitation.submitted_at)
            .join(Assessment, Assessment.id == Invitation.assessment_id)
            .where(Assessment.couple_id == couple.id, Assessment.occasion == "Intake")
        ).all()
        assert max(intake) < schedule.created_at < sessions[0] - timedelta(hours=LEAD_HOURS)
        stopped = schedule.ended_at or (schedule.updated_at if schedule.paused else None)
        if stopped is not None:  # paused or ended after the last check-in went out, before the next was due
            assert sessions[-1] < stopped <= now
            assert checkins.send_at(schedule, checkins.next_session(schedule, zone, sessions[-1])) > stopped
        for row in rows:
            assessment = db.session.get(Assessment, row.assessment_id)
            local = row.session_at.astimezone(zone)
            assert assessment.couple_id == schedule.couple_id
            assert assessment.occasion == f"Check-in before {local.day} {local:%b} session"
            assert assessment.instrument_keys == [("checkin", checkin.version)]
            sent = row.session_at - timedelta(hours=schedule.lead_hours)
            assert row.created_at == assessment.created_at == sent
            links = db.session.scalars(sa.select(Invitation).where(Invitation.assessment_id == assessment.id)).all()
            assert len(links) == 2
            for link in links:
                assert (link.created_at, link.expires_at) == (sent, row.session_at), "the link closes at the session"
                if link.submitted_at is not None:
                    assert sent < link.started_at < link.submitted_at < min(row.session_at, now)
                elif row.session_at <= now:
                    expired += 1
                    assert link.started_at is None
    assert expired, "now and then a partner lets a check-in run out"
    # Every session whose check-in is due already has it: send-checkins finds nothing to send.
    run = checkins.send_due(now)
    assert (run.sessions, run.partners, run.skipped) == (0, 0, 0)
    assert outbox() == []


def test_a_scheduled_bulk_couples_checkins_show_as_a_trend_with_numbers(make_practice, db):
    owner = make_practice()
    add_bulk_couples(owner.practice, 40, seed=11)
    db.session.commit()
    now = utcnow()
    sendings = _sendings(db, owner.practice_id)
    schedule = db.session.scalars(sa.select(CheckinSchedule).order_by(CheckinSchedule.id)).first()
    couple = db.session.get(Couple, schedule.couple_id)
    shown = checkins.for_couple(couple, "UTC", now)
    assert shown.schedule.id == schedule.id
    assert [row.session_at for row in shown.trend] == [s.session_at for s in sendings[schedule.id]]
    # The numbers are the stored check-in scores of the partners who answered.
    for row, sending in zip(shown.trend, sendings[schedule.id], strict=True):
        stored = {}
        for position, result in db.session.execute(
            sa.select(Partner.position, Score.result)
            .join(Invitation, Invitation.partner_id == Partner.id)
            .join(Score, Score.invitation_id == Invitation.id)
            .where(Invitation.assessment_id == sending.assessment_id)
        ):
            stored[position] = result["scores"]["overall"]["value"]
        assert {pos: value for pos, value in row.totals.items() if value is not None} == stored
        assert all(1 <= value <= 5 for value in stored.values())
    assert sum(None not in row.totals.values() for row in shown.trend) >= 3


def test_bulk_checkins_drift_mostly_a_little_better(make_practice, db):
    owner = make_practice()
    add_bulk_couples(owner.practice, 200, seed=2)
    db.session.commit()
    # Each partner's first and last answered session: most move up, some stay, some go down.
    moves = Counter()
    for rows in _sendings(db, owner.practice_id).values():
        by_partner: dict[int, list[float]] = defaultdict(list)
        for partner_id, result in db.session.execute(
            sa.select(Invitation.partner_id, Score.result)
            .join(Score, Score.invitation_id == Invitation.id)
            .where(Invitation.assessment_id.in_([row.assessment_id for row in rows]))
            .order_by(Invitation.submitted_at)
        ):
            by_partner[partner_id].append(result["scores"]["overall"]["value"])
        for values in by_partner.values():
            change = values[-1] - values[0]
            moves["better" if change > 0.25 else "worse" if change < -0.25 else "same"] += 1
    assert moves["better"] > moves["worse"] > 0 and moves["same"] > 0, moves


def test_bulk_couples_follow_the_seed(make_practice, db):
    now = utcnow()

    def seeded(seed: int) -> list:
        owner = make_practice(timezone=NEW_YORK)
        add_bulk_couples(owner.practice, 30, seed=seed, now=now)
        db.session.commit()
        practice_id = owner.practice_id
        story = []
        for couple in db.session.scalars(
            sa.select(Couple).where(Couple.practice_id == practice_id).order_by(Couple.id)
        ):
            schedule = db.session.scalar(sa.select(CheckinSchedule).where(CheckinSchedule.couple_id == couple.id))
            story.append(
                (
                    couple.label,
                    couple.clinician_id == owner.id,
                    couple.status,
                    couple.status_until,
                    couple.last_activity_at,
                    schedule and (schedule.cadence, schedule.first_session_at, schedule.paused, schedule.ended_at),
                )
            )
            for assessment in db.session.scalars(
                sa.select(Assessment).where(Assessment.couple_id == couple.id).order_by(Assessment.id)
            ):
                story.append((assessment.occasion, assessment.created_at, assessment.instruments))
                for link in db.session.scalars(
                    sa.select(Invitation).where(Invitation.assessment_id == assessment.id).order_by(Invitation.id)
                ):
                    answers = db.session.execute(
                        sa.select(Answer.instrument_id, Answer.item_id, Answer.value)
                        .where(Answer.invitation_id == link.id)
                        .order_by(Answer.instrument_id, Answer.item_id)
                    ).all()
                    story.append((link.opened_at, link.started_at, link.submitted_at, link.expires_at, answers))
        story.extend((s.session_at, s.created_at) for rows in _sendings(db, practice_id).values() for s in rows)
        return story

    first, again, other = seeded(4), seeded(4), seeded(5)
    assert first == again
    assert first != other


def test_every_bulk_partners_first_answers_calibrate_the_practice(make_practice, db):
    owner = make_practice()
    add_bulk_couples(owner.practice, 25, seed=9)
    db.session.commit()
    practice = db.session.get(Practice, owner.practice_id)
    assert calibration.calibrate(practice) > 0
    estimates = calibration.practice_estimates(practice.id)
    # 25 couples give the 50 partners an estimate needs: each partner's first answers are a valid intake.
    for instrument_id in ("connection", "checkin"):
        instrument = catalog.registry().latest(instrument_id)
        for measure in instrument.measures():
            estimate = estimates[(instrument_id, instrument.version, measure.id)]
            assert estimate.n == 50 and 0 < estimate.alpha < 1 and estimate.sd > 0, (instrument_id, measure.id)


def test_seed_demo_calibrates_so_change_is_judged_on_the_practices_estimates(app, db):
    result = app.test_cli_runner().invoke(args=["seed-demo", "--couples", "60"])
    assert result.exit_code == 0, result.output
    assert "check-in schedules with" in result.output
    assert "Estimated reliability for " in result.output and "partners' first answers" in result.output
    demo = db.session.scalar(sa.select(Clinician).where(Clinician.email == DEMO_EMAIL))
    estimates = db.session.scalars(
        sa.select(ReliabilityEstimate).where(
            ReliabilityEstimate.practice_id == demo.practice_id,
            ReliabilityEstimate.instrument_id.in_(["connection", "checkin"]),
        )
    ).all()
    assert estimates and all(e.n >= 50 and 0 < e.alpha < 1 for e in estimates)
    # A bulk couple with a submitted follow-up: its change is judged on the practice's own estimates.
    followed_up = db.session.scalars(
        sa.select(Couple)
        .where(Couple.practice_id == demo.practice_id, Couple.label.like("_ & _ _____"))
        .where(
            sa.select(sa.func.count())
            .select_from(Assessment)
            .where(Assessment.couple_id == Couple.id, Assessment.occasion.like("Week %"))
            .scalar_subquery()
            > 0
        )
        .order_by(Couple.id)
    ).first()
    assert followed_up is not None
    results = load_couple_results(followed_up)
    connection = [t for t in results.trends if t.instrument.id == "connection"]
    assert connection and {t.basis.source for t in connection} == {"practice"}
    assert all(t.basis.n >= 50 for t in connection)
