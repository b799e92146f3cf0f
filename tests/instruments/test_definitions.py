"""Content tests for the questionnaires Tandem ships (instruments/definitions/).

Every fixture below was worked out by hand: the comments give the raw answers,
the keyed values (reverse-keyed items: min + max - answer) and the arithmetic,
so a change in wording, keying or bands shows up here as a failing number.
"""

from __future__ import annotations

import re
import statistics

import pytest
import textstat  # pinned to 0.7.3: it counts syllables with pyphen, offline (0.7.9+ needs an NLTK download)

from instruments import AnswerError, Instrument, load_registry, score
from instruments.__main__ import check
from instruments.loader import DEFINITIONS
from instruments.numbers import shown

REGISTRY = load_registry()

SHIPPED = {
    ("checkin", 1),
    ("connection", 1),
    ("differentiation", 1),
    ("life_context", 1),
    ("safety", 1),
}
SCORED = ["checkin", "connection", "differentiation"]


def inst(instrument_id: str) -> Instrument:
    return REGISTRY.get(instrument_id, 1)


def value_and_band(result, measure_id: str) -> tuple[float | None, str | None]:
    """Return (value as shown, half-up to 2 decimals; band label) of a subscale or total."""
    found = result.scores.get(measure_id) or result.totals[measure_id]
    return (shown(found.value) if found.value is not None else None), (found.band.label if found.band else None)


# --- Loading and linting ------------------------------------------------------------


def test_every_shipped_file_loads():
    assert set(REGISTRY.all()) == SHIPPED


def test_every_shipped_file_lints_clean(capsys):
    assert check(DEFINITIONS) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SHIPPED)
    assert all(line.startswith("ok ") for line in lines)


@pytest.mark.parametrize("instrument", list(REGISTRY), ids=lambda i: i.id)
def test_shared_metadata(instrument):
    assert instrument.attribution == "Written by the Tandem project."
    assert instrument.licence == "CC BY 4.0"
    assert instrument.normed is False
    assert instrument.minutes >= 1
    assert not instrument.norms_present()


@pytest.mark.parametrize("instrument_id", SCORED)
def test_scored_files_carry_a_one_sentence_notice(instrument_id):
    notice = inst(instrument_id).notice
    assert notice
    assert "diagnosis" in notice
    assert len(re.findall(r"[.!?](\s|$)", notice.strip())) == 1


# --- Wording ----------------------------------------------------------------------------


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def test_every_item_text_is_unique_across_files():
    seen: dict[str, str] = {}
    for instrument in REGISTRY:
        for item in instrument.items:
            key = _normalised(item.text)
            where = f"{instrument.id}.{item.id}"
            assert key not in seen, f"{where} repeats {seen[key]}"
            seen[key] = where


@pytest.mark.parametrize("instrument", list(REGISTRY), ids=lambda i: i.id)
def test_item_wording_is_readable(instrument):
    grades = {item.id: textstat.flesch_kincaid_grade(item.text) for item in instrument.items}
    too_hard = {item_id: grade for item_id, grade in grades.items() if grade > 10}
    assert not too_hard, f"items above grade 10: {too_hard}"
    assert statistics.mean(grades.values()) <= 8


def test_readability_library_works_offline():
    # A sanity check on the pinned library: short plain words read as early grades.
    assert textstat.flesch_kincaid_grade("We often hug, kiss or hold hands in passing.") < 4


# --- Shape of the shipped content -------------------------------------------------------


def test_connection_shape():
    connection = inst("connection")
    assert 32 <= len(connection.items) <= 40
    assert set(connection.scales) == {"agree5"}
    reversed_items = [i for i in connection.items if i.reverse]
    assert len(reversed_items) * 3 >= len(connection.items)
    directions = {s.id: s.direction for s in connection.subscales}
    assert directions == {
        "heard": "health",
        "affection": "health",
        "sharing": "health",
        "withdrawal": "concern",
        "kindness": "health",
        "rituals": "health",
        "pursuing": "concern",
        "withdrawing": "concern",
    }
    for subscale in connection.subscales:
        assert 4 <= len(connection.items_of(subscale.id)) <= 5, subscale.id
        assert subscale.method == "mean"
        assert subscale.min_answered == 0.75
        assert len(subscale.bands) == 3
        assert sum(band.concern for band in subscale.bands) == 1
        assert 2 <= len(subscale.prompts) <= 3, subscale.id
        # No validation study, so no psychometrics: reliable change is never invented.
        assert subscale.psychometrics is None, subscale.id
    (total,) = connection.totals
    assert total.subscales == [s for s, d in directions.items() if d == "health"]
    assert total.psychometrics is None
    assert "change over time cannot yet be judged reliable" in " ".join(connection.description_clinician.split())
    assert "provisional" not in connection.description_clinician


def test_no_shipped_check_in_invents_psychometrics():
    # Tandem's own check-ins have had no validation study (PRODUCT.md: where SD and
    # reliability are missing, say change cannot yet be judged reliable).
    for instrument in REGISTRY:
        for measure in instrument.measures():
            assert measure.psychometrics is None, f"{instrument.id} v{instrument.version}: {measure.id}"


def test_differentiation_is_descriptive_only():
    differentiation = inst("differentiation")
    assert 24 <= len(differentiation.items) <= 28
    (scale,) = differentiation.scales.values()
    assert (scale.low, scale.high) == (1, 6)  # six points, no neutral midpoint
    assert [s.id for s in differentiation.subscales] == ["reactivity", "i_position", "cutoff", "fusion"]
    for measure in differentiation.measures():
        assert measure.direction == "health"
        assert measure.bands
        assert not any(band.concern for band in measure.bands)
        assert measure.psychometrics is None  # change "cannot yet be judged"
    assert "no clinical cut-offs" in differentiation.description_clinician


def test_checkin_has_no_psychometrics():
    checkin = inst("checkin")
    assert 3 <= len(checkin.items) <= 4
    assert [s.id for s in checkin.subscales] == ["overall"]
    assert checkin.subscales[0].psychometrics is None


# --- connection: hand-computed fixtures -------------------------------------------------
# agree5 runs 1-5, so a reverse-keyed answer a is keyed 6 - a.

# Profile A, someone who pursues: strong on feeling heard, strained on affection.
CONNECTION_A = {
    # heard: 4, 5, 2->4 (R), 4, 1->5 (R) = 22 / 5 = 4.40 Strong
    "heard_1": 4, "heard_2": 5, "heard_3": 2, "heard_4": 4, "heard_5": 1,
    # affection: 2, 2, 4->2 (R), 3, 5->1 (R) = 10 / 5 = 2.00 Strained
    "affection_1": 2, "affection_2": 2, "affection_3": 4, "affection_4": 3, "affection_5": 5,
    # sharing: 3, 3->3 (R), 4, 3, 2->4 (R) = 17 / 5 = 3.40 Mixed
    "sharing_1": 3, "sharing_2": 3, "sharing_3": 4, "sharing_4": 3, "sharing_5": 2,
    # withdrawal (concern): 2, 3, 2, 5->1 (R), 4->2 (R) = 10 / 5 = 2.00 Low
    "withdrawal_1": 2, "withdrawal_2": 3, "withdrawal_3": 2, "withdrawal_4": 5, "withdrawal_5": 4,
    # kindness: 4, 3, 2->4 (R), 4, 4->2 (R) = 17 / 5 = 3.40 Mixed
    "kindness_1": 4, "kindness_2": 3, "kindness_3": 2, "kindness_4": 4, "kindness_5": 4,
    # rituals: 2, 2, 4->2 (R), 3->3 (R), 3 = 12 / 5 = 2.40 Strained
    "rituals_1": 2, "rituals_2": 2, "rituals_3": 4, "rituals_4": 3, "rituals_5": 3,
    # pursuing (concern): 5, 4, 4, 2->4 (R) = 17 / 4 = 4.25 High
    "pursuing_1": 5, "pursuing_2": 4, "pursuing_3": 4, "pursuing_4": 2,
    # withdrawing (concern): 2, 1, 2, 4->2 (R) = 7 / 4 = 1.75 Low
    "withdrawing_1": 2, "withdrawing_2": 1, "withdrawing_3": 2, "withdrawing_4": 4,
}  # fmt: skip
# total = heard + affection + sharing + kindness + rituals items:
#   (22 + 10 + 17 + 17 + 12) / 25 = 78 / 25 = 3.12 Mixed
CONNECTION_A_EXPECTED = {
    "heard": (4.4, "Strong"),
    "affection": (2.0, "Strained"),
    "sharing": (3.4, "Mixed"),
    "withdrawal": (2.0, "Low"),
    "kindness": (3.4, "Mixed"),
    "rituals": (2.4, "Strained"),
    "pursuing": (4.25, "High"),
    "withdrawing": (1.75, "Low"),
    "total": (3.12, "Mixed"),
}

# Profile B, someone who withdraws and feels like a roommate.
CONNECTION_B = {
    # heard: 2, 2, 4->2 (R), 2, 4->2 (R) = 10 / 5 = 2.00 Strained
    "heard_1": 2, "heard_2": 2, "heard_3": 4, "heard_4": 2, "heard_5": 4,
    # affection: 2, 2, 4->2 (R), 2, 4->2 (R) = 10 / 5 = 2.00 Strained
    "affection_1": 2, "affection_2": 2, "affection_3": 4, "affection_4": 2, "affection_5": 4,
    # sharing: 2, 5->1 (R), 2, 1, 5->1 (R) = 7 / 5 = 1.40 Strained
    "sharing_1": 2, "sharing_2": 5, "sharing_3": 2, "sharing_4": 1, "sharing_5": 5,
    # withdrawal (concern): 4, 4, 5, 2->4 (R), 2->4 (R) = 21 / 5 = 4.20 High
    "withdrawal_1": 4, "withdrawal_2": 4, "withdrawal_3": 5, "withdrawal_4": 2, "withdrawal_5": 2,
    # kindness: 4, 4, 1->5 (R), 4, 2->4 (R) = 21 / 5 = 4.20 Strong
    "kindness_1": 4, "kindness_2": 4, "kindness_3": 1, "kindness_4": 4, "kindness_5": 2,
    # rituals: 3, 3, 3->3 (R), 3->3 (R), 2 = 14 / 5 = 2.80 Mixed
    "rituals_1": 3, "rituals_2": 3, "rituals_3": 3, "rituals_4": 3, "rituals_5": 2,
    # pursuing (concern): 1, 2, 1, 5->1 (R) = 5 / 4 = 1.25 Low
    "pursuing_1": 1, "pursuing_2": 2, "pursuing_3": 1, "pursuing_4": 5,
    # withdrawing (concern): 4, 5, 4, 1->5 (R) = 18 / 4 = 4.50 High
    "withdrawing_1": 4, "withdrawing_2": 5, "withdrawing_3": 4, "withdrawing_4": 1,
}  # fmt: skip
# total = (10 + 10 + 7 + 21 + 14) / 25 = 62 / 25 = 2.48 Strained
CONNECTION_B_EXPECTED = {
    "heard": (2.0, "Strained"),
    "affection": (2.0, "Strained"),
    "sharing": (1.4, "Strained"),
    "withdrawal": (4.2, "High"),
    "kindness": (4.2, "Strong"),
    "rituals": (2.8, "Mixed"),
    "pursuing": (1.25, "Low"),
    "withdrawing": (4.5, "High"),
    "total": (2.48, "Strained"),
}


@pytest.mark.parametrize(
    ("answers", "expected"),
    [(CONNECTION_A, CONNECTION_A_EXPECTED), (CONNECTION_B, CONNECTION_B_EXPECTED)],
    ids=["pursuer", "withdrawer"],
)
def test_connection_hand_computed(answers, expected):
    connection = inst("connection")
    assert set(answers) == {item.id for item in connection.items}
    result = score(connection, answers)
    assert set(result.scores) | set(result.totals) == set(expected)
    for measure_id, (value, band) in expected.items():
        assert value_and_band(result, measure_id) == (value, band), measure_id
    assert result.flags == ()


def test_connection_keying_by_hand():
    result = score(inst("connection"), CONNECTION_A)
    assert result.keyed["heard_1"] == 4  # forward: as answered
    assert result.keyed["heard_3"] == 4  # reverse: 6 - 2
    assert result.keyed["pursuing_4"] == 4  # reverse: 6 - 2
    assert result.keyed["withdrawal_4"] == 1  # reverse: 6 - 5


def test_connection_prompts_follow_concern_bands():
    result = score(inst("connection"), CONNECTION_A)
    with_prompts = {m for m, r in {**result.scores, **result.totals}.items() if r.prompts}
    # Strained affection and rituals (health) and High pursuing (concern).
    assert with_prompts == {"affection", "rituals", "pursuing"}
    assert all(prompt.theme for prompt in result.scores["pursuing"].prompts)


def test_connection_missing_answers():
    answers = {
        # heard, 4 of 5 answered (0.8 >= 0.75): 4, 3, 2->4 (R), 3 = 14 / 4 = 3.50 Strong
        # (3.50 is not below 3.5, so it sits in the top band)
        "heard_1": 4, "heard_2": 3, "heard_3": 2, "heard_4": 3,
        # sharing, 3 of 5 answered (0.6 < 0.75): not enough answers. Keyed 2, 2 (R), 2 = 6
        "sharing_1": 2, "sharing_2": 4, "sharing_3": 2,
        # affection: 3, 3, 3->3 (R), 3, 3->3 (R) = 15 / 5 = 3.00 Mixed
        "affection_1": 3, "affection_2": 3, "affection_3": 3, "affection_4": 3, "affection_5": 3,
        # kindness: 4, 4, 2->4 (R), 4, 4->2 (R) = 18 / 5 = 3.60 Strong
        "kindness_1": 4, "kindness_2": 4, "kindness_3": 2, "kindness_4": 4, "kindness_5": 4,
        # rituals: 3, 3, 3->3 (R), 3->3 (R), 3 = 15 / 5 = 3.00 Mixed
        "rituals_1": 3, "rituals_2": 3, "rituals_3": 3, "rituals_4": 3, "rituals_5": 3,
        # pursuing, 3 of 4 answered (exactly 0.75): 4, 4, 3 = 11 / 3 = 3.67 High
        "pursuing_1": 4, "pursuing_2": 4, "pursuing_3": 3,
        # withdrawing, 2 of 4 answered (0.5): not enough answers
        "withdrawing_1": 2, "withdrawing_4": 4,
        # withdrawal: none answered
    }  # fmt: skip
    # total: 4 + 3 + 5 + 5 + 5 = 22 of 25 items answered (0.88 >= 0.75), valid:
    #   (14 + 6 + 15 + 18 + 15) / 22 = 68 / 22 = 3.0909 -> 3.09 Mixed
    result = score(inst("connection"), answers)
    assert value_and_band(result, "heard") == (3.5, "Strong")
    assert (result.scores["heard"].answered, result.scores["heard"].total_items) == (4, 5)
    assert value_and_band(result, "affection") == (3.0, "Mixed")
    assert value_and_band(result, "kindness") == (3.6, "Strong")
    assert value_and_band(result, "rituals") == (3.0, "Mixed")
    assert value_and_band(result, "pursuing") == (3.67, "High")
    assert value_and_band(result, "total") == (3.09, "Mixed")
    assert result.totals["total"].answered == 22
    for measure_id in ("sharing", "withdrawing", "withdrawal"):
        missing = result.scores[measure_id]
        assert not missing.valid, measure_id
        assert (missing.value, missing.band, missing.prompts) == (None, None, ()), measure_id
    assert result.scores["withdrawal"].answered == 0


def test_connection_total_needs_three_quarters_of_its_items():
    # Only the five "heard" items: 5 of 25 total items, far below 0.75.
    answers = {"heard_1": 4, "heard_2": 4, "heard_3": 2, "heard_4": 4, "heard_5": 2}
    result = score(inst("connection"), answers)
    assert value_and_band(result, "heard") == (4.0, "Strong")  # 4, 4, 4, 4, 4
    assert not result.totals["total"].valid
    assert result.totals["total"].value is None


def _extreme(instrument: Instrument, best: bool) -> dict[str, int]:
    """Answer every item at the healthy (best) or concern (worst) end after keying."""
    answers = {}
    for item in instrument.items:
        if item.type != "choice":
            continue
        scale = instrument.scale_of(item)
        health = instrument.measure(item.subscale).direction == "health"
        want_high_keyed = best == health
        keyed = scale.high if want_high_keyed else scale.low
        answers[item.id] = scale.low + scale.high - keyed if item.reverse else keyed
    return answers


@pytest.mark.parametrize("instrument_id", SCORED)
def test_extremes_reach_the_ends_of_the_scale(instrument_id):
    instrument = inst(instrument_id)
    best = score(instrument, _extreme(instrument, best=True))
    worst = score(instrument, _extreme(instrument, best=False))
    for measure in instrument.measures():
        scale = instrument.scale_of(instrument.items_of(measure.id)[0])
        healthy_end, concern_end = (scale.high, scale.low) if measure.direction == "health" else (scale.low, scale.high)
        assert value_and_band(best, measure.id)[0] == healthy_end, measure.id
        assert value_and_band(worst, measure.id)[0] == concern_end, measure.id
        healthy_band = measure.bands[-1] if measure.direction == "health" else measure.bands[0]
        assert value_and_band(best, measure.id)[1] == healthy_band.label, measure.id


# --- differentiation: hand-computed fixtures --------------------------------------------
# agree6 runs 1-6, so a reverse-keyed answer a is keyed 7 - a.

DIFFERENTIATION_A = {
    # reactivity: 2->5 (R), 5, 3->4 (R), 4, 2->5 (R), 5 = 28 / 6 = 4.67 Mostly steady
    "reactivity_1": 2, "reactivity_2": 5, "reactivity_3": 3,
    "reactivity_4": 4, "reactivity_5": 2, "reactivity_6": 5,
    # i_position: 3, 4, 4->3 (R), 3, 4, 3->4 (R) = 21 / 6 = 3.50 Sometimes speaks up
    "i_position_1": 3, "i_position_2": 4, "i_position_3": 4,
    "i_position_4": 3, "i_position_5": 4, "i_position_6": 3,
    # cutoff: 5->2 (R), 5->2 (R), 2, 6->1 (R), 4->3 (R), 3 = 13 / 6 = 2.17 Often steps away to cope
    "cutoff_1": 5, "cutoff_2": 5, "cutoff_3": 2, "cutoff_4": 6, "cutoff_5": 4, "cutoff_6": 3,
    # fusion: 3->4 (R), 2->5 (R), 5, 4->3 (R), 4, 2->5 (R) = 26 / 6 = 4.33 In between
    "fusion_1": 3, "fusion_2": 2, "fusion_3": 5, "fusion_4": 4, "fusion_5": 4, "fusion_6": 2,
}  # fmt: skip
# total = (28 + 21 + 13 + 26) / 24 = 88 / 24 = 3.67 In between
DIFFERENTIATION_A_EXPECTED = {
    "reactivity": (4.67, "Mostly steady"),
    "i_position": (3.5, "Sometimes speaks up"),
    "cutoff": (2.17, "Often steps away to cope"),
    "fusion": (4.33, "In between"),
    "total": (3.67, "In between"),
}


def test_differentiation_hand_computed():
    differentiation = inst("differentiation")
    assert set(DIFFERENTIATION_A) == {item.id for item in differentiation.items}
    result = score(differentiation, DIFFERENTIATION_A)
    assert set(result.scores) | set(result.totals) == set(DIFFERENTIATION_A_EXPECTED)
    for measure_id, (value, band) in DIFFERENTIATION_A_EXPECTED.items():
        assert value_and_band(result, measure_id) == (value, band), measure_id
    # Descriptive only: even a low facet brings no concern band and no prompts.
    for measure in [*result.scores.values(), *result.totals.values()]:
        assert not measure.band.concern
        assert measure.prompts == ()


def test_differentiation_missing_answers():
    answers = dict(DIFFERENTIATION_A)
    # reactivity, 5 of 6 (0.83 >= 0.75): 5 + 5 + 4 + 4 + 5 = 23 / 5 = 4.60 Mostly steady
    del answers["reactivity_6"]
    # i_position, 4 of 6 (0.67 < 0.75): not enough answers (keyed 3 + 4 + 3 + 3 = 13)
    del answers["i_position_5"], answers["i_position_6"]
    # total: 21 of 24 items (0.875), (23 + 13 + 13 + 26) / 21 = 75 / 21 = 3.57 In between
    result = score(inst("differentiation"), answers)
    assert value_and_band(result, "reactivity") == (4.6, "Mostly steady")
    assert not result.scores["i_position"].valid
    assert value_and_band(result, "i_position") == (None, None)
    assert value_and_band(result, "cutoff") == (2.17, "Often steps away to cope")
    assert value_and_band(result, "fusion") == (4.33, "In between")
    assert value_and_band(result, "total") == (3.57, "In between")
    assert result.totals["total"].answered == 21


# --- checkin: hand-computed fixtures ----------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "expected", "has_prompts"),
    [
        # 4, 5, 4, 4 = 17 / 4 = 4.25 Good
        ({"satisfied": 4, "close": 5, "hopeful": 4, "together": 4}, (4.25, "Good"), False),
        # 3, 3, 3, 4 = 13 / 4 = 3.25 Mixed
        ({"satisfied": 3, "close": 3, "hopeful": 3, "together": 4}, (3.25, "Mixed"), False),
        # 2, 2, 3, 2 = 9 / 4 = 2.25 Struggling (a concern band: prompts show)
        ({"satisfied": 2, "close": 2, "hopeful": 3, "together": 2}, (2.25, "Struggling"), True),
        # missing one, 3 of 4 (0.75): 2, 3, 2 = 7 / 3 = 2.33 Struggling
        ({"satisfied": 2, "close": 3, "hopeful": 2}, (2.33, "Struggling"), True),
        # missing two, 2 of 4 (0.5): not enough answers
        ({"satisfied": 5, "together": 5}, (None, None), False),
    ],
    ids=["good", "mixed", "struggling", "three-of-four", "two-of-four"],
)
def test_checkin_hand_computed(answers, expected, has_prompts):
    result = score(inst("checkin"), answers)
    assert value_and_band(result, "overall") == expected
    assert result.scores["overall"].valid == (expected[0] is not None)
    assert bool(result.scores["overall"].prompts) == has_prompts
    assert result.totals == {}


# --- safety -------------------------------------------------------------------------------

# Any answer but "Never" (1) raises a flag; these are the levels the file must give.
SAFETY_LEVELS = {
    "afraid": "review",
    "controlled": "review",
    "watched": "review",
    "threatened": "urgent",
    "physical_harm": "urgent",
    "forced_sex": "urgent",
    "self_harm": "urgent",
    "harm_partner": "urgent",
}
NEVER = 1


def test_safety_all_never_raises_no_flags():
    safety = inst("safety")
    assert {item.id for item in safety.items} == set(SAFETY_LEVELS)
    result = score(safety, dict.fromkeys(SAFETY_LEVELS, NEVER))
    assert result.flags == ()
    assert result.scores == {}
    assert result.totals == {}


@pytest.mark.parametrize("item_id", list(SAFETY_LEVELS))
@pytest.mark.parametrize(("value", "label"), [(2, "Once or twice"), (3, "Sometimes"), (4, "Often")])
def test_safety_one_positive_answer_raises_exactly_that_flag(item_id, value, label):
    answers = dict.fromkeys(SAFETY_LEVELS, NEVER)
    answers[item_id] = value
    (flag,) = score(inst("safety"), answers).flags
    assert (flag.item_id, flag.value, flag.answer_label, flag.level) == (
        item_id,
        value,
        label,
        SAFETY_LEVELS[item_id],
    )
    assert flag.text == inst("safety").item(item_id).text


def test_safety_skipped_items_raise_nothing():
    assert score(inst("safety"), {}).flags == ()


def test_safety_never_is_the_only_safe_answer():
    safety = inst("safety")
    (scale,) = safety.scales.values()
    assert scale.label_of(NEVER) == "Never"
    for item in safety.items:
        assert item.safety is not None, item.id
        assert sorted(item.safety.values) == [v.value for v in scale.values if v.value != NEVER]


def test_safety_client_text_promises_therapist_only():
    text = inst("safety").description_client
    assert "therapist only" in text
    assert "never" in text and "partner" in text


# --- life_context -------------------------------------------------------------------------


def test_life_context_scores_nothing_but_keeps_answers():
    life = inst("life_context")
    answers = {
        "work": 3,  # Happening, weighing on me
        "money": 1,  # Not happening
        "new_child": 2,  # Happening, manageable
        "anything_else": "My mother moved in with us in March.",
    }
    result = score(life, answers)
    assert result.scores == {}
    assert result.totals == {}
    assert result.flags == ()
    # Choice answers are kept as given (nothing is reverse-keyed); text is not keyed.
    assert result.keyed == {"work": 3, "money": 1, "new_child": 2}
    assert life.scale_of(life.item("work")).label_of(3) == "Happening, weighing on me"


@pytest.mark.parametrize(
    "answers",
    [
        {"work": 4},  # outside the 1-3 scale
        {"work": 0},
        {"work": "3"},  # a choice answer must be a whole number
        {"anything_else": 3},  # a text answer must be text
        {"anything_else": "x" * 501},  # over max_length 500
        {"hobbies": 1},  # unknown item
    ],
    ids=["above", "below", "string-choice", "int-text", "too-long", "unknown"],
)
def test_life_context_rejects_bad_answers(answers):
    with pytest.raises(AnswerError):
        score(inst("life_context"), answers)


def test_life_context_accepts_text_up_to_its_limit():
    assert score(inst("life_context"), {"anything_else": "x" * 500}).keyed == {}
