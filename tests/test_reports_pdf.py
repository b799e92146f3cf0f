"""Session-prep report PDFs: the session brief on page 1, the scores at a glance on page 2, then the
details; a summary that keeps each partner's answers to themselves; and a renderer that fetches
nothing but Tandem's own static files.

Answers are built by hand (as in test_couple_view.py); the expected numbers are worked out in the
comments. Scores are kept unrounded and written half-up (instruments/numbers.py); differences are
said in words ("Robin higher by 1.75") and agreement as counts of statements ("2 split · 2 unsure").
Text is read back out of the PDFs with pypdf. Rendering takes about half a second, so the main
couple's PDFs are rendered once per module and shared by the tests that read them. Page counts,
word breaks, consent and the therapist's note are in tests/test_reports_layout.py.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError

from clinic import audit, memo
from clinic.extensions import db as _db
from clinic.models import Assessment, Clinician, Couple, Invitation, Partner, Practice, SafetyReview
from clinic.reports import context as report_context
from clinic.reports import pdf
from clinic.results import load_couple_results
from clinic.services import accounts, couples, invitations, responses, safety
from instruments import AnswerError
from tests.conftest import PASSWORD
from tests.test_couple_view import life_context_at_two_occasions
from tests.tiny_catalog import TINY_A, TINY_B, tiny, tiny_over_time  # noqa: F401 -- tiny is a fixture

# Check-in, 1-5 agreement, mean, bands: <2.5 Struggling (concern), <3.5 Mixed, else Good.
CHECKIN_A = {"satisfied": 4, "close": 4, "hopeful": 5, "together": 3}  # 16/4 = 4.00 -> Good
CHECKIN_B = {"satisfied": 2, "close": 2, "hopeful": 3, "together": 2}  # 9/4 = 2.25 -> Struggling (concern)
# Difference B - A = -1.75: "Robin higher by 1.75". Agreement (4 = positive, 2 = a concern, 3 = unsure):
# "satisfied" 4/2 and "close" 4/2 are splits; "hopeful" 5/3 and "together" 3/2 are unsure (one answer
# in the middle): "2 split · 2 unsure", nothing both positive. The gap is 1.75 of a 1-5 range (0.44, at
# least a quarter): a talking point "Seen differently".

# Connection, affection: items 1, 2, 4 keyed as given, 3 and 5 reversed (6 - x). No psychometrics
# (Tandem's own check-in has no validation study), so change is shown raw and never judged reliable.
AFFECTION_LOW = {"affection_1": 2, "affection_2": 2, "affection_3": 4, "affection_4": 2, "affection_5": 4}  # 2.00
AFFECTION_HIGH = {"affection_1": 4, "affection_2": 4, "affection_3": 2, "affection_4": 4, "affection_5": 2}  # 4.00
# A: 2.00 -> 4.00, B: 4.00 -> 4.00, gap: 2.00 -> 0.00.
# At week 6 both answer HIGH: every affection item is a shared strength (4 = Agree on the plain items,
# 2 = Disagree on the reversed ones).

# Shared time and rituals: items 1, 2, 5 keyed as given, 3 and 4 reversed; every keyed value is 2.
RITUALS_LOW = {"rituals_1": 2, "rituals_2": 2, "rituals_3": 4, "rituals_4": 4, "rituals_5": 2}  # 2.00 -> Strained
# Both partners Strained (a concern band): a shared concern, so its prompts reach the couple's summary too.

NEVER = dict.fromkeys(
    ("afraid", "controlled", "watched", "threatened", "physical_harm", "forced_sex", "harm_partner"), 1
)
SAFETY_ITEM = "I have had thoughts of hurting myself or ending my life."

LIFE_NOTE = "My mother is ill."
PREP_NOTES = "Ask about the move.\nCheck in on sleep."
REVIEW_NOTE = "Called Robin; safety plan in place."

CHECKIN_PROMPT = "Ask each partner what one small change would make the coming week feel a little better"
RITUALS_PROMPTS = (
    "Set up a 10-minute check-in at the end of each day",
    "Protect some time together: agree on one evening a week",
    "Take turns choosing something new to do together each week",
)
GENERATED_AT = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # 11:30 in New York (EDT from 8 March)
# The main couple's week-6 dates, in New York time: the clocks went forward between the two sendings.
WEEK_6_AT = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)  # 6 Mar 2026, 10:30 EST
ROBIN_SENT_AT = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # 8 Mar 2026, 10:00 EDT
SASHA_SENT_AT = datetime(2026, 3, 7, 23, 45, tzinfo=UTC)  # 7 Mar 2026, 18:45 EST
REVIEWED_AT = datetime(2026, 3, 9, 13, 15, tzinfo=UTC)  # 9 Mar 2026, 09:15 EDT

BUNDLED = {
    "tandem-report:/static/reports/report.css",
    "tandem-report:/static/fonts/DejaVuSans.ttf",
    "tandem-report:/static/fonts/DejaVuSans-Bold.ttf",
    "tandem-report:/static/fonts/DejaVuSans-Oblique.ttf",
}

HOSTILE = {
    "img_file": '<img src="file:///etc/passwd">',
    "link": '<link rel=attachment href="file:///etc/passwd">',
    "img_http": '<img src="http://127.0.0.1:9/x.png">',
    "style": "<style>@import url(http://127.0.0.1:9/)</style>",
}


# --- helpers ------------------------------------------------------------------------------------


def flat(text: str) -> str:
    """Text without any whitespace.

    pypdf guesses spaces from glyph positions: it drops some between table cells
    ("4.00Good") and adds some inside kerned words ("T andem"). Comparing without
    whitespace keeps every letter, digit and sign exact and ignores the guesses.
    """
    return re.sub(r"\s+", "", text)


def text_of(pdf_bytes: bytes) -> str:
    """All the text of a PDF, without whitespace (see flat)."""
    reader = PdfReader(io.BytesIO(pdf_bytes))
    return flat("".join(page.extract_text() for page in reader.pages))


def pages_of(pdf_bytes: bytes) -> list[str]:
    """The text of each page, without whitespace."""
    return [flat(page.extract_text()) for page in PdfReader(io.BytesIO(pdf_bytes)).pages]


def shows(text: str, expected: str) -> bool:
    """Whether PDF text (from text_of) contains `expected`, whitespace aside."""
    return flat(expected) in text


def between(text: str, start: str, end: str) -> str:
    """The PDF text from the first `start` to the next `end` after it (whitespace aside)."""
    start, end = flat(start), flat(end)
    head = text.index(start)
    return text[head : text.index(end, head + len(start))]


def answer(token: str, by_instrument: dict) -> None:
    """Save and submit one partner's answers through the services, by link token."""
    invitation = invitations.find_by_token(token)
    for instrument_id, answers in by_instrument.items():
        responses.save_answers(invitation, instrument_id, answers)
    assert responses.submit(invitation)
    _db.session.commit()


def start(couple: Couple, instruments: list[str], occasion: str) -> tuple[Assessment, dict[int, str]]:
    """An assessment with a link per partner; returns the links by partner position."""
    clinician = _db.session.get(Clinician, couple.clinician_id)
    assessment, tokens = invitations.start_assessment(
        couple, occasion=occasion, instrument_ids=instruments, expiry_days=14, by=clinician
    )
    _db.session.commit()
    positions = {
        p.id: p.position for p in _db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id))
    }
    return assessment, {positions[partner_id]: raw for partner_id, raw in tokens.items()}


def context_for(
    couple: Couple, kind: str, *, appendix: bool = False, generated_at: datetime = GENERATED_AT, note: str = ""
) -> dict:
    """The report context of a couple as the report job builds it (`note`: the therapist's note to the couple)."""
    results = load_couple_results(couple)
    return report_context.build_context(
        results,
        practice=practice_of(couple),
        clinician=_db.session.get(Clinician, couple.clinician_id),
        kind=kind,
        appendix=appendix,
        generated_at=generated_at,
        note=note,
    )


def practice_of(couple: Couple) -> Practice:
    """The couple's practice (the report's paper size and time zone)."""
    return _db.session.get(Practice, couple.practice_id)


def empty_database() -> None:
    """Remove every row (what the db fixture does after each test)."""
    _db.session.remove()
    # The audit tables refuse UPDATE, DELETE and TRUNCATE; the suite's clean-up alone lifts that.
    with _db.engine.begin() as conn, audit.unguarded(conn):
        if conn.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in _db.metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(_db.metadata.sorted_tables):
                conn.execute(table.delete())


class Recording(pdf.StaticOnlyFetcher):
    """The report's fetcher, noting every URL WeasyPrint asks it for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def fetch(self, url, headers=None):
        self.asked.append(url)
        return super().fetch(url, headers)


class WeasyLog(logging.Handler):
    """Keeps WeasyPrint's log records of warning level and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --- the main couple, rendered once --------------------------------------------------------------


def build_main_couple() -> Couple:
    """Robin and Sasha: an intake, then a week-6 assessment with safety, check-in, connection and life context."""
    owner = accounts.create_practice(
        practice_name="Riverside Couples Practice",
        owner_name="Dr Alex Morgan",
        email="alex@example.org",
        password=PASSWORD,
        credential="LMFT",
        timezone="America/New_York",
    )
    couple = couples.create_couple(
        owner.practice,
        owner,
        label="R & S",
        partners=[couples.PartnerDetails("Robin"), couples.PartnerDetails("Sasha")],
    )
    _db.session.commit()
    intake, tokens = start(couple, ["connection"], "Intake")
    answer(tokens[1], {"connection": AFFECTION_LOW})
    answer(tokens[2], {"connection": AFFECTION_HIGH})
    _db.session.execute(
        sa.update(Assessment).where(Assessment.id == intake.id).values(created_at=GENERATED_AT - timedelta(days=42))
    )
    _db.session.execute(
        sa.update(Invitation)
        .where(Invitation.assessment_id == intake.id)
        .values(submitted_at=GENERATED_AT - timedelta(days=41))
    )
    _db.session.commit()
    week_6, tokens = start(couple, ["safety", "checkin", "connection", "life_context"], "Week 6")
    answer(
        tokens[1],
        {
            "safety": {**NEVER, "self_harm": 2},
            "checkin": CHECKIN_A,
            "connection": AFFECTION_HIGH | RITUALS_LOW,
            "life_context": {"work": 3, "new_child": 3, "anything_else": LIFE_NOTE},
        },
    )
    answer(
        tokens[2],
        {
            "safety": {**NEVER, "self_harm": 1},
            "checkin": CHECKIN_B,
            "connection": AFFECTION_HIGH | RITUALS_LOW,
            "life_context": {"work": 2, "new_child": 3},
        },
    )
    invitation = invitations.find_by_token(tokens[1])
    safety.review_flag(invitation, instrument_id="safety", item_id="self_harm", note=REVIEW_NOTE, by=owner)
    couples.save_prep_notes(couple, PREP_NOTES)
    # Fixed dates, so the brief's "sent" and "reviewed" times can be written out below.
    _db.session.execute(sa.update(Assessment).where(Assessment.id == week_6.id).values(created_at=WEEK_6_AT))
    for token, sent_at in ((tokens[1], ROBIN_SENT_AT), (tokens[2], SASHA_SENT_AT)):
        sent = invitations.find_by_token(token)
        _db.session.execute(sa.update(Invitation).where(Invitation.id == sent.id).values(submitted_at=sent_at))
    _db.session.execute(
        sa.update(SafetyReview).where(SafetyReview.invitation_id == invitation.id).values(reviewed_at=REVIEWED_AT)
    )
    _db.session.commit()
    _db.session.expire_all()
    return couple


@pytest.fixture(scope="module")
def main(app):
    """Robin and Sasha's contexts and PDFs (clinician with appendix, summary, Letter), and WeasyPrint's warnings."""
    log = WeasyLog()
    logging.getLogger("weasyprint").addHandler(log)
    try:
        with app.app_context():
            empty_database()
            try:
                couple = build_main_couple()
                out = {
                    "clinician_ctx": context_for(couple, "clinician", appendix=True),
                    "summary_ctx": context_for(couple, "summary"),
                }
                practice_of(couple).report_page_size = "Letter"
                out["letter_ctx"] = context_for(couple, "summary")
                _db.session.rollback()
                for name in ("clinician", "summary", "letter"):
                    out[name] = pdf.render_pdf(out[f"{name}_ctx"])
            finally:
                empty_database()
                memo.init_app(app)  # what clinic.memo kept is about rows that are gone
    finally:
        logging.getLogger("weasyprint").removeHandler(log)
    out["clinician_text"] = text_of(out["clinician"])
    out["clinician_pages"] = pages_of(out["clinician"])
    out["summary_text"] = text_of(out["summary"])
    out["weasyprint_warnings"] = [r.getMessage() for r in log.records]
    return out


# --- the clinician report -------------------------------------------------------------------------


def test_page_one_opens_with_practice_couple_occasion_and_who_sent_when(main):
    first = main["clinician_pages"][0]
    # Times are shown in the practice's zone, never in UTC: Sasha sent before the clocks went forward.
    assert first.startswith(
        flat(
            "Riverside Couples Practice · Dr Alex Morgan, LMFT Session brief: R & S "
            "A Robin and B Sasha · Week 6 (6 Mar 2026) · Generated 10 Mar 2026, 11:30 EDT Safety"
        )
    )
    # Is anyone unsafe comes first (PRODUCT.md), then where things stand.
    assert shows(
        first, "Where things stand Robin sent it 8 Mar 2026, 10:00 EDT; Sasha sent it 7 Mar 2026, 18:45 EST. For this"
    )
    # Both sent the latest assessment: nobody is waited for.
    assert flat("Waiting for") not in main["clinician_text"]


def test_every_page_says_confidential_page_x_of_y_and_generation_time(main):
    pages = pages_of(main["clinician"])
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert shows(page, "Confidential — contains health information")
        assert shows(page, f"Page {number} of {len(pages)}")
        assert shows(page, "Generated 10 Mar 2026, 11:30 EDT")
        assert shows(page, "R & S")  # the couple's label runs at the top of every page
    summary = pages_of(main["summary"])
    for number, page in enumerate(summary, start=1):
        assert shows(page, "Confidential — contains health information")
        assert shows(page, f"Page {number} of {len(summary)}")
        # The footer repeats the time the summary was prepared; the first page also says it under the title.
        assert page.count(flat("Prepared 10 Mar 2026, 11:30 EDT")) == (2 if number == 1 else 1)


def test_check_ins_not_a_diagnosis_notice(main):
    assert shows(
        main["clinician_pages"][1],
        "Tandem's questionnaires are check-ins, not normed tests: read these results as conversation starters, "
        "never as a diagnosis.",
    )
    assert shows(main["summary_text"], "It is a starting point for talking together, not a diagnosis")


def test_safety_comes_first_with_the_reviewed_flag(main):
    first = main["clinician_pages"][0]
    assert first.index(flat("Safety")) < first.index(flat("Where things stand")) < first.index(flat("For this session"))
    panel = between(first, "Safety", "Where things stand")
    # Robin's flag (self-harm, "Once or twice") was reviewed: a calm line, then the review, its time and note.
    assert shows(
        panel,
        f"Safety ✓ Every safety flag has been reviewed. Reviewed: A “{SAFETY_ITEM}” (Once or twice, Week 6), "
        f"by Dr Alex Morgan, 9 Mar 2026, 09:15 EDT. Note: {REVIEW_NOTE}",
    )
    for alarm in ("to review", "For the clinician only", "not yet reviewed", "has not answered the safety check"):
        assert flat(alarm) not in panel, alarm


def test_an_unreviewed_flag_says_so_while_the_other_partner_is_waited_for(
    db, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    assessment, tokens = make_assessment(couple, instruments=["safety"])
    answer_as(tokens[2], {"safety": {"afraid": 3}})
    sent = invitations.find_by_token(tokens[2]).submitted_at
    (page,) = pages_of(pdf.render_pdf(context_for(couple, "clinician")))
    # The practice keeps UTC; Robin has not opened the link.
    assert shows(
        page,
        "Safety 1 safety flag to review. For the clinician only: raise it with each partner on their own, "
        "never in a joint session. B Sasha · Intake · Review “I have felt afraid of my partner.” "
        "Answer: Sometimes · not yet reviewed "
        f"Where things stand Robin has not sent it; Sasha sent it {sent:%-d %b %Y, %H:%M} UTC. "
        f"Waiting for A Robin since {assessment.created_at:%-d %b %Y}: has not opened the link yet. "
        "For this session Nothing stands out in the answers sent so far.",
    )


def test_the_talking_points_for_this_session_follow_the_briefs_rules(main):
    points = between(main["clinician_pages"][0], "For this session", "Strengths to build on")
    # No pursue-withdraw (pursuing and withdrawing were not answered). Then one point per rule, in rule order:
    # change: affection, A 2.00 -> 4.00 (+2.00, at least a tenth of the 1-5 range: 0.40): better; B 4.00 -> 4.00;
    #   the gap |4.00 - 2.00| = 2.00 -> 0.00: closer. No SD and reliability, so raw, never "reliable".
    # shared concern: rituals, both 2.00 Strained. gap: the check-in, 1.75 of 4 = 0.44 >= 0.25.
    # stressor: work weighs on Robin (3), a new baby on both (3 and 3).
    assert shows(
        points,
        "For this session Since Intake: Affection and physical closeness "
        "A Robin: Strained (2.00) → Strong (4.00): better B Sasha: Strong (4.00) → Strong (4.00): no clear change "
        "The gap between them went from 2.00 to 0.00 (closer). A raw change: reliable change needs 50 partners' "
        "first answers in this practice; none so far: 50 more (“better” and “worse” mean a change of at least 0.40).",
    )
    assert shows(
        points,
        "A shared concern: Shared time and rituals A Robin: Strained (2.00) B Sasha: Strained (2.00) "
        "Both partners' scores sit in a concern band.",
    )
    assert shows(
        points,
        "Seen differently: How things feel overall A Robin: Good (4.00) B Sasha: Struggling (2.25) "
        "Robin higher by 1.75.",
    )
    assert shows(
        points,
        "Outside stress A Robin: weighing on them: Pressure at work, or long working hours; "
        "A new baby or child in our home B Sasha: weighing on them: A new baby or child in our home "
        "1 of these weighs on both of them.",
    )
    assert [p["title"] for p in main["clinician_ctx"]["brief"]["points"]] == [
        "Since Intake: Affection and physical closeness",
        "A shared concern: Shared time and rituals",
        "Seen differently: How things feel overall",
        "Outside stress",
    ]


def test_each_talking_point_shows_the_statements_behind_it_with_both_answers(main):
    points = between(main["clinician_pages"][0], "For this session", "Strengths to build on")
    # The rituals statements both answered "Disagree" (2), in the questionnaire's order (equally firm);
    # the check-in's largest gaps: "satisfied" and "close", 4 (Agree) against 2 (Disagree).
    assert shows(
        points,
        "Both partners' scores sit in a concern band. "
        "“We have small habits that are just ours, like a morning coffee or an evening walk.” A: Disagree · B: Disagree "
        "“We make time to do things together that we both enjoy.” A: Disagree · B: Disagree",
    )
    assert shows(
        points,
        "Robin higher by 1.75. “Overall, I am happy with our relationship.” A: Agree · B: Disagree "
        "“These days I feel close to my partner.” A: Agree · B: Disagree",
    )
    assert shows(
        points,
        "“Pressure at work, or long working hours” A: Happening, weighing on me · B: Happening, manageable",
    )


def test_strengths_and_questions_close_the_brief_and_the_notes_open_the_details(main):
    brief = main["clinician_pages"][0].split(flat("Strengths to build on"), 1)[1]
    # Both answered 4 (Agree) on affection 1, 2 and 4; affection 3 and 5 are worded the other way
    # ("Touch and closeness between us have faded"): both disagreed, a shared strength that never
    # reads as one without the answers, so it is not listed.
    assert shows(
        brief,
        "3 statements both see positively: “We often hug, kiss or hold hands in passing.” A: Agree · B: Agree "
        "“I feel wanted by my partner.” A: Agree · B: Agree “I feel at ease asking my partner for a hug.” "
        "A: Agree · B: Agree",
    )
    assert flat("We can go days without a warm touch.") not in brief
    # The opening questions of the areas the points are about, in their order (the stressor has none).
    assert shows(
        brief,
        "Questions to open with What kind of touch or closeness would feel welcome to each of you right now? "
        "Which small moments together have you kept, and which have slipped away? "
        "What has changed between you since we last met?",
    )
    # The therapist's own notes open the details (page 1 keeps to the brief, page 2 to the scores).
    assert flat("Your preparation notes") not in main["clinician_pages"][0]
    assert shows(main["clinician_text"], "Your preparation notes Ask about the move. Check in on sleep. Details")


def test_scores_at_a_glance_in_words_with_agreement_counts(main):
    glance = main["clinician_pages"][1]
    assert glance.startswith(flat("Scores at a glance: Week 6"))
    assert shows(
        glance,
        "Relationship check-in v1 · averages Area A Robin B Sasha Difference Agreement (statements) "
        "How things feel overall 4.00 Good 2.25 ▲ Struggling Robin higher by 1.75 2 split · 2 unsure",
    )
    # Affection: 4.00 each, 5 statements both positive (keyed 4). Rituals: 2.00 each, Strained (a concern
    # band, marked ▲), 5 statements both a concern. Areas not answered: not enough answers, no difference.
    assert shows(glance, "Affection and physical closeness 4.00 Strong 4.00 Strong the same score 5 both positive")
    assert shows(glance, "Shared time and rituals 2.00 ▲ Strained 2.00 ▲ Strained the same score 5 both a concern")
    assert shows(glance, "Withdrawal and numbness * not enough answers not enough answers — —")
    # Only affection and rituals were answered: 10 of 25 items, below the three quarters the total needs;
    # its agreement counts the 10 statements both answered.
    assert shows(
        glance, "Overall connection not enough answers not enough answers — 5 both positive · 5 both a concern"
    )
    assert shows(glance, "* Withdrawal and numbness, Pursuing, Withdrawing: a higher score means more of the pattern.")
    assert shows(glance, "▲ marks a score in a concern band.")
    # No signed differences, no percentages: the old "Difference (B minus A)" column, its "-1.75" and
    # "% shared strengths" are gone, and so is "(higher = more of the pattern)" on every row.
    for old in ("-1.75", "B\N{MINUS SIGN}A", "%", "higher=more"):
        assert old not in glance, old


def test_charts_are_the_couple_views_svg_drawn_into_the_pdf(main):
    charts = [i["chart"] for i in main["clinician_ctx"]["details"]]
    assert len(charts) == 2 and all(c.startswith("<svg") for c in charts)
    # The chart's legend and values are drawn as text in the PDF, on the details page.
    details = main["clinician_text"].split(flat("Details"), 1)[1]
    assert shows(details, "A: Robin B: Sasha How things feel overall 4.00 2.25")


def test_details_list_the_largest_gaps_shared_concerns_and_strengths_with_both_answers(main):
    details = between(main["clinician_text"], "Details", "Life right now (Week 6)")
    checkin = between(details, "Relationship check-in", "Connection and distance")
    # Largest gaps first: satisfied, close and hopeful are 2 apart (4/2, 4/2, 5/3); nothing shared.
    assert shows(
        checkin,
        "The largest gaps “Overall, I am happy with our relationship.” A Agree · B Disagree "
        "“These days I feel close to my partner.” A Agree · B Disagree "
        "“I feel hopeful about where we are heading.” A Strongly agree · B Neither agree nor disagree",
    )
    assert flat("Shared concerns") not in checkin and flat("Shared strengths") not in checkin
    connection = details.split(flat("Connection and distance"), 1)[1]
    # Rituals: every keyed value 2 (3 and 4 reversed: 4 -> 2), the first three in the questionnaire's order.
    assert shows(
        connection,
        "Shared concerns “We have small habits that are just ours, like a morning coffee or an evening walk.” "
        "A Disagree · B Disagree “We make time to do things together that we both enjoy.” A Disagree · B Disagree "
        "“Our time together is mostly taken up by chores and plans.” A Agree · B Agree",
    )
    # Affection: the positively worded statements only (as in the brief).
    assert shows(
        connection,
        "Shared strengths “We often hug, kiss or hold hands in passing.” A Agree · B Agree "
        "“I feel wanted by my partner.” A Agree · B Agree “I feel at ease asking my partner for a hug.” A Agree · B Agree",
    )
    assert flat("The largest gaps") not in connection  # no statement 2 or more apart


def test_life_context_per_partner_with_free_text(main):
    part = between(main["clinician_text"], "Life right now (Week 6)", "added:")
    # Only what is happening for either of them gets a row; the rest is named in one line.
    assert shows(
        part,
        "Stressor A Robin B Sasha Pressure at work, or long working hours Happening, weighing on me "
        "Happening, manageable A new baby or child in our home Happening, weighing on me Happening, weighing on me "
        "Not happening for either of them: Losing a job, or worries about money;",
    )
    assert shows(part, "Big changes in our wider family; Hard things from my past that still weigh on me.")
    assert shows(main["clinician_text"], f"A Robin added: {LIFE_NOTE}")


def test_over_time_is_raw_where_change_cannot_be_judged_reliable(main):
    part = between(main["clinician_text"], "Over time", "Appendix: every answer")
    assert shows(
        part,
        "Over time Connection and distance: Intake → Week 6 Reliable change needs 50 partners' first answers in "
        "this practice; none so far: 50 more. Until then change cannot yet be judged reliable: “better” and "
        "“worse” mean a raw change of at least 0.40. "
        "Area A Robin B Sasha Gap between them",
    )
    # Affection: A 2.00 -> 4.00 (+2.00 >= 0.40), B 4.00 -> 4.00, gap 2.00 -> 0.00.
    assert shows(
        part, "Affection and physical closeness 2.00 → 4.00 better 4.00 → 4.00 no clear change 2.00 → 0.00 closer"
    )
    # Rituals were not answered at intake: no change can be worked out.
    assert shows(part, "Shared time and rituals not enough answers not enough answers not enough answers")
    # Nothing is invented: no RCI, no reliability verdict.
    for word in ("RCI", "Judged", "Jacobson", "improved", "reliablechange"):
        assert word not in part, word


def test_life_context_is_each_partners_latest_and_says_from_when(
    db, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    first, second = life_context_at_two_occasions(db, couple, make_assessment, answer_as)
    ctx = context_for(couple, "clinician")
    assert ctx["life_context"]["occasion"] is None  # the two partners' answers come from different assessments
    text = text_of(pdf.render_pdf(ctx))
    part = between(text, "Life right now", "Stressor")
    assert shows(
        part,
        f"Each partner's latest answers: A Robin: Week 6, sent {second.created_at:%-d %b %Y}; "
        f"B Sasha: Intake, sent {first.created_at:%-d %b %Y}.",
    )
    # Robin's week-6 answers beside Sasha's intake answers, never "—" for Sasha.
    assert shows(text, "Pressure at work, or long working hours Not happening Happening, manageable")


# The engine's tiny instrument (tests/tiny_catalog.py), two assessments: the worked example of
# tests/instruments/test_change.py and tests/test_couple_view.py, on paper.
# The numbers are worked in tests/tiny_catalog.py (tiny_over_time).


@pytest.mark.usefixtures("tiny")
def test_tiny_report_shows_reliable_change_where_there_are_psychometrics(
    db, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    tiny_over_time(db, couple, make_assessment, answer_as)
    pages = pages_of(pdf.render_pdf(context_for(couple, "clinician")))
    # The brief's change point: the largest reliable change of a subscale, Sasha's feeling heard
    # (RCI 2.61 > 1.96). The gap's RCI -1.84 is not reliable: "no clear change", though it narrowed.
    assert shows(
        pages[0],
        "For this session Since Intake: Feeling heard A Robin: Strong (4.33) → Strong (4.33): no clear change "
        "B Sasha: Mixed (3.33) → Strong (4.33): better The gap between them went from 1.00 to 0.00 "
        "(no clear change). Judged with reliable change (Jacobson & Truax, 95%), from the questionnaire's "
        "published figures (α = 0.85, SD = 0.70).",
    )
    part = pages[-1].split(flat("Over time"), 1)[1]
    # Heard and the total have psychometrics; warmth and pursuing (0-9, a step of 0.90) do not.
    assert shows(
        part,
        "Tiny test instrument: Intake → Week 4 Reliability from the questionnaire's published figures "
        "(Feeling heard α = 0.85, SD = 0.70; Overall α = 0.90, SD = 0.50). For Feeling heard, Overall, “better” "
        "and “worse” are changes larger than the measurement error (reliable change, Jacobson & Truax, 95%). "
        "Reliable change for Warmth, Pursuing needs 50 partners' first answers in this practice; none so far: "
        "50 more. Until then change there cannot yet be judged reliable: “better” and “worse” mean a raw change "
        "of at least a tenth of its range (Warmth 0.40, Pursuing 0.90).",
    )
    # Heard: A +0.00 (RCI 0.00); B +1.00 (RCI 2.61): better; gap 1.00 -> 0.00 (RCI -1.84): no clear change.
    assert shows(part, "Feeling heard 4.33 → 4.33 no clear change 3.33 → 4.33 better 1.00 → 0.00 no clear change")
    # Warmth, raw: A +2.50 and B +1.00 are both at least 0.40; the gap 1.50 -> 0.00 closed by 1.50.
    assert shows(part, "Warmth 1.50 → 4.00 better 3.00 → 4.00 better 1.50 → 0.00 closer")
    # The total: +1.00 each, RCI 4.47: better; gap 0.00 -> 0.00 (RCI 0.00).
    assert shows(part, "Overall 3.20 → 4.20 better 3.20 → 4.20 better 0.00 → 0.00 no clear change")
    assert "RCI" not in part


@pytest.mark.usefixtures("tiny")
def test_tiny_report_at_a_glance_with_a_sum_and_two_scales(db, make_practice, make_couple, make_assessment, answer_as):
    # A sum on its own axis used to fail the whole report (the chart took the first measure's axis).
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["tiny"])
    answer_as(tokens[1], {"tiny": TINY_A})
    answer_as(tokens[2], {"tiny": TINY_B})
    ctx = context_for(couple, "clinician")
    (chart,) = [inst["chart"] for inst in ctx["details"]]
    assert chart.count("<svg") == 2 and "Scores from 0 to 9. Pursuing: Robin 8.00, Sasha 3.00." in chart
    pages = pages_of(pdf.render_pdf(ctx))
    glance = pages[1]
    # A sum among averages: the table's caption does not call every score an average.
    assert shows(glance, "Tiny test instrument v1 Area") and "averages" not in glance
    # tests/instruments/test_compare.py: heard 4.33 / 3.33 (1 both positive, 1 split, 1 unsure), warmth
    # 1.50 / 3.00 (1 both a concern, 1 split), pulling 8 / 3, a prorated sum (1 both a concern, 1 split),
    # the total 3.20 / 3.20 (1, 1, 2 split, 1 unsure).
    assert shows(
        glance, "Feeling heard 4.33 Strong 3.33 Mixed Robin higher by 1.00 1 both positive · 1 split · 1 unsure"
    )
    assert shows(glance, "Warmth 1.50 ▲ Low 3.00 Good Sasha higher by 1.50 1 both a concern · 1 split")
    assert shows(glance, "Pursuing * 8.00 ▲ High 3.00 Some Robin higher by 5.00 1 both a concern · 1 split")
    assert shows(
        glance, "Overall 3.20 Steady 3.20 Steady the same score 1 both positive · 1 both a concern · 2 split · 1 unsure"
    )
    # The urgent flag of A's pull_3 = 3 leads page 1; gaps worth a talk are the points, largest share first:
    # pursuing 5 of 9 (0.56), warmth 1.5 of 4 (0.38), heard 1 of 4 (0.25).
    assert shows(
        pages[0],
        "1 safety flag to review. For the clinician only: raise it with each partner on their own, never in a "
        "joint session. A Robin · Intake · Urgent “I feel afraid of how my partner reacts.” "
        "Answer: Almost always · not yet reviewed",
    )
    assert [p["title"] for p in ctx["brief"]["points"]] == [
        "Seen differently: Pursuing",
        "Seen differently: Warmth",
        "Seen differently: Feeling heard",
    ]
    # The details list the statements with both answers in words.
    assert shows(pages[2], "Shared concerns “We hug most days.” A Disagree · B Strongly disagree")


def test_change_that_cannot_be_judged_says_why(db, make_practice, make_couple, make_assessment, answer_as):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    for occasion in ("Intake", "Week 4"):
        _, tokens = make_assessment(couple, instruments=["checkin"], occasion=occasion)
        answer_as(tokens[1], {"checkin": CHECKIN_A})
        answer_as(tokens[2], {"checkin": CHECKIN_B})
    pages = pages_of(pdf.render_pdf(context_for(couple, "clinician")))
    part = pages[-1].split(flat("Over time"), 1)[1]
    assert shows(
        part,
        "Relationship check-in: Intake → Week 4 Reliable change needs 50 partners' first answers in this practice; "
        "none so far: 50 more. Until then change cannot yet be judged reliable: “better” and “worse” mean a raw "
        "change of at least 0.40. Area A Robin B Sasha "
        "Gap between them How things feel overall 4.00 → 4.00 no clear change 2.25 → 2.25 no clear change "
        "1.75 → 1.75 no clear change",
    )
    # Nothing changed, so the brief has no change point: the gap is the one thing that stands out.
    assert flat("Since Intake") not in pages[0]
    assert shows(
        pages[0],
        "For this session Seen differently: How things feel overall A Robin: Good (4.00) B Sasha: Struggling (2.25) "
        "Robin higher by 1.75. "
        # The statements behind it: the gaps of 2 or more (the scale's discuss_gap), the first two in file order.
        "“Overall, I am happy with our relationship.” A: Agree · B: Disagree "
        "“These days I feel close to my partner.” A: Agree · B: Disagree "
        "Nothing else stands out in their answers.",
    )


def test_appendix_lists_every_item_with_both_answers(main):
    appendix = main["clinician_text"].split(flat("Appendix: every answer"), 1)[1]
    assert shows(appendix, f"{SAFETY_ITEM} Once or twice Never")
    assert shows(appendix, "I have felt afraid of my partner. Never Never")
    assert shows(appendix, "I feel hopeful about where we are heading. Strongly agree Neither agree nor disagree")
    assert shows(appendix, "Touch and closeness between us have faded. Disagree Disagree")  # reversed: raw answer
    assert shows(appendix, "When I talk about my day, my partner really listens. skipped skipped")
    assert shows(appendix, "A new baby or child in our home Happening, weighing on me Happening, weighing on me")


def test_no_appendix_unless_asked(main):
    assert main["summary_ctx"].get("appendix") is None
    assert flat("Appendix") not in main["summary_text"]


def test_a_couple_without_answers_gets_a_report_that_says_so(db, make_practice, make_couple, make_assessment):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    (page,) = pages_of(pdf.render_pdf(context_for(couple, "clinician", appendix=True)))
    assert shows(
        page,
        "A Robin and B Sasha · Generated 10 Mar 2026, 15:30 UTC Safety ✓ No safety flags. "
        "Where things stand No questionnaires sent yet. Your preparation notes No notes saved for this couple.",
    )
    for part in ("For this session", "Scores at a glance", "Appendix"):
        assert flat(part) not in page, part
    assessment, _ = make_assessment(couple, instruments=["checkin"])
    (page,) = pages_of(pdf.render_pdf(context_for(couple, "clinician")))
    since = f"{assessment.created_at:%-d %b %Y}"
    assert shows(
        page,
        f"Safety ✓ No safety flags. Where things stand Waiting for A Robin since {since} (Intake): has not "
        f"opened the link yet. Waiting for B Sasha since {since} (Intake): has not opened the link yet.",
    )
    summary = text_of(pdf.render_pdf(context_for(couple, "summary")))
    assert shows(
        summary,
        "Not yet A summary for you both is ready once each of you has sent your answers. "
        "Your therapist will talk with you about them.",
    )
    assert flat("What you share") not in summary and flat("Themes to work on together") not in summary


def test_while_one_partner_has_sent_the_other_is_not_sent(db, make_practice, make_couple, make_assessment, answer_as):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    ctx = context_for(couple, "clinician")
    pages = pages_of(pdf.render_pdf(ctx))
    # Robin's 4.00 sits in no concern band: the brief fills in with Robin's lowest area that has one.
    assert shows(
        pages[0],
        "For this session Robin: How things feel overall A Robin: Good (4.00) B Sasha: not sent yet "
        "Only Robin has sent this assessment: the comparison waits for Sasha.",
    )
    # One partner's table: no difference and no agreement columns.
    assert shows(
        pages[1],
        "Relationship check-in v1 · averages Area A Robin B Sasha How things feel overall 4.00 Good not sent",
    )
    assert flat("Agreement (statements)") not in pages[1] and flat("higher by") not in pages[1]
    # The couple summary waits for both.
    summary = text_of(pdf.render_pdf(context_for(couple, "summary")))
    assert shows(summary, "Not yet") and flat("4.00") not in summary and flat("Good") not in summary


def test_pdf_metadata_title(main):
    reader = PdfReader(io.BytesIO(main["clinician"]))
    assert reader.metadata.title == "Session-prep report: R & S"
    assert PdfReader(io.BytesIO(main["summary"])).metadata.title == "Session summary for Robin and Sasha"


def test_page_size_follows_the_practice_setting(main):
    a4 = PdfReader(io.BytesIO(main["summary"])).pages[0].mediabox
    letter = PdfReader(io.BytesIO(main["letter"])).pages[0].mediabox
    assert (round(float(a4.width)), round(float(a4.height))) == (595, 842)
    assert (round(float(letter.width)), round(float(letter.height))) == (612, 792)


def test_rendering_logs_no_weasyprint_warnings(main):
    assert main["weasyprint_warnings"] == []


def test_context_is_plain_json_data(main):
    for name in ("clinician_ctx", "summary_ctx"):
        ctx = main[name]
        assert json.loads(json.dumps(ctx, allow_nan=False)) == ctx


# --- the shareable summary ------------------------------------------------------------------------


def test_summary_shows_shared_themes_with_ideas_and_no_statements_without_consent(main):
    text = main["summary_text"]
    assert shows(
        text,
        "Session summary · Riverside Couples Practice For Robin and Sasha From Dr Alex Morgan, LMFT "
        "Prepared 10 Mar 2026, 11:30 EDT",
    )
    # Neither partner agreed to share what both see positively (the default): none of those statements.
    assert main["summary_ctx"]["strengths_shared"] is False and main["summary_ctx"]["strengths"] == []
    shared = between(text, "What you share", "Themes to work on together")
    assert shows(
        shared,
        "What you share You both came, and you both took the time to answer honestly. That matters: it is where "
        "change starts. Statements you both agree with appear here only when each of you has said they may.",
    )
    for item in (
        "We often hug, kiss or hold hands in passing.",
        "I feel wanted by my partner.",
        "I feel at ease asking my partner for a hug.",
    ):
        assert flat(item) not in text, item
    # Both are Strained on rituals, a shared concern: one theme, with its first suggestion and its question.
    # The check-in is a concern for Sasha alone, so it is no theme. No note was typed: no note section.
    themes = text.split(flat("Themes to work on together"), 1)[1]
    assert themes.startswith(
        flat(
            "Shared time and rituals Small shared habits, fun together and checking in at the end of the day. "
            f"Something to try: {RITUALS_PROMPTS[0]}: how was your day, what was hard, what went well. "
            "Keep it short so it is easy to keep. To talk about together: Which small moments together have you "
            "kept, and which have slipped away?"
        )
    )
    assert [t["title"] for t in main["summary_ctx"]["themes"]] == ["Shared time and rituals"]
    assert main["summary_ctx"]["note"] == "" and flat("A note from") not in text


def test_summary_context_holds_only_what_the_summary_may_show(main):
    ctx = main["summary_ctx"]
    assert set(ctx) == {
        "kind",
        "page_size",
        "generated_at",
        "practice",
        "clinician",
        "title",
        "names",
        "both_sent",
        "strengths_shared",
        "strengths",
        "themes",
        "note",
    }
    flat_ctx = json.dumps(ctx, ensure_ascii=False)
    for secret in (SAFETY_ITEM, LIFE_NOTE, "Ask about the move", REVIEW_NOTE, "2.25", "Struggling", "R & S"):
        assert secret not in flat_ctx


def test_summary_has_no_safety_item_or_answer(main):
    text = main["summary_text"]
    assert flat(SAFETY_ITEM) not in text
    assert flat("Once or twice") not in text
    assert "afraid" not in text and "Safety" not in text


def test_summary_has_no_item_level_answers(main):
    text = main["summary_text"]
    # "Agreed boundaries and expectations" is a theme label, not an answer.
    for label in ("Stronglydisagree", "Disagree", "Neitheragreenordisagree", "Stronglyagree", "Never", "Often"):
        assert label not in text, label
    assert re.search("Agree(?!dboundaries)", text) is None
    assert "Happening" not in text and "skipped" not in text


def test_summary_has_no_free_text(main):
    text = main["summary_text"]
    assert flat(LIFE_NOTE) not in text
    assert flat(REVIEW_NOTE) not in text
    assert flat("Pressure at work") not in text


def test_summary_has_no_prep_notes(main):
    assert flat("Ask about the move") not in main["summary_text"]
    assert flat("Check in on sleep") not in main["summary_text"]


def test_summary_has_no_individual_scores(main):
    text = main["summary_text"]
    assert "2.25" not in text and "4.00" not in text and "2.00" not in text
    assert re.search(r"\d\.\d", text) is None
    assert "RCI" not in text


def test_summary_has_no_band_labels(main):
    text = main["summary_text"]
    for band in ("Good", "Mixed", "Struggling", "Strained", "Strong"):
        assert band not in text, band


def test_summary_has_nothing_only_one_partner_said(main):
    text = main["summary_text"]
    # Splits: A agreed, B disagreed.
    assert flat("Overall, I am happy with our relationship.") not in text
    assert flat("These days I feel close to my partner.") not in text
    # Only B's check-in sits in a concern band: its prompts would tell A about B's score.
    assert flat(CHECKIN_PROMPT) not in text
    assert flat("Care for stress and health") not in text
    # A shared strength worded the other way round would read as its opposite without the answers.
    assert flat("We can go days without a warm touch.") not in text


# --- the cache key ---------------------------------------------------------------------------------


def test_cache_key_ignores_generation_time_and_changes_with_what_is_shown(main):
    ctx = main["clinician_ctx"]
    key = report_context.cache_key(ctx)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert report_context.cache_key({**ctx, "generated_at": "1 Jan 2030, 09:00 UTC"}) == key
    assert report_context.cache_key(json.loads(json.dumps(ctx))) == key
    assert report_context.cache_key({**ctx, "prep_notes": ctx["prep_notes"] + "!"}) != key
    assert report_context.cache_key({**ctx, "page_size": "Letter"}) != key
    assert report_context.cache_key({**ctx, "practice": "Another practice"}) != key
    assert report_context.cache_key({**ctx, "appendix": None}) != key
    assert report_context.cache_key(main["summary_ctx"]) != report_context.cache_key(main["letter_ctx"])


def test_cache_key_changes_with_the_template_version(main, monkeypatch):
    key = report_context.cache_key(main["summary_ctx"])
    shipped = report_context.TEMPLATE_VERSION  # a hash of the report files (tests/test_reports.py)
    monkeypatch.setattr(report_context, "TEMPLATE_VERSION", shipped + "-changed")
    assert report_context.cache_key(main["summary_ctx"]) != key
    assert shipped == pdf.TEMPLATE_VERSION  # pdf re-exports the version it was imported with


def test_cache_key_changes_when_answers_notes_or_settings_change(
    db, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    keys = [report_context.cache_key(context_for(couple, "clinician"))]
    later = GENERATED_AT + timedelta(hours=3)
    assert report_context.cache_key(context_for(couple, "clinician", generated_at=later)) == keys[0]
    couples.save_prep_notes(couple, "Ask about the move.")
    keys.append(report_context.cache_key(context_for(couple, "clinician")))
    practice_of(couple).report_page_size = "Letter"
    keys.append(report_context.cache_key(context_for(couple, "clinician")))
    practice_of(couple).name = "Renamed practice"
    keys.append(report_context.cache_key(context_for(couple, "clinician")))
    db.session.commit()
    _, tokens = make_assessment(couple, instruments=["checkin"], occasion="Week 2")
    answer_as(tokens[1], {"checkin": CHECKIN_B})
    keys.append(report_context.cache_key(context_for(couple, "clinician")))
    assert len(set(keys)) == len(keys)


def test_summary_cache_key_changes_with_the_note_and_consent_and_the_clinicians_never_with_a_note(
    db, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["checkin"])
    invitations_sent = [
        answer_as(tokens[pos], {"checkin": answers}) for pos, answers in ((1, CHECKIN_A), (2, CHECKIN_B))
    ]
    keys = [report_context.cache_key(context_for(couple, "summary"))]
    keys.append(report_context.cache_key(context_for(couple, "summary", note="See you on Tuesday.")))
    # Surrounding blank space is no part of the note.
    assert report_context.cache_key(context_for(couple, "summary", note="  See you on Tuesday.\n")) == keys[-1]
    keys.append(report_context.cache_key(context_for(couple, "summary", note="See you on Thursday.")))
    for invitation in invitations_sent:
        db.session.get(Invitation, invitation.id).shares_agreement = True
    db.session.flush()
    keys.append(report_context.cache_key(context_for(couple, "summary")))
    assert len(set(keys)) == len(keys)
    # The clinician's report holds no note at all: typing one changes nothing there.
    clinician = context_for(couple, "clinician")
    assert "note" not in clinician
    assert report_context.cache_key(context_for(couple, "clinician", note="See you on Tuesday.")) == (
        report_context.cache_key(clinician)
    )


# --- hostile input ------------------------------------------------------------------------------------


@pytest.fixture
def recording(monkeypatch) -> Recording:
    """Every URL the renderer asks for, while the test runs."""
    fetcher = Recording()
    monkeypatch.setattr(pdf, "safe_fetcher", fetcher)
    return fetcher


def test_hostile_text_is_printed_as_text_and_never_fetched(
    db, recording, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice(practice_name=HOSTILE["img_file"], owner_name=HOSTILE["img_http"])
    couple = make_couple(owner, label=HOSTILE["img_file"], names=(HOSTILE["link"], HOSTILE["img_http"]))
    assessment, tokens = make_assessment(couple, instruments=["safety", "checkin", "life_context"])
    assessment.occasion = HOSTILE["style"]
    invitation = answer_as(
        tokens[1],
        {"safety": {"self_harm": 3}, "checkin": CHECKIN_A, "life_context": {"anything_else": HOSTILE["img_http"]}},
    )
    answer_as(tokens[2], {"checkin": CHECKIN_B, "life_context": {"anything_else": HOSTILE["style"]}})
    safety.review_flag(invitation, instrument_id="safety", item_id="self_harm", note=HOSTILE["link"], by=owner)
    couples.save_prep_notes(couple, "\n".join(HOSTILE.values()))
    db.session.commit()

    clinician = pdf.render_pdf(context_for(couple, "clinician", appendix=True))
    # The therapist's note to the couple is typed text too.
    summary = pdf.render_pdf(context_for(couple, "summary", note="\n".join(HOSTILE.values())))

    # Each render asks for the stylesheet and the fonts, and for nothing else.
    assert recording.asked.count("tandem-report:/static/reports/report.css") == 2
    assert set(recording.asked) == BUNDLED
    text = text_of(clinician)
    for value in HOSTILE.values():
        assert shows(text, value), value
    assert shows(text, f"Session brief: {HOSTILE['img_file']}")
    assert shows(text, f"Note: {HOSTILE['link']}")
    assert shows(text, f"{HOSTILE['link']} added: {HOSTILE['img_http']}")
    assert shows(text_of(summary), f"For {HOSTILE['link']} and {HOSTILE['img_http']}")
    assert shows(text_of(summary), "A note from " + HOSTILE["img_http"] + "".join(HOSTILE.values()))
    for document in (clinician, summary):
        assert PdfReader(io.BytesIO(document)).attachments == {}


def test_oversized_text_is_refused_upstream_or_clipped_in_the_report(
    db, recording, make_practice, make_couple, make_assessment, answer_as
):
    megabyte = "<b>x</b>" * (1_000_000 // 8)
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["safety", "life_context"])
    invitation = answer_as(tokens[1], {"safety": {"self_harm": 3}})
    # Where a person can type a megabyte, the services refuse it.
    with pytest.raises(couples.CoupleError):
        couples.save_prep_notes(couple, megabyte)
    with pytest.raises(safety.SafetyError):
        safety.review_flag(invitation, instrument_id="safety", item_id="self_harm", note=megabyte, by=owner)
    with pytest.raises(AnswerError):
        responses.save_answers(invitations.find_by_token(tokens[2]), "life_context", {"anything_else": megabyte})
    db.session.rollback()
    # SQLite does not enforce the label's length: the report clips instead of printing a megabyte.
    couple = db.session.get(Couple, couple.id)
    couple.prep_notes = megabyte
    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:  # PostgreSQL refuses an over-long label itself
        couple.label = megabyte
    db.session.flush()

    # A note longer than the form allows (tests/test_reports_layout.py) is clipped too.
    note = context_for(couple, "summary", note=megabyte)["note"]
    assert len(note) == report_context.LIMITS["note"] == 1000 and note.endswith("…")
    ctx = context_for(couple, "clinician")
    if sqlite:
        assert len(ctx["couple"]) == 60 and ctx["couple"].endswith("…")
    assert len(ctx["prep_notes"]) == couples.PREP_NOTES_LIMIT
    text = text_of(pdf.render_pdf(ctx))
    if sqlite:
        assert shows(text, "Session brief: <b>x</b><b>x</b>")
    assert set(recording.asked) == BUNDLED


def test_a_refused_url_stops_the_render():
    # What the templates never produce, written straight into WeasyPrint: each refused URL ends the render.
    for markup in (
        '<img src="file:///etc/passwd">',
        '<link rel=attachment href="file:///etc/passwd">',
        '<img src="http://127.0.0.1:9/x.png">',
        "<style>@import url(http://127.0.0.1:9/);</style>",
        '<img src="tandem-report:/static/../../../../etc/passwd">',
    ):
        with pytest.raises(FatalURLFetchingError):
            HTML(string=f"<p>x</p>{markup}", base_url=pdf.BASE_URL, url_fetcher=pdf.StaticOnlyFetcher()).write_pdf()


def test_render_pdf_reports_a_refused_url_without_it(app, main, monkeypatch):
    class Refusing(pdf.StaticOnlyFetcher):
        def fetch(self, url, headers=None):
            raise pdf.FetchRefused("no")

    monkeypatch.setattr(pdf, "safe_fetcher", Refusing())
    with app.app_context(), pytest.raises(pdf.RenderRefused) as caught:
        pdf.render_pdf(main["summary_ctx"])
    assert "tandem-report" not in str(caught.value)


def test_render_pdf_refuses_unknown_kind_and_page_size(app, main):
    with app.app_context():
        with pytest.raises(ValueError, match="kind"):
            pdf.render_pdf({**main["summary_ctx"], "kind": "other"})
        with pytest.raises(ValueError, match="page size"):
            pdf.render_pdf({**main["summary_ctx"], "page_size": "A4; } body { display: none"})


# --- the fetcher ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "http://127.0.0.1:9/x.png",
        "https://example.org/report.css",
        "ftp://example.org/font.ttf",
        "javascript:alert(1)",
        "../../etc/passwd",
        "static/fonts/DejaVuSans.ttf",
        "/etc/passwd",
        "tandem-report:/etc/passwd",
        "tandem-report:/static/../../../../etc/passwd",
        "tandem-report:/static/fonts/../../../../../etc/passwd",
        "tandem-report:/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "tandem-report:/static//etc/passwd",
        "tandem-report:/static/",
        "tandem-report:/static/fonts/",
        "tandem-report:/static/fonts/missing.ttf",
        "tandem-report:/static/fonts/DejaVuSans.ttf?x=1",
        "tandem-report:/static/fonts/DejaVuSans.ttf%00.css",
    ],
)
def test_fetcher_refuses_everything_but_bundled_static_files(url):
    with pytest.raises(pdf.FetchRefused):
        pdf.safe_fetcher(url)


def test_fetcher_serves_a_bundled_font_and_the_stylesheet_with_their_types():
    font = pdf.safe_fetcher("tandem-report:/static/fonts/DejaVuSans.ttf")
    assert font.content_type == "font/ttf"
    body = font.read()
    assert body == (Path(pdf.STATIC_ROOT) / "fonts" / "DejaVuSans.ttf").read_bytes()
    assert body[:4] == b"\x00\x01\x00\x00"  # a TrueType font
    css = pdf.safe_fetcher("tandem-report:/static/reports/report.css")
    assert css.content_type == "text/css"
    assert b"@font-face" in css.read()


def test_fetcher_decodes_data_uris():
    response = pdf.safe_fetcher("data:text/plain;base64,SGVsbG8=")
    assert (response.content_type, response.read()) == ("text/plain", b"Hello")


def test_fetcher_refuses_symlinks_that_leave_static(tmp_path, monkeypatch):
    root = tmp_path / "static"
    (root / "fonts").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for reports")
    (root / "fonts" / "own.css").write_text("p { color: black }")
    (root / "fonts" / "escape.css").symlink_to(secret)
    (root / "outside").symlink_to(tmp_path)
    monkeypatch.setattr(pdf, "STATIC_ROOT", root)

    assert pdf.safe_fetcher("tandem-report:/static/fonts/own.css").read() == b"p { color: black }"
    with pytest.raises(pdf.FetchRefused):
        pdf.safe_fetcher("tandem-report:/static/fonts/escape.css")
    with pytest.raises(pdf.FetchRefused):
        pdf.safe_fetcher("tandem-report:/static/outside/secret.txt")


def test_page_size_defaults_to_a4():
    class Practice:
        pass

    practice = Practice()
    assert pdf.page_size(practice) == "A4"
    practice.report_page_size = "Letter"
    assert pdf.page_size(practice) == "Letter"
    practice.report_page_size = "Tabloid"
    assert pdf.page_size(practice) == "A4"
