"""Reliability from a practice's own answers: Cronbach's alpha and the SD of each score.

One vector per partner: the keyed values of the items a subscale (or a total) scores, keyed
exactly as `scoring.score` keys them (a reverse-keyed item counts min + max - value). A
partner whose score on that measure is not valid (too few items answered, per the measure's
`min_answered`) is left out of that measure's estimate.

With n partners left in and k items (sample statistics, divided by n - 1):

    s²_j  = Σ_p (x_pj - x̄_j)² / (n - 1)          the variance of item j
    X_p   = Σ_j x_pj                               partner p's sum of the k items
    s²_X  = Σ_p (X_p - X̄)² / (n - 1)              the variance of those sums
    alpha = k / (k - 1) · (1 - Σ_j s²_j / s²_X)     Cronbach (1951)
    SD    = √( Σ_p (S_p - S̄)² / (n - 1) )          S_p: partner p's score as the measure
                                                   defines it (a mean, or a prorated sum)

A valid score may still skip an item. The skipped item counts as the partner's mean of the
answered keyed items of that measure, which is what the score itself assumes (a mean of the
answered items; a prorated sum is that mean times k), so X_p = k · mean and the SD describes
the very score that change is judged on.

Nothing is guessed: alpha is None with fewer than two items or two partners, or when every
partner has the same sum (s²_X = 0); the SD is None with fewer than two partners.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .schema import Instrument
from .scoring import Answers, score


@dataclass(frozen=True)
class Estimate:
    """Alpha and the SD of one measure, from the first answers of `n` partners with a valid score."""

    n: int
    alpha: float | None
    sd: float | None
    estimated_at: datetime | None = None  # when it was worked out (UTC); None until it is stored


def variance(values: Sequence[float]) -> float | None:
    """The sample variance, Σ (x - x̄)² / (n - 1); None for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return sum((x - mean) ** 2 for x in values) / (n - 1)


def sample_sd(values: Sequence[float]) -> float | None:
    """The sample standard deviation, √variance; None for fewer than two values."""
    found = variance(values)
    return None if found is None else math.sqrt(found)


def cronbach_alpha(rows: Sequence[Sequence[float]]) -> float | None:
    """Cronbach's alpha of rows of item values (one row per partner, the same k items in each)."""
    if len(rows) < 2 or len(rows[0]) < 2:
        return None
    k = len(rows[0])
    if any(len(row) != k for row in rows):
        raise ValueError("every row needs the same items")
    total_variance = variance([sum(row) for row in rows])
    if not total_variance:
        return None
    item_variances = sum(variance([row[j] for row in rows]) or 0.0 for j in range(k))
    return k / (k - 1) * (1 - item_variances / total_variance)


def estimates(instrument: Instrument, answer_sets: Iterable[Answers]) -> dict[str, Estimate]:
    """Alpha and SD of every subscale and total, from one set of answers per partner (each
    partner's first answers to this instrument version), by measure id."""
    measures = instrument.measures()
    rows: dict[str, list[list[float]]] = {m.id: [] for m in measures}
    values: dict[str, list[float]] = {m.id: [] for m in measures}
    for answers in answer_sets:
        result = score(instrument, answers)
        for measure in measures:
            found = result.scores.get(measure.id) or result.totals[measure.id]
            if not found.valid or found.value is None:
                continue  # too few items answered: this partner says nothing about this measure
            items = instrument.items_of(measure.id)
            answered = [result.keyed[item.id] for item in items if item.id in result.keyed]
            mean = sum(answered) / len(answered)
            rows[measure.id].append([float(result.keyed.get(item.id, mean)) for item in items])
            values[measure.id].append(found.value)
    return {
        m.id: Estimate(n=len(values[m.id]), alpha=cronbach_alpha(rows[m.id]), sd=sample_sd(values[m.id]))
        for m in measures
    }
