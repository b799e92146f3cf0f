"""Export one couple's data as JSON; delete a couple with everything about them."""

import json

import pytest
import sqlalchemy as sa

from clinic.models import (
    Answer,
    Assessment,
    AuditEvent,
    Couple,
    Invitation,
    Partner,
    Report,
    SafetyReview,
    Score,
)
from tests.conftest import login

CHECKIN_A = {"satisfied": 4, "close": 4, "hopeful": 5, "together": 3}


@pytest.fixture
def full_couple(make_practice, make_couple, make_assessment, answer_as, db):
    owner = make_practice()
    couple = make_couple(owner, label="K & P", names=("Kai", "Pia"))
    couple.prep_notes = "Ask about the holidays."
    db.session.commit()
    _, tokens = make_assessment(couple, instruments=["checkin", "safety", "life_context"])
    answer_as(
        tokens[1], {"checkin": CHECKIN_A, "safety": {"afraid": 2}, "life_context": {"anything_else": "Busy term."}}
    )
    answer_as(tokens[2], {"checkin": {"satisfied": 2}}, submit=False)
    return owner, couple


def test_export_has_answers_scores_versions_and_is_audited(client, full_couple, db):
    owner, couple = full_couple
    db.session.add(Report(couple_id=couple.id, kind="clinician", cache_key="3" * 64, pdf=b"%PDF"))
    db.session.commit()
    response = login(client, owner).get(f"/couples/{couple.id}/export")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["format"] == "tandem-couple-export/1"
    assert data["couple"]["label"] == "K & P" and data["couple"]["prep_notes"] == "Ask about the holidays."
    assert [p["display_name"] for p in data["partners"]] == ["Kai", "Pia"]
    (assessment,) = data["assessments"]
    assert assessment["instruments"] == [
        {"id": "checkin", "version": 1},
        {"id": "safety", "version": 1},
        {"id": "life_context", "version": 1},
    ]
    a, b = assessment["invitations"]
    checkin_a = next(r for r in a["responses"] if r["instrument"] == "checkin")
    assert checkin_a["answers"] == CHECKIN_A and checkin_a["version"] == 1
    assert checkin_a["scores"]["overall"] == {"value": 4.0, "valid": True, "band": "Good"}
    assert checkin_a["scores_recorded_at_submission"]["scores"]["overall"]["value"] == 4.0
    safety_a = next(r for r in a["responses"] if r["instrument"] == "safety")
    assert safety_a["safety_flags"] == [{"item": "afraid", "answer": 2, "level": "review"}]
    # B saved but did not submit: the answers are theirs to have, but no scores are made up.
    checkin_b = next(r for r in b["responses"] if r["instrument"] == "checkin")
    assert checkin_b["answers"] == {"satisfied": 2} and "scores" not in checkin_b
    # Reports are listed, never embedded.
    assert [(r["kind"], r["status"]) for r in data["reports"]] == [("clinician", "queued")]
    assert "%PDF" not in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "couple.exported"))


def test_delete_needs_the_label_then_removes_everything_and_audits(client, full_couple, db):
    owner, couple = full_couple
    couple_id, owner_id = couple.id, owner.id
    db.session.add(Report(couple_id=couple.id, kind="clinician", cache_key="1" * 64))
    db.session.add(
        SafetyReview(
            invitation_id=db.session.scalar(sa.select(Invitation.id).limit(1)),
            instrument_id="safety",
            item_id="afraid",
            note="x",
        )
    )
    db.session.commit()
    browser = login(client, owner)

    wrong = browser.post_form(f"/couples/{couple.id}/delete", {"confirm": "K&P"}, follow_redirects=True)
    assert "Nothing was deleted" in wrong.get_data(as_text=True)
    assert db.session.get(Couple, couple.id) is not None

    response = browser.post_form(f"/couples/{couple.id}/delete", {"confirm": "K & P"})
    assert response.status_code == 302 and response.headers["Location"] == "/couples/"
    db.session.expire_all()
    for model in (Couple, Partner, Assessment, Invitation, Answer, Score, Report, SafetyReview):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0, model.__name__
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "couple.deleted"))
    assert (event.couple_id, event.actor_id) == (couple_id, owner_id)
    assert "K & P" not in json.dumps(event.detail) and "Kai" not in json.dumps(event.detail)
    assert browser.get(f"/couples/{couple_id}").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("get", "export"), ("post", "delete")])
def test_export_and_delete_are_404_for_outsiders(
    method, path, full_couple, make_client, make_practice, make_clinician, db
):
    owner, couple = full_couple
    for outsider in (make_practice(), make_clinician(owner)):
        browser = login(make_client(), outsider)
        url = f"/couples/{couple.id}/{path}"
        response = browser.get(url) if method == "get" else browser.post_form(url, {"confirm": "K & P"})
        assert response.status_code == 404
    assert db.session.get(Couple, couple.id) is not None
