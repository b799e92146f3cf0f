"""Reliable change over time (Jacobson & Truax, 1991), for a score and for a gap."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .compare import SubscaleComparison
from .reliability import Estimate
from .schema import Direction, Measure
from .scoring import ScoreResult

# |RCI| above this is a change unlikely (p < .05) to be measurement noise alone.
CRITICAL = 1.96

NO_PSYCHOMETRICS = "This questionnaire has no published SD and reliability, so change cannot yet be judged reliable."
NOT_ENOUGH_ANSWERS = "One of the two scores has not enough answers, so change cannot be judged."


@dataclass(frozen=True)
class ChangeUnknown:
    """Change that cannot be judged, with a plain reason to show."""

    reason: str


@dataclass(frozen=True)
class ReliableChange:
    """Change in one score between two assessments."""

    earlier: float
    later: float
    change: float  # later - earlier
    se: float  # standard error of measurement: sd * sqrt(1 - r)
    s_diff: float  # standard error of a difference of two scores: sqrt(2) * se
    rci: float  # change / s_diff
    reliable: bool  # |rci| > 1.96
    direction: Literal["improved", "worsened", "no reliable change"]


@dataclass(frozen=True)
class GapChange:
    """Change in the size of the gap between two partners between two assessments."""

    earlier_gap: float  # b - a at the earlier assessment
    later_gap: float  # b - a at the later assessment
    change: float  # |later_gap| - |earlier_gap|: negative when the gap narrowed
    se: float  # standard error of one score: sd * sqrt(1 - r)
    s_diff: float  # 2 * se (see README, "Gap change")
    rci: float  # change / s_diff
    reliable: bool  # |rci| > 1.96
    direction: Literal["narrowed", "widened", "no reliable change"]


def standard_error(sd: float, reliability: float) -> float:
    """Standard error of measurement, SD * sqrt(1 - r)."""
    if sd <= 0 or not 0 < reliability < 1:
        raise ValueError("need sd > 0 and 0 < reliability < 1")
    return sd * math.sqrt(1 - reliability)


def reliable_change(
    earlier: float | None,
    later: float | None,
    sd: float | None,
    reliability: float | None,
    *,
    subscale_direction: Direction,
) -> ReliableChange | ChangeUnknown:
    """Jacobson-Truax reliable change from earlier to later on one score."""
    if sd is None or reliability is None:
        return ChangeUnknown(NO_PSYCHOMETRICS)
    if earlier is None or later is None:
        return ChangeUnknown(NOT_ENOUGH_ANSWERS)
    se = standard_error(sd, reliability)
    s_diff = math.sqrt(2) * se
    change = later - earlier
    rci = change / s_diff
    reliable = abs(rci) > CRITICAL
    better = change > 0 if subscale_direction == "health" else change < 0
    verdict: Literal["improved", "worsened", "no reliable change"] = "no reliable change"
    if reliable:
        verdict = "improved" if better else "worsened"
    return ReliableChange(earlier, later, change, se, s_diff, rci, reliable, verdict)


def gap_change(
    earlier_gap: float | None,
    later_gap: float | None,
    sd: float | None,
    reliability: float | None,
) -> GapChange | ChangeUnknown:
    """Did the gap between partners (b - a) reliably narrow or widen between two assessments?"""
    if sd is None or reliability is None:
        return ChangeUnknown(NO_PSYCHOMETRICS)
    if earlier_gap is None or later_gap is None:
        return ChangeUnknown(NOT_ENOUGH_ANSWERS)
    se = standard_error(sd, reliability)
    # A gap is a difference of two scores (SE sqrt(2)*se); a change in gap is a
    # difference of two gaps (another sqrt(2)), so S = sqrt(2) * sqrt(2) * se = 2 * se.
    s_diff = 2 * se
    # Sizes, not signed gaps: the question is whether the partners moved closer,
    # whoever scores higher; |change in size| <= |change in signed gap|, so conservative.
    change = abs(later_gap) - abs(earlier_gap)
    rci = change / s_diff
    reliable = abs(rci) > CRITICAL
    verdict: Literal["narrowed", "widened", "no reliable change"] = "no reliable change"
    if reliable:
        verdict = "narrowed" if change < 0 else "widened"
    return GapChange(earlier_gap, later_gap, change, se, s_diff, rci, reliable, verdict)


@dataclass(frozen=True)
class Basis:
    """Where the SD and reliability that judge one measure's change come from.

    "published": the definition file's psychometrics (they always win); "practice": the
    practice's own estimate, once `n` partners reach `needed`; "pending": fewer partners so far
    (or no estimate yet); "unusable": enough partners, but their answers give no usable alpha
    (none, or not between 0 and 1) or SD. Only the first two judge change.
    """

    source: Literal["published", "practice", "pending", "unusable"]
    sd: float | None = None
    reliability: float | None = None
    n: int = 0  # partners behind the practice's estimate (0 for published figures, or no estimate)
    needed: int = 0  # partners an estimate needs before it is used
    estimated_at: datetime | None = None

    @property
    def judged(self) -> bool:
        """Whether change on this measure is judged reliable (Jacobson & Truax)."""
        return self.source in ("published", "practice")

    @property
    def more(self) -> int:
        """How many more partners the practice's estimate needs."""
        return max(self.needed - self.n, 0)


def basis_for(measure: Measure, estimate: Estimate | None = None, *, min_partners: int = 0) -> Basis:
    """The basis of a measure's change: published psychometrics, else the practice's estimate
    once its N reaches `min_partners`, else none (nothing is invented)."""
    if measure.psychometrics is not None:
        return Basis("published", measure.psychometrics.sd, measure.psychometrics.reliability)
    if estimate is None:
        return Basis("pending", needed=min_partners)
    if estimate.n < min_partners:
        return Basis("pending", estimate.sd, estimate.alpha, estimate.n, min_partners, estimate.estimated_at)
    usable = estimate.alpha is not None and 0 < estimate.alpha < 1 and estimate.sd is not None and estimate.sd > 0
    return Basis(
        "practice" if usable else "unusable",
        estimate.sd,
        estimate.alpha,
        estimate.n,
        min_partners,
        estimate.estimated_at,
    )


def psychometrics(measure: Measure, basis: Basis | None) -> tuple[float | None, float | None]:
    """The SD and reliability change on a measure is judged on (None, None: it cannot be judged)."""
    basis = basis if basis is not None else basis_for(measure)
    if not basis.judged:
        return None, None
    return basis.sd, basis.reliability


def score_change(
    measure: Measure, earlier: ScoreResult, later: ScoreResult, basis: Basis | None = None
) -> ReliableChange | ChangeUnknown:
    """Reliable change of one partner's score on a subscale or total between two assessments,
    judged on `basis` (default: the definition's published psychometrics)."""
    if earlier.id != measure.id or later.id != measure.id:
        raise ValueError(f"scores {earlier.id!r}/{later.id!r} are not of {measure.id!r}")
    sd, reliability = psychometrics(measure, basis)
    return reliable_change(earlier.value, later.value, sd, reliability, subscale_direction=measure.direction)


def score_gap_change(
    measure: Measure, earlier: SubscaleComparison, later: SubscaleComparison, basis: Basis | None = None
) -> GapChange | ChangeUnknown:
    """Did the gap between partners on a subscale or total reliably narrow or widen (judged on
    `basis`, default: the definition's published psychometrics)?"""
    if earlier.id != measure.id or later.id != measure.id:
        raise ValueError(f"comparisons {earlier.id!r}/{later.id!r} are not of {measure.id!r}")
    sd, reliability = psychometrics(measure, basis)
    return gap_change(earlier.difference, later.difference, sd, reliability)
