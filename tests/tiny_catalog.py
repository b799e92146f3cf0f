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
from pathlib import Path

import pytest

from clinic import catalog
from instruments.loader import definition_files

FIXTURES = Path(__file__).parent / "instruments" / "fixtures"

# The engine tests' two partners (tests/instruments/test_compare.py, A and B).
TINY_A = {
    "heard_1": 4,
    "heard_2": 2,
    "heard_3": 5,
    "warm_1": 2,
    "warm_2": 5,
    "pull_1": 2,
    "pull_2": 0,
    "pull_3": 3,
    "note": "A's note",
}
TINY_B = {
    "heard_1": 2,
    "heard_2": 1,
    "heard_3": 3,
    "warm_1": 1,
    "warm_2": 1,
    "pull_1": 0,
    "pull_2": 1,
    "note": "B's note",
}


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
