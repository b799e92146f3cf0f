"""Instrument versions in the app: a past response always re-scores on its own version.

The app loads its questionnaires from INSTRUMENTS_FOLDER at start-up (clinic.catalog).
Here the folder holds the shipped files plus "pulse", a small test questionnaire whose
version 2 scores differently from version 1: item p3 is no longer reverse-keyed (its
wording turned round) and the band cut-points moved. A couple answers version 1; the
practice then "upgrades" (version 2 is added to the folder and the app loads it again,
as a restart would); the couple view and the JSON export must still show the version-1
numbers, and only an assessment started after the upgrade uses version 2.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import sqlalchemy as sa

from clinic import catalog
from clinic.models import Assessment
from instruments.loader import DEFINITIONS
from tests.conftest import login
from tests.test_client import page_address
from tests.test_couple_view import row, text_of

HEADER = """\
id: pulse
kind: scored
title: Pulse check
description_client: Three quick questions about how close you feel.
description_clinician: A test questionnaire whose scoring changes between versions.
minutes: 1
attribution: Written for Tandem's tests.
licence: CC0
normed: false
scales:
  agree5:
    values:
      - {value: 1, label: Strongly disagree}
      - {value: 2, label: Disagree}
      - {value: 3, label: Neither agree nor disagree}
      - {value: 4, label: Agree}
      - {value: 5, label: Strongly agree}
    discuss_gap: 2
"""
PULSE_V1 = (
    "version: 1\n"
    + HEADER
    + """\
items:
  - {id: p1, text: We laugh together., scale: agree5, subscale: close}
  - {id: p2, text: I feel close to my partner., scale: agree5, subscale: close}
  - {id: p3, text: We feel like strangers lately., scale: agree5, subscale: close, reverse: true}
subscales:
  - id: close
    label: Closeness pulse
    method: mean
    min_answered: 0.75
    direction: health
    bands:
      - {below: 2.5, label: Apart, meaning: Feels far apart., concern: true}
      - {below: 3.5, label: Partway, meaning: Close at times.}
      - {label: Near, meaning: Feels close.}
"""
)
PULSE_V2 = (
    "version: 2\n"
    + HEADER
    + """\
items:
  - {id: p1, text: We laugh together., scale: agree5, subscale: close}
  - {id: p2, text: I feel close to my partner., scale: agree5, subscale: close}
  - {id: p3, text: We feel like a team lately., scale: agree5, subscale: close}
subscales:
  - id: close
    label: Closeness pulse
    method: mean
    min_answered: 0.75
    direction: health
    bands:
      - {below: 3.0, label: Distant, meaning: Feels far apart., concern: true}
      - {below: 4.0, label: Middling, meaning: Close at times.}
      - {label: Together, meaning: Feels close.}
"""
)

# Agree5, midpoint 3; version 1 keys p3 as 6 - answer, version 2 takes it as given.
ANSWERS_A = {"p1": 4, "p2": 5, "p3": 1}
# v1: 4 + 5 + (6-1=5) = 14 / 3 = 4.67 Near        v2: 4 + 5 + 1 = 10 / 3 = 3.33 Middling
ANSWERS_B = {"p1": 3, "p2": 2, "p3": 2}
# v1: 3 + 2 + (6-2=4) = 9 / 3 = 3.00 Partway      v2: 3 + 2 + 2 = 7 / 3 = 2.33 Distant
# Difference B - A, from the unrounded scores and written in words: v1 3 - 14/3 = -1.67 (Robin
# higher by 1.67); v2 7/3 - 10/3 = -1.00 (Robin higher by 1.00).
# Items (A side / B side), v1: p1 health/neutral -> neutral; p2 health/concern -> split;
#   p3 keyed 5 and 4, health/health -> shared strength: 1 both positive, 1 split, 1 unsure.
# v2: p3 answered 1 and 2, concern/concern -> shared concern: 1 both a concern, 1 split, 1 unsure.
ROW_V1 = "Closeness pulse 4.67 Near 3.00 Partway Robin higher by 1.67 1 both positive · 1 split · 1 unsure"
ROW_V2 = (
    "Closeness pulse 3.33 Middling 2.33 ▲ Distant · concern Robin higher by 1.00 1 both a concern · 1 split · 1 unsure"
)

LINK = re.compile(r'value="http://localhost/l/([A-Za-z0-9_\-]+)"')


@pytest.fixture
def folder(app, db, tmp_path, monkeypatch):
    """An instruments folder (shipped files + pulse v1) the app is configured with and loaded from.

    Returns `load()`, which re-reads the folder the way start-up does (catalog.init_app);
    the app's own folder and registry come back after the test."""
    for path in DEFINITIONS.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "pulse-v1.yaml").write_text(PULSE_V1, encoding="utf-8")
    monkeypatch.setitem(app.config, "INSTRUMENTS_FOLDER", str(tmp_path))
    monkeypatch.setitem(app.extensions, catalog.EXTENSION_KEY, app.extensions[catalog.EXTENSION_KEY])

    def load():
        catalog.init_app(app)
        return catalog.registry()

    load()
    return tmp_path, load


def upgrade(folder) -> None:
    """Version 2 arrives in the folder and the app starts again with both versions."""
    path, load = folder
    (path / "pulse-v2.yaml").write_text(PULSE_V2, encoding="utf-8")
    registry = load()
    assert ("pulse", 1) in registry and ("pulse", 2) in registry
    assert registry.latest("pulse").version == 2


def start(client, couple, occasion: str) -> dict[int, str]:
    """Start an assessment of pulse through the page; returns the raw link tokens, A then B."""
    response = client.post_form(
        f"/couples/{couple.id}/assessments/new",
        {"occasion": occasion, "instruments": ["pulse"], "expiry_days": "14"},
    )
    assert response.status_code == 200, response.status_code
    tokens = LINK.findall(response.get_data(as_text=True))
    assert len(tokens) == 2
    return dict(enumerate(tokens, start=1))


def answer_through_the_page(browser, token: str, answers: dict[str, int]) -> str:
    """Open the link, answer pulse on its page (the only questionnaire, on one page) and send;
    returns the questionnaire page seen."""
    assert browser.get(f"/l/{token}").location == "/q"
    page = browser.get(page_address(1)).get_data(as_text=True)
    assert "Page 1 of" not in page  # one page: no page count
    response = browser.post_form(page_address(1), {f"item_{k}": str(v) for k, v in answers.items()})
    assert response.status_code == 302 and response.location == "/q/review"
    assert browser.post_form("/q/submit").location == "/q/done"
    return page


@pytest.fixture
def couple_on_v1(folder, client, make_practice, make_couple, make_client, answer_as, db):
    """Links made on v1; A answers before the upgrade, B opens the link and answers after it."""
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    login(client, owner)
    tokens = start(client, couple, "Intake")
    intake = db.session.scalar(sa.select(Assessment).where(Assessment.couple_id == couple.id))
    assert intake.instrument_keys == [("pulse", 1)]  # the version is remembered with the assessment
    answer_as(tokens[1], {"pulse": ANSWERS_A})

    upgrade(folder)

    # B's link was made on v1, so B still gets v1's wording, and v1 scores B's answers.
    page = answer_through_the_page(make_client(), tokens[2], ANSWERS_B)
    assert "We feel like strangers lately." in page
    assert "We feel like a team lately." not in page
    return owner, couple, intake


def test_couple_view_scores_v1_answers_on_v1_after_v2_is_loaded(client, couple_on_v1):
    _, couple, _ = couple_on_v1
    html = client.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert row(html, "Closeness pulse") == ROW_V1
    assert "Pulse check v1" in text_of(html)
    assert "Pulse check v2" not in text_of(html)
    for v2_only in ("Middling", "Distant", "Together"):
        assert v2_only not in text_of(html), v2_only


def test_export_scores_v1_answers_on_v1_after_v2_is_loaded(client, couple_on_v1):
    _, couple, _ = couple_on_v1
    data = json.loads(client.get(f"/couples/{couple.id}/export").get_data(as_text=True))
    (intake,) = data["assessments"]
    assert intake["instruments"] == [{"id": "pulse", "version": 1}]
    scores = {}
    for invitation in intake["invitations"]:
        (response,) = invitation["responses"]
        assert (response["instrument"], response["version"]) == ("pulse", 1)
        scores[invitation["partner"]] = response["scores"]["close"]
        # Scored again now, on v1, it says what was recorded when the answers were sent.
        recorded = response["scores_recorded_at_submission"]
        assert recorded["scores"]["close"] == response["scores"]["close"]
    assert scores == {
        "A": {"value": 4.67, "valid": True, "band": "Near"},
        "B": {"value": 3.0, "valid": True, "band": "Partway"},
    }


def test_an_assessment_started_after_the_upgrade_uses_v2_and_the_old_one_keeps_v1(
    client, couple_on_v1, make_client, answer_as, db
):
    _, couple, intake = couple_on_v1
    page = client.get(f"/couples/{couple.id}/assessments/new").get_data(as_text=True)
    assert "Pulse check" in page
    tokens = start(client, couple, "Week 4")
    later = db.session.scalar(
        sa.select(Assessment).where(Assessment.couple_id == couple.id, Assessment.id != intake.id)
    )
    assert later.instrument_keys == [("pulse", 2)]

    # The new link shows v2's wording; the same answers now mean something else.
    page = answer_through_the_page(make_client(), tokens[1], ANSWERS_A)
    assert "We feel like a team lately." in page
    assert "We feel like strangers lately." not in page
    answer_as(tokens[2], {"pulse": ANSWERS_B})

    latest = client.get(f"/couples/{couple.id}").get_data(as_text=True)  # shows the latest assessment
    assert row(latest, "Closeness pulse") == ROW_V2
    assert "Pulse check v2" in text_of(latest)
    earlier = client.get(f"/couples/{couple.id}?assessment={intake.id}").get_data(as_text=True)
    assert row(earlier, "Closeness pulse") == ROW_V1
    assert "Pulse check v1" in text_of(earlier)

    # Over time, each point keeps the score of its own version: first -> latest, per partner
    # (4.67 -> 3.33 is a raw change of -1.33, at least the 0.40 a tenth of the range asks: "worse").
    over_time = latest.split('id="over-time"')[1]
    assert row(over_time, "Closeness pulse") == (
        "Closeness pulse 4.67 → 3.33 worse 3.00 → 2.33 worse 1.67 → 1.00 closer"
    )

    data = json.loads(client.get(f"/couples/{couple.id}/export").get_data(as_text=True))
    versions = [a["instruments"] for a in data["assessments"]]
    assert versions == [[{"id": "pulse", "version": 1}], [{"id": "pulse", "version": 2}]]
    by_occasion = {
        a["occasion"]: {i["partner"]: i["responses"][0]["scores"]["close"]["value"] for i in a["invitations"]}
        for a in data["assessments"]
    }
    assert by_occasion == {"Intake": {"A": 4.67, "B": 3.0}, "Week 4": {"A": 3.33, "B": 2.33}}
