"""Scores as CSV (issue 17): per couple and practice-wide, one row per partner x assessment x
subscale or total; numbers as the couple view writes them; read back with Python's csv module;
the same access rules as the JSON export; audited; nothing of another practice."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from clinic import catalog, scores_csv
from clinic.demo import level_answers
from clinic.models import AuditEvent
from clinic.results import load_couple_results
from instruments.numbers import fmt
from tests.conftest import CHECKIN, login

NOTE = "My mother calls every evening"


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def differentiation_answers(level: float, *, skip: int = 0) -> dict[str, int]:
    """Answers whose every area's mean is `level`; the first `skip` items left out."""
    instrument = catalog.registry().latest("differentiation")
    answers = level_answers(instrument, {s.id: level for s in instrument.subscales}, {})
    return dict(list(answers.items())[skip:])


@pytest.fixture
def couple(db, make_practice, make_couple, make_assessment, answer_as):
    """A New York practice's couple: an intake both sent (B's with too few answers on one area)
    with a life-context note, then a check-in only A sent."""
    owner = make_practice(timezone="America/New_York")
    couple = make_couple(owner, label='=HYPERLINK("http://x.example")', names=("-Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["differentiation", "life_context"], occasion="Intake")
    answer_as(tokens[1], {"differentiation": differentiation_answers(3.0), "life_context": {"anything_else": NOTE}})
    answer_as(tokens[2], {"differentiation": differentiation_answers(4.0, skip=3)})
    _, tokens = make_assessment(couple, instruments=["checkin"], occasion="Week 4")
    answer_as(tokens[1], {"checkin": CHECKIN})
    return owner, couple


def test_a_couples_csv_has_a_row_per_partner_assessment_and_area_as_the_couple_view_shows(db, client, couple):
    owner, couple = couple
    browser = login(client, owner)
    response = browser.get(f"/couples/{couple.id}/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == f'attachment; filename="tandem-couple-{couple.id}-scores.csv"'
    rows = read(response.text)
    assert list(rows[0]) == list(scores_csv.COLUMNS)
    differentiation = catalog.registry().latest("differentiation")
    areas = len(differentiation.subscales) + len(differentiation.totals)
    # The intake: both partners, every area; the check-in: A's one score. The life context is not scored.
    assert len(rows) == 2 * areas + 1
    assert {r["instrument"] for r in rows} == {"differentiation", "checkin"}
    # Every number is the couple view's, as it writes it
    results = load_couple_results(couple)
    expected = set()
    for assessment_rows in results.by_assessment.values():
        for row in assessment_rows:
            for pos, result in row.results.items():
                if result is not None and row.instrument.kind == "scored":
                    for found in [*result.scores.values(), *result.totals.values()]:
                        expected.add(("AB"[pos - 1], row.instrument.id, found.id, fmt(found.value, missing="")))
    assert {(r["partner"], r["instrument"], r["measure"], r["score"]) for r in rows} == expected
    robin = [r for r in rows if r["partner"] == "A" and r["instrument"] == "differentiation"]
    assert {r["score"] for r in robin} == {"3.00"} and {r["valid"] for r in robin} == {"yes"}
    assert all(r["band"] for r in robin)
    # B skipped three items of the first area: that score is not valid, with no number or band.
    first_area = differentiation.subscales[0].id
    sasha = next(r for r in rows if r["partner"] == "B" and r["measure"] == first_area)
    assert (sasha["valid"], sasha["score"], sasha["band"]) == ("no", "", "")
    assert int(sasha["items_answered"]) < int(sasha["items"])
    # The page shows the same figures
    page = browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert "4.00" in page and "3.00" in page
    # Dates in the practice's zone, named
    assert {r["time_zone"] for r in rows} == {"America/New_York"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r["sent_on"]) for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r["submitted_at"]) for r in rows)
    # No free text, email or note; formula-like names and labels are text
    assert NOTE not in response.text and "@" not in response.text
    assert {r["couple"] for r in rows} == {'\'=HYPERLINK("http://x.example")'}
    assert {r["partner_name"] for r in rows if r["partner"] == "A"} == {"'-Robin"}
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "couple.exported_csv")).one()
    assert (event.couple_id, event.actor_id, event.target) == (couple.id, owner.id, f"couple:{couple.id}")


def test_a_couple_nobody_answered_gives_the_header_alone(client, make_practice, make_couple):
    owner = make_practice()
    empty = make_couple(owner)
    rows = read(login(client, owner).get(f"/couples/{empty.id}/export.csv").text)
    assert rows == []


def test_another_practices_or_colleagues_couple_is_404(client, make_client, make_practice, make_clinician, couple):
    owner, couple = couple
    outsider = make_practice()
    colleague = make_clinician(owner)
    assert login(client, outsider).get(f"/couples/{couple.id}/export.csv").status_code == 404
    assert login(make_client(), colleague).get(f"/couples/{couple.id}/export.csv").status_code == 404
    anonymous = make_client().get(f"/couples/{couple.id}/export.csv")
    assert anonymous.status_code == 302 and "/signin" in anonymous.headers["Location"]


def test_the_practice_file_holds_every_couple_of_the_practice_and_nothing_else(
    db, client, make_client, make_couple, make_clinician, make_practice, make_assessment, answer_as, couple, monkeypatch
):
    owner, first = couple
    second = make_couple(make_clinician(owner), label="Second pair")
    _, tokens = make_assessment(second, instruments=["checkin"])
    for pos in (1, 2):
        answer_as(tokens[pos], {"checkin": CHECKIN})
    other = make_couple(make_practice(), label="Elsewhere pair")
    _, tokens = make_assessment(other, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN})

    browser = login(client, owner)
    response = browser.get("/practice/export.csv")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="tandem-scores-')
    text = response.get_data(as_text=True)
    rows = read(text)
    assert {r["couple_id"] for r in rows} == {str(first.id), str(second.id)}
    assert "Elsewhere" not in text
    # The practice file is each couple's file, one after the other
    own = [read(browser.get(f"/couples/{c.id}/export.csv").text) for c in (first, second)]
    assert rows == own[0] + own[1]
    # Read a couple at a time, the file is the same
    monkeypatch.setattr(scores_csv, "BATCH", 1)
    assert read(browser.get("/practice/export.csv").get_data(as_text=True)) == rows
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "practice.exported_csv").order_by(AuditEvent.id)
    ).first()
    assert event.actor_id == owner.id and event.detail == {"couples": 2}
    # Only the owner: anyone else finds no such page
    therapist = login(make_client(), make_clinician(owner))
    assert therapist.get("/practice/export.csv").status_code == 404


def test_the_practice_file_reads_a_fixed_number_of_statements_per_batch(
    app, client, couple, make_couple, make_assessment, answer_as, count_queries
):
    from clinic import memo

    owner, _ = couple
    browser = login(client, owner)
    memo.init_app(app)
    with count_queries() as one:
        browser.get("/practice/export.csv").get_data()
    for _ in range(3):
        more = make_couple(owner)
        _, tokens = make_assessment(more, instruments=["checkin"])
        answer_as(tokens[1], {"checkin": CHECKIN})
    memo.init_app(app)
    with count_queries() as four:
        browser.get("/practice/export.csv").get_data()
    assert len(four) == len(one), four


def test_the_couple_page_and_the_settings_page_offer_the_files(client, couple):
    owner, couple = couple
    browser = login(client, owner)
    assert f'href="/couples/{couple.id}/export.csv"' in browser.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert 'href="/practice/export.csv"' in browser.get("/practice/settings").get_data(as_text=True)


def test_the_command_writes_the_practice_file_for_its_owner_only_and_never_over_a_file(
    app, db, client, couple, tmp_path
):
    owner, _ = couple
    output = tmp_path / "scores.csv"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["export-csv", "--practice", str(owner.practice_id), "--output", str(output)])
    assert result.exit_code == 0, result.output
    web = login(client, owner).get("/practice/export.csv").get_data(as_text=True)
    assert read(output.read_text(encoding="utf-8")) == read(web)
    assert oct(output.stat().st_mode & 0o777) == "0o600"
    assert result.output.strip() == f"Wrote {len(read(web))} rows for 1 couple to {output}."
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "practice.exported_csv").order_by(AuditEvent.id)
    ).first()
    assert (event.actor, event.practice_id, event.detail) == ("system", owner.practice_id, {"couples": 1})
    # Never over an existing file, and a practice that is not there is said so
    again = runner.invoke(args=["export-csv", "--practice", str(owner.practice_id), "--output", str(output)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert read(output.read_text(encoding="utf-8")) == read(web)
    missing = runner.invoke(args=["export-csv", "--practice", "999999", "--output", str(tmp_path / "x.csv")])
    assert missing.exit_code == 1 and "No practice with id 999999." in missing.output
    assert not (tmp_path / "x.csv").exists()
