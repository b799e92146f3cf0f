"""The couple view: the session brief first (safety, where things stand, talking points), then
each questionnaire in detail, life right now and change over time.

Answers are built by hand; the expected numbers are worked out in the comments.
"""

import html as html_lib
import re
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.models import Assessment, SafetyReview
from clinic.services import invitations
from tests.conftest import login
from tests.tiny_catalog import HEARD_HIGH, TINY_A, TINY_B, tiny, tiny_over_time  # noqa: F401 -- tiny is a fixture


def text_of(html: str) -> str:
    """The page as a reader sees it: tags dropped, entities read, whitespace collapsed."""
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", html))
    return re.sub(r"\s+", " ", text).replace(" ,", ",").replace(" :", ":").strip()


def six_weeks_back(db, assessment) -> None:
    """Move an assessment six weeks into the past, so the next one reads as a later occasion."""
    db.session.execute(
        sa.update(Assessment)
        .where(Assessment.id == assessment.id)
        .values(created_at=assessment.created_at - timedelta(days=42))
    )
    db.session.commit()


def row(html: str, label: str) -> str:
    """The text of the first table row whose header is `label`."""
    for match in re.finditer(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = text_of(match.group(1))
        if cells.startswith(label):
            return cells
    raise AssertionError(f"no row {label!r}")


def safety_panel(html: str) -> str:
    """The brief's safety part as read: from its heading to the brief's next heading."""
    return text_of(html.split('id="safety">')[1].split('<h3 class="brief-h"')[0].split("</section>")[0])


def details(html: str) -> str:
    """The markup of the details of the shown assessment (every questionnaire)."""
    return html.split('id="details"')[1].split("</section>")[0]


def instrument_part(html: str, instrument_id: str) -> str:
    """The markup of one questionnaire's <details> in the shown assessment."""
    return html.split(f'id="inst-{instrument_id}"')[1].split('<details class="card instrument-result"')[0]


def over_time(html: str) -> str:
    """The markup of "Over time"."""
    return html.split('id="over-time"')[1]


def trend_part(html: str, instrument_id: str) -> str:
    """The markup of one instrument's section in "Over time"."""
    return html.split(f'id="trend-{instrument_id}"')[1].split("</section>")[0]


def chart_titles(html: str) -> list[str]:
    return re.findall(r'<title id="[^"]+">([^<]*)</title>', html)


def chart_descs(html: str) -> list[str]:
    return [html_lib.unescape(d) for d in re.findall(r'<desc id="[^"]+">([^<]*)</desc>', html)]


# Check-in, 1-5 agreement, midpoint 3, mean, bands: <2.5 Struggling (concern), <3.5 Mixed, else Good.
CHECKIN_A = {"satisfied": 4, "close": 4, "hopeful": 5, "together": 3}  # mean 16/4 = 4.00 -> Good
CHECKIN_B = {"satisfied": 2, "close": 2, "hopeful": 3, "together": 2}  # mean 9/4 = 2.25 -> Struggling (concern)
# Difference b - a = 2.25 - 4.00 = -1.75: "Robin higher by 1.75". Items (A side / B side): satisfied
# health/concern -> split, close split, hopeful health/midpoint -> unsure, together midpoint/concern -> unsure:
# agreement "2 split · 2 unsure" (no statement both see positively or both as a concern: zeros left out).
# Gaps 2, 2, 2, 1: three reach the "worth discussing" gap of 2.
CHECKIN_ROW = "How things feel overall 4.00 Good 2.25 ▲ Struggling · concern Robin higher by 1.75 2 split · 2 unsure"


@pytest.fixture
def setup(make_practice, make_couple, make_assessment):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    return owner, couple


def test_side_by_side_scores_bands_difference_and_agreement(client, setup, make_assessment, answer_as):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)

    # The questionnaire is an open <details>: one click folds it, nothing is hidden at first.
    assert '<details class="card instrument-result" id="inst-checkin" open>' in html
    part = instrument_part(html, "checkin")
    assert row(part, "Area") == "Area A Robin B Sasha Difference Agreement (statements)"
    assert row(part, "How things feel overall") == CHECKIN_ROW
    # Agreement is counted in statements, never a percentage.
    assert "% shared" not in text_of(html)
    talk = text_of(part.split('class="talk talk-more">')[1])
    assert talk.startswith("Statements: 3 large gaps, 0 shared concerns, 0 shared strengths Worth talking about:")
    assert "“Overall, I am happy with our relationship.” A Robin: Agree · B Sasha: Disagree" in talk
    # "together" (gap 1) is not among the large gaps.
    assert "“I believe we can get through hard times together.”" not in talk.split("Shared concerns")[0]
    assert "No shared concerns." in talk and "No shared strengths yet." in talk
    # The chart is drawn server-side, with a text table beside it for screen readers.
    assert "<svg" in part and "<caption>Relationship check-in: scores (averages)</caption>" in part
    # The brief raises the gap in words, with both partners' answers.
    brief = text_of(html.split('id="brief"')[1].split('id="details"')[0])
    assert (
        "Seen differently: How things feel overall Satisfaction, closeness and hope about the relationship right "
        "now. A Robin: Good (4.00) B Sasha: Struggling (2.25) Robin higher by 1.75."
    ) in brief


# Connection and distance, affection subscale: items 1, 2, 4 keyed as given, 3 and 5 reversed (6 - x).
# No psychometrics (Tandem's own check-in has no validation study): change is judged only against
# a raw step, a tenth of the 1-5 range = 0.40, and never called reliable.
AFFECTION_LOW = {"affection_1": 2, "affection_2": 2, "affection_3": 4, "affection_4": 2, "affection_5": 4}  # 2.00
AFFECTION_HIGH = {"affection_1": 4, "affection_2": 4, "affection_3": 2, "affection_4": 4, "affection_5": 2}  # 4.00
# A: 2.00 -> 4.00, +2.00 >= 0.40: better; B: 4.00 -> 4.00: no clear change; gap |b - a|: 2.00 -> 0.00: closer.
CANNOT_JUDGE = "cannot yet be judged reliable"
RAW_BASIS = (
    "Reliable change needs 50 partners' first answers in this practice; none so far: 50 more. "
    "Until then change cannot yet be judged reliable: “better” and “worse” mean a raw change of at least 0.40."
)


def test_change_over_time_on_a_check_in_without_psychometrics_is_raw_and_never_judged(
    client, setup, make_assessment, answer_as, db
):
    owner, couple = setup
    first, tokens = make_assessment(couple, instruments=["connection"], occasion="Intake")
    answer_as(tokens[1], {"connection": AFFECTION_LOW})
    answer_as(tokens[2], {"connection": AFFECTION_HIGH})
    six_weeks_back(db, first)
    _, tokens = make_assessment(couple, instruments=["connection"], occasion="Week 6")
    answer_as(tokens[1], {"connection": AFFECTION_HIGH})
    answer_as(tokens[2], {"connection": AFFECTION_HIGH})

    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    # Week 6: every affection statement keyed 4 for both -> 5 both positive.
    assert (
        row(details(html), "Affection")
        == "Affection and physical closeness 4.00 Strong 4.00 Strong the same score 5 both positive"
    )

    # "Over time" is closed, one click away; one section for the instrument.
    assert '<details class="card" id="over-time">' in html
    section = trend_part(html, "connection")
    assert text_of(section.split("</h3>")[0]).endswith("Connection and distance: Intake → Week 6")
    # The instrument says once why its change is not judged reliable, not on every row.
    assert text_of(section.split('class="basis">')[1].split("</p>")[0]) == RAW_BASIS
    assert text_of(over_time(html)).count(CANNOT_JUDGE) == 1
    # One small-multiples chart for the instrument (wide and compact), not one chart per measure.
    assert chart_titles(section) == ["Connection and distance over time"] * 2
    assert (
        "Affection and physical closeness (from 1 to 5): Intake: Robin 2.00, Sasha 4.00; Week 6: Robin 4.00, Sasha 4.00."
    ) in chart_descs(section)[0]
    # One change table, first -> latest.
    assert row(section, "Area") == "Area A Robin B Sasha Gap between them"
    assert row(section, "Affection") == (
        "Affection and physical closeness 2.00 → 4.00 better 4.00 → 4.00 no clear change 2.00 → 0.00 closer"
    )
    # No reliable-change index, reliability verdict or "provisional" anywhere: nothing is invented.
    for word in ("RCI", "improved", "narrowed", "no reliable change", "provisional"):
        assert word not in text_of(over_time(html)), word
    # A subscale nobody answered cannot be judged: "not enough answers", never a guess.
    assert row(section, "Feeling heard") == "Feeling heard not enough answers not enough answers not enough answers"
    # The brief raises the change since last time, with the basis it is judged on.
    assert (
        "Since Intake: Affection and physical closeness Casual touch, hugs and physical closeness, and whether this "
        "partner feels wanted. A Robin: Strained (2.00) → Strong (4.00): better B Sasha: Strong (4.00) → Strong "
        "(4.00): no clear change The gap between them went from 2.00 to 0.00 (closer). A raw change: reliable "
        "change needs 50 partners' first answers in this practice; none so far: 50 more (“better” and “worse” mean a "
        "change of at least 0.40)."
    ) in text_of(html.split('id="brief"')[1].split('id="details"')[0])


def test_instrument_without_psychometrics_says_change_cannot_be_judged(client, setup, make_assessment, answer_as):
    owner, couple = setup
    for occasion in ("Intake", "Week 4"):
        _, tokens = make_assessment(couple, instruments=["checkin"], occasion=occasion)
        answer_as(tokens[1], {"checkin": CHECKIN_A})
        answer_as(tokens[2], {"checkin": CHECKIN_B})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert text_of(over_time(html)).count("change cannot yet be judged reliable") == 1
    # Same answers twice: 4.00 -> 4.00, 2.25 -> 2.25, gap 1.75 -> 1.75, no clear change anywhere.
    assert row(trend_part(html, "checkin"), "How things feel overall") == (
        "How things feel overall 4.00 → 4.00 no clear change 2.25 → 2.25 no clear change 1.75 → 1.75 no clear change"
    )


NEVER = dict.fromkeys(
    ("afraid", "controlled", "watched", "threatened", "physical_harm", "forced_sex", "harm_partner"), 1
)


def test_safety_flag_is_in_the_brief_and_review_is_recorded(client, setup, make_assessment, answer_as, db):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    answer_as(tokens[1], {"safety": {**NEVER, "self_harm": 2}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"safety": {**NEVER, "self_harm": 1}, "checkin": CHECKIN_B})
    browser = login(client, owner)
    html = browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    # Safety comes first in the brief (is anyone unsafe?), before where things stand, the talking
    # points and every detail (tests/test_brief.py holds the brief's whole order).
    assert html.index('id="safety"') < html.index("Where things stand") < html.index('class="points"')
    assert html.index('id="safety"') < html.index('id="details"')
    # Robin's "Once or twice" (2) raises the urgent self-harm flag; Sasha's "Never" raises nothing.
    assert safety_panel(html) == (
        "Safety 1 safety flag to review. Only you see this. Raise it with each partner on their own, never in a "
        "joint session. A Robin · Intake · Urgent “I have had thoughts of hurting myself or ending my life.” "
        "Answer: Once or twice Mark reviewed Note (optional) Mark reviewed"
    )

    invitation_id = re.search(rf"/couples/{couple.id}/safety/(\d+)/safety/self_harm", html).group(1)
    url = f"/couples/{couple.id}/safety/{invitation_id}/safety/self_harm"
    assert browser.post_form(url, {"note": "Called Robin; safety plan in place."}).status_code == 302
    review = db.session.scalar(sa.select(SafetyReview))
    assert (review.note, review.reviewed_by_id) == ("Called Robin; safety plan in place.", owner.id)
    # Reviewed: one calm line, and the reviewed flag one click away with who reviewed it, when, and the note.
    panel = safety_panel(browser.get(f"/couples/{couple.id}").get_data(as_text=True))
    assert panel == (
        "Safety Every safety flag has been reviewed. 1 reviewed flag A Robin · Intake · Urgent “I have had "
        "thoughts of hurting myself or ending my life.” Answer: Once or twice "
        f"✓ Reviewed by {owner.name}, {review.reviewed_at:%-d %b %Y, %H:%M %Z}: Called Robin; safety plan in place. "
        "Edit the review note Note (optional) Called Robin; safety plan in place. Save note"
    )

    # Only real flags can be reviewed.
    assert (
        browser.post_form(f"/couples/{couple.id}/safety/{invitation_id}/safety/afraid", {"note": ""}).status_code == 404
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SafetyReview)) == 1


def test_no_flag_is_one_calm_line(client, setup, make_assessment, answer_as):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    answer_as(tokens[1], {"safety": {**NEVER, "self_harm": 1}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"safety": {**NEVER, "self_harm": 1}, "checkin": CHECKIN_B})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert safety_panel(html) == "Safety No safety flags in this assessment."


def test_a_partner_who_skipped_the_safety_check_is_named(client, setup, make_assessment, answer_as):
    """Submitting with unanswered questions is allowed: a skipped safety check is not a clear one."""
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    answer_as(tokens[1], {"safety": {**NEVER, "self_harm": 1}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})  # sent, without a single safety answer
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    panel = safety_panel(html)
    assert "Sasha has not answered the safety check in this assessment." in panel
    assert "Robin has not answered" not in panel


def test_partial_data_shows_one_partner_and_never_in_progress_answers(client, setup, make_assessment, answer_as):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["checkin"])
    sent = answer_as(tokens[1], {"checkin": CHECKIN_A}).submitted_at
    answer_as(tokens[2], {"checkin": CHECKIN_B}, submit=False)  # saved, not submitted
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    # Only Robin's column: no empty column, difference or agreement for Sasha.
    assert row(details(html), "Area") == "Area A Robin"
    assert row(details(html), "How things feel overall") == "How things feel overall 4.00 Good"
    assert text_of(html.split('class="card notice partial-notice">')[1].split("</p>")[0]) == (
        f"Robin sent this assessment {sent:%-d %b %Y, %H:%M %Z}. Sasha has not sent it yet: only Robin's answers are "
        "shown, and the comparison waits for both."
    )
    page = text_of(html)
    assert "Waiting for B Sasha since" in page and ": started, not sent yet." in page
    # B's in-progress answers and score appear nowhere.
    for word in ("Disagree", "2.25", "Struggling"):
        assert word not in page, word


def test_life_context_side_by_side(client, setup, make_assessment, answer_as):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["life_context"])
    answer_as(tokens[1], {"life_context": {"work": 3, "new_child": 3, "anything_else": "My mother is ill."}})
    answer_as(tokens[2], {"life_context": {"work": 2, "new_child": 3}})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert row(html, "Pressure at work") == (
        "Pressure at work, or long working hours Happening, weighing on me Happening, manageable"
    )
    assert (
        row(html, "A new baby") == "A new baby or child in our home Happening, weighing on me Happening, weighing on me"
    )
    assert "A Robin added: My mother is ill." in text_of(html)
    # "Life right now" is closed, one click away; the brief raises the stress.
    assert '<details class="card" id="context">' in html
    assert "Outside stress" in text_of(html.split('id="brief"')[1].split('id="details"')[0])


def test_prep_notes_are_saved_with_the_couple(client, setup, db):
    owner, couple = setup
    browser = login(client, owner)
    assert browser.post_form(f"/couples/{couple.id}/notes", {"notes": "Ask about the move."}).status_code == 302
    assert "Ask about the move." in browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    response = browser.post_form(f"/couples/{couple.id}/notes", {"notes": "x" * 20_001}, follow_redirects=True)
    assert "could not be saved" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(couple), couple.id).prep_notes == "Ask about the move."


@pytest.mark.parametrize("extra_assessments", [0, 3])
def test_couple_view_query_count_is_fixed(extra_assessments, client, setup, make_assessment, answer_as, count_queries):
    owner, couple = setup
    for _ in range(extra_assessments):
        _, tokens = make_assessment(couple, instruments=["connection", "checkin", "life_context"])
        answer_as(tokens[1], {"connection": AFFECTION_LOW, "checkin": CHECKIN_A})
        answer_as(tokens[2], {"connection": AFFECTION_HIGH, "checkin": CHECKIN_B})
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    answer_as(tokens[1], {"safety": {"afraid": 2}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    browser = login(client, owner)
    with count_queries() as counted:
        assert browser.get(f"/couples/{couple.id}").status_code == 200
    # user, couple with its therapist, assessments, invitations, partners, answers, reviews,
    # and the audit row for viewing results: the chain's keyed head read (locked on PostgreSQL,
    # which keeps the chain in order), the insert, and the head moved on (the keyed head
    # record of commit 620846b added that update and replaced PostgreSQL's advisory lock), and
    # the practice's reliability estimates (read once, for judging change over time).
    # One more since check-ins can be scheduled: the schedule, sessions sent and check-in scores, one read.
    assert len(counted) == 11 + 1, "\n".join(counted)


COUPLE_VIEW_URLS = [
    ("get", "/couples/{couple}"),
    ("get", "/couples/{couple}?assessment={assessment}"),
    ("post", "/couples/{couple}/notes"),
    ("post", "/couples/{couple}/safety/{invitation}/safety/self_harm"),
]


@pytest.mark.parametrize(("method", "url"), COUPLE_VIEW_URLS)
def test_couple_view_is_404_for_other_practice_other_clinician_and_partner_sessions(
    method, url, make_client, make_practice, make_clinician, make_couple, make_assessment, answer_as, db
):
    owner = make_practice()
    couple = make_couple(make_clinician(owner))
    assessment, tokens = make_assessment(couple, instruments=["safety"])
    invitation = answer_as(tokens[1], {"safety": {"self_harm": 3}})
    answer_as(tokens[2], {"safety": {"self_harm": 1}})
    target = url.format(couple=couple.id, assessment=assessment.id, invitation=invitation.id)

    outsiders = [login(make_client(), make_practice()), login(make_client(), make_clinician(owner))]
    for token in tokens.values():  # each partner's own browser, holding a partner session
        partner = make_client()
        assert partner.get(f"/l/{token}").status_code == 302
        outsiders.append(partner)
    for browser in outsiders:
        response = browser.get(target) if method == "get" else browser.post_form(target, {"note": "x", "notes": "x"})
        assert response.status_code == 404, target
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SafetyReview)) == 0
    db.session.expire_all()
    assert db.session.get(type(couple), couple.id).prep_notes == ""


def test_unknown_assessment_in_the_picker_is_404(client, setup, make_assessment, make_couple, db):
    owner, couple = setup
    other = make_couple(owner)
    foreign, _ = make_assessment(other, instruments=["checkin"])
    assert login(client, owner).get(f"/couples/{couple.id}?assessment={foreign.id}").status_code == 404


# --- agreement in statements, differences in words ------------------------------------------------
# Connection and distance, Feeling heard: heard_1, 2, 4 keyed as given, heard_3 and 5 reversed (6 - x);
# midpoint 3. Withdrawal and numbness is a concern area: keyed above 3 is the concern side.
AGREEMENT_A = {
    "heard_1": 5, "heard_2": 4, "heard_3": 2, "heard_4": 2, "heard_5": 3,  # keyed 5 4 4 2 3 = 18 / 5 = 3.60 Strong
    **dict.fromkeys(("affection_1", "affection_2", "affection_3", "affection_4", "affection_5"), 3),  # 3.00 Mixed
    "withdrawal_1": 4, "withdrawal_2": 4, "withdrawal_3": 4, "withdrawal_4": 2, "withdrawal_5": 2,  # keyed 4s: 4.00
}  # fmt: skip
AGREEMENT_B = {
    "heard_1": 4, "heard_2": 2, "heard_3": 1, "heard_4": 1, "heard_5": 4,  # keyed 4 2 5 1 2 = 14 / 5 = 2.80 Mixed
    **dict.fromkeys(("affection_1", "affection_2", "affection_3", "affection_4", "affection_5"), 3),  # 3.00 Mixed
    "withdrawal_1": 4, "withdrawal_2": 4, "withdrawal_3": 4, "withdrawal_4": 2, "withdrawal_5": 2,  # 4.00 High
}  # fmt: skip
# heard: heard_1 (5 / 4) both positive, heard_2 (4 / 2) split, heard_3 (keyed 4 / 5) both positive,
# heard_4 (2 / 1) both a concern, heard_5 (keyed 3 / 2: A at the midpoint) unsure.
# b - a = 2.80 - 3.60 = -0.80 (unrounded 2.8 - 3.6 = -0.7999999999999998): "Robin higher by 0.80".
# affection: every answer at the midpoint: 5 unsure, 3.00 and 3.00: "the same score".
# withdrawal: all keyed 4 for both, the concern side: 5 both a concern, 4.00 High (a concern band) each.
# The other areas are unanswered: not enough answers, no difference, no agreement ("—").
# Overall connection (heard, affection, sharing, kindness, rituals: 25 statements): 10 answered < 0.75 x 25,
# not enough answers; its statements both answered are heard's and affection's: 2 / 1 / 1 / 1 + 5 unsure.


def test_agreement_is_counted_in_statements_and_differences_are_in_words(client, setup, make_assessment, answer_as):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["connection"])
    answer_as(tokens[1], {"connection": AGREEMENT_A})
    answer_as(tokens[2], {"connection": AGREEMENT_B})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    part = instrument_part(html, "connection")
    assert row(part, "Feeling heard") == (
        "Feeling heard 3.60 Strong 2.80 Mixed Robin higher by 0.80 2 both positive · 1 both a concern · 1 split · 1 unsure"
    )
    assert row(part, "Affection") == "Affection and physical closeness 3.00 Mixed 3.00 Mixed the same score 5 unsure"
    assert row(part, "Withdrawal") == (
        "Withdrawal and numbness (higher = more of the pattern) 4.00 ▲ High · concern 4.00 ▲ High · concern "
        "the same score 5 both a concern"
    )
    assert row(part, "Kindness") == "Kindness and respect not enough answers not enough answers — —"
    assert row(part, "Overall connection") == (
        "Overall connection not enough answers not enough answers — "
        "2 both positive · 1 both a concern · 1 split · 6 unsure"
    )
    # No percentage of shared strengths anywhere on the page, nor a signed "B - A" number.
    page = text_of(html)
    assert re.search(r"\d\s*%\s*shared", page) is None and "% shared strengths" not in html
    assert "Difference (B − A)" not in page and "-0.80" not in page  # noqa: RUF001 -- the old header's minus


# --- partial data -------------------------------------------------------------------------------

ALL_FOURS = {
    f"{area}_{n}": 4
    for area, count in (
        ("heard", 5), ("affection", 5), ("sharing", 5), ("withdrawal", 5), ("kindness", 5),
        ("rituals", 5), ("pursuing", 4), ("withdrawing", 4),
    )
    for n in range(1, count + 1)
}  # fmt: skip  # every statement of connection answered: every score valid


def test_partial_page_shows_who_sent_and_who_we_wait_for_without_empty_charts(
    client, setup, make_assessment, answer_as
):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["connection"])
    sent = answer_as(tokens[1], {"connection": ALL_FOURS}).submitted_at
    waiting_since = invitations.find_by_token(tokens[2]).created_at
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    page = text_of(html)
    assert (
        f"Showing Intake: Robin sent it {sent:%-d %b %Y, %H:%M %Z}; Sasha has not sent it. "
        f"Waiting for B Sasha since {waiting_since:%-d %b}: has not opened the link yet."
    ) in page
    assert text_of(html.split('class="card notice partial-notice">')[1].split("</p>")[0]) == (
        f"Robin sent this assessment {sent:%-d %b %Y, %H:%M %Z}. Sasha has not sent it yet: only Robin's answers are "
        "shown, and the comparison waits for both."
    )
    part = instrument_part(html, "connection")
    assert row(part, "Area") == "Area A Robin"
    # 15 health statements keyed 4 and 10 reversed ones keyed 6 - 4 = 2: 80 / 25 = 3.20.
    assert row(part, "Overall connection") == "Overall connection 3.20 Mixed"
    # Sasha sent nothing: no "not enough answers" for her, nine times over, in the table or the chart,
    # and the chart draws Robin alone (no key, marker or description for Sasha).
    assert "not enough answers" not in page
    svgs = re.findall(r"<svg.*?</svg>", part, re.S)
    assert len(svgs) == 2  # one chart, wide and compact: never an empty frame
    for svg in svgs:
        assert "Sasha" not in svg and "<circle" in svg


def test_partial_page_over_time_never_says_not_enough_answers_for_a_partner_who_has_not_sent(
    client, setup, make_assessment, answer_as, db
):
    owner, couple = setup
    first, tokens = make_assessment(couple, instruments=["connection"], occasion="Intake")
    answer_as(tokens[1], {"connection": ALL_FOURS})
    answer_as(tokens[2], {"connection": ALL_FOURS})
    six_weeks_back(db, first)
    _, tokens = make_assessment(couple, instruments=["connection"], occasion="Week 6")
    answer_as(tokens[1], {"connection": ALL_FOURS})  # Sasha has not sent week 6
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    section = trend_part(html, "connection")
    # The table says Sasha has no week 6 ("—"), and that the gap needs both of them.
    assert row(section, "Overall connection") == (
        "Overall connection 3.20 → 3.20 no clear change — needs both partners both times"
    )
    # Every score that was sent is valid: "not enough answers" would misread "not sent yet".
    assert "not enough answers" not in text_of(html)


@pytest.mark.parametrize("submitted", ["none", "A", "B"])
def test_partial_data_notice_names_who_submitted_and_who_is_awaited(
    submitted, client, setup, make_assessment, answer_as
):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["checkin"], occasion="Intake")
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    shown, tokens = make_assessment(couple, instruments=["checkin"], occasion="Week 4")
    sent = None
    if submitted == "A":
        sent = answer_as(tokens[1], {"checkin": CHECKIN_A}).submitted_at
    elif submitted == "B":
        sent = answer_as(tokens[2], {"checkin": CHECKIN_B}).submitted_at
    response = login(client, owner).get(f"/couples/{couple.id}?assessment={shown.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = text_of(html)
    notice = text_of(html.split('class="card notice partial-notice">')[1].split("</p>")[0])
    if submitted == "none":
        assert "Showing Week 4: Robin has not sent it; Sasha has not sent it." in page
        # Nobody has sent it: nobody is said to have sent it, no score table or chart is drawn.
        assert "Robin" in notice and "Sasha" in notice
        assert re.search(r"(Robin|Sasha) sent this assessment", notice) is None
        assert 'class="scores' not in details(html) and "<svg" not in details(html)
    elif submitted == "A":
        # The practice's zone is UTC: the time is shown as stored.
        assert notice == (
            f"Robin sent this assessment {sent:%-d %b %Y, %H:%M %Z}. Sasha has not sent it yet: only Robin's answers "
            "are shown, and the comparison waits for both."
        )
        assert row(details(html), "How things feel overall") == "How things feel overall 4.00 Good"
        assert "Waiting for B Sasha since" in page
    else:
        assert notice == (
            f"Sasha sent this assessment {sent:%-d %b %Y, %H:%M %Z}. Robin has not sent it yet: only Sasha's answers "
            "are shown, and the comparison waits for both."
        )
        assert row(details(html), "How things feel overall") == "How things feel overall 2.25 ▲ Struggling · concern"
        assert "Waiting for A Robin since" in page


def life_context_at_two_occasions(db, couple, make_assessment, answer_as):
    """Both partners answer life context at an intake six weeks ago; at week 6 only A has sent.
    Returns the two assessments (intake, week 6)."""
    first, tokens = make_assessment(couple, instruments=["life_context"], occasion="Intake")
    answer_as(tokens[1], {"life_context": {"work": 3, "money": 3, "anything_else": "Old news."}})
    answer_as(tokens[2], {"life_context": {"work": 2, "money": 3, "anything_else": "My mother is ill."}})
    six_weeks_back(db, first)
    second, tokens = make_assessment(couple, instruments=["life_context"], occasion="Week 6")
    answer_as(tokens[1], {"life_context": {"work": 1, "money": 2}})  # Sasha has not submitted week 6
    db.session.refresh(first)
    return first, second


def test_life_context_is_each_partners_latest_submitted_and_says_from_when(
    client, setup, make_assessment, answer_as, db
):
    owner, couple = setup
    first, second = life_context_at_two_occasions(db, couple, make_assessment, answer_as)
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    part = html.split('id="context">')[1].split("</details>")[0]
    # Robin's week-6 answers beside Sasha's intake answers, never "—" for Sasha.
    assert (
        row(part, "Pressure at work") == "Pressure at work, or long working hours Not happening Happening, manageable"
    )
    assert row(part, "Losing a job") == (
        "Losing a job, or worries about money Happening, manageable Happening, weighing on me"
    )
    assert text_of(part.split("</h2>")[0]) == "Life right now"  # no single occasion: they differ
    assert text_of(part.split('class="muted context-from">')[1].split("</p>")[0]) == (
        f"Each partner's latest answers: A Robin: Week 6, sent {second.created_at:%-d %b %Y}; "
        f"B Sasha: Intake, sent {first.created_at:%-d %b %Y}."
    )
    # Each partner's own latest note: Robin wrote none at week 6, so Robin's intake note is not shown as current.
    assert "B Sasha added: My mother is ill." in text_of(part)
    assert "Old news." not in text_of(html)


def test_a_chart_that_cannot_be_drawn_is_left_out_and_the_page_still_shows(
    client, setup, make_assessment, answer_as, monkeypatch
):
    from clinic import charts

    def broken(*args, **kwargs):
        raise ValueError("score 9.0 is outside the axis 1.0 to 5.0")

    monkeypatch.setattr(charts, "dumbbell", broken)
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    never = dict.fromkeys(("afraid", "controlled", "watched", "threatened", "physical_harm", "forced_sex"), 1)
    answer_as(tokens[1], {"safety": {**never, "self_harm": 2, "harm_partner": 1}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    response = login(client, owner).get(f"/couples/{couple.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 safety flag to review." in safety_panel(html)  # the safety panel is never lost to a chart
    assert "<svg" not in details(html)
    assert row(details(html), "How things feel overall") == CHECKIN_ROW


def test_an_over_time_chart_that_cannot_be_drawn_is_left_out_and_the_table_still_shows(
    client, setup, make_assessment, answer_as, monkeypatch
):
    from clinic import charts

    def broken(*args, **kwargs):
        raise ValueError("score 9.0 is outside the axis 1.0 to 5.0")

    monkeypatch.setattr(charts, "small_multiples", broken)
    owner, couple = setup
    for occasion in ("Intake", "Week 4"):
        _, tokens = make_assessment(couple, instruments=["checkin"], occasion=occasion)
        answer_as(tokens[1], {"checkin": CHECKIN_A})
        answer_as(tokens[2], {"checkin": CHECKIN_B})
    response = login(client, owner).get(f"/couples/{couple.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    section = trend_part(html, "checkin")
    assert "<svg" not in section and "<figure" not in section
    assert row(section, "How things feel overall").startswith("How things feel overall 4.00 → 4.00 no clear change")
    assert "<svg" in details(html)  # the comparison chart is unaffected


# --- the engine's tiny instrument, seen through the couple view -----------------------------------
# tests/tiny_catalog.py loads tests/instruments/fixtures/tiny-v1.yaml into the app: two scales
# (1-5 agreement, 0-3 frequency), means and a sum, psychometrics on "heard" and the total only.
# TINY_A and TINY_B are test_compare.py's A and B; the numbers below are that file's.


def talk_text(html: str) -> str:
    """The statement lists of the shown instrument (after their summary line), as read."""
    return text_of(html.split('class="talk talk-more">')[1].split("</summary>")[1].split("</details>")[0])


@pytest.mark.usefixtures("tiny")
def test_tiny_side_by_side_with_two_scales_and_a_sum_draws_one_chart_per_axis(
    client, setup, make_assessment, answer_as
):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["tiny"])
    answer_as(tokens[1], {"tiny": TINY_A})
    answer_as(tokens[2], {"tiny": TINY_B})
    response = login(client, owner).get(f"/couples/{couple.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)

    # A pull_3 = 3 ("Almost always") raises tiny's urgent safety flag, in the brief's safety part.
    assert html.index('id="safety"') < html.index('id="details"')
    panel = safety_panel(html)
    assert panel.startswith("Safety 1 safety flag to review.") and "A Robin · Intake · Urgent" in panel
    assert "“I feel afraid of how my partner reacts.” Answer: Almost always" in panel
    assert "Sasha" not in panel

    # heard: A (4 + 4 + 5) / 3 = 4.33 Strong, B (2 + 5 + 3) / 3 = 3.33 Mixed, b - a = -1.00: Robin higher;
    #   heard_1 split, heard_2 both positive, heard_3 unsure (B at the midpoint).
    # warmth: A (2 + 1) / 2 = 1.50 Low (concern), B (1 + 5) / 2 = 3.00 Good, +1.50: Sasha higher;
    #   warm_1 both a concern, warm_2 split.
    # pulling (a sum of three 0-3 items, 0 to 9): A 2 + 3 + 3 = 8 High (concern); B 2 of 3 answered,
    #   mean 1.0 x 3 = 3 Some; -5.00: Robin higher; pull_1 split, pull_2 both a concern (pull_3 B skipped).
    # total (heard and warmth's 5 statements): A 16 / 5 = 3.20, B 16 / 5 = 3.20, both Steady:
    #   1 both positive, 1 both a concern, 2 split, 1 unsure.
    part = instrument_part(html, "tiny")
    assert row(part, "Feeling heard") == (
        "Feeling heard (an average) 4.33 Strong 3.33 Mixed Robin higher by 1.00 1 both positive · 1 split · 1 unsure"
    )
    assert row(part, "Warmth") == (
        "Warmth (an average) 1.50 ▲ Low · concern 3.00 Good Sasha higher by 1.50 1 both a concern · 1 split"
    )
    assert row(part, "Pursuing") == (
        "Pursuing (a sum from 0 to 9; higher = more of the pattern) 8.00 ▲ High · concern 3.00 Some "
        "Robin higher by 5.00 1 both a concern · 1 split"
    )
    assert row(part, "Overall") == (
        "Overall (an average) 3.20 Steady 3.20 Steady the same score 1 both positive · 1 both a concern · 2 split · "
        "1 unsure"
    )
    assert "<caption>Tiny test instrument: scores</caption>" in html  # not "(averages)": one is a sum

    # One chart per axis (1-5 means, 0-9 sum), each drawn wide and compact; the sum on its own axis.
    assert chart_titles(html) == [
        "Tiny test instrument: Feeling heard, Warmth, Overall",
        "Tiny test instrument: Pursuing",
        "Tiny test instrument: Feeling heard, Warmth, Overall",
        "Tiny test instrument: Pursuing",
    ]
    descs = chart_descs(html)
    assert descs[1] == "Scores from 0 to 9. Pursuing: Robin 8.00, Sasha 3.00."
    assert descs[0] == (
        "Scores from 1 to 5. Feeling heard: Robin 4.33, Sasha 3.33. Warmth: Robin 1.50, Sasha 3.00. "
        "Overall: Robin 3.20, Sasha 3.20."
    )
    assert html.count('data-layout="wide"') == 2 and html.count('data-layout="compact"') == 2

    # Gaps of 2 or more, largest first (warm_2: 5 vs 1; then file order); shared concerns
    # firmest first: warm_1 (|2 - 3| + |1 - 3| = 3) before pull_2 (|0 - 1.5| + |1 - 1.5| = 2).
    # heard_2 ("I feel ignored when I talk.", both disagree) is a shared strength by its keyed
    # answers, but its own wording states a problem: it is not listed as a strength.
    assert text_of(part.split('class="talk talk-more">')[1].split("</summary>")[0]) == (
        "Statements: 4 large gaps, 2 shared concerns, 0 shared strengths"
    )
    assert talk_text(html) == (
        "Worth talking about: the largest gaps "
        "“We feel like roommates.” A Robin: Strongly agree · B Sasha: Strongly disagree "
        "“My partner listens to me.” A Robin: Agree · B Sasha: Disagree "
        "“My partner gets what I mean.” A Robin: Strongly agree · B Sasha: Neither agree nor disagree "
        "“I chase my partner to talk.” A Robin: Often · B Sasha: Never "
        "Shared concerns "
        "“We hug most days.” A Robin: Disagree · B Sasha: Strongly disagree "
        "“I give my partner room.” A Robin: Never · B Sasha: Sometimes "
        "Shared strengths No shared strengths yet."
    )


@pytest.mark.usefixtures("tiny")
def test_shared_items_are_listed_firmest_first_not_in_file_order(client, setup, make_assessment, answer_as):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["tiny"])
    same = {"heard_1": 4, "heard_3": 5, "warm_1": 2, "pull_1": 3}
    answer_as(tokens[1], {"tiny": same})
    answer_as(tokens[2], {"tiny": same})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    # Strengths: heard_3 (5 and 5: 2 + 2 = 4 from the midpoint 3) before heard_1 (4 and 4: 1 + 1 = 2).
    # Concerns: pull_1 (3 and 3: 1.5 + 1.5 = 3 from the midpoint 1.5) before warm_1 (2 and 2: 1 + 1 = 2).
    assert talk_text(html) == (
        "Worth talking about: the largest gaps No statement shows a large gap. "
        "Shared concerns "
        "“I chase my partner to talk.” A Robin: Almost always · B Sasha: Almost always "
        "“We hug most days.” A Robin: Disagree · B Sasha: Disagree "
        "Shared strengths "
        "“My partner gets what I mean.” A Robin: Strongly agree · B Sasha: Strongly agree "
        "“My partner listens to me.” A Robin: Agree · B Sasha: Agree"
    )


# Two tiny assessments: the worked example in tests/tiny_catalog.py (tiny_over_time).
TINY_BASIS_JUDGED = (
    "Reliability from the questionnaire's published figures (Feeling heard α = 0.85, SD = 0.70; Overall α = 0.90, "
    "SD = 0.50). For Feeling heard, Overall, “better” and “worse” are changes larger than the measurement error "
    "(reliable change, Jacobson & Truax, 95%). "
)


@pytest.mark.usefixtures("tiny")
def test_tiny_change_over_time_judges_reliable_change_only_where_there_are_psychometrics(
    client, setup, make_assessment, answer_as, db
):
    owner, couple = setup
    tiny_over_time(db, couple, make_assessment, answer_as)
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    section = trend_part(html, "tiny")
    assert text_of(section.split("</h3>")[0]).endswith("Tiny test instrument: Intake → Week 4")
    # The basis, once: reliable change for heard and the total; a raw step for warmth (0.1 x (5 - 1))
    # and for the 0-9 sum (0.1 x 9).
    assert section.count('class="basis"') == 1
    basis = text_of(section.split('class="basis">')[1].split("</p>")[0])
    assert basis.startswith(TINY_BASIS_JUDGED + "Reliable change for Warmth, Pursuing needs 50 partners' first ")
    assert basis.endswith(
        "answers in this practice; none so far: 50 more. Until then change there cannot yet be judged reliable: "
        "“better” and “worse” mean a raw change of at least a tenth of its range (Warmth 0.40, Pursuing 0.90)."
    )
    # heard: A 4.33 -> 4.33 (RCI 0.00): no clear change; B 3.33 -> 4.33 (RCI 2.61 > 1.96): better;
    # gap 1.00 -> 0.00 (RCI -1.84): closer, but not reliably: no clear change.
    assert row(section, "Feeling heard") == (
        "Feeling heard 4.33 → 4.33 no clear change 3.33 → 4.33 better 1.00 → 0.00 no clear change"
    )
    # warmth (raw): A +2.50, B +1.00, both >= 0.40: better; gap 1.50 -> 0.00: closer.
    assert row(section, "Warmth") == "Warmth 1.50 → 4.00 better 3.00 → 4.00 better 1.50 → 0.00 closer"
    # total: +1.00 each (RCI 4.47): better; gap 0.00 -> 0.00 (RCI 0.00): no clear change.
    assert row(section, "Overall") == "Overall 3.20 → 4.20 better 3.20 → 4.20 better 0.00 → 0.00 no clear change"
    # Nobody answered the pursuing items: not enough answers, whatever the psychometrics.
    assert row(section, "Pursuing") == "Pursuing not enough answers not enough answers not enough answers"
    # The page shows verdicts, not the RCI or the engine's words.
    for word in ("RCI", "improved", "narrowed", "no reliable change"):
        assert word not in text_of(over_time(html)), word


@pytest.mark.usefixtures("tiny")
def test_tiny_change_table_runs_from_the_first_assessment_to_the_latest(client, setup, make_assessment, answer_as, db):
    owner, couple = setup
    tiny_over_time(db, couple, make_assessment, answer_as)  # Intake four weeks ago, Week 4
    # Week 8: Robin answers as at week 4; Sasha's warmth falls to (3 + (6 - 3)) / 2 = 3.00.
    week_8 = HEARD_HIGH | {"warm_1": 4, "warm_2": 2}
    _, tokens = make_assessment(couple, instruments=["tiny"], occasion="Week 8")
    answer_as(tokens[1], {"tiny": week_8})
    answer_as(tokens[2], {"tiny": HEARD_HIGH | {"warm_1": 3, "warm_2": 3}})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)

    section = trend_part(html, "tiny")
    assert text_of(section.split("</h3>")[0]).endswith("Tiny test instrument: Intake → Week 8")
    assert section.count('class="basis"') == 1 and text_of(over_time(html)).count("Jacobson & Truax") == 1
    # One small-multiples chart of every measure at all three assessments (wide and compact).
    assert chart_titles(section) == ["Tiny test instrument over time"] * 2
    assert (
        "Warmth (from 1 to 5): Intake: Robin 1.50, Sasha 3.00; Week 4: Robin 4.00, Sasha 4.00; "
        "Week 8: Robin 4.00, Sasha 3.00."
    ) in chart_descs(section)[0]
    # Intake -> Week 8 (not Week 4 -> Week 8):
    # heard: A 13/3 -> 13/3, RCI 0; B 10/3 -> 13/3, +1.00 / 0.38341 = RCI 2.61 > 1.96: better;
    #   gap 1.00 -> 0.00, -1.00 / 0.54222 = RCI -1.84: no clear change.
    assert row(section, "Feeling heard") == (
        "Feeling heard 4.33 → 4.33 no clear change 3.33 → 4.33 better 1.00 → 0.00 no clear change"
    )
    # warmth (raw, step 0.40): A 1.50 -> 4.00 better; B 3.00 -> 3.00 no clear change;
    #   gap 1.50 -> 1.00, -0.50: closer. (Week 4 -> Week 8 would read B worse, gap further apart.)
    assert row(section, "Warmth") == "Warmth 1.50 → 4.00 better 3.00 → 3.00 no clear change 1.50 → 1.00 closer"
    # total: A 16/5 = 3.20 -> 21/5 = 4.20, +1.00 / 0.22361 = RCI 4.47: better;
    #   B 3.20 -> (4 + 4 + 5 + 3 + 3) / 5 = 3.80, +0.60 / 0.22361 = RCI 2.68: better;
    #   gap 0.00 -> 0.40, +0.40 / (2 x 0.15811) = RCI 1.26: no clear change.
    assert row(section, "Overall") == "Overall 3.20 → 4.20 better 3.20 → 3.80 better 0.00 → 0.40 no clear change"
    assert row(section, "Pursuing") == "Pursuing not enough answers not enough answers not enough answers"

    # The brief's "what changed" is since last time (Week 4 -> Week 8): Sasha's warmth 4.00 -> 3.00,
    # -1.00: worse; gap 0.00 -> 1.00: further apart.
    brief = text_of(html.split('id="brief"')[1].split('id="details"')[0])
    assert (
        "Since Week 4: Warmth A Robin: Good (4.00) → Good (4.00): no clear change "
        "B Sasha: Good (4.00) → Good (3.00): worse The gap between them went from 0.00 to 1.00 (further apart)."
    ) in brief


@pytest.mark.usefixtures("tiny")
def test_the_basis_says_change_cannot_yet_be_judged_reliable_where_psychometrics_are_missing(
    client, setup, make_assessment, answer_as, db
):
    """PRODUCT.md: "where they are missing, say change cannot yet be judged reliable" -- also when
    an instrument has psychometrics for some of its areas only (tiny: warmth and pursuing have none)."""
    owner, couple = setup
    tiny_over_time(db, couple, make_assessment, answer_as)
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    basis = text_of(trend_part(html, "tiny").split('class="basis">')[1].split("</p>")[0])
    assert basis.startswith(TINY_BASIS_JUDGED + "Reliable change for Warmth, Pursuing ")
    assert CANNOT_JUDGE in basis


# --- the page's markup ----------------------------------------------------------------------------


def test_ids_are_unique_and_every_in_page_link_has_a_target(client, setup, make_assessment, answer_as, db):
    owner, couple = setup
    everything = ["safety", "checkin", "connection", "life_context"]
    first, tokens = make_assessment(couple, instruments=everything, occasion="Intake")
    flagged = answer_as(
        tokens[1],
        {
            "safety": {**NEVER, "self_harm": 2},
            "checkin": CHECKIN_A,
            "connection": ALL_FOURS,
            "life_context": {"work": 3},
        },
    )
    answer_as(
        tokens[2],
        {
            "safety": {**NEVER, "self_harm": 1},
            "checkin": CHECKIN_B,
            "connection": AFFECTION_LOW,
            "life_context": {"work": 1},
        },
    )
    db.session.execute(
        sa.update(Assessment).where(Assessment.id == first.id).values(created_at=first.created_at - timedelta(days=28))
    )
    db.session.commit()
    browser = login(client, owner)
    url = f"/couples/{couple.id}/safety/{flagged.id}/safety/self_harm"
    assert browser.post_form(url, {"note": "Called Robin."}).status_code == 302
    _, tokens = make_assessment(couple, instruments=everything, occasion="Week 4")
    answer_as(tokens[1], {"safety": {**NEVER, "self_harm": 2}, "checkin": CHECKIN_A, "connection": ALL_FOURS})
    answer_as(tokens[2], {"safety": {**NEVER, "afraid": 3}, "checkin": CHECKIN_B, "connection": AFFECTION_HIGH})

    for address in (f"/couples/{couple.id}", f"/couples/{couple.id}?assessment={first.id}"):
        html = browser.get(address).get_data(as_text=True)
        panel = safety_panel(html)
        # Two new flags to review (Robin's self-harm again, Sasha's "Sometimes" afraid) and the reviewed one.
        assert panel.startswith("Safety 2 safety flags to review.") and "1 reviewed flag" in panel
        assert "over-time" in html and 'id="context"' in html
        ids = re.findall(r'\sid="([^"]+)"', html)
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        assert duplicates == [], address
        targets = set(re.findall(r'href="#([^"]+)"', html))
        assert targets - set(ids) == set(), address
