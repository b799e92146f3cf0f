"""The couple view: both partners side by side, safety first, context, change over time.

Answers are built by hand; the expected numbers are worked out in the comments.
"""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.models import Assessment, SafetyReview
from tests.conftest import is_postgres, login


def text_of(html: str) -> str:
    """The page as a reader sees it: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" ,", ",").strip()


def row(html: str, label: str) -> str:
    """The text of the first table row whose header is `label`."""
    for match in re.finditer(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = text_of(match.group(1))
        if cells.startswith(label):
            return cells
    raise AssertionError(f"no row {label!r}")


# Check-in, 1-5 agreement, midpoint 3, mean, bands: <2.5 Struggling (concern), <3.5 Mixed, else Good.
CHECKIN_A = {"satisfied": 4, "close": 4, "hopeful": 5, "together": 3}  # mean 16/4 = 4.00 -> Good
CHECKIN_B = {"satisfied": 2, "close": 2, "hopeful": 3, "together": 2}  # mean 9/4 = 2.25 -> Struggling
# Difference B - A = 2.25 - 4.00 = -1.75. Items (A side / B side): satisfied health/concern -> split,
# close split, hopeful health/neutral -> neutral, together neutral/concern -> neutral.
# Shared strengths 0 of 4 -> agreement 0 %. Gaps 2, 2, 2, 1: three reach the "worth discussing" gap of 2.


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

    assert (
        row(html, "How things feel overall")
        == "How things feel overall 4.00 Good 2.25 Struggling -1.75 0% shared strengths"
    )
    page = text_of(html)
    assert "Worth talking about: the largest gaps" in page
    assert "“Overall, I am happy with our relationship.” A Robin: Agree · B Sasha: Disagree" in page
    assert (
        "“I believe we can get through hard times together.”"
        not in page.split("Shared concerns")[0].split("largest gaps")[1]
    )
    assert "No shared concerns." in page and "No shared strengths yet." in page
    # The chart is drawn server-side, with a text table beside it for screen readers.
    assert "<svg" in html and "<caption>Relationship check-in: scores" in html


# Connection and distance, affection subscale: items 1, 2, 4 keyed as given, 3 and 5 reversed (6 - x).
# SD 0.8, reliability 0.75 -> SE = 0.8 * sqrt(0.25) = 0.40, S_diff = sqrt(2) * 0.40 = 0.5657.
AFFECTION_LOW = {"affection_1": 2, "affection_2": 2, "affection_3": 4, "affection_4": 2, "affection_5": 4}  # 2.00
AFFECTION_HIGH = {"affection_1": 4, "affection_2": 4, "affection_3": 2, "affection_4": 4, "affection_5": 2}  # 4.00
# A: 2.00 -> 4.00, change +2.00, RCI = 2.00 / 0.5657 = 3.54 -> reliable, improved.
# B: 4.00 -> 4.00, change 0, RCI 0 -> no reliable change.
# Gap B - A: 2.00 -> 0.00; change in size -2.00, S = 2 * SE = 0.80, RCI = -2.50 -> narrowed.


def test_change_over_time_with_reliable_change_per_partner_and_for_the_gap(
    client, setup, make_assessment, answer_as, db
):
    owner, couple = setup
    first, tokens = make_assessment(couple, instruments=["connection"], occasion="Intake")
    answer_as(tokens[1], {"connection": AFFECTION_LOW})
    answer_as(tokens[2], {"connection": AFFECTION_HIGH})
    db.session.execute(
        sa.update(Assessment).where(Assessment.id == first.id).values(created_at=first.created_at - timedelta(days=42))
    )
    db.session.commit()
    _, tokens = make_assessment(couple, instruments=["connection"], occasion="Week 6")
    answer_as(tokens[1], {"connection": AFFECTION_HIGH})
    answer_as(tokens[2], {"connection": AFFECTION_HIGH})

    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert row(html, "Affection").startswith(
        "Affection and physical closeness 4.00 Strong 4.00 Strong 0.00 100% shared strengths"
    )
    over_time = html.split('id="trends-heading"')[1]
    affection = over_time.split('trend-title">Connection and distance: Affection')[1].split('class="trend-title"')[0]
    assert row(affection, "Intake") == "Intake 2.00 4.00"
    assert row(affection, "Week 6") == "Week 6 4.00 4.00"
    assert row(affection, "Change") == "Change +2.00 (RCI 3.54): improved +0.00 (RCI 0.00): no reliable change"
    assert "Gap between partners: 2.00 → 0.00 (RCI -2.50): narrowed" in text_of(affection)
    # A subscale nobody answered cannot be judged: "not enough answers", never a guess.
    heard = over_time.split('trend-title">Connection and distance: Feeling heard')[1].split('class="trend-title"')[0]
    assert "One of the two scores has not enough answers" in text_of(heard)


def test_instrument_without_psychometrics_says_change_cannot_be_judged(client, setup, make_assessment, answer_as):
    owner, couple = setup
    for occasion in ("Intake", "Week 4"):
        _, tokens = make_assessment(couple, instruments=["checkin"], occasion=occasion)
        answer_as(tokens[1], {"checkin": CHECKIN_A})
        answer_as(tokens[2], {"checkin": CHECKIN_B})
    page = text_of(login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True))
    assert "change cannot yet be judged reliable" in page


def test_safety_flag_panel_first_and_review_is_recorded(client, setup, make_assessment, answer_as, db):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["safety", "checkin"])
    never = dict.fromkeys(
        ("afraid", "controlled", "watched", "threatened", "physical_harm", "forced_sex", "harm_partner"), 1
    )
    answer_as(tokens[1], {"safety": {**never, "self_harm": 2}, "checkin": CHECKIN_A})
    answer_as(tokens[2], {"safety": {**never, "self_harm": 1}, "checkin": CHECKIN_B})
    browser = login(client, owner)
    html = browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    # Safety comes before everything else on the page.
    assert html.index('id="safety"') < html.index('id="results-heading"')
    panel = text_of(html.split('id="safety"')[1].split("</section>")[0])
    assert "1 flag, 1 not yet reviewed" in panel
    assert "A Robin · Intake · Urgent" in panel
    assert "“I have had thoughts of hurting myself or ending my life.” Answer: Once or twice" in panel
    assert "Sasha" not in panel

    invitation_id = db.session.scalar(sa.select(SafetyReview.invitation_id)) or re.search(
        r"/safety/(\d+)/safety/self_harm", html
    ).group(1)
    url = f"/couples/{couple.id}/safety/{invitation_id}/safety/self_harm"
    assert browser.post_form(url, {"note": "Called Robin; safety plan in place."}).status_code == 302
    review = db.session.scalar(sa.select(SafetyReview))
    assert (review.note, review.reviewed_by_id) == ("Called Robin; safety plan in place.", owner.id)
    panel = text_of(browser.get(f"/couples/{couple.id}").get_data(as_text=True).split('id="safety"')[1])
    assert "1 flag" in panel and "not yet reviewed" not in panel.split("Only you")[0]
    assert f"Reviewed by {owner.name}" in panel and "Called Robin; safety plan in place." in panel

    # Only real flags can be reviewed.
    assert (
        browser.post_form(f"/couples/{couple.id}/safety/{invitation_id}/safety/afraid", {"note": ""}).status_code == 404
    )


def test_partial_data_shows_one_partner_and_never_in_progress_answers(client, setup, make_assessment, answer_as):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B}, submit=False)  # saved, not submitted
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert row(html, "How things feel overall") == "How things feel overall 4.00 Good not submitted — —"
    page = text_of(html)
    assert "The comparison waits for Sasha to submit." in page
    assert "Disagree" not in page  # B's in-progress answers appear nowhere


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
    # and the audit row for viewing results (the chain's last hash, the insert)
    # PostgreSQL adds one: the advisory lock that keeps the audit chain in order.
    assert len(counted) == (10 if is_postgres() else 9), "\n".join(counted)


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
