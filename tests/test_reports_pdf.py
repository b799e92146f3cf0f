"""Session-prep report PDFs: the couple view's numbers on paper, a summary that keeps each partner's
answers to themselves, and a renderer that fetches nothing but Tandem's own static files.

Answers are built by hand (as in test_couple_view.py); the expected numbers are worked out in the
comments. Text is read back out of the PDFs with pypdf. Rendering takes about half a second, so the
main couple's PDFs are rendered once per module and shared by the tests that read them.
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

from clinic import audit
from clinic.extensions import db as _db
from clinic.models import Assessment, Clinician, Couple, Partner, Practice
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
# Difference B - A = -1.75; "satisfied" and "close" are splits (A agrees, B disagrees); 0 % shared strengths.

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


def context_for(couple: Couple, kind: str, *, appendix: bool = False, generated_at: datetime = GENERATED_AT) -> dict:
    """The report context of a couple as the report job builds it."""
    results = load_couple_results(couple)
    return report_context.build_context(
        results,
        practice=practice_of(couple),
        clinician=_db.session.get(Clinician, couple.clinician_id),
        kind=kind,
        appendix=appendix,
        generated_at=generated_at,
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
    _db.session.commit()
    _, tokens = start(couple, ["safety", "checkin", "connection", "life_context"], "Week 6")
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
    _db.session.commit()
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
    finally:
        logging.getLogger("weasyprint").removeHandler(log)
    out["clinician_text"] = text_of(out["clinician"])
    out["summary_text"] = text_of(out["summary"])
    out["weasyprint_warnings"] = [r.getMessage() for r in log.records]
    return out


# --- the clinician report -------------------------------------------------------------------------


def test_header_names_practice_clinician_couple_assessments_and_who_completed_what(main):
    text = main["clinician_text"]
    assert shows(text, "Riverside Couples Practice Session-prep report: R & S")
    assert shows(text, "Couple: A Robin and B Sasha")
    assert shows(text, "Clinician: Dr Alex Morgan, LMFT")
    # Times are shown in the practice's zone, never in UTC.
    assert shows(text, "Generated 10 Mar 2026, 11:30 EDT")
    assert shows(text, "Intake sent 27 Jan 2026 Connection and distance Submitted")
    assert shows(text, "Week 6 sent")
    assert shows(text, "covered below Safety check, Relationship check-in, Connection and distance, Life right now")
    assert text.count("Submitted") == 4  # both partners, both assessments
    assert shows(text, "This report covers Week 6")


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
        main["clinician_text"],
        "Tandem's questionnaires are check-ins, not normed tests: read these results as conversation starters "
        "for the session, never as a diagnosis.",
    )
    assert shows(main["summary_text"], "It is a starting point for talking together, not a diagnosis")


def test_safety_comes_first_with_item_answer_and_review(main):
    text = main["clinician_text"]
    assert text.index(flat("Safety check: 1 flag")) < text.index(flat("At a glance")) < text.index(flat("Side by side"))
    panel = between(text, "Safety check: 1 flag", "At a glance")
    assert "notyetreviewed" not in panel
    assert shows(panel, f"A Robin Urgent · Week 6 “{SAFETY_ITEM}” Answer: Once or twice")
    assert shows(panel, "✓ Reviewed by Dr Alex Morgan,")
    assert shows(panel, f"Review note: {REVIEW_NOTE}")
    assert shows(panel, "B Sasha No flags raised.")


def test_an_unreviewed_flag_says_so(db, make_practice, make_couple, make_assessment, answer_as):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["safety"])
    answer_as(tokens[2], {"safety": {"afraid": 3}})
    text = text_of(pdf.render_pdf(context_for(couple, "clinician")))
    panel = between(text, "Safety check:", "Suggested focus")
    assert shows(panel, "Safety check: 1 flag, 1 not yet reviewed")
    assert shows(panel, "A Robin Has not completed a safety check.")
    assert shows(
        panel, "B Sasha Review · Intake “I have felt afraid of my partner.” Answer: Sometimes Not yet reviewed."
    )


def test_at_a_glance_overall_scores_bands_and_difference(main):
    glance = between(main["clinician_text"], "At a glance", "Side by side")
    assert shows(glance, "Relationship check-in How things feel overall 4.00 Good 2.25 Struggling -1.75")
    # Only affection and rituals were answered: 10 of 25 items, below the three quarters the total needs.
    assert shows(glance, "Connection and distance Overall connection not enough answers not enough answers —")


def test_subscale_tables_match_the_couple_view(main):
    text = between(main["clinician_text"], "Side by side", "Items where the two answers differ")
    assert shows(text, "Relationship check-in: scores (averages)")
    assert shows(text, "How things feel overall 4.00 Good 2.25 Struggling -1.75 0% shared strengths")
    assert shows(text, "Affection and physical closeness 4.00 Strong 4.00 Strong 0.00 100% shared strengths")
    assert shows(text, "Shared time and rituals 2.00 Strained 2.00 Strained 0.00 0% shared strengths")
    assert shows(text, "Withdrawal and numbness (higher = more of the pattern) not enough answers not enough answers")


def test_charts_are_the_couple_views_svg_drawn_into_the_pdf(main):
    charts = [i["chart"] for i in main["clinician_ctx"]["instruments"]]
    assert len(charts) == 2 and all(c.startswith("<svg") for c in charts)
    # The chart's legend and values are drawn as text in the PDF.
    side_by_side = between(main["clinician_text"], "Side by side", "Items where the two answers differ")
    assert shows(side_by_side, "A: Robin B: Sasha How things feel overall 4.00 2.25")


def test_agreement_lists_strengths_concerns_and_splits_with_both_answers(main):
    agreement = between(main["clinician_text"], "Items where the two answers differ", "Life right now (Week 6)")
    checkin = between(agreement, "Relationship check-in", "Connection and distance")
    assert shows(checkin, "Shared strengths No shared strengths yet. Shared concerns No shared concerns.")
    assert shows(checkin, "“Overall, I am happy with our relationship.” A Agree · B Disagree")
    assert shows(checkin, "“These days I feel close to my partner.” A Agree · B Disagree")
    connection = agreement.split(flat("Connection and distance"), 1)[1]
    strengths = between(connection, "Shared strengths", "Shared concerns")
    assert shows(strengths, "“We often hug, kiss or hold hands in passing.” A Agree · B Agree")
    assert shows(strengths, "“We can go days without a warm touch.” A Disagree · B Disagree")
    concerns = between(connection, "Shared concerns", "Splits")
    assert shows(concerns, "“We make time to do things together that we both enjoy.” A Disagree · B Disagree")
    assert shows(connection, "Splits: one partner on each side No splits.")


def test_life_context_per_partner_with_free_text(main):
    part = between(main["clinician_text"], "Life right now (Week 6)", "Change since the previous assessment")
    assert shows(part, "Pressure at work, or long working hours Happening, weighing on me Happening, manageable")
    assert shows(part, f"A Robin added: {LIFE_NOTE}")


def test_change_since_previous_assessment_is_raw_where_it_cannot_be_judged(main):
    part = between(main["clinician_text"], "Change since the previous assessment", "Suggested focus")
    assert shows(part, "Connection and distance: change cannot be judged reliable here (each row says why).")
    affection = between(part, "Affection and physical closeness", "Shared time and rituals")
    assert shows(
        affection,
        "Connection and distance: Intake → Week 6 A 2.00 → 4.00 · B 4.00 → 4.00 · gap 2.00 → 0.00 "
        "This questionnaire has no published SD and reliability, so change cannot yet be judged reliable.",
    )
    # Nothing is invented: no RCI, no verdict.
    for word in ("RCI", "improved", "narrowed", "noreliablechange", "provisional"):
        assert word not in part, word
    # Rituals were not answered at intake: the reason is said once for both partners and the gap.
    rituals = part.split(flat("Shared time and rituals"), 1)[1]
    assert shows(rituals, "A — → 2.00 · B — → 2.00")
    assert rituals.count(flat("One of the two scores has not enough answers, so change cannot be judged.")) == 1
    # Areas nobody scored at either assessment are left out.
    assert flat("Feeling heard") not in part


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
    text = text_of(pdf.render_pdf(context_for(couple, "clinician")))
    part = between(text, "Change since the previous assessment", "Suggested focus")
    # Pursuing (not answered at either assessment) is left out of the report.
    assert shows(
        part,
        "Tiny test instrument: reliable change judged for Feeling heard, Overall; not for Warmth (each row says why).",
    )
    assert flat("Pursuing") not in part
    heard = between(part, "Feeling heard Tiny", "Warmth Tiny")
    assert shows(heard, "4.33 → 4.33 +0.00 (RCI 0.00): no reliable change")
    assert shows(heard, "3.33 → 4.33 +1.00 (RCI 2.61): improved")
    assert shows(heard, "1.00 → 0.00 (RCI -1.84): no reliable change")
    warmth = between(part, "Warmth Tiny", "Overall")
    assert shows(
        warmth,
        "A 1.50 → 4.00 · B 3.00 → 4.00 · gap 1.50 → 0.00 "
        "This questionnaire has no published SD and reliability, so change cannot yet be judged reliable.",
    )
    overall = part.split(flat("Overall Tiny"), 1)[1]
    assert shows(overall, "3.20 → 4.20 +1.00 (RCI 4.47): improved 3.20 → 4.20 +1.00 (RCI 4.47): improved")
    assert shows(overall, "0.00 → 0.00 (RCI 0.00): no reliable change")


@pytest.mark.usefixtures("tiny")
def test_tiny_report_side_by_side_with_a_sum_and_two_scales(db, make_practice, make_couple, make_assessment, answer_as):
    # A sum on its own axis used to fail the whole report (the chart took the first measure's axis).
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["tiny"])
    answer_as(tokens[1], {"tiny": TINY_A})
    answer_as(tokens[2], {"tiny": TINY_B})
    ctx = context_for(couple, "clinician")
    (chart,) = [inst["chart"] for inst in ctx["instruments"]]
    assert chart.count("<svg") == 2 and "Scores from 0 to 9. Pursuing: Robin 8.00, Sasha 3.00." in chart
    text = text_of(pdf.render_pdf(ctx))
    # A sum among averages: the table's caption does not call every score an average.
    assert shows(text, "Tiny test instrument: scores") and "(averages)" not in text
    # tests/instruments/test_compare.py: heard 4.33 / 3.33, warmth 1.50 / 3.00, pulling 8 / 3 (a prorated sum).
    assert shows(text, "Feeling heard 4.33 Strong 3.33 Mixed -1.00 33% shared strengths")
    assert shows(text, "Warmth 1.50 Low 3.00 Good 1.50 0% shared strengths")
    assert shows(text, "Pursuing (higher = more of the pattern) 8.00 High 3.00 Some -5.00 0% shared strengths")
    assert shows(text, "Overall 3.20 Steady 3.20 Steady 0.00 20% shared strengths")
    # The urgent flag of A's pull_3 = 3, and the shared items with both answers in words.
    assert shows(text, "“I feel afraid of how my partner reacts.” Answer: Almost always")
    assert shows(text, "“We hug most days.” A Disagree · B Strongly disagree")
    assert shows(text, "“I feel ignored when I talk.” A Disagree · B Strongly disagree")


def test_change_that_cannot_be_judged_says_why(db, make_practice, make_couple, make_assessment, answer_as):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    for occasion in ("Intake", "Week 4"):
        _, tokens = make_assessment(couple, instruments=["checkin"], occasion=occasion)
        answer_as(tokens[1], {"checkin": CHECKIN_A})
        answer_as(tokens[2], {"checkin": CHECKIN_B})
    text = text_of(pdf.render_pdf(context_for(couple, "clinician")))
    part = between(text, "Change since the previous assessment", "Suggested focus")
    assert shows(
        part,
        "How things feel overall Relationship check-in: Intake → Week 4 A 4.00 → 4.00 · B 2.25 → 2.25 · gap 1.75 → 1.75 "
        "This questionnaire has no published SD and reliability, so change cannot yet be judged reliable.",
    )


def test_suggested_focus_groups_concern_prompts_by_theme_once_each_plus_prep_notes(main):
    focus = main["clinician_ctx"]["focus"]
    # "What helps" order; only the check-in (B Struggling) and rituals (both Strained) are in a concern band.
    assert [g["theme"] for g in focus] == [
        "Agreed boundaries and expectations",
        "Small daily connection",
        "Care for stress and health",
        "Curiosity about each other",
    ]
    texts = [p["text"] for g in focus for p in g["prompts"]]
    assert len(texts) == len(set(texts)) == 6
    part = main["clinician_text"].split(flat("Suggested focus for the session"), 1)[1]
    assert shows(part, "Agreed boundaries and expectations " + RITUALS_PROMPTS[1])
    assert shows(part, CHECKIN_PROMPT)
    for prompt in RITUALS_PROMPTS:
        assert shows(part, prompt)
    assert shows(part, "From: Connection and distance, Shared time and rituals: A and B")
    assert shows(part, "From: Relationship check-in, How things feel overall: B")
    assert shows(part, "Your preparation notes Ask about the move. Check in on sleep.")


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
    text = text_of(pdf.render_pdf(context_for(couple, "clinician", appendix=True)))
    assert shows(text, "Assessments No assessments yet.")
    assert shows(text, "A Robin Has not completed a safety check.")
    assert shows(text, "No area sits in a concern band for either partner.")
    make_assessment(couple, instruments=["checkin"])
    text = text_of(pdf.render_pdf(context_for(couple, "clinician")))
    assert shows(text, "Intake sent")
    assert text.count(flat("not submitted")) == 2
    summary = text_of(pdf.render_pdf(context_for(couple, "summary")))
    assert shows(summary, "Your therapist will talk with you about the strengths you bring.")
    assert shows(summary, "Your therapist will talk with you about what to focus on next.")


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


def test_summary_shows_shared_strengths_as_worded_and_shared_themes_with_ideas(main):
    text = main["summary_text"]
    assert shows(text, "For Robin and Sasha From Dr Alex Morgan, LMFT")
    strengths = between(text, "What you share", "Themes to work on together")
    for item in (
        "We often hug, kiss or hold hands in passing.",
        "I feel wanted by my partner.",
        "I feel at ease asking my partner for a hug.",
    ):
        assert shows(strengths, f"“{item}”")
    themes = text.split(flat("Themes to work on together"), 1)[1]
    for label, prompt in zip(
        ("Agreed boundaries and expectations", "Small daily connection", "Curiosity about each other"),
        (RITUALS_PROMPTS[1], RITUALS_PROMPTS[0], RITUALS_PROMPTS[2]),
        strict=True,
    ):
        assert shows(themes, f"{label} {prompt}")


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
        "strengths",
        "themes",
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
    summary = pdf.render_pdf(context_for(couple, "summary"))

    # Each render asks for the stylesheet and the fonts, and for nothing else.
    assert recording.asked.count("tandem-report:/static/reports/report.css") == 2
    assert set(recording.asked) == BUNDLED
    text = text_of(clinician)
    for value in HOSTILE.values():
        assert shows(text, value), value
    assert shows(text, f"Session-prep report: {HOSTILE['img_file']}")
    assert shows(text, f"Review note: {HOSTILE['link']}")
    assert shows(text, f"{HOSTILE['link']} added: {HOSTILE['img_http']}")
    assert shows(text_of(summary), f"For {HOSTILE['link']} and {HOSTILE['img_http']}")
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

    ctx = context_for(couple, "clinician")
    if sqlite:
        assert len(ctx["couple"]) == 60 and ctx["couple"].endswith("…")
    assert len(ctx["prep_notes"]) == couples.PREP_NOTES_LIMIT
    text = text_of(pdf.render_pdf(ctx))
    if sqlite:
        assert shows(text, "Session-prep report: <b>x</b><b>x</b>")
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
