"""Cronbach's alpha and the SD of a score from partners' first answers, the basis rule, and the
reliable change that follows: pure functions, worked by hand, no app."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from instruments import load_instrument
from instruments.change import (
    Basis,
    ChangeUnknown,
    GapChange,
    ReliableChange,
    basis_for,
    gap_change,
    reliable_change,
    score_change,
)
from instruments.reliability import Estimate, cronbach_alpha, estimates, sample_sd
from instruments.scoring import score

FIXTURES = Path(__file__).parent / "fixtures" / "instruments"
PILOT = load_instrument(FIXTURES / "pilot-v1.yaml")
LICENSED = load_instrument(FIXTURES / "licensed-v1.yaml")

# Five partners' first answers to pilot v1 (s3 is reverse-keyed: keyed = 1 + 5 - raw), and a
# sixth who answered one item of three (below min_answered 0.6): left out.
#
#          raw s1 s2 s3   keyed s1 s2 s3   sum X   score (mean)
#   P1         1  2  5          1  2  1      4       4/3
#   P2         2  2  4          2  2  2      6       6/3
#   P3         3  4  3          3  4  3     10      10/3
#   P4         4  3  2          4  3  4     11      11/3
#   P5         5  5  2          5  5  4     14      14/3
#   P6         5  -  -          left out (1 of 3 answered)
#
# s1: 1..5, mean 3, squares 4+1+0+1+4 = 10, variance 10/4 = 2.5
# s2: mean 16/5 = 3.2, squares 1.44+1.44+0.64+0.04+3.24 = 6.8, variance 1.7
# s3: mean 14/5 = 2.8, squares 3.24+0.64+0.04+1.44+1.44 = 6.8, variance 1.7      sum 5.9
# X:  mean 9, squares 25+9+1+4+25 = 64, variance 16
# alpha = 3/2 x (1 - 5.9/16) = 1.5 x 0.63125 = 0.946875
# SD of the mean scores = SD of X / 3 = 4/3 = 1.3333 (variance 64/9/4 = 16/9)
FIRST_ANSWERS = [
    {"s1": 1, "s2": 2, "s3": 5},
    {"s1": 2, "s2": 2, "s3": 4},
    {"s1": 3, "s2": 4, "s3": 3},
    {"s1": 4, "s2": 3, "s3": 2},
    {"s1": 5, "s2": 5, "s3": 2},
    {"s1": 5},
]
ALPHA, SD = 0.946875, 4 / 3


def test_alpha_and_sd_of_the_hand_worked_answers():
    found = estimates(PILOT, FIRST_ANSWERS)
    assert set(found) == {"calm"}
    calm = found["calm"]
    assert calm.n == 5  # P6 is left out
    assert round(calm.alpha, 4) == 0.9469
    assert calm.alpha == pytest.approx(ALPHA, abs=1e-12)
    assert round(calm.sd, 4) == 1.3333
    assert calm.estimated_at is None


def test_reverse_keying_is_the_scoring_engines():
    # Read raw, s3 would run against the others: alpha falls (raw sums 8, 8, 10, 9, 12;
    # variance of the sums 2.8; item variances 2.5 + 1.7 + 1.7 = 5.9; 1.5 x (1 - 5.9/2.8) = -1.6607).
    raw_rows = [[a["s1"], a["s2"], a["s3"]] for a in FIRST_ANSWERS[:5]]
    assert round(cronbach_alpha(raw_rows), 4) == -1.6607
    keyed_rows = [[score(PILOT, a).keyed[i] for i in ("s1", "s2", "s3")] for a in FIRST_ANSWERS[:5]]
    assert keyed_rows[0] == [1, 2, 1]
    assert cronbach_alpha(keyed_rows) == pytest.approx(ALPHA, abs=1e-12)


def test_a_skipped_item_in_a_valid_score_counts_as_the_partners_own_mean():
    # P7 answers s1 = 4 and s3 = 2 (keyed 4): valid (2 of 3), mean 4, so s2 counts as 4 and X = 12,
    # exactly the score's own assumption (mean of the answered items).
    with_p7 = estimates(PILOT, [*FIRST_ANSWERS, {"s1": 4, "s3": 2}])["calm"]
    rows = [[1, 2, 1], [2, 2, 2], [3, 4, 3], [4, 3, 4], [5, 5, 4], [4, 4, 4]]
    assert with_p7.n == 6
    assert with_p7.alpha == pytest.approx(cronbach_alpha(rows), abs=1e-12)
    assert with_p7.sd == pytest.approx(sample_sd([sum(r) / 3 for r in rows]), abs=1e-12)
    # X: 4, 6, 10, 11, 14, 12 (mean 9.5, squares 30.25+12.25+0.25+2.25+20.25+6.25 = 71.5, variance 14.3);
    # items: s1 1..5, 4 (mean 19/6, squares 10.8333, variance 2.1667); s2 2, 2, 4, 3, 5, 4 (mean 10/3,
    # squares 7.3333, variance 1.4667); s3 1, 2, 3, 4, 4, 4 (mean 3, squares 8, variance 1.6); sum 5.2333:
    # 1.5 x (1 - 5.2333/14.3) = 0.9510. SD of the means: sqrt(14.3) / 3 = 1.2605.
    assert (round(with_p7.alpha, 4), round(with_p7.sd, 4)) == (0.9510, 1.2605)


def test_nothing_is_guessed_from_too_few_or_identical_answers():
    assert estimates(PILOT, []) == {"calm": Estimate(n=0, alpha=None, sd=None)}
    assert estimates(PILOT, [{"s1": 5}, {"s2": 1}]) == {"calm": Estimate(n=0, alpha=None, sd=None)}
    assert estimates(PILOT, FIRST_ANSWERS[:1]) == {"calm": Estimate(n=1, alpha=None, sd=None)}
    # Every partner gives the same sum: no variance to split, so no alpha (the SD is a real 0).
    same = estimates(PILOT, [{"s1": 3, "s2": 3, "s3": 3}] * 3)["calm"]
    assert (same.n, same.alpha, same.sd) == (3, None, 0.0)
    assert cronbach_alpha([[1], [2]]) is None  # one item
    assert sample_sd([2.0]) is None
    with pytest.raises(ValueError, match="same items"):
        cronbach_alpha([[1, 2], [1, 2, 3]])


def test_the_reliable_change_that_follows_from_the_estimate():
    # SE = 4/3 x sqrt(1 - 0.946875) = 0.307318; S_diff = sqrt(2) x SE = 0.434613; a gap's S = 2 x SE = 0.614636.
    calm = estimates(PILOT, FIRST_ANSWERS)["calm"]
    rc = reliable_change(4 / 3, 10 / 3, calm.sd, calm.alpha, subscale_direction="health")
    assert isinstance(rc, ReliableChange)
    assert (round(rc.se, 4), round(rc.s_diff, 4), round(rc.rci, 4)) == (0.3073, 0.4346, 4.6018)
    assert (rc.reliable, rc.direction) == (True, "improved")
    # One point up: 1 / 0.434613 = 2.3009 > 1.96; two thirds down: -1.5339, not reliable.
    assert round(reliable_change(3.0, 4.0, calm.sd, calm.alpha, subscale_direction="health").rci, 4) == 2.3009
    down = reliable_change(14 / 3, 4.0, calm.sd, calm.alpha, subscale_direction="health")
    assert (round(down.rci, 4), down.reliable, down.direction) == (-1.5339, False, "no reliable change")
    # The gap from 10/3 to 2/3: -8/3 / 0.614636 = -4.3386, narrowed; 1.0 to 0.0: -1.6270, not reliable.
    gap = gap_change(10 / 3, 2 / 3, calm.sd, calm.alpha)
    assert isinstance(gap, GapChange)
    assert (round(gap.rci, 4), gap.direction) == (-4.3386, "narrowed")
    assert round(gap_change(1.0, 0.0, calm.sd, calm.alpha).rci, 4) == -1.6270


AT = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_the_estimate_is_used_from_the_threshold_on():
    calm = PILOT.measure("calm")
    five = Estimate(n=5, alpha=ALPHA, sd=SD, estimated_at=AT)
    # N = threshold - 1: nothing judged, and how many more are needed.
    below = basis_for(calm, five, min_partners=6)
    assert below == Basis("pending", SD, ALPHA, 5, 6, AT)
    assert (below.judged, below.more) == (False, 1)
    # N = threshold: the practice's alpha is the reliability, its SD the SD.
    at = basis_for(calm, five, min_partners=5)
    assert at == Basis("practice", SD, ALPHA, 5, 5, AT)
    assert (at.judged, at.more) == (True, 0)
    # No estimate yet: all of them still needed.
    assert basis_for(calm, None, min_partners=50) == Basis("pending", needed=50)
    assert basis_for(calm, None, min_partners=50).more == 50


@pytest.mark.parametrize("alpha, sd", [(None, 0.5), (0.0, 0.5), (-0.2, 0.5), (1.0, 0.5), (0.8, 0.0), (0.8, None)])
def test_an_estimate_with_no_usable_alpha_or_sd_judges_nothing(alpha, sd):
    basis = basis_for(PILOT.measure("calm"), Estimate(n=80, alpha=alpha, sd=sd), min_partners=50)
    assert basis.source == "unusable" and not basis.judged
    earlier, later = (score(PILOT, a).scores["calm"] for a in (FIRST_ANSWERS[0], FIRST_ANSWERS[2]))
    assert isinstance(score_change(PILOT.measure("calm"), earlier, later, basis), ChangeUnknown)


def test_published_psychometrics_always_win_over_the_practices_estimate():
    calm = LICENSED.measure("calm")
    basis = basis_for(calm, Estimate(n=500, alpha=ALPHA, sd=SD, estimated_at=AT), min_partners=50)
    assert basis == Basis("published", 0.6, 0.8)
    earlier, later = (score(LICENSED, a).scores["calm"] for a in (FIRST_ANSWERS[0], FIRST_ANSWERS[2]))
    # SE = 0.6 x sqrt(0.2) = 0.268328; S_diff = 0.379473; +2.0 / 0.379473 = 5.2705.
    rc = score_change(calm, earlier, later, basis)
    assert round(rc.rci, 4) == 5.2705
    assert score_change(calm, earlier, later) == rc  # the default basis is the published one
