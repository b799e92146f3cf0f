"""Check-ins on a schedule: validation, sending once per partner per session, zones, pausing, the couple page, the brief."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from clinic import catalog
from clinic.db_types import utcnow
from clinic.demo import level_answers
from clinic.models import Assessment, CheckinCadence, CheckinSchedule, CheckinSending, Invitation, Partner
from clinic.reports import pdf
from clinic.services import checkins, couples
from clinic.services.invitations import find_by_token
from tests.conftest import CHECKIN, login
from tests.test_couple_view import text_of
from tests.test_html_markup import markup_problems
from tests.test_reports_pdf import context_for, flat, shows
from tests.test_reports_pdf import text_of as pdf_text

NEW_YORK = "America/New_York"


@pytest.fixture
def therapist_couple(make_practice, make_couple):
    """An owner (also the therapist) in New York and one couple with both partners' email addresses."""
    owner = make_practice(timezone=NEW_YORK)
    return owner, make_couple(owner)


def local_soon(hours: float, zone: str = NEW_YORK) -> datetime:
    """A moment `hours` from now, on the minute, in the zone."""
    return (utcnow() + timedelta(hours=hours)).astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0)


def weekly_in(db, couple, hours: float, *, lead: int = 24) -> CheckinSchedule:
    """A weekly schedule whose first session is `hours` from now (practice zone)."""
    start = local_soon(hours)
    schedule = checkins.set_schedule(
        couple, cadence="weekly", lead_hours=lead, session_time=start.time(), first_date=start.date()
    )
    db.session.commit()
    return schedule


def checkin_invitations(db, couple) -> list[Invitation]:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(Invitation).join(Assessment).where(Assessment.couple_id == couple.id).order_by(Invitation.id)
    ).all()


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"cadence": "monthly"}, "Choose how often"),
        ({"lead_hours": 0}, "from 1 to 168 hours"),
        ({"lead_hours": 169}, "from 1 to 168 hours"),
        ({"lead_hours": None}, "from 1 to 168 hours"),
        ({"session_time": None}, "time the session starts"),
        ({"first_date": None}, "date of the next session"),
        ({"past": True}, "is in the past"),
        ({"cadence": "dates", "dates_text": ""}, "at least one session date"),
        ({"cadence": "dates", "dates_text": "12/12/2030"}, "Line 1 is not a date"),
        ({"cadence": "dates", "dates_text": "2030-02-30 18:00"}, "Line 1 is not a date"),
        ({"cadence": "dates", "dates_text": "2030-01-08\n2020-01-08 10:00"}, "is in the past"),
        # 02:30 on the day New York's clocks go forward does not exist.
        ({"cadence": "dates", "dates_text": "2030-03-10 02:30"}, "does not exist in America/New_York"),
    ],
)
def test_a_bad_schedule_is_refused_with_a_clear_message_and_nothing_is_saved(db, therapist_couple, kw, message):
    _, couple = therapist_couple
    start = local_soon(48)
    args = {"cadence": "weekly", "lead_hours": 24, "session_time": start.time(), "first_date": start.date()}
    if kw.pop("past", False):
        args["first_date"] = start.date() - timedelta(days=3)
    args.update(kw)
    with pytest.raises(checkins.CheckinError, match=message):
        checkins.set_schedule(couple, **args)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckinSchedule)) == 0


def test_a_list_of_dates_is_stored_in_utc_and_sorted(db, therapist_couple):
    _, couple = therapist_couple
    schedule = checkins.set_schedule(
        couple,
        cadence="dates",
        lead_hours=12,
        session_time=time(9, 0),
        dates_text="2030-07-02 18:30\n2030-01-08",
    )
    db.session.commit()
    # 9:00 in New York in January is 14:00 UTC; 18:30 in July (summer time) is 22:30 UTC.
    assert schedule.session_dates == ["2030-01-08T14:00:00+00:00", "2030-07-02T22:30:00+00:00"]
    assert schedule.first_session_at is None
    zone = ZoneInfo(NEW_YORK)
    assert checkins.next_session(schedule, zone, datetime(2030, 1, 8, 14, 0, tzinfo=UTC)) == datetime(
        2030, 7, 2, 22, 30, tzinfo=UTC
    )
    assert checkins.next_session(schedule, zone, datetime(2030, 7, 3, tzinfo=UTC)) is None


# --- daylight saving --------------------------------------------------------------------------


def test_weekly_sessions_keep_their_local_time_across_the_november_change():
    """Tuesday 18:00 in New York: 22:00 UTC in summer time, 23:00 UTC after 3 Nov 2030; the check-in shifts too."""
    zone = ZoneInfo(NEW_YORK)
    first = datetime(2030, 10, 22, 18, 0, tzinfo=zone)  # a Tuesday, summer time (UTC-4)
    schedule = CheckinSchedule(
        cadence=CheckinCadence.WEEKLY, first_session_at=first.astimezone(UTC), session_dates=[], lead_hours=24
    )
    sessions, now = [], datetime(2030, 10, 20, tzinfo=UTC)
    for _ in range(3):
        now = checkins.next_session(schedule, zone, now)
        sessions.append(now)
    assert sessions == [
        datetime(2030, 10, 22, 22, 0, tzinfo=UTC),
        datetime(2030, 10, 29, 22, 0, tzinfo=UTC),
        datetime(2030, 11, 5, 23, 0, tzinfo=UTC),  # standard time (UTC-5) since Sunday 3 Nov
    ]
    assert {s.astimezone(zone).strftime("%a %H:%M") for s in sessions} == {"Tue 18:00"}
    assert checkins.send_at(schedule, sessions[2]) == datetime(2030, 11, 4, 23, 0, tzinfo=UTC)
    # Fortnightly from the same first session skips a week and keeps 18:00 too.
    schedule.cadence = CheckinCadence.FORTNIGHTLY
    assert checkins.next_session(schedule, zone, sessions[0]) == datetime(2030, 11, 5, 23, 0, tzinfo=UTC)


# --- sending ----------------------------------------------------------------------------------


def test_a_due_checkin_goes_to_each_partner_once_with_their_own_link_closing_at_the_session(
    db, therapist_couple, outbox
):
    _, couple = therapist_couple
    weekly_in(db, couple, hours=10, lead=24)
    first = checkins.send_due()
    second = checkins.send_due()
    assert (first.sessions, first.partners, first.failed) == (1, 2, 0)
    assert (second.sessions, second.partners) == (0, 0)

    sending = db.session.scalars(sa.select(CheckinSending)).one()
    invitations_ = checkin_invitations(db, couple)
    assert len(invitations_) == 2
    assessment = db.session.get(Assessment, sending.assessment_id)
    assert assessment.instrument_keys[0][0] == "checkin" and len(assessment.instrument_keys) == 1
    local = sending.session_at.astimezone(ZoneInfo(NEW_YORK))
    assert assessment.occasion == f"Check-in before {local.day} {local:%b} session"
    assert all(inv.expires_at == sending.session_at for inv in invitations_)

    messages = outbox()
    assert len(messages) == 2
    partners = {p.id: p for p in db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id))}
    for message in messages:
        (token,) = re.findall(r"/l/([A-Za-z0-9_-]+)", message.get_content())
        invitation = find_by_token(token)
        assert invitation is not None and invitation.assessment_id == assessment.id
        assert message["To"] == partners[invitation.partner_id].email
    assert {m["To"] for m in messages} == {p.email for p in partners.values()}


def test_a_checkin_not_yet_due_is_not_sent(db, therapist_couple, outbox):
    _, couple = therapist_couple
    weekly_in(db, couple, hours=30, lead=24)
    assert checkins.send_due().sessions == 0
    assert checkins.send_due(utcnow() + timedelta(hours=7)).sessions == 1
    assert len(outbox()) == 2


def test_two_concurrent_runs_send_each_partner_one_checkin(app, db, therapist_couple, outbox):
    _, couple = therapist_couple
    weekly_in(db, couple, hours=5)
    db.session.remove()
    barrier = threading.Barrier(2)
    runs, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                runs.append(checkins.send_due())
        except Exception as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(r.sessions for r in runs) == [0, 1]
    assert sum(r.partners for r in runs) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckinSending)) == 1
    assert len(checkin_invitations(db, couple)) == 2
    assert len(outbox()) == 2


def test_paused_ended_and_archived_send_nothing(db, therapist_couple, make_couple, outbox):
    owner, couple = therapist_couple
    weekly_in(db, couple, hours=5)
    checkins.pause(couple)
    db.session.commit()
    assert checkins.send_due().sessions == 0
    checkins.resume(couple)
    checkins.end(couple)
    db.session.commit()
    assert checkins.send_due().sessions == 0
    with pytest.raises(checkins.CheckinError):
        checkins.pause(couple)

    archived = make_couple(owner)
    weekly_in(db, archived, hours=5)
    couples.set_archived(archived, True)
    db.session.commit()
    assert checkins.send_due().sessions == 0
    assert outbox() == [] and db.session.scalar(sa.select(sa.func.count()).select_from(CheckinSending)) == 0


def test_the_command_prints_one_line_of_counts(app, db, therapist_couple, make_couple, outbox):
    owner, couple = therapist_couple
    weekly_in(db, couple, hours=5)
    weekly_in(db, make_couple(owner), hours=6)
    result = app.test_cli_runner().invoke(args=["send-checkins"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Sent check-ins for 2 sessions (4 partners)."
    again = app.test_cli_runner().invoke(args=["send-checkins"])
    assert again.output.strip() == "Sent check-ins for 0 sessions (0 partners)."


# --- the couple page --------------------------------------------------------------------------


def test_the_schedule_form_refuses_bad_input_keeping_it_and_saves_good_input(db, make_client, therapist_couple):
    owner, couple = therapist_couple
    browser = login(make_client(), owner)
    url = f"/couples/{couple.id}/checkins"
    bad = {
        "checkin-cadence": "weekly",
        "checkin-first_date": "2020-01-07",
        "checkin-session_time": "18:00",
        "checkin-lead_hours": "24",
    }
    response = browser.post_form(url, bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is in the past: enter only sessions still to come." in page
    assert 'value="2020-01-07"' in page  # what was typed is still there
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckinSchedule)) == 0

    response = browser.post_form(url, {**bad, "checkin-lead_hours": "500", "checkin-first_date": "2030-01-08"})
    assert response.status_code == 400
    assert "Enter a number of hours from 1 to 168" in response.get_data(as_text=True)

    response = browser.post_form(url, {**bad, "checkin-first_date": "2030-01-08", "checkin-lead_hours": "36"})
    assert response.status_code == 302
    schedule = db.session.scalars(sa.select(CheckinSchedule)).one()
    assert schedule.lead_hours == 36
    assert schedule.first_session_at == datetime(2030, 1, 8, 23, 0, tzinfo=UTC)  # 18:00 in New York
    page = browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert "Next session: 8 Jan 2030, 18:00 EST." in page
    assert "Its check-in goes on 7 Jan 2030, 06:00 EST." in page

    assert browser.post_form(f"/couples/{couple.id}/checkins/pause").status_code == 302
    db.session.refresh(schedule)
    assert schedule.paused
    assert "Paused:" in browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    browser.post_form(f"/couples/{couple.id}/checkins/resume")
    db.session.refresh(schedule)
    assert not schedule.paused
    browser.post_form(f"/couples/{couple.id}/checkins/end")
    db.session.refresh(schedule)
    assert schedule.ended_at is not None


def test_another_clinicians_couple_schedule_is_404(db, make_client, make_clinician, therapist_couple):
    owner, couple = therapist_couple
    colleague = make_clinician(owner)
    browser = login(make_client(), colleague)
    data = {"checkin-cadence": "weekly", "checkin-first_date": "2030-01-08", "checkin-session_time": "18:00"}
    assert browser.post_form(f"/couples/{couple.id}/checkins", {**data, "checkin-lead_hours": "24"}).status_code == 404
    assert browser.post_form(f"/couples/{couple.id}/checkins/pause").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckinSchedule)) == 0


def test_the_trend_shows_both_partners_scores_per_session(db, make_client, therapist_couple, answer_as, outbox):
    owner, couple = therapist_couple
    weekly_in(db, couple, hours=5)
    checkins.send_due()
    tokens = [re.findall(r"/l/([A-Za-z0-9_-]+)", m.get_content())[0] for m in outbox()]
    positions = {}
    for token in tokens:
        invitation = find_by_token(token)
        positions[db.session.get(Partner, invitation.partner_id).position] = token
    answer_as(positions[1], {"checkin": CHECKIN})  # mean 4
    answer_as(positions[2], {"checkin": {"satisfied": 2, "close": 2, "hopeful": 3, "together": 1}})  # mean 2
    (row,) = checkins.for_couple(couple, NEW_YORK, utcnow()).trend
    assert row.totals == {1: 4.0, 2: 2.0}
    page = login(make_client(), owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    trend = page[page.index("Check-in scores by session") :]
    assert re.search(r"<td>4</td>\s*<td>2</td>", trend) or re.search(r"<td>4\.00</td>\s*<td>2\.00</td>", trend)


# --- the session brief ----------------------------------------------------------------------------

HOPEFUL_ONLY = {"satisfied": 3, "close": 3, "hopeful": 3, "together": 3}  # mean 3.00 -> Mixed
LOW = {"satisfied": 2, "close": 2, "hopeful": 3, "together": 1}  # mean 2.00 -> Struggling
SCREEN_READER_ONLY = re.compile(r'<span class="visually-hidden">([^<]*)</span>')


def test_the_brief_shows_both_partners_check_ins_on_the_page_and_in_the_report_alike(
    db, make_client, therapist_couple, make_assessment, answer_as, outbox
):
    owner, couple = therapist_couple
    browser = login(make_client(), owner)
    schedule = weekly_in(db, couple, hours=5)
    assert 'id="brief-checkins"' not in browser.get(f"/couples/{couple.id}").get_data(as_text=True)

    # The two sessions before, as the schedule sent them: Robin 4.00 both times; Sasha 2.00, then no answer.
    upcoming = checkins.next_session(schedule, ZoneInfo(NEW_YORK), utcnow())
    for weeks, sasha in ((2, LOW), (1, None)):
        session_at = upcoming - timedelta(weeks=weeks)
        local = session_at.astimezone(ZoneInfo(NEW_YORK))
        assessment, tokens = make_assessment(
            couple, instruments=["checkin"], occasion=f"Check-in before {local.day} {local:%b} session"
        )
        answer_as(tokens[1], {"checkin": CHECKIN})
        if sasha:
            answer_as(tokens[2], {"checkin": sasha})
        db.session.add(CheckinSending(schedule_id=schedule.id, session_at=session_at, assessment_id=assessment.id))
        db.session.commit()
    # The one before this session: Robin down to 3.00, Sasha not yet.
    checkins.send_due()
    for message in outbox():
        (token,) = re.findall(r"/l/([A-Za-z0-9_-]+)", message.get_content())
        invitation = find_by_token(token)
        if db.session.get(Partner, invitation.partner_id).position == 1:
            answer_as(token, {"checkin": HOPEFUL_ONLY})

    html = browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert markup_problems(html) == []
    brief = html[html.index('<h3 class="brief-h" id="brief-checkins">') : html.index("For this session")]
    first, last = (m.astimezone(ZoneInfo(NEW_YORK)) for m in (upcoming - timedelta(weeks=2), upcoming))
    summary = (
        f"How things feel overall, from 1 to 5 (higher is better): 3 sessions, {first.day} {first:%b} to "
        f"{last.day} {last:%b}. The latest check-in was sent before this session."
    )
    robin, sasha = (p.display_name for p in sorted(couple.partners, key=lambda p: p.position))
    lines = [f"A {robin}: 4.00 → 4.00 → 3.00 (down 1.00: worse)", f"B {sasha}: 2.00 → — → —"]
    shown = text_of(SCREEN_READER_ONLY.sub("", brief))
    assert shown == " ".join(["Check-ins", summary, *lines])
    # A screen reader hears "then" for an arrow and a dash in words: Robin's line, then Sasha's.
    robin_heard, sasha_heard = [", then "] * 2, [", then ", "no check-in", ", then ", "not answered yet"]
    assert SCREEN_READER_ONLY.findall(brief) == robin_heard + sasha_heard
    # The drop is raised once: the change since the last check-in says it (and its verdicts), so the
    # check-in rule does not say it again.
    page = text_of(html)
    assert "Since Check-in before" in page and "Check-in down" not in page

    # The report's brief says the same, in the same words.
    context = context_for(couple, "clinician", generated_at=utcnow())
    assert context["brief"]["checkins"] == {
        "summary": summary,
        "lines": [
            {"letter": "A", "key": "a", "name": robin, "scores": ["4.00", "4.00", "3.00"], "worse": "down 1.00: worse"},
            {"letter": "B", "key": "b", "name": sasha, "scores": ["2.00", "—", "—"], "worse": ""},
        ],
    }
    text = pdf_text(pdf.render_pdf(context))
    assert shows(text, " ".join(["Check-ins", summary, *lines]))
    assert flat(shown) in text


def test_between_sessions_the_page_and_the_report_stay_on_the_intake_not_the_latest_check_in(
    db, make_client, therapist_couple, make_assessment, answer_as, outbox
):
    """A weekly check-in is the latest assessment most days; the couple view and the report still
    show the latest assessment that asks more than the check-in, and sum the check-ins up on their lines."""
    owner, couple = therapist_couple
    differentiation = catalog.registry().latest("differentiation")
    intake, tokens = make_assessment(couple, instruments=["differentiation"], occasion="Intake")
    for pos, level in ((1, 3.0), (2, 4.0)):
        levels = {s.id: level for s in differentiation.subscales}
        answer_as(tokens[pos], {"differentiation": level_answers(differentiation, levels, {})})
    weekly_in(db, couple, hours=5)
    checkins.send_due()
    for message in outbox():
        (token,) = re.findall(r"/l/([A-Za-z0-9_-]+)", message.get_content())
        answer_as(token, {"checkin": CHECKIN})
    db.session.expire_all()
    latest = db.session.scalars(
        sa.select(Assessment).where(Assessment.couple_id == couple.id).order_by(Assessment.created_at.desc())
    ).first()
    assert latest.id != intake.id and latest.instrument_keys == [("checkin", 1)]

    browser = login(make_client(), owner)
    html = browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert f'<option value="{intake.id}" selected>' in html
    assert 'id="brief-checkins"' in html
    # Asked for, the check-in is shown
    html = browser.get(f"/couples/{couple.id}?assessment={latest.id}").get_data(as_text=True)
    assert f'<option value="{latest.id}" selected>' in html
    assert context_for(couple, "clinician", generated_at=utcnow())["shown"]["occasion"] == "Intake"
