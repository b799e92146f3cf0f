"""Writing numbers: half-up to two decimals, once, at display."""

import pytest

from instruments import compare, score
from instruments.numbers import fmt, half_up, shown
from tests.instruments.test_compare import TINY


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (3.125, "3.13"),  # exactly half-way in binary too: format() would write 3.12
        (2.675, "2.68"),  # stored as 2.67499999999999982236431605997495353221893310546875
        (1.005, "1.01"),
        (0.125, "0.13"),
        (-0.125, "-0.13"),  # half away from zero, the same way on both sides
        (25 / 8, "3.13"),
        (13 / 6, "2.17"),
        (4.2 - 2.4, "1.80"),  # 1.8000000000000003
        (-0.001, "0.00"),  # never "-0.00"
        (4.0, "4.00"),
    ],
)
def test_half_up_at_display(value: float, written: str) -> None:
    assert fmt(value) == written
    assert shown(value) == float(written)


def test_signed_and_missing() -> None:
    assert fmt(1.8, signed=True) == "+1.80"
    assert fmt(-1.8, signed=True) == "-1.80"
    assert fmt(0.004, signed=True) == "0.00"
    assert fmt(None) == "—"
    assert fmt(None, missing="n/a") == "n/a"
    assert str(half_up(90.85, 1)) == "90.9"


def test_a_difference_is_rounded_once_from_unrounded_scores() -> None:
    # heard: A (4 + 4 + 5) / 3 = 13/3 = 4.3333; B (2 + (6 - 4) + 2) / 3 = 2.0; B - A = -2.3333.
    a = {"heard_1": 4, "heard_2": 2, "heard_3": 5}
    b = {"heard_1": 2, "heard_2": 4, "heard_3": 2}
    heard = compare(TINY, a, b).subscales["heard"]
    assert heard.difference == pytest.approx(2 - 13 / 3)
    assert fmt(heard.difference) == "-2.33"
    # Where rounding first goes wrong: scores of 2.125 and 4.0 are written 2.13 and 4.00,
    # whose difference is 1.87; the exact gap 1.875 is written 1.88.
    assert fmt(4.0 - 2.125) == "1.88"
    assert fmt(shown(4.0) - shown(2.125)) == "1.87"


def test_band_follows_the_number_as_written() -> None:
    # The band is looked up on the value as shown: a score written 2.50 is in the band
    # that starts at 2.5, whatever its binary tail.
    heard = score(TINY, {"heard_1": 2, "heard_3": 3}).scores["heard"]  # (2 + 3) / 2 = 2.5
    assert fmt(heard.value) == "2.50" and heard.band.label == "Mixed"
