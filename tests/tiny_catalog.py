"""The engine's tiny test instrument, offered by the app beside the shipped questionnaires.

tests/instruments/fixtures/tiny-v1.yaml is what the engine's own tests score, compare and
trace by hand (tests/instruments/test_compare.py, test_change.py). Loading it into the
app the way start-up does (INSTRUMENTS_FOLDER, read by clinic.catalog) lets the couple
view and the report be tested on the same fixture through HTTP and PDF text. It mixes two
response scales and a sum with means, and it has psychometrics on two of its measures,
which no shipped questionnaire does.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic import catalog
from clinic.models import Assessment
from instruments.loader import definition_files
from tests.instruments import test_compare as engine_compare

FIXTURES = Path(__file__).parent / "instruments" / "fixtures"

# The engine tests' two partners (tests/instruments/test_compare.py, A and B).
TINY_A, TINY_B = engine_compare.A, engine_compare.B

# Two tiny assessments, the engine's worked example (tests/instruments/test_change.py):
# heard: SD 0.7, r 0.85 -> SE = 0.7 x sqrt(0.15) = 0.27111; one score S_diff = sqrt(2) x SE = 0.38341,
# a gap's S = 2 x SE = 0.54222. total: SD 0.5, r 0.9 -> SE = 0.15811, S_diff = 0.22361.
HEARD_HIGH = {"heard_1": 4, "heard_2": 2, "heard_3": 5}  # (4 + 4 + 5) / 3 = 4.33
HEARD_LOW = {"heard_1": 2, "heard_2": 1, "heard_3": 3}  # (2 + 5 + 3) / 3 = 3.33
# Intake: A HIGH, B LOW; week 4: both HIGH.
# A 4.33 -> 4.33: +0.00, RCI 0.00. B 3.33 -> 4.33: +1.00, RCI 1.0 / 0.38341 = 2.61 > 1.96: improved.
# Gap 1.00 -> 0.00: -1.00 / 0.54222 = -1.84: closer, but not reliably.
# warmth (no psychometrics): A (2 + 1) / 2 = 1.50 -> 4.00, B (1 + 5) / 2 = 3.00 -> 4.00, gap 1.50 -> 0.00.
# total: A (4 + 4 + 5 + 2 + 1) / 5 = 3.20 -> 4.20, B (2 + 5 + 3 + 1 + 5) / 5 = 3.20 -> 4.20:
# +1.00 / 0.22361 = RCI 4.47 each: improved; gap 0.00 -> 0.00, RCI 0.00.


def tiny_over_time(db, couple, make_assessment, answer_as, *, b_heard_later: dict | None = None) -> None:
    """The worked example above: an intake four weeks ago and a week-4 assessment, both sent
    (`b_heard_later`: B's week-4 "heard" answers, HEARD_HIGH unless given)."""
    first, tokens = make_assessment(couple, instruments=["tiny"], occasion="Intake")
    answer_as(tokens[1], {"tiny": HEARD_HIGH | {"warm_1": 2, "warm_2": 5}})
    answer_as(tokens[2], {"tiny": HEARD_LOW | {"warm_1": 1, "warm_2": 1}})
    db.session.execute(
        sa.update(Assessment).where(Assessment.id == first.id).values(created_at=first.created_at - timedelta(days=28))
    )
    db.session.commit()
    _, tokens = make_assessment(couple, instruments=["tiny"], occasion="Week 4")
    answer_as(tokens[1], {"tiny": HEARD_HIGH | {"warm_1": 4, "warm_2": 2}})
    answer_as(tokens[2], {"tiny": (b_heard_later or HEARD_HIGH) | {"warm_1": 4, "warm_2": 2}})


@pytest.fixture
def tiny(app, db, tmp_path):
    """The app's catalog with tiny v1 added to the shipped definitions, for one test."""
    folder = tmp_path / "instruments"
    folder.mkdir()
    for path in definition_files():
        shutil.copy(path, folder / path.name)
    shutil.copy(FIXTURES / "tiny-v1.yaml", folder / "tiny-v1.yaml")
    saved = app.config.get("INSTRUMENTS_FOLDER")
    app.config["INSTRUMENTS_FOLDER"] = str(folder)
    catalog.init_app(app)
    try:
        assert ("tiny", 1) in catalog.registry().all()
        yield catalog.registry().get("tiny", 1)
    finally:
        app.config["INSTRUMENTS_FOLDER"] = saved
        catalog.init_app(app)
