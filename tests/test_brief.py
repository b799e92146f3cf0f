"""The session brief (clinic.brief): the exact talking points, strengths and questions, rule by rule.

The demo couples are checked whole; hand-built couples exercise each rule on its own. Answers
are built with the demo's level_answers (every subscale's keyed mean exactly at the level given).
"""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from clinic import catalog
from clinic.brief import build_brief
from clinic.cli import DEMO_EMAIL, DEMO_PASSWORD
from clinic.db_types import utcnow
from clinic.demo import level_answers
from clinic.models import Couple
from clinic.results import load_couple_results
from clinic.services.checkins import TrendRow
from instruments.schema import Psychometrics
from tests.conftest import login
from tests.test_couple_view import text_of
from tests.tiny_catalog import tiny, tiny_over_time  # noqa: F401 -- the tiny fixture, used by name

# --- the demo couples ---------------------------------------------------------------------------

DEMO_POINTS = {
    # Pursue-withdraw: Mariana pursuing 4.50 (High, a concern band), Daniel withdrawing 4.50 (High);
    # the facets that go with each side lean that way (fusion 2.50 and cutoff 2.50, their lowest bands).
    # Shared concern: rituals 2.40 and 2.40, both Strained. Gap: sharing 3.40 - 2.20 = 1.20, at least a
    # quarter of the 1-5 range (the pursuing, withdrawing, cutoff and fusion gaps are the pattern's own).
    # Stressor: Daniel's work "weighing on me".
    "M & D": [
        (
            "pattern",
            "Pursue-withdraw: Mariana Costa reaches, Daniel Mensah steps back",
            {1: "Pursuing: High (4.50)", 2: "Withdrawing: High (4.50)"},
            "Differentiation: Mariana Costa, Fusion with others: Closely tied to others' feelings (2.50); "
            "Daniel Mensah, Emotional cutoff: Often steps away to cope (2.50).",
        ),
        (
            "shared_concern",
            "A shared concern: Shared time and rituals",
            {1: "Strained (2.40)", 2: "Strained (2.40)"},
            "Both partners' scores sit in a concern band.",
        ),
        (
            "gap",
            "Seen differently: Sharing feelings and worries",
            {1: "Mixed (3.40)", 2: "Strained (2.20)"},
            "Mariana Costa higher by 1.20.",
        ),
        (
            "stressor",
            "Outside stress",
            {1: "nothing marked as weighing on them", 2: "weighing on them: Pressure at work, or long working hours"},
            "Only Daniel Mensah marked something as weighing on them.",
        ),
    ],
    # Roommates: five shared concerns, three shown (deepest first: rituals 1.60, affection 1.80,
    # heard 2.00; withdrawal 3.80/4.00 and sharing 2.00 are left for the details); both carry work
    # and the new baby.
    "S & K": [
        (
            "shared_concern",
            "A shared concern: Shared time and rituals",
            {1: "Strained (1.60)", 2: "Strained (1.60)"},
            "Both partners' scores sit in a concern band.",
        ),
        (
            "shared_concern",
            "A shared concern: Affection and physical closeness",
            {1: "Strained (1.80)", 2: "Strained (1.80)"},
            "Both partners' scores sit in a concern band.",
        ),
        (
            "shared_concern",
            "A shared concern: Feeling heard",
            {1: "Strained (2.00)", 2: "Strained (2.00)"},
            "Both partners' scores sit in a concern band.",
        ),
        (
            "stressor",
            "Outside stress",
            {
                1: "weighing on them: Pressure at work, or long working hours; A new baby or child in our home",
                2: "weighing on them: Pressure at work, or long working hours; A new baby or child in our home",
            },
            "2 of these weigh on both of them.",
        ),
    ],
    # Mostly connected, week 8: Rafael's affection 2.40 -> 4.20 (+1.80, at least the 0.40 a tenth of
    # the range asks: "better"), Luis 4.60 -> 4.40 (-0.20), the gap 2.20 -> 0.20 ("closer"), raw and
    # said so. Nothing else stands out, so two areas both score in the healthiest band fill in.
    "L & R": [
        (
            "change",
            "Since Intake: Affection and physical closeness",
            {
                1: "Strong (4.60) → Strong (4.40): no clear change",
                2: "Strained (2.40) → Strong (4.20): better",
            },
            "The gap between them went from 2.20 to 0.20 (closer). A raw change: reliable change needs 50 "
            "partners' first answers in this practice; none so far: 50 more (“better” and “worse” mean a change "
            "of at least 0.40).",
        ),
        (
            "going_well",
            "Going well: Kindness and respect",
            {1: "Strong (4.60)", 2: "Strong (4.40)"},
            "Both partners' scores sit in the healthiest band: what helps here may help elsewhere.",
        ),
        (
            "going_well",
            "Going well: Feeling heard",
            {1: "Strong (4.40)", 2: "Strong (4.40)"},
            "Both partners' scores sit in the healthiest band: what helps here may help elsewhere.",
        ),
    ],
    # Safety flag couple: three gaps of at least a quarter of the range (I-position 4.00 - 2.50 =
    # 1.50 of 5; sharing 3.40 - 2.40 and withdrawing 3.25 - 2.25, 1.00 of 4), and Tomás's money worries.
    "N & T": [
        (
            "gap",
            "Seen differently: I-position",
            {1: "Sometimes speaks up (4.00)", 2: "Often holds back own view (2.50)"},
            "Nadia Haddad higher by 1.50.",
        ),
        (
            "gap",
            "Seen differently: Sharing feelings and worries",
            {1: "Mixed (3.40)", 2: "Strained (2.40)"},
            "Nadia Haddad higher by 1.00.",
        ),
        (
            "gap",
            "Seen differently: Withdrawing",
            {1: "Low (2.25)", 2: "Some (3.25)"},
            "Tomás Rivera higher by 1.00.",
        ),
        (
            "stressor",
            "Outside stress",
            {1: "nothing marked as weighing on them", 2: "weighing on them: Losing a job, or worries about money"},
            "Only Tomás Rivera marked something as weighing on them.",
        ),
    ],
    "E & O": [],
    # Only Hana has sent the intake: her stressor, then (nothing of hers in a concern band) her two
    # lowest areas that have concern bands, sharing and rituals at 2.80.
    "H & W": [
        (
            "stressor",
            "Outside stress",
            {1: "weighing on them: Caring for someone who needs a lot of help", 2: "not sent yet"},
            "Only Hana Kim marked something as weighing on them.",
        ),
        (
            "one_partner",
            "Hana Kim: Sharing feelings and worries",
            {1: "Mixed (2.80)", 2: "not sent yet"},
            "Only Hana Kim has sent this assessment: the comparison waits for Wren Adeyemi.",
        ),
        (
            "one_partner",
            "Hana Kim: Shared time and rituals",
            {1: "Mixed (2.80)", 2: "not sent yet"},
            "Only Hana Kim has sent this assessment: the comparison waits for Wren Adeyemi.",
        ),
    ],
    "G & B": [],
}

DEMO_STRENGTHS = {
    "M & D": (1, ["I still care a lot about how things go between us."]),
    "S & K": (
        11,
        [
            "When my partner needs some space, I can give it without worry.",
            "My partner treats me with respect, even when we disagree.",
            "We thank each other for small things.",
            "When I am having a bad day, my partner is gentle with me.",
        ],
    ),
    "L & R": (
        30,
        [
            "When I talk about my day, my partner really listens.",
            "My partner treats me with respect, even when we disagree.",
            "My partner gets what I mean, even when I say it badly.",
            "I feel wanted by my partner.",
        ],
    ),
    "N & T": (
        2,
        [
            "When my partner needs some space, I can give it without worry.",
            "I can stay in touch with family members even when we don't get along.",
        ],
    ),
    "E & O": (0, []),
    "H & W": (0, []),
    "G & B": (0, []),
}

DEMO_QUESTIONS = {
    "M & D": [
        "When one of you pulls back, what happens next for each of you?",
        "When a talk gets tense, what would help you stay in it?",
        "How do you each keep your own footing when the other is upset?",
        "When tension rises, how do you each make distance, and what brings you back?",
    ],
    "S & K": [
        "Which small moments together have you kept, and which have slipped away?",
        "What kind of touch or closeness would feel welcome to each of you right now?",
        "When did you last feel really listened to by each other, and what made it work?",
    ],
    "L & R": [
        "What kind of touch or closeness would feel welcome to each of you right now?",
        "What does respect look like to each of you on a hard day?",
        "When did you last feel really listened to by each other, and what made it work?",
    ],
    "N & T": [
        "How easy is it for each of you to say what you think when you expect the other to see it differently?",
        "What makes it easier, or harder, to bring a worry to each other?",
        "When a talk gets tense, what would help you stay in it?",
    ],
    "E & O": [],
    "H & W": [
        "What makes it easier, or harder, to bring a worry to each other?",
        "Which small moments together have you kept, and which have slipped away?",
    ],
    "G & B": [],
}


@pytest.fixture
def demo(app, db) -> dict[str, Couple]:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return {couple.label: couple for couple in db.session.scalars(sa.select(Couple))}


def brief_of(couple: Couple, shown_id: int | None = None):
    """The brief of the assessment asked for, else of the one the couple view shows by default."""
    results = load_couple_results(couple)
    shown = results.shown_by_default
    if shown_id is not None:
        shown = next(a for a in results.assessments if a.id == shown_id)
    return build_brief(results, shown, utcnow())


def points(brief) -> list[tuple]:
    return [(p.rule, p.title, p.answers, p.note) for p in brief.points]


@pytest.mark.parametrize("label", list(DEMO_POINTS))
def test_each_demo_couples_brief_exactly(demo, label):
    brief = brief_of(demo[label])
    assert points(brief) == DEMO_POINTS[label]
    assert 3 <= len(brief.points) <= 5 or not brief.points
    count, strengths = DEMO_STRENGTHS[label]
    assert (brief.strength_count, [s.text for s in brief.strengths]) == (count, strengths)
    assert list(brief.questions) == DEMO_QUESTIONS[label]


def test_demo_briefs_say_where_things_stand_and_who_is_unsafe(demo):
    safety = brief_of(demo["N & T"]).safety
    assert [(e.partner.display_name, e.flag.text, e.flag.answer_label) for e in safety.unreviewed] == [
        ("Tomás Rivera", "I have felt afraid of my partner.", "Once or twice")
    ]
    assert brief_of(demo["M & D"]).safety.unreviewed == ()

    waiting = brief_of(demo["H & W"]).standing
    assert waiting.shown_occasion == "Intake" and waiting.open_occasion == "Intake"
    assert [(w.position, w.state, w.can_remind) for w in waiting.waiting] == [(2, "in_progress", True)]
    nobody = brief_of(demo["E & O"]).standing
    assert nobody.shown_id is None
    assert [(w.position, w.state) for w in nobody.waiting] == [(1, "not_opened"), (2, "not_opened")]


def test_each_point_says_what_it_is_about_and_links_to_its_detail(demo):
    brief = brief_of(demo["M & D"])
    pattern, concern, gap, stressor = brief.points
    assert pattern.about.startswith("When Daniel Mensah pulls back, Mariana Costa presses for closeness")
    assert concern.about == "Small shared habits, fun together and checking in at the end of the day."
    assert (pattern.anchor, concern.anchor, gap.anchor, stressor.anchor) == (
        "m-connection-pursuing",
        "m-connection-rituals",
        "m-connection-sharing",
        "context",
    )
    # The statements behind a point, with both answers in words.
    assert [(s.text, s.answers) for s in gap.items] == [
        ("When something worries me, my partner is one of the first people I tell.", {1: "Agree", 2: "Disagree"}),
        ("I keep my worries to myself so that I don't weigh my partner down.", {1: "Disagree", 2: "Agree"}),
    ]
    assert [(s.text, s.answers) for s in stressor.items] == [
        ("Pressure at work, or long working hours", {1: "Happening, manageable", 2: "Happening, weighing on me"})
    ]


# --- hand-built couples, one rule at a time -------------------------------------------------------

CALM = {"heard": 3.0, "affection": 3.0, "sharing": 3.0, "withdrawal": 3.0, "kindness": 3.0, "rituals": 3.0}


def connection(**levels: float) -> dict[str, int]:
    """Connection answers with each subscale's keyed mean at the level given (the rest at 3, "Mixed")."""
    instrument = catalog.registry().latest("connection")
    return level_answers(instrument, CALM | {"pursuing": 2.0, "withdrawing": 2.0} | levels, {})


@pytest.fixture
def couple(make_practice, make_couple):
    owner = make_practice()
    return owner, make_couple(owner, names=("Robin", "Sasha"))


def test_pursue_withdraw_comes_first_and_is_not_told_again_as_a_gap(couple, make_assessment, answer_as):
    _, c = couple
    _, tokens = make_assessment(c, instruments=["connection"])
    # Robin pursues (4.00, High from 3.5), Sasha withdraws (4.25, High); the other side of each is Low.
    answer_as(tokens[1], {"connection": connection(pursuing=4.0, withdrawing=1.5)})
    answer_as(tokens[2], {"connection": connection(pursuing=1.75, withdrawing=4.25)})
    brief = brief_of(c)
    assert points(brief) == [
        (
            "pattern",
            "Pursue-withdraw: Robin reaches, Sasha steps back",
            {1: "Pursuing: High (4.00)", 2: "Withdrawing: High (4.25)"},
            "",  # no differentiation answers: no facets to name
        ),
    ]
    assert list(brief.questions) == [
        "When one of you pulls back, what happens next for each of you?",
        "When a talk gets tense, what would help you stay in it?",
    ]


def test_the_pattern_runs_either_way_round(couple, make_assessment, answer_as):
    _, c = couple
    _, tokens = make_assessment(c, instruments=["connection"])
    answer_as(tokens[1], {"connection": connection(pursuing=1.5, withdrawing=3.75)})
    answer_as(tokens[2], {"connection": connection(pursuing=4.5, withdrawing=1.5)})
    (pattern,) = brief_of(c).points[:1]
    assert pattern.title == "Pursue-withdraw: Sasha reaches, Robin steps back"
    assert pattern.answers == {2: "Pursuing: High (4.50)", 1: "Withdrawing: High (3.75)"}


def test_a_shared_concern_needs_both_partners_in_a_concern_band(couple, make_assessment, answer_as):
    _, c = couple
    _, tokens = make_assessment(c, instruments=["connection"])
    # Affection: 2.00 and 2.20, both Strained (below 2.5): shared. Kindness: 2.20 and 2.60: Sasha is
    # Mixed, so not shared, and 0.40 apart is no gap either.
    answer_as(tokens[1], {"connection": connection(affection=2.0, kindness=2.2)})
    answer_as(tokens[2], {"connection": connection(affection=2.2, kindness=2.6)})
    brief = brief_of(c)
    assert points(brief)[0] == (
        "shared_concern",
        "A shared concern: Affection and physical closeness",
        {1: "Strained (2.00)", 2: "Strained (2.20)"},
        "Both partners' scores sit in a concern band.",
    )
    assert [p.rule for p in brief.points].count("shared_concern") == 1


def test_a_gap_is_a_quarter_of_the_range_or_more_and_says_who_is_higher(couple, make_assessment, answer_as):
    _, c = couple
    _, tokens = make_assessment(c, instruments=["connection"])
    # Heard 4.00 vs 3.00: 1.00 = a quarter of 1-5, raised. Sharing 3.80 vs 3.00: 0.80, not.
    answer_as(tokens[1], {"connection": connection(heard=4.0, sharing=3.8)})
    answer_as(tokens[2], {"connection": connection(heard=3.0, sharing=3.0)})
    gaps = [p for p in brief_of(c).points if p.rule == "gap"]
    assert [(p.title, p.answers, p.note) for p in gaps] == [
        ("Seen differently: Feeling heard", {1: "Strong (4.00)", 2: "Mixed (3.00)"}, "Robin higher by 1.00.")
    ]


def test_stressors_weighing_on_either_partner_are_one_point(couple, make_assessment, answer_as):
    _, c = couple
    _, tokens = make_assessment(c, instruments=["life_context"])
    answer_as(tokens[1], {"life_context": {"work": 3, "money": 3, "grief": 2}})
    answer_as(tokens[2], {"life_context": {"work": 3, "illness": 2}})
    (point,) = brief_of(c).points
    assert (point.rule, point.answers, point.note) == (
        "stressor",
        {
            1: "weighing on them: Pressure at work, or long working hours; Losing a job, or worries about money",
            2: "weighing on them: Pressure at work, or long working hours",
        },
        "1 of these weighs on both of them.",
    )
    assert [(s.text, s.answers) for s in point.items] == [
        ("Pressure at work, or long working hours", {1: "Happening, weighing on me", 2: "Happening, weighing on me"}),
        ("Losing a job, or worries about money", {1: "Happening, weighing on me", 2: None}),  # Sasha skipped it
    ]


@pytest.mark.usefixtures("tiny")
def test_a_reliable_change_is_judged_and_said_so(couple, db, make_assessment, answer_as):
    _, c = couple
    # The engine's worked example (tests/tiny_catalog.py): Sasha's "Feeling heard" 3.33 -> 4.33,
    # +1.00, RCI 2.61 > 1.96: reliably better; Robin 4.33 -> 4.33, RCI 0; the gap 1.00 -> 0.00,
    # RCI -1.84: not reliably closer. Warmth (no psychometrics) moves more in raw terms (Robin
    # 1.50 -> 4.00), but a reliable change comes first.
    tiny_over_time(db, c, make_assessment, answer_as)
    change = next(p for p in brief_of(c).points if p.rule == "change")
    assert (change.title, change.answers, change.note) == (
        "Since Intake: Feeling heard",
        {1: "Strong (4.33) → Strong (4.33): no clear change", 2: "Mixed (3.33) → Strong (4.33): better"},
        "The gap between them went from 1.00 to 0.00 (no clear change). "
        "Judged with reliable change (Jacobson & Truax, 95%), from the questionnaire's published figures "
        "(α = 0.85, SD = 0.70).",
    )


@pytest.mark.usefixtures("tiny")
def test_a_change_without_psychometrics_is_raw_and_said_honestly(couple, db, make_assessment, answer_as):
    _, c = couple
    # Feeling heard (with psychometrics) moves only 3.33 -> 3.67 for Sasha: RCI 0.87, not reliable.
    # Warmth has no SD or reliability: Robin 1.50 -> 4.00 (+2.50, at least a tenth of 1-5), Sasha
    # 3.00 -> 4.00 (+1.00), the gap 1.50 -> 0.00: raw, and said to be raw.
    tiny_over_time(db, c, make_assessment, answer_as, b_heard_later={"heard_1": 3, "heard_2": 1, "heard_3": 3})
    change = next(p for p in brief_of(c).points if p.rule == "change")
    assert (change.title, change.answers, change.note) == (
        "Since Intake: Warmth",
        {1: "Low (1.50) → Good (4.00): better", 2: "Good (3.00) → Good (4.00): better"},
        "The gap between them went from 1.50 to 0.00 (closer). A raw change: reliable change needs 50 partners' "
        "first answers in this practice; none so far: 50 more (“better” and “worse” mean a change of at least 0.40).",
    )


def test_a_partial_submission_waits_for_the_other_partner(couple, make_assessment, answer_as):
    _, c = couple
    _, tokens = make_assessment(c, instruments=["connection"])
    answer_as(tokens[1], {"connection": connection(affection=2.0, rituals=2.25, heard=2.8)})
    answer_as(tokens[2], {"connection": connection()}, submit=False)  # saved, never sent: never shown
    brief = brief_of(c)
    assert points(brief) == [
        (
            "one_partner",
            "Robin: Affection and physical closeness",
            {1: "Strained (2.00)", 2: "not sent yet"},
            "Only Robin has sent this assessment: the comparison waits for Sasha.",
        ),
        (
            "one_partner",
            "Robin: Shared time and rituals",
            {1: "Strained (2.20)", 2: "not sent yet"},
            "Only Robin has sent this assessment: the comparison waits for Sasha.",
        ),
        (
            "one_partner",
            "Robin: Feeling heard",
            {1: "Mixed (2.80)", 2: "not sent yet"},
            "Only Robin has sent this assessment: the comparison waits for Sasha.",
        ),
    ]
    assert brief.strengths == () and brief.strength_count == 0
    assert [(w.position, w.state, w.can_remind) for w in brief.standing.waiting] == [(2, "in_progress", True)]


def test_never_more_than_five_points_and_rules_take_turns(couple, make_assessment, answer_as):
    _, c = couple
    _, tokens = make_assessment(c, instruments=["connection", "life_context"])
    # Four shared concerns and three gaps: the turns give 3 shared concerns (the cap) and 2 gaps.
    strained = {"affection": 1.8, "rituals": 2.0, "heard": 2.2, "kindness": 2.4}
    answer_as(tokens[1], {"connection": connection(**strained, sharing=4.4, withdrawal=1.4), "life_context": {}})
    answer_as(
        tokens[2],
        {"connection": connection(**strained, sharing=2.6, withdrawal=4.2), "life_context": {"work": 3}},
    )
    brief = brief_of(c)
    assert [(p.rule, p.title) for p in brief.points] == [
        ("shared_concern", "A shared concern: Affection and physical closeness"),
        ("shared_concern", "A shared concern: Shared time and rituals"),
        ("gap", "Seen differently: Withdrawal and numbness"),
        ("gap", "Seen differently: Sharing feelings and worries"),
        ("stressor", "Outside stress"),
    ]


# --- through the page ---------------------------------------------------------------------------


def test_the_couple_view_opens_with_the_brief_and_the_pdf_and_notes_come_before_the_details(demo, client):
    owner = demo["M & D"]

    assert client.post_form("/signin", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 302
    html = client.get(f"/couples/{owner.id}").get_data(as_text=True)
    page = text_of(html)
    order = [
        page.index("Session brief"),
        page.index("Safety"),  # is anyone unsafe comes first (PRODUCT.md)
        page.index("Where things stand"),
        page.index("For this session"),
        page.index("Strengths to build on"),
        page.index("Questions to open with"),
        page.index("Prepare a PDF"),
        page.index("Preparation notes"),
        page.index("Details: Intake"),
    ]
    assert order == sorted(order)
    assert "No safety flags in this assessment." in page
    assert "Pursue-withdraw: Mariana Costa reaches, Daniel Mensah steps back" in page
    # Every point links to its detail, and that detail exists on the page.
    for anchor in ("m-connection-pursuing", "m-connection-rituals", "m-connection-sharing", "context"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html


def test_no_brief_points_for_a_couple_with_nothing_sent(make_practice, make_couple, client):
    owner = make_practice()
    couple = make_couple(owner)
    page = text_of(login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True))
    assert "No questionnaires sent yet." in page
    assert "For this session" not in page and "<svg" not in page


# --- check-ins on a schedule: one line per partner, and a clear drop as a talking point ----------

# The check-in: the mean of four 1-5 items, higher is better; bands below 2.5 Struggling, below 3.5
# Mixed, else Good. No psychometrics, so a change is clear from a tenth of the range: 0.40.
LAST_SESSION = datetime(2026, 12, 12, 17, 0, tzinfo=UTC)  # 12 Dec 2026, 17:00 in the practice's zone (UTC)
BEFORE_IT = LAST_SESSION - timedelta(hours=20)  # the check-in went out; the session has not started
AFTER_IT = LAST_SESSION + timedelta(days=1)


def sessions(*totals: tuple[float | None, float | None]) -> tuple[TrendRow, ...]:
    """Weekly sessions ending on LAST_SESSION, oldest first: (Robin's, Sasha's) check-in total at each."""
    count = len(totals)
    return tuple(
        TrendRow(LAST_SESSION - timedelta(weeks=count - 1 - k), {1: robin, 2: sasha})
        for k, (robin, sasha) in enumerate(totals)
    )


def with_checkins(c: Couple, rows, now: datetime, checkin=None):
    """The brief of a couple with nothing else sent, given its check-ins by session (as the view passes them)."""
    return build_brief(load_couple_results(c), None, now, rows, checkin or catalog.registry().latest("checkin"))


def test_a_line_per_partner_across_the_last_five_sessions_a_missing_check_in_a_dash(couple):
    _, c = couple
    rows = sessions((3.25, 2.75), (3.5, None), (3.75, 2.5), (4.0, 2.75), (4.0, 2.5), (4.25, 2.75))
    brief = with_checkins(c, rows, AFTER_IT)
    found = brief.checkins
    assert found.sessions == tuple(row.session_at for row in rows[1:])  # the first of six is left out
    assert (found.earlier, found.upcoming) == (1, False)
    robin, sasha = found.lines
    assert (robin.position, robin.written, robin.worse) == (1, ("3.50", "3.75", "4.00", "4.00", "4.25"), "")
    assert (sasha.position, sasha.written, sasha.worse) == (2, ("—", "2.50", "2.75", "2.50", "2.75"), "")
    assert sasha.values[0] is None and found.missing(0) == "no check-in"
    assert found.summary("14 Nov", "12 Dec") == (
        "How things feel overall, from 1 to 5 (higher is better): the last 5 sessions, 14 Nov to 12 Dec."
    )
    # Steady (Robin's +0.25, Sasha's +0.25): nothing to raise.
    assert [p.rule for p in brief.points] == []


def test_a_clear_drop_before_this_session_is_flagged_and_raised_as_a_talking_point(couple):
    _, c = couple
    # Robin 4.00 -> 3.25 (down 0.75, at least 0.40: worse), in the check-in sent before this session;
    # Sasha has not answered that one yet: her latest, 3.25, against 3.00 before it is +0.25.
    rows = sessions((4.0, 3.0), (4.0, 3.25), (3.25, None))
    brief = with_checkins(c, rows, BEFORE_IT)
    found = brief.checkins
    assert found.upcoming and found.missing(2) == "not answered yet" and found.missing(1) == "no check-in"
    assert found.summary("28 Nov", "12 Dec") == (
        "How things feel overall, from 1 to 5 (higher is better): 3 sessions, 28 Nov to 12 Dec. "
        "The latest check-in was sent before this session."
    )
    assert [(line.written, line.worse) for line in found.lines] == [
        (("4.00", "4.00", "3.25"), "down 0.75: worse"),
        (("3.00", "3.25", "—"), ""),
    ]
    (point,) = brief.points
    assert (point.rule, point.title, point.anchor) == ("checkin", "Check-in down: Robin", "checkins")
    assert point.about == "Satisfaction, closeness and hope about the relationship right now."
    assert point.answers == {
        1: "Good (4.00) → Mixed (3.25), before this session: worse",
        2: "Mixed (3.00) → Mixed (3.25): no clear change",
    }
    assert point.note == (
        "Each partner's latest check-in against the one before it. "
        "A raw change (“better” and “worse” mean a change of at least 0.40)."
    )
    assert brief.questions == ("What has changed between you since we last met?",)


def test_a_drop_is_clear_from_a_tenth_of_the_range_as_written_and_both_partners_can_drop(couple):
    _, c = couple
    # Robin 3.40 -> 3.00 is 0.3999... in floating point, written 0.40: clear, as clinic.results
    # judges a change. Sasha 3.00 -> 2.65 (0.35) is not; then both drop (3.00 -> 2.25, 2.65 -> 2.00).
    brief = with_checkins(c, sessions((3.4, 3.0), (3.0, 2.65)), AFTER_IT)
    assert [line.worse for line in brief.checkins.lines] == ["down 0.40: worse", ""]
    both = with_checkins(c, sessions((3.4, 3.0), (3.0, 2.65), (2.25, 2.0)), AFTER_IT)
    (point,) = both.points
    assert point.title == "Check-in down: Robin and Sasha"
    assert point.answers == {1: "Mixed (3.00) → Struggling (2.25): worse", 2: "Mixed (2.65) → Struggling (2.00): worse"}


def test_a_drop_is_judged_with_reliable_change_where_the_check_in_has_a_basis(couple):
    _, c = couple
    checkin = catalog.registry().latest("checkin")
    # Published SD 0.5 and reliability 0.8: a change is reliable beyond 1.96 * sqrt(2) * 0.5 * sqrt(0.2) = 0.62.
    overall = checkin.subscales[0].model_copy(update={"psychometrics": Psychometrics(sd=0.5, reliability=0.8)})
    judged = checkin.model_copy(update={"subscales": [overall]})
    # Robin down 0.50 (raw: clear; reliable: not), Sasha down 0.75 (reliable).
    brief = with_checkins(c, sessions((4.0, 3.75), (3.5, 3.0)), AFTER_IT, judged)
    assert [line.worse for line in brief.checkins.lines] == ["", "down 0.75: worse"]
    (point,) = brief.points
    assert point.answers[1] == "Good (4.00) → Good (3.50): no clear change"
    assert point.note.endswith(
        "Judged with reliable change (Jacobson & Truax, 95%), from the questionnaire's published figures "
        "(α = 0.80, SD = 0.50)."
    )


def test_no_check_ins_no_line(couple):
    _, c = couple
    results = load_couple_results(c)
    assert build_brief(results, None, AFTER_IT).checkins is None
    assert with_checkins(c, (), AFTER_IT).checkins is None
    # Sent, but nobody has answered one yet: nothing to show either.
    brief = with_checkins(c, sessions((None, None)), BEFORE_IT)
    assert brief.checkins is None and brief.points == ()
