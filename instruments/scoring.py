"""Score one respondent's answers: keying, subscales, totals, bands, safety flags."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from .numbers import shown
from .schema import Band, Direction, Instrument, Item, Level, Measure, Prompt, Scale

Answer = int | str | None
Answers = Mapping[str, Answer]

# A value this close to a threshold counts as reaching it (float noise in 0.8 * 5).
_EPSILON = 1e-9


class AnswerError(ValueError):
    """An answer that does not fit the instrument: unknown item, bad type or value."""


@dataclass(frozen=True)
class ScoreResult:
    """One subscale or total score of one respondent."""

    id: str
    label: str
    value: float | None  # unrounded (instruments.numbers writes it); None when not valid
    valid: bool  # enough items answered (min_answered)
    answered: int
    total_items: int
    band: Band | None
    z: float | None  # only with norms
    percentile: float | None  # only with norms; from the normal CDF
    direction: Direction
    possible: tuple[float, float]  # lowest and highest possible value
    prompts: tuple[Prompt, ...]  # the measure's prompts when its band is a concern band


@dataclass(frozen=True)
class SafetyFlag:
    """A raw answer that matched an item's safety rule."""

    item_id: str
    text: str
    value: int
    answer_label: str
    level: Level


@dataclass(frozen=True)
class Result:
    """Everything scoring one respondent produces."""

    instrument_id: str
    version: int
    scores: dict[str, ScoreResult]  # by subscale id
    totals: dict[str, ScoreResult]  # by total id
    flags: tuple[SafetyFlag, ...]  # in item order
    keyed: dict[str, int]  # choice item id -> keyed value


def reverse(value: int, low: int, high: int) -> int:
    """Reverse-key a value on a scale from low to high: low + high - value."""
    return low + high - value


def key(item: Item, scale: Scale, value: int) -> int:
    """Return the keyed value of an answer: higher always means more of the subscale."""
    return reverse(value, scale.low, scale.high) if item.reverse else value


def check_answers(instrument: Instrument, answers: Answers) -> None:
    """Raise AnswerError unless every answer fits its item; None means unanswered."""
    items = {item.id: item for item in instrument.items}
    for item_id, value in answers.items():
        item = items.get(item_id)
        if item is None:
            raise AnswerError(f"unknown item {item_id!r} for {instrument.id} v{instrument.version}")
        if value is None:
            continue
        if item.type == "text":
            if not isinstance(value, str):
                raise AnswerError(f"{item_id}: expected text, got {type(value).__name__}")
            if len(value) > item.text_limit:
                raise AnswerError(f"{item_id}: answer is {len(value)} characters, the limit is {item.text_limit}")
            continue
        # bool is an int subclass; True must not pass as the answer 1.
        if not isinstance(value, int) or isinstance(value, bool):
            raise AnswerError(f"{item_id}: expected a whole number, got {type(value).__name__}")
        scale = instrument.scale_of(item)
        if not scale.contains(value):
            raise AnswerError(f"{item_id}: {value} is outside the scale ({scale.low} to {scale.high})")


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _score_measure(instrument: Instrument, measure: Measure, keyed: Mapping[str, int]) -> ScoreResult:
    items = instrument.items_of(measure.id)
    n = len(items)
    values = [keyed[item.id] for item in items if item.id in keyed]
    answered = len(values)
    possible = instrument.possible(measure.id)
    valid = answered > 0 and answered >= measure.min_answered * n - _EPSILON
    value = band = z = percentile = None
    prompts: tuple[Prompt, ...] = ()
    if valid:
        mean = sum(values) / answered
        # A sum is prorated (mean x items) so a skipped item does not read as a low score.
        value = mean if measure.method == "mean" else mean * n
        # Band on the value as shown (half-up to 2 decimals), so band and number always agree.
        band = measure.band_for(shown(value))
        if band is not None and band.concern:
            prompts = tuple(measure.prompts)
        if measure.norms is not None:
            raw_z = (value - measure.norms.mean) / measure.norms.sd
            z = shown(raw_z)
            percentile = shown(100 * _normal_cdf(raw_z), 1)
    return ScoreResult(
        id=measure.id,
        label=measure.label,
        value=value,
        valid=valid,
        answered=answered,
        total_items=n,
        band=band,
        z=z,
        percentile=percentile,
        direction=measure.direction,
        possible=possible,
        prompts=prompts,
    )


def score(instrument: Instrument, answers: Answers) -> Result:
    """Score one respondent's answers (item id -> int for choice, str for text)."""
    check_answers(instrument, answers)
    keyed: dict[str, int] = {}
    flags: list[SafetyFlag] = []
    for item in instrument.items:
        value = answers.get(item.id)
        if item.type != "choice" or value is None:
            continue
        value = cast(int, value)  # check_answers guarantees a choice answer is an int
        scale = instrument.scale_of(item)
        keyed[item.id] = key(item, scale, value)
        # Safety rules look at the raw answer: that is what the author listed.
        if item.safety is not None and value in item.safety.values:
            flags.append(SafetyFlag(item.id, item.text, value, scale.label_of(value), item.safety.level))
    return Result(
        instrument_id=instrument.id,
        version=instrument.version,
        scores={s.id: _score_measure(instrument, s, keyed) for s in instrument.subscales},
        totals={t.id: _score_measure(instrument, t, keyed) for t in instrument.totals},
        flags=tuple(flags),
        keyed=keyed,
    )


def item_order(instrument: Instrument, seed: str) -> list[str]:
    """Return item ids in the order one respondent sees them (shuffled per seed if on)."""
    ids = [item.id for item in instrument.items]
    if not instrument.shuffle:
        return ids
    # Only choice items move; text items (often a closing "anything else?") keep their place.
    slots = [i for i, item in enumerate(instrument.items) if item.type == "choice"]
    moving = [ids[i] for i in slots]
    digest = hashlib.sha256(f"{instrument.id}:{instrument.version}:{seed}".encode()).digest()
    # Order is not a secret, only reproducible per invitation: a seeded PRNG is right here.
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(moving)  # noqa: S311
    for slot, item_id in zip(slots, moving, strict=True):
        ids[slot] = item_id
    return ids
