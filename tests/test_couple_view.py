"""The couple view: both partners side by side, safety first, context, change over time.

Answers are built by hand; the expected numbers are worked out in the comments.
"""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.models import Assessment, SafetyReview
from tests.conftest import login
from tests.tiny_catalog import TINY_A, TINY_B, tiny, tiny_over_time  # noqa: F401 -- tiny is a fixture


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
# No psychometrics (Tandem's own check-in has no validation study): change is shown raw, never judged.
AFFECTION_LOW = {"affection_1": 2, "affection_2": 2, "affection_3": 4, "affection_4": 2, "affection_5": 4}  # 2.00
AFFECTION_HIGH = {"affection_1": 4, "affection_2": 4, "affection_3": 2, "affection_4": 4, "affection_5": 2}  # 4.00
# A: 2.00 -> 4.00, change +2.00; B: 4.00 -> 4.00, change +0.00; gap B - A: 2.00 -> 0.00.
CANNOT_JUDGE = "cannot yet be judged reliable"


def over_time_part(html: str, title: str) -> str:
    """The markup of one trend in "Over time", from its heading to the next."""
    over_time = html.split('id="trends-heading"')[1]
    return over_time.split(f'trend-title">{title}')[1].split('class="trend-title"')[0]


def test_change_over_time_on_a_check_in_without_psychometrics_is_raw_and_never_judged(
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
    # The instrument says once why its change is not judged.
    assert (
        "Connection and distance: no SD and reliability from a validation study, so change cannot yet be "
        "judged reliable; the raw change is shown."
    ) in text_of(over_time)
    affection = over_time_part(html, "Connection and distance: Affection")
    assert row(affection, "Intake") == "Intake 2.00 4.00"
    assert row(affection, "Week 6") == "Week 6 4.00 4.00"
    assert row(affection, "Change") == f"Change +2.00: {CANNOT_JUDGE} +0.00: {CANNOT_JUDGE}"
    assert f"Gap between partners: 2.00 → 0.00: {CANNOT_JUDGE}" in text_of(affection)
    # No reliable-change index, verdict or "provisional" anywhere: nothing is invented.
    for word in ("RCI", "improved", "narrowed", "no reliable change", "provisional"):
        assert word not in text_of(over_time), word
    # A subscale nobody answered cannot be judged: "not enough answers", never a guess.
    heard = over_time_part(html, "Connection and distance: Feeling heard")
    assert row(heard, "Change") == (
        "Change One of the two scores has not enough answers, so change cannot be judged. "
        "One of the two scores has not enough answers, so change cannot be judged."
    )
    assert "Gap between partners: One of the two scores has not enough answers" in text_of(heard)


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
    # and the audit row for viewing results: the chain's keyed head read (locked on PostgreSQL,
    # which keeps the chain in order), the insert, and the head moved on (the keyed head
    # record of commit 620846b added that update and replaced PostgreSQL's advisory lock).
    assert len(counted) == 10, "\n".join(counted)


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


# --- the engine's tiny instrument, seen through the couple view -----------------------------------
# tests/tiny_catalog.py loads tests/instruments/fixtures/tiny-v1.yaml into the app: two scales
# (1-5 agreement, 0-3 frequency), means and a sum, psychometrics on "heard" and the total only.
# TINY_A and TINY_B are test_compare.py's A and B; the numbers below are that file's.


def talk_text(html: str) -> str:
    """The "to talk about" lists of the shown instrument, as read."""
    return text_of(html.split('<div class="talk">')[1].split("</div>")[0])


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

    # A pull_3 = 3 ("Almost always") raises tiny's urgent safety flag: the panel comes first.
    assert html.index('id="safety"') < html.index('id="results-heading"')
    panel = text_of(html.split('id="safety"')[1].split("</section>")[0])
    assert "1 flag, 1 not yet reviewed" in panel and "A Robin · Intake · Urgent" in panel
    assert "“I feel afraid of how my partner reacts.” Answer: Almost always" in panel

    # heard: A (4 + 4 + 5) / 3 = 4.33 Strong, B (2 + 5 + 3) / 3 = 3.33 Mixed, B - A = -1.00, 1 of 3 shared = 33 %.
    # warmth: A (2 + 1) / 2 = 1.50 Low, B (1 + 5) / 2 = 3.00 Good, +1.50, 0 of 2.
    # pulling (a sum of three 0-3 items, 0 to 9): A 2 + 3 + 3 = 8 High; B 2 of 3 answered, mean 1.0 x 3 = 3 Some.
    # total: A 16 / 5 = 3.20, B 16 / 5 = 3.20, both Steady, 1 of 5 shared = 20 %.
    assert row(html, "Feeling heard") == "Feeling heard (an average) 4.33 Strong 3.33 Mixed -1.00 33% shared strengths"
    assert row(html, "Warmth") == "Warmth (an average) 1.50 Low 3.00 Good 1.50 0% shared strengths"
    assert row(html, "Pursuing") == (
        "Pursuing (a sum from 0 to 9; higher = more of the pattern) 8.00 High 3.00 Some -5.00 0% shared strengths"
    )
    assert row(html, "Overall") == "Overall (an average) 3.20 Steady 3.20 Steady 0.00 20% shared strengths"
    assert "<caption>Tiny test instrument: scores</caption>" in html  # not "(averages)": one is a sum

    # One chart per axis (1-5 means, 0-9 sum), each drawn wide and compact; the sum on its own axis.
    titles = re.findall(r'<title id="[^"]+">([^<]*)</title>', html)
    assert titles == [
        "Tiny test instrument: Feeling heard, Warmth, Overall",
        "Tiny test instrument: Pursuing",
        "Tiny test instrument: Feeling heard, Warmth, Overall",
        "Tiny test instrument: Pursuing",
    ]
    descs = re.findall(r'<desc id="[^"]+">([^<]*)</desc>', html)
    assert descs[1] == "Scores from 0 to 9. Pursuing: Robin 8.00, Sasha 3.00."
    assert descs[0] == (
        "Scores from 1 to 5. Feeling heard: Robin 4.33, Sasha 3.33. Warmth: Robin 1.50, Sasha 3.00. "
        "Overall: Robin 3.20, Sasha 3.20."
    )
    assert html.count('data-layout="wide"') == 2 and html.count('data-layout="compact"') == 2

    # Gaps of 2 or more, largest first (warm_2: 5 vs 1; then file order); shared concerns
    # firmest first: warm_1 (|2 - 3| + |1 - 3| = 3) before pull_2 (|0 - 1.5| + |1 - 1.5| = 2).
    assert talk_text(html) == (
        "Worth talking about: the largest gaps "
        "“We feel like roommates.” A Robin: Strongly agree · B Sasha: Strongly disagree "
        "“My partner listens to me.” A Robin: Agree · B Sasha: Disagree "
        "“My partner gets what I mean.” A Robin: Strongly agree · B Sasha: Neither agree nor disagree "
        "“I chase my partner to talk.” A Robin: Often · B Sasha: Never "
        "Shared concerns "
        "“We hug most days.” A Robin: Disagree · B Sasha: Strongly disagree "
        "“I give my partner room.” A Robin: Never · B Sasha: Sometimes "
        "Shared strengths "
        "“I feel ignored when I talk.” A Robin: Disagree · B Sasha: Strongly disagree"
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
        "Worth talking about: the largest gaps No item shows a large gap. "
        "Shared concerns "
        "“I chase my partner to talk.” A Robin: Almost always · B Sasha: Almost always "
        "“We hug most days.” A Robin: Disagree · B Sasha: Disagree "
        "Shared strengths "
        "“My partner gets what I mean.” A Robin: Strongly agree · B Sasha: Strongly agree "
        "“My partner listens to me.” A Robin: Agree · B Sasha: Agree"
    )


# Two tiny assessments: the worked example in tests/tiny_catalog.py (tiny_over_time).


@pytest.mark.usefixtures("tiny")
def test_tiny_change_over_time_judges_reliable_change_only_where_there_are_psychometrics(
    client, setup, make_assessment, answer_as, db
):
    owner, couple = setup
    tiny_over_time(db, couple, make_assessment, answer_as)
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)

    assert (
        "Tiny test instrument: reliable change can be judged for Feeling heard, Overall; Warmth, Pursuing have no "
        "SD and reliability, so change there cannot yet be judged reliable."
    ) in text_of(html.split('id="trends-heading"')[1])

    heard = over_time_part(html, "Tiny test instrument: Feeling heard")
    assert (row(heard, "Intake"), row(heard, "Week 4")) == ("Intake 4.33 3.33", "Week 4 4.33 4.33")
    assert row(heard, "Change") == "Change +0.00 (RCI 0.00): no reliable change +1.00 (RCI 2.61): improved"
    assert "Gap between partners: 1.00 → 0.00 (RCI -1.84): no reliable change" in text_of(heard)

    warmth = over_time_part(html, "Tiny test instrument: Warmth")
    assert (row(warmth, "Intake"), row(warmth, "Week 4")) == ("Intake 1.50 3.00", "Week 4 4.00 4.00")
    assert row(warmth, "Change") == f"Change +2.50: {CANNOT_JUDGE} +1.00: {CANNOT_JUDGE}"
    assert f"Gap between partners: 1.50 → 0.00: {CANNOT_JUDGE}" in text_of(warmth)
    assert "RCI" not in text_of(warmth)

    total = over_time_part(html, "Tiny test instrument: Overall")
    assert (row(total, "Intake"), row(total, "Week 4")) == ("Intake 3.20 3.20", "Week 4 4.20 4.20")
    assert row(total, "Change") == "Change +1.00 (RCI 4.47): improved +1.00 (RCI 4.47): improved"
    assert "Gap between partners: 0.00 → 0.00 (RCI 0.00): no reliable change" in text_of(total)

    # Nobody answered the pursuing items: not enough answers, whatever the psychometrics.
    pursuing = over_time_part(html, "Tiny test instrument: Pursuing")
    assert text_of(pursuing).count("One of the two scores has not enough answers, so change cannot be judged.") == 3


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
    html = login(client, owner).get(f"/couples/{couple.id}?assessment={shown.id}").get_data(as_text=True)
    notice = text_of(html.split('class="card notice partial-notice">')[1].split("</p>")[0])
    overall = row(html.split('id="results-heading"')[1], "How things feel overall")
    if submitted == "none":
        assert notice == (
            "Neither Robin nor Sasha has submitted this assessment yet: each partner's results appear here "
            "once they do, and the comparison once both have."
        )
        assert overall == "How things feel overall not submitted not submitted — —"
    elif submitted == "A":
        # The practice's zone is UTC: the time is shown as stored.
        assert notice == f"Robin submitted {sent:%-d %b %Y, %H:%M}. The comparison waits for Sasha to submit."
        assert overall == "How things feel overall 4.00 Good not submitted — —"
    else:
        assert notice == f"Sasha submitted {sent:%-d %b %Y, %H:%M}. The comparison waits for Robin to submit."
        assert overall == "How things feel overall not submitted 2.25 Struggling — —"


def life_context_at_two_occasions(db, couple, make_assessment, answer_as):
    """Both partners answer life context at an intake six weeks ago; at week 6 only A has sent.
    Returns the two assessments (intake, week 6)."""
    first, tokens = make_assessment(couple, instruments=["life_context"], occasion="Intake")
    answer_as(tokens[1], {"life_context": {"work": 3, "money": 3, "anything_else": "Old news."}})
    answer_as(tokens[2], {"life_context": {"work": 2, "money": 3, "anything_else": "My mother is ill."}})
    db.session.execute(
        sa.update(Assessment).where(Assessment.id == first.id).values(created_at=first.created_at - timedelta(days=42))
    )
    db.session.commit()
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
    part = html.split('id="context-heading"')[1].split("</section>")[0]
    # Robin's week-6 answers beside Sasha's intake answers, never "—" for Sasha.
    assert (
        row(part, "Pressure at work") == "Pressure at work, or long working hours Not happening Happening, manageable"
    )
    assert row(part, "Losing a job") == (
        "Losing a job, or worries about money Happening, manageable Happening, weighing on me"
    )
    assert part.split("</h2>")[0] == ">Life right now"  # no single occasion: they differ
    assert text_of(part.split('class="muted context-from">')[1].split("</p>")[0]) == (
        f"Each partner's latest answers: A Robin: Week 6, sent {second.created_at:%-d %b %Y}; "
        f"B Sasha: Intake, sent {first.created_at:%-d %b %Y}."
    )
    # Each partner's own latest note: Robin wrote none at week 6, so Robin's intake note is not shown as current.
    assert "B Sasha added: My mother is ill." in text_of(part)
    assert "Old news." not in text_of(part)


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
    assert 'id="safety"' in html  # the safety panel is never lost to a chart
    assert "<svg" not in html.split('id="results-heading"')[1].split('class="talk"')[0]
    assert (
        row(html, "How things feel overall")
        == "How things feel overall 4.00 Good 2.25 Struggling -1.75 0% shared strengths"
    )
