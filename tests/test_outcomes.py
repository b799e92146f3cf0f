"""The outcomes overview (issue 16): counts that match a hand count, the check-in average by
session number, date and therapist filters, who sees what, and a de-identified, audited CSV.

The practice below is small enough to count by hand. Every questionnaire is the check-in (one
score, the mean of four 1-5 items, no psychometrics: a change is clear from 0.40, as the couple
view says), so each expected count can be read off the answers written next to it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from clinic import memo
from clinic.demo import checkin_answers
from clinic.models import AuditEvent, CheckinCadence, CheckinSchedule, CheckinSending, Clinician
from tests.conftest import login

NAMES = {
    "c1": ("Imogen Vale", "Rafferty Vale"),
    "c2": ("Oksana Brill", "Tobiah Brill"),
    "c3": ("Perpetua Lark", "Quentin Lark"),
    "c4": ("Winifred Oakes", "Yusuf Oakes"),
    "other": ("Zephyrine Moss", "Alaric Moss"),
}
AREA = "How things feel overall"  # the check-in's one measure
FREE_TEXT = "We argue about the dishwasher every night"


# Day 0 of the practice below: two months ago, so the default period (the last twelve months)
# holds all of it whenever the suite runs.
DAY_0 = (datetime.now(UTC) - timedelta(days=60)).date()


def at(day: int) -> datetime:
    """Day `day` of the practice, at 16:00 UTC (noon in New York, the practice's zone)."""
    return datetime.combine(DAY_0 + timedelta(days=day), time(16), UTC)


def day(n: int) -> str:
    return (DAY_0 + timedelta(days=n)).isoformat()


@pytest.fixture
def practice(db, make_practice, make_clinician, make_couple, make_assessment, answer_as):
    """An owner, a therapist with couples c1, c2 and c4, and a colleague with c3; another practice
    with a couple of its own. Each tuple below is (partner A's score, partner B's score)."""
    owner = make_practice(timezone="America/New_York")
    therapist = make_clinician(owner, name="Hester Quaid")
    colleague = make_clinician(owner, name="Lowell Grebe")
    outsider = make_practice()
    made = {}

    def couple(key, clinician):
        made[key] = make_couple(clinician, label=f"Couple {key}", names=NAMES[key])
        return made[key]

    def assessment(found, day, scores, *, session=None, schedule=None):
        assessment, tokens = make_assessment(found, instruments=["checkin"], occasion="Check-in")
        for pos, score in zip((1, 2), scores, strict=True):
            if score is not None:
                answer_as(tokens[pos], {"checkin": checkin_answers(score)})
        db.session.execute(
            sa.update(type(assessment)).where(type(assessment).id == assessment.id).values(created_at=at(day))
        )
        if schedule is not None:
            db.session.add(CheckinSending(schedule_id=schedule.id, session_at=at(day), assessment_id=assessment.id))
        db.session.commit()

    def schedule(found):
        row = CheckinSchedule(couple_id=found.id, cadence=CheckinCadence.WEEKLY, first_session_at=at(0))
        db.session.add(row)
        db.session.commit()
        return row

    c1 = couple("c1", therapist)
    s1 = schedule(c1)
    assessment(c1, 0, (2, 4), schedule=s1)  # session 1
    assessment(c1, 7, (3, 4), schedule=s1)  # session 2
    assessment(c1, 14, (4, 4), schedule=s1)  # session 3: A better (+2), B no change, gap 2 -> 0 closer
    c2 = couple("c2", therapist)
    s2 = schedule(c2)
    assessment(c2, 0, (4, 3), schedule=s2)
    assessment(c2, 7, (2, 3.25), schedule=s2)  # A worse (-2), B +0.25 no change, gap 1 -> 1.25 no change
    c3 = couple("c3", colleague)
    assessment(c3, -30, (3, 3))
    assessment(c3, 19, (5, 5))  # both better, gap 0 -> 0 no change (not on a schedule)
    c4 = couple("c4", therapist)
    assessment(c4, 1, (1, 5))  # answered once: not counted
    other = couple("other", outsider)
    assessment(other, 0, (1, 1))
    assessment(other, 7, (5, 5))  # another practice: never counted
    return {"owner": owner, "therapist": therapist, "colleague": colleague, "outsider": outsider, **made}


def counts(html: str, caption: str) -> list[str]:
    """The cells of the overview table with this caption, as text."""
    table = html.split(f"<caption>{caption}</caption>")[1].split("</table>")[0]
    body = table.split("<tbody>")[1]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
        for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body, re.S)
    ]


def page(client, actor, **args) -> str:
    response = client.get("/outcomes/", query_string=args)
    assert response.status_code == 200, response.text
    return response.text


def test_the_owner_sees_the_practices_couples_counted_as_by_hand(client, practice):
    html = page(login(client, practice["owner"]), "owner")
    assert "4 couples had an assessment sent in this period" in html  # c1-c4: not the other practice's
    assert "3 answered a questionnaire two or more times" in html
    # Area, better, no clear change, worse, too few answers, partners
    assert counts(html, "Partners") == [AREA, "3", "2", "1", "0", "6"]
    # c1 closer (2 -> 0), c2 (1 -> 1.25) and c3 (0 -> 0) no clear change
    assert counts(html, "The gap between partners") == [AREA, "1", "2", "0", "0", "3"]
    assert "a raw change of at least 0.40" in html  # the basis, said as the couple view says it
    # Session 1: 2, 4, 4, 3; session 2: 3, 4, 2, 3.25; session 3: 4, 4 (c3 is not on a schedule)
    assert counts(html, "Check-in average by session number") == [
        "Session 1", "3.25", "4", "2",
        "Session 2", "3.06", "4", "2",
        "Session 3", "4.00", "2", "1",
    ]  # fmt: skip
    assert "higher is better" in html


def test_a_clinician_sees_only_their_own_couples(client, make_client, practice):
    html = page(login(client, practice["therapist"]), "therapist")
    assert "3 couples had an assessment" in html  # c1, c2, c4
    assert counts(html, "Partners") == [AREA, "1", "2", "1", "0", "4"]
    assert counts(html, "The gap between partners") == [AREA, "1", "1", "0", "0", "2"]
    assert 'name="clinician"' not in html  # nothing to choose
    colleague = page(login(make_client(), practice["colleague"]), "colleague")
    assert counts(colleague, "Partners") == [AREA, "2", "0", "0", "0", "2"]
    assert "No check-in on a schedule was answered in this period" in colleague


def test_the_owner_can_narrow_to_one_therapist(client, practice):
    html = page(login(client, practice["owner"]), "owner", clinician=practice["colleague"].id)
    assert counts(html, "Partners") == [AREA, "2", "0", "0", "0", "2"]
    assert f'<option selected value="{practice["colleague"].id}">' in html


def test_a_therapist_outside_ones_reach_is_404(client, make_client, practice):
    owner = login(client, practice["owner"])
    assert owner.get("/outcomes/", query_string={"clinician": practice["outsider"].id}).status_code == 404
    assert owner.get("/outcomes/", query_string={"clinician": "nobody"}).status_code == 404
    therapist = login(make_client(), practice["therapist"])
    assert therapist.get("/outcomes/", query_string={"clinician": practice["colleague"].id}).status_code == 404
    assert therapist.get("/outcomes/export.csv", query_string={"clinician": practice["owner"].id}).status_code == 404
    assert therapist.get("/outcomes/", query_string={"clinician": practice["therapist"].id}).status_code == 200


def test_the_date_filter_counts_change_within_the_period_and_keeps_session_numbers(client, practice):
    # From day 4 (New York): c1's sessions 2 and 3 remain (A 3 -> 4 better, B 4 -> 4, gap 1 -> 0 closer);
    # c2 and c3 answered once in the period.
    html = page(login(client, practice["owner"]), "owner", start=day(4))
    shown = (DAY_0 + timedelta(days=4)).strftime("%-d %b %Y")
    assert f"3 couples had an assessment sent in this period ({shown} to today)" in html
    assert counts(html, "Partners") == [AREA, "1", "1", "0", "0", "2"]
    assert counts(html, "The gap between partners") == [AREA, "1", "0", "0", "0", "1"]
    assert counts(html, "Check-in average by session number") == [
        "Session 2", "3.06", "4", "2",
        "Session 3", "4.00", "2", "1",
    ]  # fmt: skip
    # From day -15 until day 13: c1's sessions 1 and 2 (A 2 -> 3 better, B no change); c2 as before.
    html = page(login(client, practice["owner"]), "owner", start=day(-15), end=day(13))
    assert counts(html, "Partners") == [AREA, "1", "2", "1", "0", "4"]
    nothing = page(login(client, practice["owner"]), "owner", start=day(61))
    assert "0 couples had an assessment" in nothing
    assert "No couple answered a questionnaire twice in this period yet" in nothing


def test_by_default_the_last_twelve_months_count_and_an_empty_start_counts_everything(
    client, db, practice, make_couple, make_assessment, answer_as
):
    older = make_couple(practice["colleague"], label="Couple c5")
    for when, score in ((-400, 1), (-380, 5)):  # over a year before day 60 (today)
        assessment, tokens = make_assessment(older, instruments=["checkin"], occasion="Check-in")
        for pos in (1, 2):
            answer_as(tokens[pos], {"checkin": checkin_answers(score)})
        db.session.execute(
            sa.update(type(assessment)).where(type(assessment).id == assessment.id).values(created_at=at(when))
        )
        db.session.commit()
    browser = login(client, practice["owner"])
    html = page(browser, "owner")
    a_year_ago = (datetime.now(ZoneInfo("America/New_York")) - timedelta(days=365)).date()
    assert f'value="{a_year_ago.isoformat()}"' in html  # the default, shown in the form
    assert counts(html, "Partners") == [AREA, "3", "2", "1", "0", "6"]
    everything = page(browser, "owner", start="")
    assert "5 couples had an assessment sent in this period;" in everything
    assert counts(everything, "Partners") == [AREA, "5", "2", "1", "0", "8"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"start": "not a date"}, "Not a valid date value."),
        ({"start": "0001-01-01"}, "Choose a date between the years 2000 and 2999."),
        ({"start": "2026-10-10", "end": "2026-10-01"}, "Choose an end on or after the start."),
    ],
)
def test_bad_filters_get_a_clear_message(client, db, practice, args, message):
    browser = login(client, practice["owner"])
    for url in ("/outcomes/", "/outcomes/export.csv"):
        response = browser.get(url, query_string=args)
        assert response.status_code == 400
        assert message in response.text
        assert "Nothing is shown until the filters above are corrected." in response.text
    assert not db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "outcomes.exported"))


def test_the_csv_is_de_identified_matches_the_page_and_is_audited(client, db, practice):
    browser = login(client, practice["owner"])
    response = browser.get("/outcomes/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="tandem-outcomes-')
    text = response.text
    rows = list(csv.DictReader(io.StringIO(text)))
    changes = [r for r in rows if r["row"] == "partner change"]
    gaps = [r for r in rows if r["row"] == "gap change"]
    sessions = [r for r in rows if r["row"] == "check-in"]
    assert len(changes) == 6 and len(gaps) == 3 and len(sessions) == 10
    assert sorted(r["verdict"] for r in changes) == sorted(["better"] * 3 + ["no clear change"] * 2 + ["worse"])
    assert sorted(r["verdict"] for r in gaps) == ["closer", "no clear change", "no clear change"]
    c1_a = next(r for r in changes if (r["first"], r["latest"]) == ("2.00", "4.00"))
    assert (c1_a["change"], c1_a["assessments"], c1_a["days_between"]) == ("+2.00", "3", "14")
    assert c1_a["judged_on"] == "raw change of at least 0.40"
    # The same session averages as the page, from the rows
    by_session: dict[str, list[float]] = {}
    for r in sessions:
        by_session.setdefault(r["session"], []).append(float(r["checkin_score"]))
    assert {s: round(sum(v) / len(v), 4) for s, v in by_session.items()} == {"1": 3.25, "2": 3.0625, "3": 4.0}
    # Random codes, no names, labels, emails, free text or dates
    assert len({r["couple"] for r in rows}) == 3 and all(re.fullmatch(r"C-[0-9A-F]{6}", r["couple"]) for r in rows)
    partners = {r["partner"] for r in rows if r["partner"]}
    assert len(partners) == 6 and all(re.fullmatch(r"P-[0-9A-F]{6}", p) for p in partners)
    assert not {r["partner"] for r in gaps} - {""}
    for names in NAMES.values():
        for name in names:
            assert name.split()[0] not in text and name.split()[1] not in text
    assert "Couple c" not in text and "@" not in text and FREE_TEXT not in text
    assert not re.search(r"20\d\d-\d\d-\d\d|\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)", text)
    again = list(csv.DictReader(io.StringIO(browser.get("/outcomes/export.csv").text)))
    assert {r["couple"] for r in again}.isdisjoint({r["couple"] for r in rows})  # new codes every download
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "outcomes.exported")).all()
    assert len(events) == 2
    assert events[0].actor_id == practice["owner"].id and events[0].couple_id is None
    a_year_ago = (datetime.now(ZoneInfo("America/New_York")) - timedelta(days=365)).date().isoformat()
    assert events[0].detail == {"rows": 19, "couples": 3, "from": a_year_ago, "until": None, "scope": "practice"}


def test_a_clinicians_csv_holds_only_their_couples(make_client, practice):
    browser = login(make_client(), practice["colleague"])
    rows = list(csv.DictReader(io.StringIO(browser.get("/outcomes/export.csv").text)))
    assert [r["row"] for r in rows] == ["partner change", "partner change", "gap change"]
    assert {(r["first"], r["latest"]) for r in rows} == {("3.00", "5.00"), ("0.00", "0.00")}


def test_free_text_never_reaches_the_overview(client, db, practice, make_assessment, answer_as):
    """A questionnaire with free text (the life context) answered by a counted couple adds nothing."""
    _, tokens = make_assessment(practice["c1"], instruments=["life_context"], occasion="Context")
    answer_as(tokens[1], {"life_context": {"anything_else": FREE_TEXT}})
    browser = login(client, practice["owner"])
    assert FREE_TEXT not in page(browser, "owner")
    assert FREE_TEXT not in browser.get("/outcomes/export.csv").text


def test_the_page_reads_a_fixed_number_of_statements(
    app, client, db, practice, count_queries, make_assessment, answer_as
):
    browser = login(client, practice["owner"])
    browser.get("/outcomes/")
    memo.init_app(app)  # forget the answers kept: each count includes reading them
    with count_queries() as few:
        page(browser, "owner")
    # One more followed couple
    _, tokens = make_assessment(practice["c4"], instruments=["checkin"], occasion="Again")
    for pos in (1, 2):
        answer_as(tokens[pos], {"checkin": checkin_answers(3)})
    memo.init_app(app)
    with count_queries() as more:
        html = page(browser, "owner")
    assert "4 answered a questionnaire two or more times" in html
    assert len(more) == len(few), more


def test_the_nav_links_to_the_overview(client, practice):
    html = login(client, practice["therapist"]).get("/couples/").text
    assert 'href="/outcomes/"' in html


def test_every_clinician_id_in_the_choices_is_of_the_practice(client, db, practice):
    html = page(login(client, practice["owner"]), "owner")
    offered = {int(v) for v in re.findall(r'<option(?: selected)? value="(\d+)"', html)} - {0}
    ids = set(db.session.scalars(sa.select(Clinician.id).where(Clinician.practice_id == practice["owner"].practice_id)))
    assert offered == ids
