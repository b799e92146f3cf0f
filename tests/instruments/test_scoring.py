"""Scoring one respondent: keying, means and sums, missing data, bands, norms, flags."""

from __future__ import annotations

import copy
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from instruments import AnswerError, Instrument, item_order, load_instrument, parse_instrument, score
from instruments.numbers import fmt, shown
from instruments.scoring import reverse

FIXTURES = Path(__file__).parent / "fixtures"
TINY = load_instrument(FIXTURES / "tiny-v1.yaml")

# Partner answers used across tests; hand-scored in test_full_answers_score_by_hand.
FULL = {
    "heard_1": 4,
    "heard_2": 2,
    "heard_3": 5,
    "warm_1": 2,
    "warm_2": 5,
    "pull_1": 2,
    "pull_2": 0,
    "pull_3": 3,
    "note": "Money talks.",  # 12 characters, under the item's limit of 20
}


def test_full_answers_score_by_hand() -> None:
    result = score(TINY, FULL)
    assert (result.instrument_id, result.version) == ("tiny", 1)

    # Keying: heard_2 and warm_2 on 1-5 reverse as 1 + 5 - v; pull_2 on 0-3 as 0 + 3 - v.
    assert result.keyed == {
        "heard_1": 4,
        "heard_2": 4,  # 6 - 2
        "heard_3": 5,
        "warm_1": 2,
        "warm_2": 1,  # 6 - 5
        "pull_1": 2,
        "pull_2": 3,  # 3 - 0
        "pull_3": 3,
    }

    heard = result.scores["heard"]
    # mean (4 + 4 + 5) / 3 = 13 / 3 = 4.333 (kept unrounded, shown 4.33); >= 3.5 -> Strong
    assert heard.value == pytest.approx(13 / 3) and fmt(heard.value) == "4.33"
    assert heard.valid and heard.answered == 3 and heard.total_items == 3
    assert heard.band is not None and heard.band.label == "Strong"
    # z = (4.3333 - 3.4) / 0.7 = 0.9333 / 0.7 = 1.3333 -> 1.33; Phi(1.3333) = 0.9088 -> 90.9
    assert heard.z == 1.33
    assert heard.percentile == 90.9
    assert heard.prompts == ()  # not a concern band
    assert heard.possible == (1.0, 5.0)
    assert heard.direction == "health"

    warmth = result.scores["warmth"]
    # mean (2 + 1) / 2 = 1.5; < 3 -> Low, a concern band, so both prompts show
    assert warmth.value == 1.5
    assert warmth.band is not None and warmth.band.label == "Low" and warmth.band.concern
    assert [p.theme for p in warmth.prompts] == ["daily_connection", "intimacy"]
    assert warmth.z is None and warmth.percentile is None  # no norms

    pulling = result.scores["pulling"]
    # sum 2 + 3 + 3 = 8; >= 6 -> High (concern); possible 3 * 0 .. 3 * 3
    assert pulling.value == 8.0
    assert pulling.band is not None and pulling.band.label == "High"
    assert [p.theme for p in pulling.prompts] == ["demand_withdraw"]
    assert pulling.possible == (0.0, 9.0)
    assert pulling.direction == "concern"

    total = result.totals["total"]
    # pooled heard + warmth items: (4 + 4 + 5 + 2 + 1) / 5 = 16 / 5 = 3.2; >= 3 -> Steady
    assert total.value == pytest.approx(3.2)
    assert total.answered == 5 and total.total_items == 5
    assert total.band is not None and total.band.label == "Steady"


def test_below_min_answered_is_not_a_guess() -> None:
    result = score(TINY, {"heard_1": 5, "warm_1": 5, "pull_1": 3})
    for measure_id in ("heard", "warmth", "pulling"):
        # heard 1/3 < 0.6, warmth 1/2 < 1, pulling 1/3 < 0.6
        s = result.scores[measure_id]
        assert not s.valid, measure_id
        assert s.value is None and s.band is None and s.z is None and s.percentile is None
        assert s.prompts == ()
        assert s.answered == 1
    assert result.scores["heard"].total_items == 3
    assert not result.totals["total"].valid  # 2 of 5 < 0.8


def test_min_answered_reached_exactly() -> None:
    result = score(TINY, {"heard_1": 4, "heard_2": 2, "heard_3": 5, "warm_1": 2})
    # heard 3/3; total 4/5 = 0.8, exactly the minimum: (4 + 4 + 5 + 2) / 4 = 15 / 4 = 3.75
    assert result.totals["total"].valid
    assert result.totals["total"].value == 3.75
    assert result.totals["total"].answered == 4
    # warmth 1/2 < 1: not valid, even though the total is
    assert not result.scores["warmth"].valid


def test_sum_is_prorated_when_an_item_is_skipped() -> None:
    result = score(TINY, {"pull_1": 1, "pull_3": 2})
    # 2/3 answered >= 0.6; mean (1 + 2) / 2 = 1.5, prorated * 3 items = 4.5 -> Some
    pulling = result.scores["pulling"]
    assert pulling.valid and pulling.value == 4.5
    assert pulling.band is not None and pulling.band.label == "Some"


def test_none_means_unanswered() -> None:
    with_none = score(TINY, {**FULL, "heard_3": None, "note": None})
    # heard: (4 + 4) / 2 = 4.0, 2 of 3 answered
    assert with_none.scores["heard"].value == 4.0
    assert with_none.scores["heard"].answered == 2
    assert "heard_3" not in with_none.keyed


@pytest.mark.parametrize(
    ("answers", "value", "label"),
    [
        ({"heard_1": 2, "heard_3": 2}, 2.0, "Strained"),  # (2 + 2) / 2
        ({"heard_1": 2, "heard_3": 3}, 2.5, "Mixed"),  # (2 + 3) / 2, at the 2.5 cut
        ({"heard_1": 3, "heard_3": 3}, 3.0, "Mixed"),
        ({"heard_1": 3, "heard_3": 4}, 3.5, "Strong"),  # at the 3.5 cut
        ({"heard_1": 2, "heard_2": 4, "heard_3": 3}, 2.33, "Strained"),  # (2 + 2 + 3) / 3
        ({"heard_1": 2, "heard_2": 3, "heard_3": 3}, 2.67, "Mixed"),  # (2 + 3 + 3) / 3
    ],
)
def test_mean_bands_at_and_around_cut_points(answers: dict[str, int], value: float, label: str) -> None:
    heard = score(TINY, answers).scores["heard"]
    assert shown(heard.value) == value
    assert heard.band is not None and heard.band.label == label
    # Prompts only in the concern band
    assert bool(heard.prompts) == (label == "Strained")


@pytest.mark.parametrize(
    ("answers", "value", "label"),
    [
        ({"pull_1": 1, "pull_2": 3, "pull_3": 1}, 2.0, "Little"),  # 1 + 0 + 1
        ({"pull_1": 1, "pull_2": 2, "pull_3": 1}, 3.0, "Some"),  # 1 + 1 + 1, at the 3 cut
        ({"pull_1": 2, "pull_2": 1, "pull_3": 2}, 6.0, "High"),  # 2 + 2 + 2, at the 6 cut
        ({"pull_1": 2, "pull_2": 2, "pull_3": 2}, 5.0, "Some"),  # 2 + 1 + 2
    ],
)
def test_sum_bands_at_cut_points(answers: dict[str, int], value: float, label: str) -> None:
    pulling = score(TINY, answers).scores["pulling"]
    assert pulling.value == value
    assert pulling.band is not None and pulling.band.label == label


def test_z_and_percentile_from_norms() -> None:
    low = score(TINY, {"heard_1": 2, "heard_3": 2}).scores["heard"]
    # z = (2.0 - 3.4) / 0.7 = -2.0; Phi(-2) = 0.02275 -> 2.3
    assert low.z == -2.0
    assert low.percentile == 2.3
    mid = score(TINY, {"heard_1": 3, "heard_3": 4}).scores["heard"]
    # z = (3.5 - 3.4) / 0.7 = 0.142857 -> 0.14; Phi(0.142857) = 0.5568 -> 55.7
    assert mid.z == 0.14
    assert mid.percentile == 55.7


def test_safety_flag_on_raw_answer_even_without_a_valid_score() -> None:
    result = score(TINY, {"pull_3": 3})
    assert not result.scores["pulling"].valid  # 1 of 3 answered
    assert len(result.flags) == 1
    flag = result.flags[0]
    assert (flag.item_id, flag.value, flag.answer_label, flag.level) == (
        "pull_3",
        3,
        "Almost always",
        "urgent",
    )
    assert flag.text == "I feel afraid of how my partner reacts."
    assert score(TINY, {"pull_3": 2}).flags == ()
    assert score(TINY, {}).flags == ()


def test_safety_rule_reads_the_raw_answer_of_a_reversed_item() -> None:
    data = yaml.safe_load((FIXTURES / "tiny-v1.yaml").read_text())
    data["items"][7]["reverse"] = True  # pull_3, safety values [3]
    inst = parse_instrument(data, "tiny-v1.yaml")
    result = score(inst, {"pull_3": 3})
    assert result.keyed["pull_3"] == 0  # 0 + 3 - 3
    assert [f.value for f in result.flags] == [3]  # the author listed raw answers
    assert score(inst, {"pull_3": 0}).flags == ()  # keyed 3, raw 0: no flag


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"nope": 1}, "unknown item 'nope' for tiny v1"),
        ({"heard_1": 6}, "heard_1: 6 is outside the scale (1 to 5)"),
        ({"heard_1": 0}, "heard_1: 0 is outside the scale (1 to 5)"),
        ({"pull_1": -1}, "pull_1: -1 is outside the scale (0 to 3)"),
        ({"pull_1": 4}, "pull_1: 4 is outside the scale (0 to 3)"),
        ({"heard_1": True}, "heard_1: expected a whole number, got bool"),
        ({"heard_1": 4.0}, "heard_1: expected a whole number, got float"),
        ({"heard_1": "4"}, "heard_1: expected a whole number, got str"),
        ({"note": 3}, "note: expected text, got int"),
        ({"note": "x" * 21}, "note: answer is 21 characters, the limit is 20"),
    ],
)
def test_bad_answers_raise(answers: dict[str, Any], message: str) -> None:
    with pytest.raises(AnswerError) as caught:
        score(TINY, answers)
    assert str(caught.value) == message


def test_text_at_the_limit_is_fine() -> None:
    assert score(TINY, {"note": "x" * 20}).keyed == {}


def test_scoring_does_not_mutate_its_inputs() -> None:
    answers = dict(FULL)
    before = copy.deepcopy(answers)
    dumped = TINY.model_dump()
    score(TINY, answers)
    assert answers == before
    assert TINY.model_dump() == dumped
    # Any read-only mapping works as answers.
    assert score(TINY, MappingProxyType(answers)) == score(TINY, before)


def test_results_are_frozen() -> None:
    result = score(TINY, FULL)
    with pytest.raises(AttributeError):
        result.flags = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.scores["heard"].value = 1.0  # type: ignore[misc]


def _instrument(**changes: Any) -> Instrument:
    """Build a one-subscale instrument of n agree5 items with some fields changed."""
    n = changes.pop("n", 10)
    data: dict[str, Any] = {
        "id": "many",
        "version": 1,
        "kind": "scored",
        "title": "Many",
        "description_client": "x",
        "description_clinician": "x",
        "minutes": 1,
        "attribution": "tests",
        "licence": "CC0",
        "normed": False,
        "scales": {"agree5": yaml.safe_load((FIXTURES / "tiny-v1.yaml").read_text())["scales"]["agree5"]},
        "items": [{"id": f"i{k}", "text": f"Item {k}", "scale": "agree5", "subscale": "all"} for k in range(n)],
        "subscales": [{"id": "all", "label": "All", "method": "mean", "min_answered": 0.7, "direction": "health"}],
    }
    data.update(changes)
    return parse_instrument(data, "many-v1.yaml")


def test_min_answered_survives_float_noise() -> None:
    subscale = {"id": "all", "label": "All", "method": "mean", "min_answered": 0.28}
    inst = _instrument(n=25, subscales=[{**subscale, "direction": "health"}])
    # 0.28 * 25 is 7.000000000000001 in floating point; 7 of 25 answered must still count.
    assert 0.28 * 25 > 7
    seven = score(inst, {f"i{k}": 4 for k in range(7)}).scores["all"]
    assert seven.valid and seven.value == 4.0
    assert not score(inst, {f"i{k}": 4 for k in range(6)}).scores["all"].valid


def test_measure_without_bands_has_no_band() -> None:
    inst = _instrument()
    result = score(inst, {f"i{k}": 5 for k in range(10)}).scores["all"]
    assert result.value == 5.0 and result.band is None and result.prompts == ()


def test_item_order_is_fixed_without_shuffle() -> None:
    inst = _instrument(n=5)
    assert item_order(inst, "any") == ["i0", "i1", "i2", "i3", "i4"]


def test_item_order_is_deterministic_per_seed() -> None:
    file_order = [i.id for i in TINY.items]
    orders = {tuple(item_order(TINY, f"invite-{k}")) for k in range(20)}
    assert item_order(TINY, "invite-1") == item_order(TINY, "invite-1")
    assert len(orders) > 1  # different seeds give different orders
    for order in orders:
        assert sorted(order) == sorted(file_order)  # a permutation
        assert order[-1] == "note"  # text items keep their place


# --- properties ---------------------------------------------------------------


def _answers_for(inst: Instrument) -> st.SearchStrategy[dict[str, Any]]:
    """Any valid answers: each choice item skipped or answered on its scale."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for item in inst.items:
        if item.type == "choice":
            scale = inst.scale_of(item)
            fields[item.id] = st.none() | st.integers(scale.low, scale.high)
        else:
            fields[item.id] = st.none() | st.text(max_size=item.text_limit)
    return st.fixed_dictionaries(fields)


@given(_answers_for(TINY))
def test_scores_stay_inside_their_possible_range(answers: dict[str, Any]) -> None:
    result = score(TINY, answers)
    for s in [*result.scores.values(), *result.totals.values()]:
        if s.valid:
            assert s.value is not None
            assert s.possible[0] <= s.value <= s.possible[1], s
            assert s.band is not None
        else:
            assert s.value is None and s.band is None
        assert 0 <= s.answered <= s.total_items


@given(st.integers(-5, 5), st.integers(0, 10), st.data())
def test_reversing_twice_is_identity(low: int, width: int, data: st.DataObject) -> None:
    high = low + width
    value = data.draw(st.integers(low, high))
    once = reverse(value, low, high)
    assert low <= once <= high
    assert reverse(once, low, high) == value


@given(_answers_for(TINY))
def test_keyed_values_stay_on_the_scale(answers: dict[str, Any]) -> None:
    for item_id, keyed in score(TINY, answers).keyed.items():
        scale = TINY.scale_of(TINY.item(item_id))
        assert scale.low <= keyed <= scale.high
