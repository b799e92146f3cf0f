"""Reliable change (Jacobson & Truax) for one score and for the gap between partners."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instruments import (
    ChangeUnknown,
    GapChange,
    ReliableChange,
    compare,
    gap_change,
    load_instrument,
    reliable_change,
    score,
    score_change,
    score_gap_change,
)
from instruments.change import NO_PSYCHOMETRICS, NOT_ENOUGH_ANSWERS

FIXTURES = Path(__file__).parent / "fixtures"
TINY = load_instrument(FIXTURES / "tiny-v1.yaml")

# Worked example: sd = 0.7, r = 0.85
SE = 0.2711  # 0.7 * sqrt(1 - 0.85) = 0.7 * 0.38730 = 0.27111
S_DIFF = 0.3834  # sqrt(2) * 0.27111 = 0.38341
GAP_S = 0.5422  # 2 * 0.27111 = 0.54222


def test_worked_example_is_reliable_improvement() -> None:
    rc = reliable_change(3.0, 4.0, 0.7, 0.85, subscale_direction="health")
    assert isinstance(rc, ReliableChange)
    assert rc.change == 1.0
    assert rc.se == pytest.approx(SE, abs=1e-4)
    assert rc.s_diff == pytest.approx(S_DIFF, abs=1e-4)
    assert rc.rci == pytest.approx(2.608, abs=1e-3)  # 1.0 / 0.38341 = 2.6082
    assert rc.reliable
    assert rc.direction == "improved"
    assert (rc.earlier, rc.later) == (3.0, 4.0)


def test_direction_follows_the_subscale() -> None:
    # A rise on a concern subscale is a reliable worsening.
    up = reliable_change(3.0, 4.0, 0.7, 0.85, subscale_direction="concern")
    assert isinstance(up, ReliableChange) and up.direction == "worsened"
    # A fall of 1.0: RCI -2.608.
    down_health = reliable_change(4.0, 3.0, 0.7, 0.85, subscale_direction="health")
    down_concern = reliable_change(4.0, 3.0, 0.7, 0.85, subscale_direction="concern")
    assert isinstance(down_health, ReliableChange) and isinstance(down_concern, ReliableChange)
    assert down_health.rci == pytest.approx(-2.608, abs=1e-3)
    assert down_health.direction == "worsened"
    assert down_concern.direction == "improved"


def test_small_change_is_not_reliable() -> None:
    rc = reliable_change(3.0, 3.5, 0.7, 0.85, subscale_direction="health")
    assert isinstance(rc, ReliableChange)
    assert rc.rci == pytest.approx(1.304, abs=1e-3)  # 0.5 / 0.38341
    assert not rc.reliable
    assert rc.direction == "no reliable change"


@pytest.mark.parametrize(("multiple", "reliable"), [(1.95, False), (1.97, True)])
def test_threshold_is_1_96(multiple: float, reliable: bool) -> None:
    s_diff = math.sqrt(2) * 0.7 * math.sqrt(0.15)
    rc = reliable_change(0.0, multiple * s_diff, 0.7, 0.85, subscale_direction="health")
    assert isinstance(rc, ReliableChange)
    assert rc.reliable is reliable


def test_change_unknown_without_psychometrics_or_scores() -> None:
    assert reliable_change(3.0, 4.0, None, None, subscale_direction="health") == ChangeUnknown(NO_PSYCHOMETRICS)
    assert reliable_change(3.0, 4.0, 0.7, None, subscale_direction="health") == ChangeUnknown(NO_PSYCHOMETRICS)
    assert reliable_change(None, 4.0, 0.7, 0.85, subscale_direction="health") == ChangeUnknown(NOT_ENOUGH_ANSWERS)
    assert gap_change(1.0, 0.0, None, None) == ChangeUnknown(NO_PSYCHOMETRICS)
    assert gap_change(1.0, None, 0.7, 0.85) == ChangeUnknown(NOT_ENOUGH_ANSWERS)
    assert "cannot yet be judged reliable" in NO_PSYCHOMETRICS


@pytest.mark.parametrize(("sd", "reliability"), [(0.0, 0.85), (0.7, 1.0), (0.7, 0.0)])
def test_impossible_psychometrics_raise(sd: float, reliability: float) -> None:
    with pytest.raises(ValueError, match="need sd > 0"):
        reliable_change(3.0, 4.0, sd, reliability, subscale_direction="health")


def test_gap_narrowing_reliably() -> None:
    g = gap_change(-1.5, -0.25, 0.7, 0.85)
    assert isinstance(g, GapChange)
    # size 1.5 -> 0.25: change -1.25; S = 2 * 0.27111 = 0.54222; RCI -1.25 / 0.54222 = -2.3053
    assert g.change == pytest.approx(-1.25)
    assert g.se == pytest.approx(SE, abs=1e-4)
    assert g.s_diff == pytest.approx(GAP_S, abs=1e-4)
    assert g.rci == pytest.approx(-2.305, abs=1e-3)
    assert g.reliable and g.direction == "narrowed"
    assert (g.earlier_gap, g.later_gap) == (-1.5, -0.25)


def test_gap_widening_across_a_sign_flip() -> None:
    g = gap_change(0.2, -1.5, 0.7, 0.85)
    assert isinstance(g, GapChange)
    # size 0.2 -> 1.5: change +1.3; RCI 1.3 / 0.54222 = 2.3976
    assert g.rci == pytest.approx(2.398, abs=1e-3)
    assert g.direction == "widened"


def test_gap_that_only_swaps_sides_has_not_changed_size() -> None:
    g = gap_change(-1.0, 1.0, 0.7, 0.85)
    # The signed gap moved by 2.0, but the partners are just as far apart.
    assert isinstance(g, GapChange)
    assert g.change == 0.0 and not g.reliable and g.direction == "no reliable change"


def test_gap_change_is_harder_to_reach_than_score_change() -> None:
    # The same 1.0 is reliable for one score (RCI 2.608) but not for a gap (1.0 / 0.54222 = 1.844).
    g = gap_change(1.0, 0.0, 0.7, 0.85)
    assert isinstance(g, GapChange)
    assert g.rci == pytest.approx(-1.844, abs=1e-3)
    assert not g.reliable


def test_score_change_uses_the_measures_psychometrics_and_direction() -> None:
    earlier = score(TINY, {"heard_1": 2, "heard_2": 1, "heard_3": 3})  # (2 + 5 + 3) / 3 = 3.33
    later = score(TINY, {"heard_1": 4, "heard_2": 2, "heard_3": 5})  # (4 + 4 + 5) / 3 = 4.33
    rc = score_change(TINY.measure("heard"), earlier.scores["heard"], later.scores["heard"])
    assert isinstance(rc, ReliableChange)
    # change 1.0 with sd 0.7, r 0.85: RCI 2.608, improved (heard is a health subscale)
    assert rc.change == pytest.approx(1.0)
    assert rc.rci == pytest.approx(2.608, abs=1e-3)
    assert rc.direction == "improved"
    # warmth has no psychometrics in the file
    warmth = score_change(TINY.measure("warmth"), earlier.scores["warmth"], later.scores["warmth"])
    assert warmth == ChangeUnknown(NO_PSYCHOMETRICS)
    # the total has psychometrics but no valid score here (3 of 5 < 0.8)
    total = score_change(TINY.measure("total"), earlier.totals["total"], later.totals["total"])
    assert total == ChangeUnknown(NOT_ENOUGH_ANSWERS)
    with pytest.raises(ValueError, match="not of 'warmth'"):
        score_change(TINY.measure("warmth"), earlier.scores["heard"], later.scores["heard"])


def test_score_gap_change_from_two_comparisons() -> None:
    a = {"heard_1": 4, "heard_2": 2, "heard_3": 5}  # 4.33
    b = {"heard_1": 2, "heard_2": 1, "heard_3": 3}  # 3.33
    earlier = compare(TINY, a, b).subscales["heard"]  # gap b - a = -1.0
    later = compare(TINY, a, a).subscales["heard"]  # gap 0.0
    g = score_gap_change(TINY.measure("heard"), earlier, later)
    assert isinstance(g, GapChange)
    # size 1.0 -> 0.0: change -1.0 / 0.54222 = -1.844: closer, but not reliably
    assert g.change == pytest.approx(-1.0)
    assert g.rci == pytest.approx(-1.844, abs=1e-3)
    assert g.direction == "no reliable change"
    warmth = compare(TINY, a, b).subscales["warmth"]
    assert score_gap_change(TINY.measure("warmth"), warmth, warmth) == ChangeUnknown(NO_PSYCHOMETRICS)
    with pytest.raises(ValueError, match="not of 'warmth'"):
        score_gap_change(TINY.measure("warmth"), earlier, later)


finite = st.floats(-100, 100, allow_nan=False)


@given(finite, finite)
def test_reliable_change_is_antisymmetric(earlier: float, later: float) -> None:
    forward = reliable_change(earlier, later, 0.7, 0.85, subscale_direction="health")
    back = reliable_change(later, earlier, 0.7, 0.85, subscale_direction="health")
    assert isinstance(forward, ReliableChange) and isinstance(back, ReliableChange)
    assert forward.rci == pytest.approx(-back.rci)
    if forward.reliable and back.reliable:
        assert {forward.direction, back.direction} == {"improved", "worsened"}
