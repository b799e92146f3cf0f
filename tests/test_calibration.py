"""Reliability calibrated on a practice's own answers (`flask calibrate`), used for reliable change
from CALIBRATION_MIN_PARTNERS partners on, never across practices, never over published figures;
and a practice's own instrument folder (INSTRUMENTS_FOLDER) with a licensed questionnaire's
published SD and reliability.

The answers are tests/test_reliability.py's hand-worked set, given as first answers by three
couples of one practice (alpha 0.946875, SD 4/3, N 5: the sixth partner answered too little).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic import catalog
from clinic.models import Assessment, Couple, Practice, ReliabilityEstimate
from clinic.reports.context import build_context
from clinic.results import load_couple_results
from clinic.services import calibration
from instruments import ChangeUnknown, ReliableChange, load_registry
from instruments.change import NO_PSYCHOMETRICS
from instruments.loader import definition_files
from tests.conftest import login
from tests.test_couple_view import row, text_of, trend_part
from tests.test_reliability import ALPHA, FIRST_ANSWERS, SD

FIXTURES = Path(__file__).parent / "fixtures" / "instruments"
# Which of FIRST_ANSWERS each couple's partners A and B gave at intake (the first couple's first).
PAIRS = [(0, 4), (1, 2), (3, 5)]
# The main couple: A answers P1 at intake, (3, 4, 3) at week 4: 4/3 -> 10/3, +2.00.
# B answers P5 at intake, (5, 5, 4) at week 4 (keyed 5, 5, 2): 14/3 -> 4.00, -0.67.
# Gap |B - A|: 10/3 -> 2/3, -2.67. A raw change is clear from 0.40 (a tenth of 1-5).
WEEK_4 = {1: {"s1": 3, "s2": 4, "s3": 3}, 2: {"s1": 5, "s2": 5, "s3": 4}}
# Estimated at 03:00 UTC on 4 Dec: still 3 Dec in New York, the practice's zone.
ESTIMATED_AT = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
RAW_ROW = "Calm 1.33 → 3.33 better 4.67 → 4.00 worse 3.33 → 0.67 closer"
# SE = 4/3 x sqrt(1 - 0.946875) = 0.3073: A's RCI 4.60 (better), B's -1.53 (no clear change), the gap's -4.34.
JUDGED_ROW = "Calm 1.33 → 3.33 better 4.67 → 4.00 no clear change 3.33 → 0.67 closer"
PRACTICE_BASIS = (
    "Reliability estimated from 5 partners in this practice (α = 0.95, SD = 1.33), 3 Dec 2026. “Better” and "
    "“worse” are changes larger than the measurement error (reliable change, Jacobson & Truax, 95%)."
)


@pytest.fixture
def own_instruments(app, db, tmp_path):
    """A practice's own instrument folder (INSTRUMENTS_FOLDER): the shipped definitions, a pilot
    questionnaire without psychometrics and a licensed one with published SD and reliability."""
    folder = tmp_path / "instruments"
    folder.mkdir()
    for path in [*definition_files(), FIXTURES / "pilot-v1.yaml", FIXTURES / "licensed-v1.yaml"]:
        shutil.copy(path, folder / path.name)
    saved = app.config.get("INSTRUMENTS_FOLDER")
    app.config["INSTRUMENTS_FOLDER"] = str(folder)
    catalog.init_app(app)
    try:
        yield catalog.registry()
    finally:
        app.config["INSTRUMENTS_FOLDER"] = saved
        catalog.init_app(app)


@pytest.fixture
def min_partners(app, monkeypatch):
    """Set CALIBRATION_MIN_PARTNERS for one test."""
    return lambda n: monkeypatch.setitem(app.config, "CALIBRATION_MIN_PARTNERS", n)


@pytest.fixture
def practice_answers(own_instruments, db, make_practice, make_couple, make_assessment, answer_as):
    """Factory: a New York practice whose three couples gave FIRST_ANSWERS to `instrument` as
    their first answers; the first couple answered it again at week 4. Returns (owner, couple)."""

    def make(instrument: str = "pilot", pairs=PAIRS):
        owner = make_practice(timezone="America/New_York")
        couples = [make_couple(owner) for _ in pairs]
        for couple, (a, b) in zip(couples, pairs, strict=True):
            assessment, tokens = make_assessment(couple, instruments=[instrument], occasion="Intake")
            answer_as(tokens[1], {instrument: FIRST_ANSWERS[a]})
            answer_as(tokens[2], {instrument: FIRST_ANSWERS[b]})
            db.session.execute(
                sa.update(Assessment)
                .where(Assessment.id == assessment.id)
                .values(created_at=assessment.created_at - timedelta(days=28))
            )
            db.session.commit()
        _, tokens = make_assessment(couples[0], instruments=[instrument], occasion="Week 4")
        for pos in (1, 2):
            answer_as(tokens[pos], {instrument: WEEK_4[pos]})
        return owner, couples[0]

    return make


def calibrated(practice_id: int) -> list[ReliabilityEstimate]:
    """The practice's stored estimates, dated ESTIMATED_AT (so the page's date is known)."""
    from clinic.extensions import db

    db.session.execute(
        sa.update(ReliabilityEstimate)
        .where(ReliabilityEstimate.practice_id == practice_id)
        .values(estimated_at=ESTIMATED_AT)
    )
    db.session.commit()
    return db.session.scalars(
        sa.select(ReliabilityEstimate).where(ReliabilityEstimate.practice_id == practice_id)
    ).all()


def basis_of(html: str, instrument: str) -> str:
    section = trend_part(html, instrument)
    assert section.count('class="basis"') == 1  # once per instrument
    return text_of(section.split('class="basis">')[1].split("</p>")[0])


def test_the_default_threshold_is_fifty_partners(app):
    assert app.config["CALIBRATION_MIN_PARTNERS"] == 50


def test_calibration_stores_alpha_sd_and_n_from_each_partners_first_answers(practice_answers, db):
    owner, _ = practice_answers()
    practice = db.session.get(Practice, owner.practice_id)
    # The week-4 answers are not first answers: they would change both numbers if they counted.
    assert calibration.calibrate(practice) == 1
    db.session.commit()
    (estimate,) = calibrated(practice.id)
    assert (estimate.instrument_id, estimate.instrument_version, estimate.measure_id) == ("pilot", 1, "calm")
    assert estimate.n == 5
    assert round(estimate.alpha, 4) == 0.9469 and estimate.alpha == pytest.approx(ALPHA, abs=1e-12)
    assert round(estimate.sd, 4) == 1.3333 and estimate.sd == pytest.approx(SD, abs=1e-12)


def test_below_the_threshold_change_is_raw_and_the_page_says_how_many_more(practice_answers, db, client, min_partners):
    owner, couple = practice_answers()
    calibration.calibrate(db.session.get(Practice, owner.practice_id))
    db.session.commit()
    calibrated(owner.practice_id)
    min_partners(6)  # N = 5 = threshold - 1
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert basis_of(html, "pilot") == (
        "Reliable change needs 6 partners' first answers in this practice; 5 so far: 1 more. Until then change "
        "cannot yet be judged reliable: “better” and “worse” mean a raw change of at least 0.40."
    )
    # B's -0.67 is at least 0.40: raw, it reads "worse".
    assert row(trend_part(html, "pilot"), "Calm") == RAW_ROW
    for word in ("α", "Jacobson"):
        assert word not in text_of(trend_part(html, "pilot")), word
    brief = text_of(html.split('id="brief"')[1].split('id="details"')[0])
    assert (
        "A raw change: reliable change needs 6 partners' first answers in this practice; 5 so far: 1 more "
        "(“better” and “worse” mean a change of at least 0.40)."
    ) in brief
    change = load_couple_results(couple).trends[0].since_first
    assert change.reliable == {1: ChangeUnknown(NO_PSYCHOMETRICS), 2: ChangeUnknown(NO_PSYCHOMETRICS)}


def test_from_the_threshold_on_reliable_change_uses_the_practices_estimate(practice_answers, db, client, min_partners):
    owner, couple = practice_answers()
    calibration.calibrate(db.session.get(Practice, owner.practice_id))
    db.session.commit()
    calibrated(owner.practice_id)
    min_partners(5)  # N = 5 = threshold
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert basis_of(html, "pilot") == PRACTICE_BASIS
    assert row(trend_part(html, "pilot"), "Calm") == JUDGED_ROW
    brief = text_of(html.split('id="brief"')[1].split('id="details"')[0])
    assert (
        "Judged with reliable change (Jacobson & Truax, 95%), from reliability estimated from 5 partners in this "
        "practice (α = 0.95, SD = 1.33)."
    ) in brief
    results = load_couple_results(couple)
    change = results.trends[0].since_first
    assert isinstance(change.reliable[1], ReliableChange)
    assert (round(change.reliable[1].rci, 4), round(change.reliable[2].rci, 4)) == (4.6018, -1.5339)
    assert round(change.gap_reliable.rci, 4) == -4.3386
    # The PDF report states the same basis once for the instrument, dated in the practice's zone.
    practice = db.session.get(Practice, owner.practice_id)
    context = build_context(
        results, practice=practice, clinician=owner, kind="clinician", appendix=False, generated_at=ESTIMATED_AT
    )
    assert [group["basis"] for group in context["over_time"]] == [PRACTICE_BASIS]


def test_published_psychometrics_in_the_definition_win_over_the_estimate(practice_answers, db, client, min_partners):
    owner, couple = practice_answers("licensed")
    assert calibration.calibrate(db.session.get(Practice, owner.practice_id)) == 1
    db.session.commit()
    (estimate,) = calibrated(owner.practice_id)
    assert (estimate.instrument_id, estimate.n) == ("licensed", 5)  # estimated, and still not used
    min_partners(5)
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert basis_of(html, "licensed") == (
        "Reliability from the questionnaire's published figures (α = 0.80, SD = 0.60). “Better” and “worse” are "
        "changes larger than the measurement error (reliable change, Jacobson & Truax, 95%)."
    )
    # SE = 0.6 x sqrt(0.2) = 0.2683: A +2.00 / 0.3795 = 5.2705; B -0.67 / 0.3795 = -1.7568; gap -2.67 / 0.5367.
    change = load_couple_results(couple).trends[0].since_first
    assert (round(change.reliable[1].rci, 4), round(change.reliable[2].rci, 4)) == (5.2705, -1.7568)
    assert round(change.gap_reliable.rci, 4) == -4.9690
    assert row(trend_part(html, "licensed"), "Calm") == JUDGED_ROW


def test_a_licensed_instrument_from_the_practices_folder_gives_rcis_from_its_published_figures(
    practice_answers, client
):
    """INSTRUMENTS_FOLDER: no calibration at all, the published SD and reliability alone."""
    owner, couple = practice_answers("licensed")
    assert catalog.registry().get("licensed", 1).measure("calm").psychometrics.reliability == 0.8
    assert ("licensed", 1) not in load_registry()  # not a shipped questionnaire: the practice's own file
    change = load_couple_results(couple).trends[0].since_first
    assert (round(change.reliable[1].rci, 4), change.reliable[1].direction) == (5.2705, "improved")
    assert (round(change.reliable[2].rci, 4), change.reliable[2].direction) == (-1.7568, "no reliable change")
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert row(trend_part(html, "licensed"), "Calm") == JUDGED_ROW
    assert "Statement 1." in html


def test_another_practices_answers_never_count_and_its_estimates_are_never_used(
    practice_answers, db, client, min_partners
):
    owner, couple = practice_answers()
    # The other practice: the same answers and one more couple (P3 and P4 again): N = 7 there.
    other, _ = practice_answers(pairs=[*PAIRS, (2, 3)])
    ours, theirs = (db.session.get(Practice, o.practice_id) for o in (owner, other))
    assert calibration.calibrate(theirs) == 1 and calibration.calibrate(ours) == 1
    db.session.commit()
    assert [e.n for e in calibrated(ours.id)] == [5]  # never 12: their partners are not ours
    assert [e.n for e in calibrated(theirs.id)] == [7]
    assert calibration.practice_estimates(ours.id)[("pilot", 1, "calm")].n == 5
    # Their estimate reaches a threshold of 6; ours does not, and theirs is never used for us.
    min_partners(6)
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert basis_of(html, "pilot").startswith(
        "Reliable change needs 6 partners' first answers in this practice; 5 so far: 1 more."
    )
    assert row(trend_part(html, "pilot"), "Calm") == RAW_ROW
    # Without any estimate of ours, theirs still is not used.
    db.session.execute(sa.delete(ReliabilityEstimate).where(ReliabilityEstimate.practice_id == ours.id))
    db.session.commit()
    html = login(client, owner).get(f"/couples/{couple.id}").get_data(as_text=True)
    assert basis_of(html, "pilot").startswith(
        "Reliable change needs 6 partners' first answers in this practice; none so far: 6 more."
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Couple).where(Couple.practice_id == theirs.id)) == 4


def test_the_command_is_idempotent_and_keeps_only_the_newest_estimate(app, practice_answers, db):
    owner, _ = practice_answers()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["calibrate"])
    assert first.exit_code == 0, first.output
    assert first.output == f"Practice {owner.practice_id}: stored 1 reliability estimate.\n"
    (before,) = calibrated(owner.practice_id)  # dated ESTIMATED_AT
    second = runner.invoke(args=["calibrate", "--practice", str(owner.practice_id)])
    assert second.output == first.output
    db.session.expire_all()
    rows = db.session.scalars(sa.select(ReliabilityEstimate)).all()
    assert len(rows) == 1  # one per practice, instrument version and measure
    (after,) = rows
    assert after.id == before.id and after.estimated_at > ESTIMATED_AT  # the newest replaced it
    assert (after.n, round(after.alpha, 4), round(after.sd, 4)) == (5, 0.9469, 1.3333)


def test_the_command_refuses_an_unknown_practice(app, db):
    result = app.test_cli_runner().invoke(args=["calibrate", "--practice", "999"])
    assert result.exit_code == 1
    assert result.output == "Error: No practice with id 999.\n"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReliabilityEstimate)) == 0


def test_an_estimate_whose_answers_are_gone_is_removed(practice_answers, db):
    """A couple deleted: the next run no longer counts its partners, and an instrument nobody
    answered any more keeps no estimate built on answers that are gone."""
    owner, _ = practice_answers()
    practice = db.session.get(Practice, owner.practice_id)
    calibration.calibrate(practice)
    db.session.add(
        ReliabilityEstimate(
            practice_id=practice.id, instrument_id="connection", instrument_version=1, measure_id="heard", n=3
        )
    )
    db.session.commit()
    assert calibration.calibrate(practice) == 1
    db.session.commit()
    assert [(e.instrument_id, e.n) for e in calibrated(practice.id)] == [("pilot", 5)]
