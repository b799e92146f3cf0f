"""Compare two partners' answers: scores side by side, where their answers agree, and gaps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .schema import Direction, Instrument, Scale
from .scoring import Answers, ScoreResult, key, score

Side = Literal["health", "concern", "neutral"]
Category = Literal["shared_strength", "shared_concern", "split", "neutral"]


@dataclass(frozen=True)
class ItemComparison:
    """Two partners' answers to one item; only items both answered are compared."""

    item_id: str
    subscale: str
    text: str
    a: int  # partner A's raw answer
    b: int  # partner B's raw answer
    a_label: str
    b_label: str
    gap: int  # |a - b|, the same raw or keyed
    category: Category
    worth_discussing: bool  # gap >= the scale's discuss_gap


@dataclass(frozen=True)
class SubscaleComparison:
    """Two partners' scores on one subscale or total."""

    id: str
    label: str
    a: ScoreResult
    b: ScoreResult
    difference: float | None  # b - a, unrounded; None if either score is not valid
    # How the items both partners answered fall: both on the healthy side, both on the
    # concern side, one on each side, or at least one answer at the scale's midpoint.
    shared_strengths: int
    shared_concerns: int
    splits: int
    unsure: int
    items_compared: int  # items both partners answered (the sum of the four counts)


@dataclass(frozen=True)
class Comparison:
    """Everything comparing two partners on one instrument version produces."""

    instrument_id: str
    version: int
    subscales: dict[str, SubscaleComparison]
    totals: dict[str, SubscaleComparison]
    items: tuple[ItemComparison, ...]  # choice items in a subscale, in file order


def side(keyed_value: int, scale: Scale, direction: Direction) -> Side:
    """Say which side of the scale's midpoint a keyed answer sits on."""
    if keyed_value == scale.midpoint:
        return "neutral"
    higher = keyed_value > scale.midpoint
    if direction == "health":
        return "health" if higher else "concern"
    return "concern" if higher else "health"


def category(side_a: Side, side_b: Side) -> Category:
    """Agreement category of two sides; a midpoint answer makes it neutral."""
    if "neutral" in (side_a, side_b):
        return "neutral"
    if side_a == side_b:
        return "shared_strength" if side_a == "health" else "shared_concern"
    return "split"


def compare(instrument: Instrument, answers_a: Answers, answers_b: Answers) -> Comparison:
    """Compare partner A's and partner B's answers to the same instrument version."""
    result_a = score(instrument, answers_a)
    result_b = score(instrument, answers_b)
    directions = {s.id: s.direction for s in instrument.subscales}
    items: list[ItemComparison] = []
    for item in instrument.items:
        if item.type != "choice" or item.subscale is None:
            continue
        raw_a, raw_b = answers_a.get(item.id), answers_b.get(item.id)
        # Missing answers are left out: a gap with a blank is not a disagreement.
        if not isinstance(raw_a, int) or not isinstance(raw_b, int):
            continue
        scale = instrument.scale_of(item)
        direction = directions[item.subscale]
        gap = abs(raw_a - raw_b)
        items.append(
            ItemComparison(
                item_id=item.id,
                subscale=item.subscale,
                text=item.text,
                a=raw_a,
                b=raw_b,
                a_label=scale.label_of(raw_a),
                b_label=scale.label_of(raw_b),
                gap=gap,
                category=category(
                    side(key(item, scale, raw_a), scale, direction),
                    side(key(item, scale, raw_b), scale, direction),
                ),
                worth_discussing=gap >= scale.gap_threshold,
            )
        )

    def side_by_side(score_a: ScoreResult, score_b: ScoreResult) -> SubscaleComparison:
        members = {i.id for i in instrument.items_of(score_a.id)}
        compared = [c.category for c in items if c.item_id in members]
        difference = None
        if score_a.value is not None and score_b.value is not None:
            difference = score_b.value - score_a.value
        return SubscaleComparison(
            id=score_a.id,
            label=score_a.label,
            a=score_a,
            b=score_b,
            difference=difference,
            shared_strengths=compared.count("shared_strength"),
            shared_concerns=compared.count("shared_concern"),
            splits=compared.count("split"),
            unsure=compared.count("neutral"),
            items_compared=len(compared),
        )

    return Comparison(
        instrument_id=instrument.id,
        version=instrument.version,
        subscales={k: side_by_side(v, result_b.scores[k]) for k, v in result_a.scores.items()},
        totals={k: side_by_side(v, result_b.totals[k]) for k, v in result_a.totals.items()},
        items=tuple(items),
    )
