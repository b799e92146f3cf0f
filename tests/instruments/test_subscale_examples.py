"""Hand-worked examples for every subscale and total of every scored questionnaire Tandem ships.

For each subscale and total: a full answer set, a partial one above the minimum share
(an exact score), one below it ("not enough answers", never a number), answers to
reverse-keyed items, and every band reached at least once, some of them exactly on a
cut-point. Each block of answers below carries its arithmetic, worked out from the
YAML files in instruments/definitions/ (not by running the engine): R marks a
reverse-keyed item, keyed as low + high - answer (6 - a on agree5, 7 - a on agree6).
Means are rounded to two places; a value on a cut-point falls in the band above it.

test_example_tables_cover_every_subscale_and_band checks that the tables really do
cover all of this, so a subscale or band added to a shipped file needs an example here.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from instruments import Instrument, load_registry, score
from instruments.numbers import shown

REGISTRY = load_registry()


def inst(instrument_id: str) -> Instrument:
    return REGISTRY.get(instrument_id, 1)


# --- connection (agree5, 1-5; every subscale and the total: mean, min_answered 0.75) ----------
# Bands: below 2.5 / below 3.5 / the rest. Health areas: Strained (concern) / Mixed / Strong;
# concern areas (withdrawal, pursuing, withdrawing): Low / Some / High (concern).
# Five-item subscales need 4 answers (4/5 = 0.8; 3/5 = 0.6 is too few); pursuing and
# withdrawing have four items and need 3 (exactly 0.75). The total pools the 25 items of
# heard, affection, sharing, kindness and rituals and needs 19 of them (18.75).

# heard: 1, 2, 4 forward; 3 R, 5 R.
HEARD_FULL = {"heard_1": 5, "heard_2": 4, "heard_3": 1, "heard_4": 4, "heard_5": 2}
# 5 + 4 + (6-1=5) + 4 + (6-2=4) = 22 / 5 = 4.40 Strong
HEARD_PART_MIXED = {"heard_1": 3, "heard_2": 2, "heard_3": 3, "heard_4": 3}  # heard_5 skipped
# 3 + 2 + (6-3=3) + 3 = 11 / 4 = 2.75 Mixed
HEARD_PART_STRAINED = {"heard_1": 2, "heard_3": 5, "heard_4": 2, "heard_5": 4}  # heard_2 skipped
# 2 + (6-5=1) + 2 + (6-4=2) = 7 / 4 = 1.75 Strained
HEARD_BELOW = {"heard_1": 5, "heard_3": 1, "heard_5": 1}  # 3 of 5 = 0.6: not enough answers

# affection: 1, 2, 4 forward; 3 R, 5 R.
AFFECTION_FULL = {"affection_1": 2, "affection_2": 3, "affection_3": 4, "affection_4": 2, "affection_5": 5}
# 2 + 3 + (6-4=2) + 2 + (6-5=1) = 10 / 5 = 2.00 Strained
AFFECTION_PART_STRONG = {"affection_2": 4, "affection_3": 2, "affection_4": 5, "affection_5": 1}  # _1 skipped
# 4 + (6-2=4) + 5 + (6-1=5) = 18 / 4 = 4.50 Strong
AFFECTION_PART_MIXED = {"affection_1": 3, "affection_2": 3, "affection_4": 4, "affection_5": 3}  # _3 (R) skipped
# 3 + 3 + 4 + (6-3=3) = 13 / 4 = 3.25 Mixed
AFFECTION_BELOW = {"affection_3": 1, "affection_5": 1}  # 2 of 5 = 0.4

# sharing: 1, 3, 4 forward; 2 R, 5 R.
SHARING_FULL = {"sharing_1": 3, "sharing_2": 2, "sharing_3": 3, "sharing_4": 3, "sharing_5": 4}
# 3 + (6-2=4) + 3 + 3 + (6-4=2) = 15 / 5 = 3.00 Mixed
SHARING_PART_STRONG = {"sharing_1": 5, "sharing_2": 1, "sharing_3": 4, "sharing_5": 2}  # _4 skipped
# 5 + (6-1=5) + 4 + (6-2=4) = 18 / 4 = 4.50 Strong
SHARING_PART_STRAINED = {"sharing_2": 5, "sharing_3": 2, "sharing_4": 3, "sharing_5": 4}  # _1 skipped
# (6-5=1) + 2 + 3 + (6-4=2) = 8 / 4 = 2.00 Strained
SHARING_BELOW = {"sharing_1": 4, "sharing_2": 2, "sharing_3": 4}  # 3 of 5

# withdrawal (concern: higher = more withdrawn): 1, 2, 3 forward; 4 R, 5 R.
WITHDRAWAL_FULL = {"withdrawal_1": 4, "withdrawal_2": 5, "withdrawal_3": 4, "withdrawal_4": 1, "withdrawal_5": 2}
# 4 + 5 + 4 + (6-1=5) + (6-2=4) = 22 / 5 = 4.40 High
WITHDRAWAL_PART_LOW = {"withdrawal_1": 1, "withdrawal_2": 2, "withdrawal_4": 4, "withdrawal_5": 5}  # _3 skipped
# 1 + 2 + (6-4=2) + (6-5=1) = 6 / 4 = 1.50 Low
WITHDRAWAL_PART_SOME = {"withdrawal_1": 3, "withdrawal_2": 3, "withdrawal_3": 2, "withdrawal_4": 3}  # _5 skipped
# 3 + 3 + 2 + (6-3=3) = 11 / 4 = 2.75 Some
WITHDRAWAL_PART_AT_CUT = {"withdrawal_1": 4, "withdrawal_2": 3, "withdrawal_3": 4, "withdrawal_4": 3}  # _5 skipped
# 4 + 3 + 4 + (6-3=3) = 14 / 4 = 3.50: on the cut, so High
WITHDRAWAL_BELOW = {"withdrawal_4": 5, "withdrawal_5": 5}  # 2 of 5

# kindness: 1, 2, 4 forward; 3 R, 5 R.
KINDNESS_FULL = {"kindness_1": 2, "kindness_2": 2, "kindness_3": 4, "kindness_4": 3, "kindness_5": 5}
# 2 + 2 + (6-4=2) + 3 + (6-5=1) = 10 / 5 = 2.00 Strained
KINDNESS_PART_AT_STRONG = {"kindness_1": 4, "kindness_3": 2, "kindness_4": 3, "kindness_5": 3}  # _2 skipped
# 4 + (6-2=4) + 3 + (6-3=3) = 14 / 4 = 3.50: on the cut, so Strong
KINDNESS_PART_AT_MIXED = {"kindness_1": 2, "kindness_2": 3, "kindness_3": 3, "kindness_5": 4}  # _4 skipped
# 2 + 3 + (6-3=3) + (6-4=2) = 10 / 4 = 2.50: on the cut, so Mixed
KINDNESS_BELOW = {"kindness_1": 5, "kindness_2": 5, "kindness_4": 5}  # 3 of 5

# rituals: 1, 2, 5 forward; 3 R, 4 R.
RITUALS_FULL = {"rituals_1": 5, "rituals_2": 5, "rituals_3": 2, "rituals_4": 1, "rituals_5": 4}
# 5 + 5 + (6-2=4) + (6-1=5) + 4 = 23 / 5 = 4.60 Strong
RITUALS_PART_STRAINED = {"rituals_1": 2, "rituals_2": 2, "rituals_3": 4, "rituals_4": 5}  # _5 skipped
# 2 + 2 + (6-4=2) + (6-5=1) = 7 / 4 = 1.75 Strained
RITUALS_PART_MIXED = {"rituals_1": 3, "rituals_2": 4, "rituals_4": 3, "rituals_5": 3}  # _3 (R) skipped
# 3 + 4 + (6-3=3) + 3 = 13 / 4 = 3.25 Mixed
RITUALS_BELOW = {"rituals_1": 5}  # 1 of 5

# pursuing (concern, four items): 1, 2, 3 forward; 4 R.
PURSUING_FULL = {"pursuing_1": 2, "pursuing_2": 1, "pursuing_3": 2, "pursuing_4": 4}
# 2 + 1 + 2 + (6-4=2) = 7 / 4 = 1.75 Low
PURSUING_PART_HIGH = {"pursuing_2": 4, "pursuing_3": 5, "pursuing_4": 1}  # _1 skipped; 3 of 4 = exactly 0.75
# 4 + 5 + (6-1=5) = 14 / 3 = 4.667 -> 4.67 High
PURSUING_PART_SOME = {"pursuing_1": 3, "pursuing_2": 2, "pursuing_4": 2}  # _3 skipped
# 3 + 2 + (6-2=4) = 9 / 3 = 3.00 Some
PURSUING_BELOW = {"pursuing_1": 5, "pursuing_4": 1}  # 2 of 4 = 0.5

# withdrawing (concern, four items): 1, 2, 3 forward; 4 R.
WITHDRAWING_FULL = {"withdrawing_1": 3, "withdrawing_2": 3, "withdrawing_3": 2, "withdrawing_4": 3}
# 3 + 3 + 2 + (6-3=3) = 11 / 4 = 2.75 Some
WITHDRAWING_PART_HIGH = {"withdrawing_1": 5, "withdrawing_2": 4, "withdrawing_3": 4}  # _4 (R) skipped
# 5 + 4 + 4 = 13 / 3 = 4.333 -> 4.33 High
WITHDRAWING_PART_LOW = {"withdrawing_1": 2, "withdrawing_3": 1, "withdrawing_4": 5}  # _2 skipped
# 2 + 1 + (6-5=1) = 4 / 3 = 1.333 -> 1.33 Low
WITHDRAWING_BELOW = {"withdrawing_2": 3, "withdrawing_3": 3}  # 2 of 4

# Two rituals answers only: rituals itself has too few (2 of 5), but they count in the total.
RITUALS_TWO = {"rituals_1": 5, "rituals_2": 5}  # keyed 5 + 5 = 10
RITUALS_ONE = {"rituals_1": 5}  # keyed 5

# Expected: measure -> (value, band label, answered); value None = not enough answers.
CONNECTION = {
    "full": (
        {
            **HEARD_FULL, **AFFECTION_FULL, **SHARING_FULL, **WITHDRAWAL_FULL,
            **KINDNESS_FULL, **RITUALS_FULL, **PURSUING_FULL, **WITHDRAWING_FULL,
        },
        {
            "heard": (4.4, "Strong", 5),
            "affection": (2.0, "Strained", 5),
            "sharing": (3.0, "Mixed", 5),
            "withdrawal": (4.4, "High", 5),
            "kindness": (2.0, "Strained", 5),
            "rituals": (4.6, "Strong", 5),
            "pursuing": (1.75, "Low", 4),
            "withdrawing": (2.75, "Some", 4),
            # heard + affection + sharing + kindness + rituals: (22 + 10 + 15 + 10 + 23) / 25 = 80 / 25
            "total": (3.2, "Mixed", 25),
        },
    ),
    "partial-1": (
        {
            **HEARD_PART_MIXED, **AFFECTION_PART_STRONG, **SHARING_PART_STRONG, **WITHDRAWAL_PART_LOW,
            **KINDNESS_PART_AT_STRONG, **RITUALS_PART_STRAINED, **PURSUING_PART_HIGH, **WITHDRAWING_PART_HIGH,
        },
        {
            "heard": (2.75, "Mixed", 4),
            "affection": (4.5, "Strong", 4),
            "sharing": (4.5, "Strong", 4),
            "withdrawal": (1.5, "Low", 4),
            "kindness": (3.5, "Strong", 4),
            "rituals": (1.75, "Strained", 4),
            "pursuing": (4.67, "High", 3),
            "withdrawing": (4.33, "High", 3),
            # 20 of 25 (0.8): (11 + 18 + 18 + 14 + 7) / 20 = 68 / 20
            "total": (3.4, "Mixed", 20),
        },
    ),
    "partial-2": (
        {
            **HEARD_PART_STRAINED, **AFFECTION_PART_MIXED, **SHARING_PART_STRAINED, **WITHDRAWAL_PART_SOME,
            **KINDNESS_PART_AT_MIXED, **RITUALS_PART_MIXED, **PURSUING_PART_SOME, **WITHDRAWING_PART_LOW,
        },
        {
            "heard": (1.75, "Strained", 4),
            "affection": (3.25, "Mixed", 4),
            "sharing": (2.0, "Strained", 4),
            "withdrawal": (2.75, "Some", 4),
            "kindness": (2.5, "Mixed", 4),
            "rituals": (3.25, "Mixed", 4),
            "pursuing": (3.0, "Some", 3),
            "withdrawing": (1.33, "Low", 3),
            # 20 of 25: (7 + 13 + 8 + 10 + 13) / 20 = 51 / 20
            "total": (2.55, "Mixed", 20),
        },
    ),
    "below": (
        {
            **HEARD_BELOW, **AFFECTION_BELOW, **SHARING_BELOW, **WITHDRAWAL_BELOW,
            **KINDNESS_BELOW, **RITUALS_BELOW, **PURSUING_BELOW, **WITHDRAWING_BELOW,
        },
        {
            "heard": (None, None, 3),
            "affection": (None, None, 2),
            "sharing": (None, None, 3),
            "withdrawal": (None, None, 2),
            "kindness": (None, None, 3),
            "rituals": (None, None, 1),
            "pursuing": (None, None, 2),
            "withdrawing": (None, None, 2),
            "total": (None, None, 12),  # 3 + 2 + 3 + 3 + 1 = 12 of 25
        },
    ),
    "total-strong": (
        {
            **HEARD_FULL, **AFFECTION_PART_STRONG, **SHARING_PART_STRONG,
            **KINDNESS_PART_AT_STRONG, **RITUALS_TWO, **WITHDRAWAL_PART_AT_CUT,
        },
        {
            "heard": (4.4, "Strong", 5),
            "affection": (4.5, "Strong", 4),
            "sharing": (4.5, "Strong", 4),
            "withdrawal": (3.5, "High", 4),
            "kindness": (3.5, "Strong", 4),
            "rituals": (None, None, 2),
            "pursuing": (None, None, 0),
            "withdrawing": (None, None, 0),
            # 5 + 4 + 4 + 4 + 2 = 19 of 25 (0.76): (22 + 18 + 18 + 14 + 10) / 19 = 82 / 19 = 4.316
            "total": (4.32, "Strong", 19),
        },
    ),
    "total-one-short": (
        {
            **HEARD_FULL, **AFFECTION_PART_STRONG, **SHARING_PART_STRONG,
            **KINDNESS_PART_AT_STRONG, **RITUALS_ONE, **WITHDRAWAL_PART_AT_CUT,
        },
        {
            "heard": (4.4, "Strong", 5),
            "affection": (4.5, "Strong", 4),
            "sharing": (4.5, "Strong", 4),
            "withdrawal": (3.5, "High", 4),
            "kindness": (3.5, "Strong", 4),
            "rituals": (None, None, 1),
            "pursuing": (None, None, 0),
            "withdrawing": (None, None, 0),
            "total": (None, None, 18),  # 18 of 25 = 0.72: one answer short
        },
    ),
    "total-strained": (
        {
            **HEARD_PART_STRAINED, **AFFECTION_FULL, **SHARING_PART_STRAINED,
            **KINDNESS_FULL, **RITUALS_PART_STRAINED,
        },
        {
            "heard": (1.75, "Strained", 4),
            "affection": (2.0, "Strained", 5),
            "sharing": (2.0, "Strained", 4),
            "withdrawal": (None, None, 0),
            "kindness": (2.0, "Strained", 5),
            "rituals": (1.75, "Strained", 4),
            "pursuing": (None, None, 0),
            "withdrawing": (None, None, 0),
            # 22 of 25: (7 + 10 + 8 + 10 + 7) / 22 = 42 / 22 = 1.909
            "total": (1.91, "Strained", 22),
        },
    ),
}  # fmt: skip


# --- differentiation (agree6, 1-6, no midpoint; every facet and the total: mean, min 0.75) -----
# Bands: below 3.0 / below 4.5 / the rest; none is a concern band (descriptive only).
# Six-item facets need 5 answers (5/6 = 0.83; 4/6 = 0.67 is too few); the total pools all
# 24 items and needs 18 (exactly 0.75).

# reactivity: 2, 4, 6 forward; 1 R, 3 R, 5 R.
REACTIVITY_FULL = {
    "reactivity_1": 3, "reactivity_2": 4, "reactivity_3": 4,
    "reactivity_4": 4, "reactivity_5": 3, "reactivity_6": 4,
}  # fmt: skip
# (7-3=4) + 4 + (7-4=3) + 4 + (7-3=4) + 4 = 23 / 6 = 3.833 -> 3.83 Sometimes swept up
REACTIVITY_PART_STEADY = {
    "reactivity_1": 1, "reactivity_2": 5, "reactivity_3": 2, "reactivity_4": 6, "reactivity_5": 2,
}  # fmt: skip
# _6 skipped: (7-1=6) + 5 + (7-2=5) + 6 + (7-2=5) = 27 / 5 = 5.40 Mostly steady
REACTIVITY_PART_QUICK = {
    "reactivity_1": 6, "reactivity_2": 2, "reactivity_4": 3, "reactivity_5": 5, "reactivity_6": 2,
}  # fmt: skip
# _3 (R) skipped: (7-6=1) + 2 + 3 + (7-5=2) + 2 = 10 / 5 = 2.00 Quick to react
REACTIVITY_BELOW = {"reactivity_1": 2, "reactivity_2": 5, "reactivity_3": 2, "reactivity_4": 5}  # 4 of 6

# i_position: 1, 2, 4, 5 forward; 3 R, 6 R.
I_POSITION_FULL = {
    "i_position_1": 2, "i_position_2": 3, "i_position_3": 5,
    "i_position_4": 3, "i_position_5": 2, "i_position_6": 6,
}  # fmt: skip
# 2 + 3 + (7-5=2) + 3 + 2 + (7-6=1) = 13 / 6 = 2.167 -> 2.17 Often holds back own view
I_POSITION_PART_STATES = {
    "i_position_2": 6, "i_position_3": 1, "i_position_4": 5, "i_position_5": 5, "i_position_6": 2,
}  # fmt: skip
# _1 skipped: 6 + (7-1=6) + 5 + 5 + (7-2=5) = 27 / 5 = 5.40 Usually states own view
I_POSITION_PART_SOMETIMES = {
    "i_position_1": 4, "i_position_2": 4, "i_position_3": 3, "i_position_4": 3, "i_position_5": 4,
}  # fmt: skip
# _6 (R) skipped: 4 + 4 + (7-3=4) + 3 + 4 = 19 / 5 = 3.80 Sometimes speaks up
I_POSITION_BELOW = {"i_position_1": 6, "i_position_3": 1, "i_position_6": 1}  # 3 of 6

# cutoff: 3, 6 forward; 1 R, 2 R, 4 R, 5 R.
CUTOFF_FULL = {"cutoff_1": 2, "cutoff_2": 1, "cutoff_3": 5, "cutoff_4": 1, "cutoff_5": 3, "cutoff_6": 5}
# (7-2=5) + (7-1=6) + 5 + (7-1=6) + (7-3=4) + 5 = 31 / 6 = 5.167 -> 5.17 Usually stays in touch
CUTOFF_PART_AT_CUT = {"cutoff_1": 4, "cutoff_3": 3, "cutoff_4": 4, "cutoff_5": 4, "cutoff_6": 3}
# _2 skipped: (7-4=3) + 3 + (7-4=3) + (7-4=3) + 3 = 15 / 5 = 3.00: on the cut, so Sometimes steps away
CUTOFF_PART_OFTEN = {"cutoff_1": 6, "cutoff_2": 5, "cutoff_3": 2, "cutoff_4": 5, "cutoff_5": 6}
# _6 skipped: (7-6=1) + (7-5=2) + 2 + (7-5=2) + (7-6=1) = 8 / 5 = 1.60 Often steps away to cope
CUTOFF_BELOW = {"cutoff_1": 1, "cutoff_2": 1, "cutoff_3": 6, "cutoff_6": 6}  # 4 of 6

# fusion: 3, 5 forward; 1 R, 2 R, 4 R, 6 R.
FUSION_FULL = {"fusion_1": 3, "fusion_2": 2, "fusion_3": 5, "fusion_4": 3, "fusion_5": 4, "fusion_6": 2}
# (7-3=4) + (7-2=5) + 5 + (7-3=4) + 4 + (7-2=5) = 27 / 6 = 4.50: on the cut, so Keeps own footing
FUSION_PART_TIED = {"fusion_1": 5, "fusion_2": 6, "fusion_3": 3, "fusion_4": 5, "fusion_6": 4}
# _5 skipped: (7-5=2) + (7-6=1) + 3 + (7-5=2) + (7-4=3) = 11 / 5 = 2.20 Closely tied to others' feelings
FUSION_PART_BETWEEN = {"fusion_2": 3, "fusion_3": 4, "fusion_4": 4, "fusion_5": 3, "fusion_6": 3}
# _1 (R) skipped: (7-3=4) + 4 + (7-4=3) + 3 + (7-3=4) = 18 / 5 = 3.60 In between
FUSION_BELOW = {"fusion_1": 1}  # 1 of 6

FUSION_TWO = {"fusion_3": 6, "fusion_5": 6}  # fusion itself has too few (2 of 6); keyed 6 + 6 = 12
FUSION_ONE = {"fusion_3": 6}

DIFFERENTIATION = {
    "full": (
        {**REACTIVITY_FULL, **I_POSITION_FULL, **CUTOFF_FULL, **FUSION_FULL},
        {
            "reactivity": (3.83, "Sometimes swept up", 6),
            "i_position": (2.17, "Often holds back own view", 6),
            "cutoff": (5.17, "Usually stays in touch", 6),
            "fusion": (4.5, "Keeps own footing", 6),
            # (23 + 13 + 31 + 27) / 24 = 94 / 24 = 3.917
            "total": (3.92, "In between", 24),
        },
    ),
    "partial-1": (
        {**REACTIVITY_PART_STEADY, **I_POSITION_PART_STATES, **CUTOFF_PART_AT_CUT, **FUSION_PART_TIED},
        {
            "reactivity": (5.4, "Mostly steady", 5),
            "i_position": (5.4, "Usually states own view", 5),
            "cutoff": (3.0, "Sometimes steps away", 5),
            "fusion": (2.2, "Closely tied to others' feelings", 5),
            # 20 of 24: (27 + 27 + 15 + 11) / 20 = 80 / 20
            "total": (4.0, "In between", 20),
        },
    ),
    "partial-2": (
        {**REACTIVITY_PART_QUICK, **I_POSITION_PART_SOMETIMES, **CUTOFF_PART_OFTEN, **FUSION_PART_BETWEEN},
        {
            "reactivity": (2.0, "Quick to react", 5),
            "i_position": (3.8, "Sometimes speaks up", 5),
            "cutoff": (1.6, "Often steps away to cope", 5),
            "fusion": (3.6, "In between", 5),
            # 20 of 24: (10 + 19 + 8 + 18) / 20 = 55 / 20
            "total": (2.75, "Closeness often pulls hard", 20),
        },
    ),
    "below": (
        {**REACTIVITY_BELOW, **I_POSITION_BELOW, **CUTOFF_BELOW, **FUSION_BELOW},
        {
            "reactivity": (None, None, 4),
            "i_position": (None, None, 3),
            "cutoff": (None, None, 4),
            "fusion": (None, None, 1),
            "total": (None, None, 12),  # 4 + 3 + 4 + 1 = 12 of 24
        },
    ),
    "total-steady": (
        {**REACTIVITY_PART_STEADY, **I_POSITION_PART_STATES, **CUTOFF_FULL, **FUSION_TWO},
        {
            "reactivity": (5.4, "Mostly steady", 5),
            "i_position": (5.4, "Usually states own view", 5),
            "cutoff": (5.17, "Usually stays in touch", 6),
            "fusion": (None, None, 2),
            # 5 + 5 + 6 + 2 = 18 of 24, exactly 0.75: (27 + 27 + 31 + 12) / 18 = 97 / 18 = 5.389
            "total": (5.39, "Mostly steady when close", 18),
        },
    ),
    "total-one-short": (
        {**REACTIVITY_PART_STEADY, **I_POSITION_PART_STATES, **CUTOFF_FULL, **FUSION_ONE},
        {
            "reactivity": (5.4, "Mostly steady", 5),
            "i_position": (5.4, "Usually states own view", 5),
            "cutoff": (5.17, "Usually stays in touch", 6),
            "fusion": (None, None, 1),
            "total": (None, None, 17),  # 17 of 24 = 0.71
        },
    ),
}


# --- check-in (agree5, 1-5, one subscale "overall" of four forward items; mean, min 0.75) ----
# Bands: below 2.5 Struggling (concern) / below 3.5 Mixed / Good. No item is reverse-keyed.
CHECKIN = {
    "full": (
        {"satisfied": 5, "close": 4, "hopeful": 5, "together": 4},  # 18 / 4 = 4.50 Good
        {"overall": (4.5, "Good", 4)},
    ),
    "partial-mixed": (
        {"satisfied": 3, "hopeful": 2, "together": 4},  # close skipped, 3 of 4 = 0.75: 9 / 3 = 3.00 Mixed
        {"overall": (3.0, "Mixed", 3)},
    ),
    "partial-struggling": (
        {"close": 2, "hopeful": 2, "together": 3},  # satisfied skipped: 7 / 3 = 2.333 -> 2.33 Struggling
        {"overall": (2.33, "Struggling", 3)},
    ),
    "at-the-lower-cut": (
        {"satisfied": 2, "close": 3, "hopeful": 2, "together": 3},  # 10 / 4 = 2.50: on the cut, so Mixed
        {"overall": (2.5, "Mixed", 4)},
    ),
    "at-the-upper-cut": (
        {"satisfied": 3, "close": 4, "hopeful": 3, "together": 4},  # 14 / 4 = 3.50: on the cut, so Good
        {"overall": (3.5, "Good", 4)},
    ),
    "below": (
        {"satisfied": 1, "close": 1},  # 2 of 4 = 0.5: not enough answers
        {"overall": (None, None, 2)},
    ),
}

TABLES = {"connection": CONNECTION, "differentiation": DIFFERENTIATION, "checkin": CHECKIN}
CASES = [
    pytest.param(instrument_id, answers, expected, id=f"{instrument_id}-{name}")
    for instrument_id, table in TABLES.items()
    for name, (answers, expected) in table.items()
]


@pytest.mark.parametrize(("instrument_id", "answers", "expected"), CASES)
def test_hand_worked_example(instrument_id, answers, expected):
    instrument = inst(instrument_id)
    result = score(instrument, answers)
    found = {**result.scores, **result.totals}
    # Every subscale and total is checked in every example, valid or not.
    assert set(found) == set(expected)
    for measure_id, (value, label, answered) in expected.items():
        got = found[measure_id]
        written = shown(got.value) if got.value is not None else None  # as the page writes it, half-up
        assert (written, got.band.label if got.band else None) == (value, label), measure_id
        assert got.answered == answered, measure_id
        assert got.valid == (value is not None), measure_id
        if value is None:
            assert got.band is None and got.prompts == (), measure_id
        elif got.band.concern:
            # A concern band brings the measure's discussion prompts, in file order.
            assert got.prompts == tuple(instrument.measure(measure_id).prompts), measure_id
            assert got.prompts, measure_id
        else:
            assert got.prompts == (), measure_id
    assert result.flags == ()


# Which band labels are concern bands, written out from the files.
CONCERN_LABELS = {
    "connection": {"Strained", "High"},
    "differentiation": set(),
    "checkin": {"Struggling"},
}


@pytest.mark.parametrize("instrument_id", list(TABLES))
def test_concern_bands_are_the_ones_the_files_name(instrument_id):
    for measure in inst(instrument_id).measures():
        concern = {band.label for band in measure.bands if band.concern}
        assert concern <= CONCERN_LABELS[instrument_id], measure.id
        assert len(concern) == (1 if CONCERN_LABELS[instrument_id] else 0), measure.id


def test_reverse_keying_by_hand_on_each_scale():
    # agree5: 6 - a; agree6: 7 - a; forward items as answered.
    connection = score(inst("connection"), HEARD_FULL).keyed
    assert connection == {"heard_1": 5, "heard_2": 4, "heard_3": 5, "heard_4": 4, "heard_5": 4}
    differentiation = score(inst("differentiation"), CUTOFF_FULL).keyed
    assert differentiation == {"cutoff_1": 5, "cutoff_2": 6, "cutoff_3": 5, "cutoff_4": 6, "cutoff_5": 4, "cutoff_6": 5}


def _items_of(instrument: Instrument, measure) -> list:
    wanted = set(getattr(measure, "subscales", [measure.id]))
    return [i for i in instrument.items if i.type == "choice" and i.subscale in wanted]


def test_example_tables_cover_every_subscale_and_band():
    """The tables above, not the engine: for every subscale and total of every shipped scored
    questionnaire there is a full set, a partial set above the minimum share, a set below
    it with some answers, a reverse-keyed item answered in a scored set, and every band."""
    scored = sorted(i.id for i in REGISTRY if i.kind == "scored")
    assert sorted(TABLES) == scored
    for instrument_id, table in TABLES.items():
        instrument = inst(instrument_id)
        for measure in instrument.measures():
            items = _items_of(instrument, measure)
            ids = {i.id for i in items}
            kinds, bands, reversed_answered = set(), set(), False
            for answers, expected in table.values():
                value, label, answered = expected[measure.id]
                count = len(ids & set(answers))
                assert count == answered, (instrument_id, measure.id, answers)
                if value is None:
                    if count:
                        kinds.add("below")
                    # The table's claim "not valid" agrees with the definition's minimum share.
                    assert Fraction(count, len(ids)) < Fraction(str(measure.min_answered))
                    continue
                assert Fraction(count, len(ids)) >= Fraction(str(measure.min_answered))
                kinds.add("full" if count == len(ids) else "partial")
                bands.add(label)
                reversed_answered |= any(i.reverse and i.id in answers for i in items)
            where = f"{instrument_id}.{measure.id}"
            assert kinds == {"full", "partial", "below"}, where
            assert bands == {band.label for band in measure.bands}, where
            assert reversed_answered == any(i.reverse for i in items), where
