"""Comparing two partners: categories, gaps, agreement and differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instruments import AnswerError, Instrument, compare, load_instrument
from instruments.compare import category, side

FIXTURES = Path(__file__).parent / "fixtures"
TINY = load_instrument(FIXTURES / "tiny-v1.yaml")

# Midpoints: agree5 (1-5) 3; often4 (0-3) 1.5. heard/warmth are health, pulling concern.
A = {
    "heard_1": 4,
    "heard_2": 2,
    "heard_3": 5,
    "warm_1": 2,
    "warm_2": 5,
    "pull_1": 2,
    "pull_2": 0,
    "pull_3": 3,
    "note": "A's note",
}
B = {
    "heard_1": 2,
    "heard_2": 1,
    "heard_3": 3,
    "warm_1": 1,
    "warm_2": 1,
    "pull_1": 0,
    "pull_2": 1,
    "note": "B's note",
}


def test_item_categories_and_gaps_by_hand() -> None:
    cmp = compare(TINY, A, B)
    rows = {c.item_id: (c.category, c.gap, c.worth_discussing) for c in cmp.items}
    assert rows == {
        "heard_1": ("split", 2, True),  # A 4 healthy, B 2 concern; gap 2 >= discuss_gap 2
        "heard_2": ("shared_strength", 1, False),  # reversed: A 2 -> 4, B 1 -> 5
        "heard_3": ("neutral", 2, True),  # B 3 is the midpoint; the gap still counts
        "warm_1": ("shared_concern", 1, False),  # A 2, B 1: both below 3
        "warm_2": ("split", 4, True),  # reversed: A 5 -> 1 concern, B 1 -> 5 healthy
        "pull_1": ("split", 2, True),  # concern scale: A 2 > 1.5 concern, B 0 healthy
        "pull_2": ("shared_concern", 1, False),  # reversed: A 0 -> 3, B 1 -> 2, both > 1.5
        # pull_3: B skipped it, so it is left out; note is a text item, never compared
    }
    assert [c.item_id for c in cmp.items] == list(rows)  # file order
    heard_1 = cmp.items[0]
    assert (heard_1.a, heard_1.b) == (4, 2)  # raw answers, not keyed
    assert (heard_1.a_label, heard_1.b_label) == ("Agree", "Disagree")
    assert heard_1.subscale == "heard"
    assert heard_1.text == "My partner listens to me."


def counts(cmp) -> tuple[int, int, int, int, int]:
    """(both positive, both a concern, split, unsure, items compared) of one subscale or total."""
    return (cmp.shared_strengths, cmp.shared_concerns, cmp.splits, cmp.unsure, cmp.items_compared)


def test_subscale_differences_and_agreement_by_hand() -> None:
    cmp = compare(TINY, A, B)
    assert (cmp.instrument_id, cmp.version) == ("tiny", 1)
    heard = cmp.subscales["heard"]
    # A: (4 + 4 + 5) / 3 = 13/3; B: (2 + 5 + 3) / 3 = 10/3; b - a = -1.0, from the unrounded scores
    assert (heard.a.value, heard.b.value) == (pytest.approx(13 / 3), pytest.approx(10 / 3))
    assert heard.difference == pytest.approx(-1.0)
    # heard_1: A agree, B disagree -> split; heard_2 (reversed): both keyed 4 -> shared strength;
    # heard_3: A 5, B 3 (the midpoint) -> unsure.
    assert counts(heard) == (1, 0, 1, 1, 3)
    assert heard.label == "Feeling heard"

    warmth = cmp.subscales["warmth"]
    # A: (2 + 1) / 2 = 1.5; B: (1 + 5) / 2 = 3.0; b - a = +1.5
    assert (warmth.a.value, warmth.b.value, warmth.difference) == (1.5, 3.0, 1.5)
    # warm_1: 2 and 1, both below the midpoint of a health area -> a shared concern;
    # warm_2: 1 and 5 -> split.
    assert counts(warmth) == (0, 1, 1, 0, 2)

    pulling = cmp.subscales["pulling"]
    # A: 2 + 3 + 3 = 8; B: 2 of 3 answered, mean (0 + 2) / 2 = 1.0 * 3 = 3.0; b - a = -5.0
    assert (pulling.a.value, pulling.b.value, pulling.difference) == (8.0, 3.0, -5.0)
    # pull_1: 2 and 0 (concern area, midpoint 1.5) -> split; pull_2: 3 and 2 -> both a concern.
    assert counts(pulling) == (0, 1, 1, 0, 2)

    total = cmp.totals["total"]
    # A: (4 + 4 + 5 + 2 + 1) / 5 = 3.2; B: (2 + 5 + 3 + 1 + 5) / 5 = 3.2; the total pools heard and warmth
    assert (total.a.value, total.b.value) == (pytest.approx(3.2), pytest.approx(3.2))
    assert total.difference == pytest.approx(0.0)
    assert counts(total) == (1, 1, 2, 1, 5)


def test_low_answers_on_a_concern_subscale_are_a_shared_strength() -> None:
    cmp = compare(TINY, {"pull_1": 0}, {"pull_1": 1})
    # concern scale: 0 and 1 are both below the midpoint 1.5, the healthy side
    assert [(c.category, c.gap, c.worth_discussing) for c in cmp.items] == [("shared_strength", 1, False)]
    assert counts(cmp.subscales["pulling"]) == (1, 0, 0, 0, 1)


def test_difference_is_none_when_a_score_is_not_valid() -> None:
    cmp = compare(TINY, {"heard_1": 4}, A)
    heard = cmp.subscales["heard"]
    # A's side has 1 of 3 answered < 0.6: no score, no difference
    assert heard.a.value is None and heard.b.value == pytest.approx(13 / 3)
    assert heard.difference is None
    # heard_1 was answered by both (4 and 4): a shared strength, the one item compared
    assert counts(heard) == (1, 0, 0, 0, 1)


def test_difference_is_worked_out_from_unrounded_scores() -> None:
    # heard: A (4 + 4 + 5) / 3 = 4.333..., B (5 + 5 + 5) / 3 = 5.0 (heard_2 reversed: 1 -> 5).
    # Rounded first, 5.00 - 4.33 = 0.67; unrounded, 0.666... which is also written 0.67.
    # warmth: A (2 + 1) / 2 = 1.5, B (2 + 2) / 2 = 2.0: exact either way.
    cmp = compare(TINY, A, {"heard_1": 5, "heard_2": 1, "heard_3": 5, "warm_1": 2, "warm_2": 2})
    assert cmp.subscales["heard"].difference == pytest.approx(2 / 3)
    assert cmp.subscales["heard"].difference != 0.67


def test_agreement_is_none_without_items_both_answered() -> None:
    cmp = compare(TINY, {"heard_1": 4}, {"heard_2": 4})
    assert cmp.items == ()
    assert counts(cmp.subscales["heard"]) == (0, 0, 0, 0, 0)


def test_bad_answers_from_either_partner_raise() -> None:
    with pytest.raises(AnswerError):
        compare(TINY, A, {"heard_1": 9})
    with pytest.raises(AnswerError):
        compare(TINY, {"nope": 1}, B)


def test_side_and_category_rules() -> None:
    agree5 = TINY.scales["agree5"]
    assert [side(v, agree5, "health") for v in range(1, 6)] == [
        "concern",
        "concern",
        "neutral",
        "health",
        "health",
    ]
    assert [side(v, agree5, "concern") for v in range(1, 6)] == [
        "health",
        "health",
        "neutral",
        "concern",
        "concern",
    ]
    # An even-length scale (0-3, midpoint 1.5) has no neutral answer.
    often4 = TINY.scales["often4"]
    assert "neutral" not in {side(v, often4, "health") for v in range(4)}
    assert category("health", "health") == "shared_strength"
    assert category("concern", "concern") == "shared_concern"
    assert category("health", "concern") == "split"
    assert category("concern", "health") == "split"
    assert category("neutral", "health") == "neutral"
    assert category("concern", "neutral") == "neutral"


def _answers_for(inst: Instrument) -> st.SearchStrategy[dict[str, Any]]:
    """Any valid choice answers: each item skipped or answered on its scale."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for item in inst.items:
        if item.type == "choice":
            scale = inst.scale_of(item)
            fields[item.id] = st.none() | st.integers(scale.low, scale.high)
    return st.fixed_dictionaries(fields)


@given(_answers_for(TINY), _answers_for(TINY))
def test_compare_b_with_a_mirrors_a_with_b(a: dict[str, Any], b: dict[str, Any]) -> None:
    ab, ba = compare(TINY, a, b), compare(TINY, b, a)
    for group in ("subscales", "totals"):
        for key, one in getattr(ab, group).items():
            other = getattr(ba, group)[key]
            assert (one.a, one.b) == (other.b, other.a)
            if one.difference is None:
                assert other.difference is None
            else:
                assert other.difference == -one.difference
            assert counts(one) == counts(other)
            assert sum(counts(one)[:4]) == one.items_compared
    assert len(ab.items) == len(ba.items)
    for x, y in zip(ab.items, ba.items, strict=True):
        assert (x.item_id, x.category, x.gap, x.worth_discussing) == (
            y.item_id,
            y.category,
            y.gap,
            y.worth_discussing,
        )
        assert (x.a, x.b, x.a_label, x.b_label) == (y.b, y.a, y.b_label, y.a_label)
