"""How a score is written: half-up to two decimals, once, where it is shown.

Scores, differences, changes and gaps are kept unrounded (a difference of two
rounded scores can be off by 0.01); only the number a reader sees is rounded,
half away from zero as people round by hand (3.125 -> 3.13, -0.125 -> -0.13),
not half-to-even as Python's round() and format() do on exact binary values.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

PLACES = 2
# Float arithmetic leaves noise in the 15th digit (1.005 may be 1.00499999999999989):
# a value is first taken to this many decimals, where scores of whole-number answers
# over at most a few hundred items are exact, then rounded for display.
_CLEAN = 9


def half_up(value: float, places: int = PLACES) -> Decimal:
    """The value rounded half away from zero to `places` decimals."""
    exact = Decimal(repr(round(value, _CLEAN)))
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def shown(value: float, places: int = PLACES) -> float:
    """The value a reader sees, as a float (bands are looked up on it, so band and number agree)."""
    return float(half_up(value, places))


def fmt(value: float | None, places: int = PLACES, *, signed: bool = False, missing: str = "—") -> str:
    """The value written with `places` decimals, half-up; `signed` puts + before a positive value."""
    if value is None:
        return missing
    rounded = half_up(value, places)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0.00"
    text = f"{rounded:.{places}f}"
    return f"+{text}" if signed and rounded > 0 else text
