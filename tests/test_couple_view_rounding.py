"""Numbers on the couple view are kept unrounded and written half-up to two decimals, once, where shown.

instruments.numbers: a score of 3.125 is written "3.13" (half away from zero, as by hand), where
Python's format() gives "3.12" (3.125 is exact in binary, and format rounds half to even).
A difference, a change or a gap is worked out from the unrounded scores and then written: it
can differ by 0.01 from the difference of the two numbers shown.
"""

import pytest

from tests.conftest import login
from tests.test_couple_view import chart_descs, details, row, six_weeks_back, text_of, trend_part


@pytest.fixture
def setup(make_practice, make_couple):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    return owner, couple


# Connection and distance: "Overall connection" is the mean of the 25 statements of its five health
# areas (heard, affection, sharing, kindness, rituals), valid from 0.75 x 25 = 18.75, so 19 answered.
# Reverse-keyed statements are keyed 6 - x; the concern areas are answered 3 (the midpoint) throughout.
CONCERN_AREAS_AT_THE_MIDPOINT = {
    **{f"withdrawal_{n}": 3 for n in range(1, 6)},
    **{f"pursuing_{n}": 3 for n in range(1, 5)},
    **{f"withdrawing_{n}": 3 for n in range(1, 5)},
}  # withdrawal 15 / 5, pursuing 12 / 4, withdrawing 12 / 4: 3.00 (Some) each, every statement unsure
HEALTH_STATEMENTS = [
    f"{area}_{n}" for area in ("heard", "affection", "sharing", "kindness", "rituals") for n in range(1, 6)
]
REVERSED = {"heard_3", "heard_5", "affection_3", "affection_5", "sharing_2", "sharing_5", "kindness_3", "kindness_5",
            "rituals_3", "rituals_4"}  # fmt: skip

# Robin: 24 of the 25 statements (rituals_5 left out), each at the midpoint 3 (keyed 3, reversed or
# not) but heard_1, affection_1 and sharing_1 (keyed as given) at 4. Keyed sum 21 x 3 + 3 x 4 = 75;
# 75 / 24 = 3.125 exactly -> "3.13" half-up (not "3.12"): Mixed (below 3.5).
# Areas: heard (4 + 3 + 3 + 3 + 3) / 5 = 3.20, affection 3.20, sharing 3.20, kindness 15 / 5 = 3.00,
# rituals 12 / 4 = 3.00 (4 of 5 answered >= 3.75): all Mixed.
ROBIN = {
    **{item: 3 for item in HEALTH_STATEMENTS if item != "rituals_5"},
    "heard_1": 4,
    "affection_1": 4,
    "sharing_1": 4,
    **CONCERN_AREAS_AT_THE_MIDPOINT,
}
# Sasha: every health statement keyed 4 (4 as given, 2 where reversed): every health area and the
# total 4.00, Strong.
SASHA = {
    **{item: (2 if item in REVERSED else 4) for item in HEALTH_STATEMENTS},
    **CONCERN_AREAS_AT_THE_MIDPOINT,
}
# Differences, b - a from the unrounded scores:
#   heard, affection, sharing: 4.0 - 3.2 = 0.8 (0.7999999999999998 in floats) -> "Sasha higher by 0.80";
#   kindness, rituals: 1.00; the concern areas: 0 -> "the same score";
#   Overall connection: 4.0 - 3.125 = 0.875 -> "0.88" half-up. The two numbers shown, 4.00 - 3.13,
#   would give 0.87: the difference is not worked out from the rounded scores.
# Agreement: heard_1, affection_1, sharing_1 are 4 and 4 (both positive); Robin's other answers sit at
# the midpoint (unsure); rituals_5 was not answered by Robin, so it is left out of rituals and the total:
#   heard, affection, sharing: 1 both positive, 4 unsure; kindness 5 unsure; rituals 4 unsure;
#   Overall connection: 24 statements both answered, 3 both positive, 21 unsure.


def test_a_half_way_score_is_written_half_up_and_differences_come_from_unrounded_scores(
    client, setup, make_assessment, answer_as
):
    owner, couple = setup
    _, tokens = make_assessment(couple, instruments=["connection"])
    answer_as(tokens[1], {"connection": ROBIN})
    answer_as(tokens[2], {"connection": SASHA})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    part = details(html)

    assert row(part, "Overall connection") == (
        "Overall connection 3.13 Mixed 4.00 Strong Sasha higher by 0.88 3 both positive · 21 unsure"
    )
    assert (
        row(part, "Feeling heard")
        == "Feeling heard 3.20 Mixed 4.00 Strong Sasha higher by 0.80 1 both positive · 4 unsure"
    )
    assert row(part, "Affection") == (
        "Affection and physical closeness 3.20 Mixed 4.00 Strong Sasha higher by 0.80 1 both positive · 4 unsure"
    )
    assert row(part, "Sharing") == (
        "Sharing feelings and worries 3.20 Mixed 4.00 Strong Sasha higher by 0.80 1 both positive · 4 unsure"
    )
    assert row(part, "Kindness") == "Kindness and respect 3.00 Mixed 4.00 Strong Sasha higher by 1.00 5 unsure"
    assert row(part, "Shared time") == "Shared time and rituals 3.00 Mixed 4.00 Strong Sasha higher by 1.00 4 unsure"
    assert row(part, "Withdrawal") == (
        "Withdrawal and numbness (higher = more of the pattern) 3.00 Some 3.00 Some the same score 5 unsure"
    )
    assert (
        row(part, "Pursuing") == "Pursuing (higher = more of the pattern) 3.00 Some 3.00 Some the same score 4 unsure"
    )
    # The chart's text alternative writes the same numbers.
    assert "Overall connection: Robin 3.13, Sasha 4.00." in chart_descs(part)[0]
    page = text_of(html)
    assert "3.12" not in page and "0.87" not in page


def test_change_over_time_is_worked_out_from_unrounded_scores(client, setup, make_assessment, answer_as, db):
    owner, couple = setup
    first, tokens = make_assessment(couple, instruments=["connection"], occasion="Intake")
    answer_as(tokens[1], {"connection": ROBIN})
    answer_as(tokens[2], {"connection": SASHA})
    six_weeks_back(db, first)
    _, tokens = make_assessment(couple, instruments=["connection"], occasion="Week 6")
    answer_as(tokens[1], {"connection": SASHA})  # Robin now answers as Sasha did: 4.00 everywhere
    answer_as(tokens[2], {"connection": SASHA})
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    section = trend_part(html, "connection")

    # Overall connection: Robin 3.125 -> 4.0, +0.875 >= 0.40 (a tenth of 1-5): better; Sasha 4.00 -> 4.00.
    # The gap is |4.0 - 3.125| = 0.875 -> "0.88" at intake (from the rounded 4.00 and 3.13: 0.87),
    # then 0.00: -0.875, closer.
    assert row(section, "Overall connection") == (
        "Overall connection 3.13 → 4.00 better 4.00 → 4.00 no clear change 0.88 → 0.00 closer"
    )
    # Feeling heard: Robin 3.20 -> 4.00, +0.80 (0.8000000000000003 in floats): better; gap 0.80 -> 0.00: closer.
    assert (
        row(section, "Feeling heard")
        == "Feeling heard 3.20 → 4.00 better 4.00 → 4.00 no clear change 0.80 → 0.00 closer"
    )
    assert row(section, "Withdrawal") == (
        "Withdrawal and numbness 3.00 → 3.00 no clear change 3.00 → 3.00 no clear change 0.00 → 0.00 no clear change"
    )
    assert (
        "Overall connection (from 1 to 5): Intake: Robin 3.13, Sasha 4.00; Week 6: Robin 4.00, Sasha 4.00."
    ) in chart_descs(section)[0]
    assert "3.12" not in text_of(html) and "0.87" not in text_of(html)
