"""clinic.services.responses on its own: checks before writes, the state guard, one submission."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.db_types import utcnow
from clinic.models import Couple, CoupleStatus, Invitation, Score
from clinic.services import invitations, responses
from instruments import AnswerError
from tests.test_client import stored


@pytest.fixture
def invitation(make_practice, make_couple, make_assessment, db):
    """Partner A's invitation to the intake set, loaded the way the partner's pages load it."""
    _, tokens = make_assessment(make_couple(make_practice()))
    return invitations.find_by_token(tokens[1])


def test_nothing_is_written_unless_every_answer_fits(invitation, db):
    with pytest.raises(AnswerError, match="outside the scale"):
        responses.save_answers(invitation, "connection", {"heard_1": 4, "heard_2": 9})
    with pytest.raises(AnswerError, match="unknown item"):
        responses.save_answers(invitation, "connection", {"heard_1": 4, "afraid": 1})
    with pytest.raises(responses.UnknownInstrument):
        responses.save_answers(invitation, "checkin", {"satisfied": 4})
    with pytest.raises(AnswerError, match="cannot be saved"):
        responses.save_answers(invitation, "life_context", {"anything_else": "a\x00b"})
    db.session.commit()
    assert stored(db, invitation.id) == {}
    assert db.session.get(Invitation, invitation.id).started_at is None


def test_first_save_starts_the_invitation_and_moves_the_couple_on(invitation, db):
    couple_id = invitation.assessment.couple_id
    status = sa.select(Couple.status).where(Couple.id == couple_id)
    started_at = sa.select(Invitation.started_at).where(Invitation.id == invitation.id)
    assert db.session.scalar(status) == CoupleStatus.WAITING
    responses.save_answers(invitation, "connection", {"heard_1": 4, "heard_2": ""})
    db.session.commit()
    started = invitation.started_at
    assert started is not None and invitation.last_activity_at == started
    assert db.session.scalar(status) == CoupleStatus.IN_PROGRESS
    assert db.session.scalar(started_at) == started

    responses.save_answers(invitation, "connection", {"heard_1": None, "heard_3": 2})
    db.session.commit()
    assert db.session.scalar(started_at) == started
    assert stored(db, invitation.id) == {("connection", "heard_3"): 2}


def test_saving_to_a_closed_invitation_is_refused(invitation, db):
    invitation.revoked_at = utcnow()
    with pytest.raises(responses.ResponsesClosed) as closed:
        responses.save_answers(invitation, "connection", {"heard_1": 4})
    assert not closed.value.submitted
    invitation.revoked_at = None
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(responses.ResponsesClosed):
        responses.save_answers(invitation, "connection", {"heard_1": 4})
    db.session.rollback()
    assert stored(db, invitation.id) == {}


def test_a_save_from_a_page_loaded_before_the_submission_is_refused(invitation, db):
    # Another request sends the answers after this one loaded the invitation.
    db.session.execute(
        sa.update(Invitation.__table__).where(Invitation.id == invitation.id).values(submitted_at=utcnow())
    )
    assert invitation.submitted_at is None  # this request still holds the old state
    with pytest.raises(responses.ResponsesClosed) as closed:
        responses.save_answers(invitation, "connection", {"heard_1": 4})
    assert closed.value.submitted
    db.session.commit()
    assert stored(db, invitation.id) == {}


def test_submit_scores_once(invitation, db):
    responses.save_answers(invitation, "safety", {"self_harm": 2, "afraid": 1})
    assert responses.submit(invitation) is True
    db.session.commit()
    first = {s.instrument_id: (s.instrument_version, s.result) for s in db.session.scalars(sa.select(Score))}
    assert first["safety"] == (
        1,
        {"scores": {}, "totals": {}, "flags": [{"item_id": "self_harm", "level": "urgent"}]},
    )
    assert responses.submit(invitation) is False
    with pytest.raises(responses.ResponsesClosed) as closed:
        responses.save_answers(invitation, "safety", {"self_harm": 1})
    assert closed.value.submitted
    db.session.commit()
    assert {s.instrument_id: (s.instrument_version, s.result) for s in db.session.scalars(sa.select(Score))} == first


def test_a_closed_link_cannot_be_submitted(invitation, db):
    invitations.revoke(invitation)
    assert responses.submit(invitation) is False
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Score)) == 0


def test_progress_counts_choice_items_and_leaves_text_optional(invitation, db):
    responses.save_answers(invitation, "life_context", {"work": 1, "anything_else": "note"})
    responses.save_answers(invitation, "connection", {"heard_1": 3})
    steps = responses.progress(invitation, responses.answers_for(invitation))
    assert [(s.number, s.instrument.id, s.answered, s.total) for s in steps] == [
        (1, "connection", 1, 38),
        (2, "differentiation", 0, steps[1].total),
        (3, "life_context", 1, 10),
        (4, "safety", 0, 8),
    ]
    assert "anything_else" not in steps[2].unanswered and "work" not in steps[2].unanswered
    assert steps[0].unanswered[0] == "affection_1" and not steps[0].complete
