"""Properties of scoring and comparing, run over every scored questionnaire Tandem ships.

test_scoring.py and test_compare.py check the same kind of property on a tiny test
fixture; here the strategies are built from the shipped definitions themselves
(connection's 5-point scale with a midpoint, differentiation's 6-point scale without
one, the check-in), so a change to a shipped file is checked too. Answers are drawn
per subscale so that every subscale lands above, at and below its minimum share of
answered items. Expected values are worked out from the definition (items, keying,
method, min_answered, bands) with exact fractions, not by calling the engine again.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instruments import AnswerError, Instrument, Measure, compare, load_registry, score

REGISTRY = load_registry()
SCORED = [instrument for instrument in REGISTRY if instrument.kind == "scored"]
# A few dozen examples per instrument and property keep the whole file to a few seconds.
SHARED = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_shipped_scored_questionnaires_are_all_here():
    # If a scored questionnaire is added, it is checked below without further work;
    # if one disappears, this says so rather than silently checking less.
    assert sorted(i.id for i in SCORED) == ["checkin", "connection", "differentiation"]
    scales = {i.id: {(s.low, s.high) for s in i.scales.values()} for i in SCORED}
    assert scales == {"checkin": {(1, 5)}, "connection": {(1, 5)}, "differentiation": {(1, 6)}}


def by_id(instruments: list[Instrument]):
    return pytest.mark.parametrize("instrument", instruments, ids=lambda i: f"{i.id}-v{i.version}")


# --- an independent reading of the definition -----------------------------------------


def members(instrument: Instrument, measure: Measure) -> list[str]:
    """Choice item ids a subscale or total scores, read from the items' `subscale` field."""
    wanted = set(getattr(measure, "subscales", [measure.id]))
    return [i.id for i in instrument.items if i.type == "choice" and i.subscale in wanted]


def keyed(instrument: Instrument, item_id: str, raw: int) -> int:
    item = instrument.item(item_id)
    scale = instrument.scales[item.scale]
    return scale.low + scale.high - raw if item.reverse else raw


def expected_band(measure: Measure, value: float) -> str:
    """Bands are ascending `below` cut-points, the last open-ended; a value on a cut goes up."""
    for band in measure.bands:
        if band.below is None or value < band.below:
            return band.label
    raise AssertionError(f"{measure.id}: no band for {value}")


def scale_of(instrument: Instrument, measure: Measure):
    (scale_id,) = {instrument.item(i).scale for i in members(instrument, measure)}
    return instrument.scales[scale_id]


# --- strategies ---------------------------------------------------------------------------


@st.composite
def answer_sets(draw: st.DrawFn, instrument: Instrument) -> dict[str, Any]:
    """Any valid, usually partial answers: per subscale, any subset of its items answered.

    Drawing the skipped items per subscale (rather than a coin per item) puts each
    subscale above, exactly at and below its minimum share about equally often; a
    subscale may also lean to one end (keyed values in the top or bottom half), so
    that the outer bands come up as often as the middle one."""
    answers: dict[str, Any] = {}
    for subscale in instrument.subscales:
        ids = members(instrument, subscale)
        skipped = draw(st.sets(st.sampled_from(ids), max_size=len(ids)))
        lean = draw(st.sampled_from(["none", "low", "high"]))
        for item_id in ids:
            if item_id in skipped:
                # Unanswered: left out, or sent as None (both mean "no answer").
                if draw(st.booleans()):
                    answers[item_id] = None
                continue
            scale = instrument.scales[instrument.item(item_id).scale]
            low, high = scale.low, scale.high
            if lean == "low":
                high = (scale.low + scale.high) // 2
            elif lean == "high":
                low = -(-(scale.low + scale.high) // 2)
            answers[item_id] = keyed(instrument, item_id, draw(st.integers(low, high)))  # keyed is its own inverse
    return answers


def answered(answers: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in answers.items() if v is not None}


# --- one respondent -------------------------------------------------------------------------


@by_id(SCORED)
@SHARED
@given(data=st.data())
def test_every_score_is_exact_in_range_and_valid_only_above_the_minimum_share(instrument, data):
    answers = data.draw(answer_sets(instrument))
    present = answered(answers)
    result = score(instrument, answers)
    assert result.keyed == {k: keyed(instrument, k, v) for k, v in present.items()}
    for measure in instrument.measures():
        found = {**result.scores, **result.totals}[measure.id]
        ids = members(instrument, measure)
        values = [keyed(instrument, k, present[k]) for k in ids if k in present]
        n, count = len(ids), len(values)
        assert (found.answered, found.total_items) == (count, n), measure.id
        scale = scale_of(instrument, measure)
        times = n if measure.method == "sum" else 1  # a sum spans n items, a mean the scale
        assert found.possible == (scale.low * times, scale.high * times), measure.id
        # Valid exactly when the share answered reaches min_answered (exact arithmetic).
        enough = count > 0 and Fraction(count, n) >= Fraction(str(measure.min_answered))
        assert found.valid == enough, (measure.id, count, n)
        if not enough:
            # "Not enough answers": no number, no band, no prompts, never a guess.
            assert (found.value, found.band, found.z, found.percentile, found.prompts) == (None, None, None, None, ())
            continue
        exact = Fraction(sum(values), count) * times  # a sum is prorated: mean x items
        assert found.value is not None
        assert abs(Fraction(found.value) - exact) <= Fraction(1, 200), (measure.id, found.value, exact)
        assert found.possible[0] <= found.value <= found.possible[1], measure.id
        assert found.band is not None and found.band.label == expected_band(measure, found.value), measure.id
        concern = found.band.concern
        assert found.prompts == (tuple(measure.prompts) if concern else ()), measure.id


@by_id(SCORED)
@SHARED
@given(data=st.data())
def test_reversing_every_answer_mirrors_the_keyed_values_and_twice_is_the_identity(instrument, data):
    answers = answered(data.draw(answer_sets(instrument)))

    def flipped(present: dict[str, int]) -> dict[str, int]:
        out = {}
        for item_id, raw in present.items():
            scale = instrument.scales[instrument.item(item_id).scale]
            out[item_id] = scale.low + scale.high - raw
        return out

    once, twice = flipped(answers), flipped(flipped(answers))
    assert twice == answers
    original, mirrored = score(instrument, answers), score(instrument, once)
    assert score(instrument, twice) == original
    for item_id, value in original.keyed.items():
        scale = instrument.scales[instrument.item(item_id).scale]
        assert scale.low <= value <= scale.high
        # Reverse keying is its own inverse: flipping the answer flips the keyed value.
        assert mirrored.keyed[item_id] == scale.low + scale.high - value
    for measure in instrument.measures():
        a = {**original.scores, **original.totals}[measure.id]
        b = {**mirrored.scores, **mirrored.totals}[measure.id]
        assert a.valid == b.valid and a.answered == b.answered
        if a.valid:
            # A mean mirrors around the scale's midpoint (each side rounded to 2 places).
            low, high = a.possible
            assert abs(a.value + b.value - (low + high)) <= 0.011, measure.id


@by_id(SCORED)
@SHARED
@given(data=st.data())
def test_answers_off_the_scale_or_for_unknown_items_are_errors(instrument, data):
    answers = data.draw(answer_sets(instrument))
    item = data.draw(st.sampled_from([i for i in instrument.items if i.type == "choice"]))
    scale = instrument.scales[item.scale]
    off = data.draw(st.integers(max_value=scale.low - 1) | st.integers(min_value=scale.high + 1))
    with pytest.raises(AnswerError, match=f"^{item.id}: {off} is outside the scale"):
        score(instrument, {**answers, item.id: off})
    with pytest.raises(AnswerError, match=r"^unknown item 'not_an_item'"):
        score(instrument, {**answers, "not_an_item": scale.low})


# --- two partners ---------------------------------------------------------------------------


def expected_category(instrument: Instrument, item_id: str, raw_a: int, raw_b: int) -> str:
    item = instrument.item(item_id)
    scale = instrument.scales[item.scale]
    health = instrument.measure(item.subscale).direction == "health"
    sides = []
    for raw in (raw_a, raw_b):
        doubled = 2 * keyed(instrument, item_id, raw) - (scale.low + scale.high)  # 2 x (keyed - midpoint)
        if doubled == 0:
            sides.append("neutral")
        else:
            sides.append("health" if (doubled > 0) == health else "concern")
    if "neutral" in sides:
        return "neutral"
    if sides[0] != sides[1]:
        return "split"
    return "shared_strength" if sides[0] == "health" else "shared_concern"


@by_id(SCORED)
@SHARED
@given(data=st.data())
def test_comparing_a_with_b_mirrors_b_with_a_and_matches_the_definition(instrument, data):
    a = data.draw(answer_sets(instrument), label="a")
    b = data.draw(answer_sets(instrument), label="b")
    ab, ba = compare(instrument, a, b), compare(instrument, b, a)
    given_a, given_b = answered(a), answered(b)
    both = [i.id for i in instrument.items if i.id in given_a and i.id in given_b]

    # Items: only those both partners answered, in file order; categories by hand.
    assert [c.item_id for c in ab.items] == both
    for x, y in zip(ab.items, ba.items, strict=True):
        assert (x.a, x.b) == (given_a[x.item_id], given_b[x.item_id])
        assert (x.a, x.b, x.a_label, x.b_label) == (y.b, y.a, y.b_label, y.a_label)
        assert x.category == y.category == expected_category(instrument, x.item_id, x.a, x.b)
        assert x.gap == y.gap == abs(x.a - x.b)
        scale = instrument.scales[instrument.item(x.item_id).scale]
        assert x.worth_discussing == y.worth_discussing == (x.gap >= scale.gap_threshold)
        if scale.high - scale.low + 1 == 6:
            assert x.category != "neutral"  # an even scale has no midpoint answer

    for group in ("subscales", "totals"):
        for key, one in getattr(ab, group).items():
            other = getattr(ba, group)[key]
            assert (one.a, one.b) == (other.b, other.a)
            if one.a.valid and one.b.valid:
                assert one.difference == one.b.value - one.a.value  # unrounded: rounded once, when shown
                assert other.difference == -one.difference
            else:
                assert one.difference is None and other.difference is None
            compared = [c for c in ab.items if c.item_id in set(members(instrument, instrument.measure(key)))]
            assert one.items_compared == other.items_compared == len(compared)
            for name, category in (
                ("shared_strengths", "shared_strength"),
                ("shared_concerns", "shared_concern"),
                ("splits", "split"),
                ("unsure", "neutral"),
            ):
                expected = sum(c.category == category for c in compared)
                assert getattr(one, name) == getattr(other, name) == expected


@by_id(SCORED)
@SHARED
@given(data=st.data())
def test_a_partner_compared_with_themselves_never_splits(instrument, data):
    answers = data.draw(answer_sets(instrument))
    same = compare(instrument, answers, answers)
    assert all(c.gap == 0 and not c.worth_discussing for c in same.items)
    assert all(c.category != "split" for c in same.items)
    for one in [*same.subscales.values(), *same.totals.values()]:
        assert one.difference == (0.0 if one.a.valid else None)
