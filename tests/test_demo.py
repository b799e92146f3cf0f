"""The demo couples seed-demo adds: each shows what PRODUCT.md "Demo couples" promises.

Everything is read back through clinic.results, the code behind the couple view.
The connection check-in has no psychometrics (no validation study), so its change over
time is shown raw and said to be not yet judgeable, never judged reliable.
"""

import html
import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from clinic import catalog
from clinic.cli import DEMO_EMAIL, DEMO_PASSWORD
from clinic.db_types import utcnow
from clinic.demo import LR_CHECKINS, add_demo_couples
from clinic.models import Answer, Assessment, Clinician, Couple, CoupleStatus, Invitation, Partner
from clinic.results import CoupleResults, InstrumentResults, load_couple_results
from clinic.services import responses
from instruments import ChangeUnknown
from instruments.change import NO_PSYCHOMETRICS
from instruments.numbers import fmt

LABELS = ("M & D", "S & K", "L & R", "N & T", "E & O", "H & W", "G & B")


@pytest.fixture
def demo(app, db) -> dict[str, Couple]:
    """The demo practice, seeded the way a new user does it; its couples by label."""
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return {couple.label: couple for couple in db.session.scalars(sa.select(Couple))}


def row(results: CoupleResults, occasion: str, instrument_id: str) -> InstrumentResults:
    (assessment,) = (a for a in results.assessments if a.occasion == occasion)
    (found,) = (r for r in results.by_assessment[assessment.id] if r.instrument.id == instrument_id)
    return found


def items_of(instrument_id: str, subscale: str) -> list[str]:
    return [item.id for item in catalog.registry().latest(instrument_id).items_of(subscale)]


def test_seed_adds_seven_couples_in_every_dashboard_status(demo):
    now = utcnow()
    assert {label: couple.current_status(now) for label, couple in demo.items()} == {
        "M & D": CoupleStatus.COMPLETED,
        "S & K": CoupleStatus.COMPLETED,
        "L & R": CoupleStatus.COMPLETED,
        "N & T": CoupleStatus.COMPLETED,
        "E & O": CoupleStatus.WAITING,
        "H & W": CoupleStatus.IN_PROGRESS,
        "G & B": CoupleStatus.NOTHING_SENT,
    }


def test_every_submitted_partner_answered_every_item(demo, db):
    invitations = db.session.scalars(
        sa.select(Invitation).where(Invitation.submitted_at.is_not(None)).options(joinedload(Invitation.assessment))
    ).all()
    checkins_sent = [i for i in invitations if i.assessment.instrument_keys == [("checkin", 1)]]
    invitations = [i for i in invitations if i not in checkins_sent]
    # Four couples of two, L & R twice, and Hana of the in-progress couple.
    assert len(invitations) == 4 * 2 + 2 + 1
    # L & R's weekly check-ins: both partners every week, but one week Rafael did not answer.
    assert len(checkins_sent) == 2 * len(LR_CHECKINS) - 1
    for invitation in invitations:
        steps = responses.progress(invitation, responses.answers_for(invitation))
        assert [step.instrument.id for step in steps] == ["connection", "differentiation", "life_context", "safety"]
        assert all(step.complete for step in steps), invitation


def test_pursue_withdraw_couple_shows_the_cycle(demo):
    results = load_couple_results(demo["M & D"])
    connection = row(results, "Intake", "connection")
    a, b = connection.results[1].scores, connection.results[2].scores
    # Mariana (A) pursues and feels unheard; Daniel (B) withdraws.
    assert (a["pursuing"].value, a["pursuing"].band.label, a["pursuing"].band.concern) == (4.5, "High", True)
    assert (a["withdrawing"].value, a["withdrawing"].band.label) == (1.75, "Low")
    assert a["heard"].band.label == "Strained"
    assert (b["withdrawing"].value, b["withdrawing"].band.label, b["withdrawing"].band.concern) == (4.5, "High", True)
    assert (b["pursuing"].value, b["pursuing"].band.label) == (1.5, "Low")
    comparison = connection.comparison
    assert comparison.subscales["pursuing"].difference == -3.0
    assert comparison.subscales["withdrawing"].difference == 2.75
    items = {i.item_id: i for i in comparison.items}
    cycle = items_of("connection", "pursuing") + items_of("connection", "withdrawing")
    assert all(items[item_id].worth_discussing for item_id in cycle)
    # The largest gaps listed for the session are the cycle's two halves.
    assert {i.item_id for i in connection.talk.gaps[:2]} == {"pursuing_1", "withdrawing_4"}
    assert items["withdrawal_2"].a_label == "Strongly agree"  # lonely even when together
    assert items["withdrawing_3"].b_label == "Strongly agree"  # feels judged, keeps distance
    # Both still care a lot about how things go between them.
    assert (items["withdrawal_4"].a_label, items["withdrawal_4"].b_label) == ("Strongly agree", "Agree")
    assert results.safety == []


def test_roommates_share_their_concerns_and_their_outside_load(demo):
    results = load_couple_results(demo["S & K"])
    connection = row(results, "Intake", "connection")
    comparison = connection.comparison
    categories = [i.category for i in comparison.items]
    # 38 items: heard, affection, sharing, withdrawal and rituals are shared concerns
    # (25) except withdrawal_4, where Keiko is unsure (neutral): 24 / 38 = 63 %.
    assert len(categories) == 38
    assert categories.count("shared_concern") == 24
    assert categories.count("shared_concern") / len(categories) >= 0.6
    assert categories.count("split") == 0
    assert not any(i.worth_discussing for i in comparison.items)
    for position in (1, 2):
        scores = connection.results[position].scores
        assert (scores["affection"].band.label, scores["rituals"].band.label) == ("Strained", "Strained")
        # Little conflict: no pursuing or withdrawing, respect intact.
        assert (scores["pursuing"].band.label, scores["withdrawing"].band.label) == ("Low", "Low")
        assert scores["kindness"].band.label == "Strong"
    context = catalog.registry().latest("life_context")
    weighing = {r.text: r.weighing for r in results.context}
    for item_id in ("new_child", "work"):
        assert weighing[context.item(item_id).text] == {1: True, 2: True}
    assert set(results.context_notes) == {2}


def test_mostly_connected_couple_has_one_split_that_narrows_by_week_8(demo):
    results = load_couple_results(demo["L & R"])
    intake, week_8 = (a for a in results.assessments if a.occasion in ("Intake", "Week 8"))
    assert (intake.occasion, week_8.occasion) == ("Intake", "Week 8")
    assert timedelta(weeks=7) < week_8.created_at - intake.created_at < timedelta(weeks=9)
    assert week_8.created_at < utcnow() - timedelta(days=5)

    first = row(results, "Intake", "connection")
    categories = [i.category for i in first.comparison.items]
    assert categories.count("shared_strength") == 34
    assert {i.subscale for i in first.talk.splits} == {"affection"}
    assert len(first.talk.splits) == 4
    assert fmt(first.comparison.subscales["affection"].difference) == "-2.20"

    (trend,) = (t for t in results.trends if t.instrument.id == "connection" and t.measure_id == "affection")
    assert [(p.occasion, {pos: fmt(v) for pos, v in p.values.items()}) for p in trend.points] == [
        ("Intake", {1: "4.60", 2: "2.40"}),
        ("Week 8", {1: "4.40", 2: "4.20"}),
    ]
    # Rafael (B): 2.4 -> 4.2, +1.8; Luis (A): 4.6 -> 4.4, -0.2; the gap narrows from 2.2 to 0.2.
    change = trend.since_last
    assert {pos: fmt(d) for pos, d in change.delta.items()} == {1: "-0.20", 2: "1.80"}
    assert tuple(fmt(g) for g in change.gap) == ("2.20", "0.20")
    # Shown raw: with no SD and reliability, whether it is reliable cannot yet be judged; a raw
    # change of at least a tenth of the range (0.40) is called clear, the rest "no clear change".
    assert not trend.judged
    unknown = ChangeUnknown(NO_PSYCHOMETRICS)
    assert (change.reliable[1], change.reliable[2], change.gap_reliable) == (unknown, unknown, unknown)
    assert (change.verdict, change.gap_verdict) == ({1: "no clear change", 2: "better"}, "closer")
    # Two assessments: since the first is since the last.
    assert trend.since_first == change
    # Nothing else on the connection check-in moved by as much: the story is affection
    # (the overall connection total follows it: Rafael's total rises with his affection).
    others = [
        t for t in results.trends if t.instrument.id == "connection" and t.measure_id not in ("affection", "total")
    ]
    assert len(others) == 7
    for other in others:
        c = other.since_last
        assert (c.reliable[1], c.reliable[2], c.gap_reliable) == (unknown, unknown, unknown), other.measure_id
        assert all(abs(d) < 0.4 for d in c.delta.values()), other.measure_id
        assert abs(c.gap[1] - c.gap[0]) < 0.4, other.measure_id
        assert set(c.verdict.values()) == {"no clear change"} and c.gap_verdict == "no clear change"


def test_safety_couple_has_one_flag_for_one_partner(demo):
    results = load_couple_results(demo["N & T"])
    assert [(e.partner.display_name, e.flag.item_id, e.flag.answer_label, e.flag.level) for e in results.safety] == [
        ("Tomás Rivera", "afraid", "Once or twice", "review")
    ]
    assert results.unreviewed_safety == 1
    safety = row(results, "Intake", "safety")
    assert safety.results[1].flags == ()
    # Nadia's results look ordinary: no connection subscale in a concern band.
    nadia = row(results, "Intake", "connection").results[1]
    assert not any(s.band.concern for s in (*nadia.scores.values(), *nadia.totals.values()))


def test_no_other_demo_couple_raises_a_flag(demo):
    for label in LABELS:
        if label != "N & T":
            assert load_couple_results(demo[label]).safety == [], label


def test_in_progress_couple_shows_only_the_submitted_partner(demo, db):
    couple = demo["H & W"]
    results = load_couple_results(couple)
    connection = row(results, "Intake", "connection")
    assert connection.results[1] is not None and connection.results[2] is None
    assert connection.comparison is None
    wren = db.session.scalar(
        sa.select(Invitation).join(Partner).where(Partner.couple_id == couple.id, Partner.position == 2)
    )
    assert wren.submitted_at is None and wren.started_at is not None
    saved = db.session.scalar(sa.select(sa.func.count()).select_from(Answer).where(Answer.invitation_id == wren.id))
    assert saved == 15


def test_seeding_twice_adds_nothing(app, demo, db):
    def counts():
        return [db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Couple, Assessment, Answer)]

    before = counts()
    assert before[0] == len(LABELS)
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    owner = db.session.scalar(sa.select(Clinician).where(Clinician.email == DEMO_EMAIL))
    assert add_demo_couples(owner) == []
    assert counts() == before


def test_dates_follow_the_given_now_in_any_practice(make_practice, db):
    owner = make_practice()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    made = add_demo_couples(owner, now=now)
    db.session.commit()
    assert [couple.label for couple in made] == list(LABELS)
    intake, week_8 = (a for a in load_couple_results(made[2]).assessments if a.occasion in ("Intake", "Week 8"))
    assert intake.created_at == now - timedelta(days=63)
    assert week_8.created_at == now - timedelta(days=8)
    assert all(now - timedelta(days=63) < i.submitted_at < now for a in (intake, week_8) for i in a.invitations)


def test_demo_owner_can_open_the_dashboard_and_every_couple(client, demo):
    assert client.post_form("/signin", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 302
    dashboard = client.get("/couples/")
    assert dashboard.status_code == 200
    page = dashboard.get_data(as_text=True)
    assert all(label.replace("&", "&amp;") in page for label in LABELS)
    for label, couple in demo.items():
        assert client.get(f"/couples/{couple.id}").status_code == 200, label
    # Mostly connected: the affection gap narrowing is the first talking point, shown raw and
    # honestly not judged reliable; the change table says so once for the questionnaire.
    page = client.get(f"/couples/{demo['L & R'].id}").get_data(as_text=True)
    read = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    brief = read.split("For this session")[1].split("Strengths to build on")[0]
    assert brief.startswith(
        " Since Intake: Affection and physical closeness Casual touch, hugs and physical closeness, and "
        "whether this partner feels wanted. A Luis Ortega: Strong (4.60) → Strong (4.40): no clear change "
        "B Rafael Nunes: Strained (2.40) → Strong (4.20): better The gap between them went from 2.20 to 0.20 "
        "(closer). A raw change: reliable change needs 50 partners' first answers in this practice; none so far: "
        "50 more"
    )
    over_time = read.split("Over time")[1]
    # Once per questionnaire, not per row: connection, differentiation and the weekly check-in
    assert over_time.count("cannot yet be judged reliable") == 3
    assert "Affection and physical closeness 4.60 → 4.40 no clear change 2.40 → 4.20 better 2.20 → 0.20 closer" in (
        over_time
    )


def test_l_and_r_check_in_every_week_and_the_brief_and_the_overview_show_it(client, demo, db):
    """The weekly check-ins of L & R: sent a day before each session, the links closing when it
    starts, the page's brief summing them up and the outcomes overview averaging them by session."""
    from clinic.models import CheckinSchedule, CheckinSending
    from clinic.services import checkins

    couple = demo["L & R"]
    schedule = db.session.scalars(sa.select(CheckinSchedule).where(CheckinSchedule.couple_id == couple.id)).one()
    sendings = db.session.scalars(
        sa.select(CheckinSending).where(CheckinSending.schedule_id == schedule.id).order_by(CheckinSending.session_at)
    ).all()
    assert len(sendings) == len(LR_CHECKINS)
    zone = checkins.practice_zone("America/Chicago")
    local = [s.session_at.astimezone(zone) for s in sendings]  # a week apart at the same wall-clock time
    assert all((b.date() - a.date()).days == 7 and a.time() == b.time() for a, b in pairwise(local))
    upcoming = checkins.next_session(schedule, zone, utcnow())
    assert sendings[-1].session_at < utcnow() < upcoming
    for sending in sendings:
        assessment = db.session.get(Assessment, sending.assessment_id, options=[selectinload(Assessment.invitations)])
        assert assessment.created_at == sending.session_at - timedelta(hours=schedule.lead_hours)
        assert all(i.expires_at == sending.session_at for i in assessment.invitations)
        assert all(i.submitted_at is None or i.submitted_at < sending.session_at for i in assessment.invitations)
    trend = checkins.for_couple(couple, "America/Chicago", utcnow()).trend
    assert [(row.totals[1], row.totals[2]) for row in trend] == list(LR_CHECKINS)

    assert client.post_form("/signin", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 302
    page = client.get(f"/couples/{couple.id}").get_data(as_text=True)
    read = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert "Week 8" in read.split("Where things stand")[1][:400]  # the page stays on the follow-up
    # The brief's check-in line: the last five sessions, the missed week in words for a screen reader
    assert "B Rafael Nunes: — no check-in → , then 3.50 → , then 3.75 → , then 3.75 → , then 4.00" in read
    overview = client.get("/outcomes/").get_data(as_text=True)
    assert "<caption>Check-in average by session number</caption>" in overview
    assert overview.count('<th scope="row">Session ') == len(LR_CHECKINS)
