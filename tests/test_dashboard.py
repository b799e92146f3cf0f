"""The dashboard: a safety column, the next step of each couple, and a "Needs attention" filter."""

import re
from datetime import timedelta

import sqlalchemy as sa

from clinic.db_types import utcnow
from clinic.models import Assessment, Couple, Invitation
from tests.conftest import CHECKIN, SAFETY_CLEAR, SAFETY_FLAGGED, login


def rows(html: str) -> dict[str, str]:
    """Each dashboard row's text, by couple label."""
    out = {}
    for match in re.finditer(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        text = " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())
        label = re.search(r'href="/couples/\d+">([^<]+)</a>', match.group(1))
        if label:
            out[label.group(1).replace("&amp;", "&")] = text
    return out


def labels(client, status: str) -> set[str]:
    return set(rows(client.get(f"/couples/?status={status}").get_data(as_text=True)))


def age(db, assessment_id: int, *, days: int) -> None:
    """Move an assessment's links back in time, as if they were sent `days` ago (and still open)."""
    db.session.execute(
        sa.update(Invitation)
        .where(Invitation.assessment_id == assessment_id)
        .values(created_at=utcnow() - timedelta(days=days))
    )
    db.session.execute(
        sa.update(Assessment).where(Assessment.id == assessment_id).values(created_at=utcnow() - timedelta(days=days))
    )
    db.session.commit()


def test_safety_column_counts_unreviewed_flags_in_words_and_follows_reviews(
    client, make_practice, make_couple, make_assessment, answer_as, db
):
    owner = make_practice()
    flagged = make_couple(owner, label="Flagged", names=("Ana", "Ben"))
    assessment, tokens = make_assessment(flagged, instruments=["checkin", "safety"])
    answer_as(tokens[1], {"checkin": CHECKIN, "safety": SAFETY_FLAGGED | {"controlled": 2}})  # two flags
    answer_as(tokens[2], {"checkin": CHECKIN, "safety": SAFETY_CLEAR})
    calm = make_couple(owner, label="Calm")
    _, tokens = make_assessment(calm, instruments=["checkin", "safety"])
    for pos in (1, 2):
        answer_as(tokens[pos], {"checkin": CHECKIN, "safety": SAFETY_CLEAR})
    login(client, owner)

    page = rows(client.get("/couples/").get_data(as_text=True))
    # Completed, but the flags come first: the status says completed, the safety column and the
    # next step say what to do.
    assert (
        page["Flagged"]
        .split(" Completed ")[1]
        .startswith("⚠ 2 flags to review Review the safety flags before the session")
    )
    assert "None to review Ready: read the session brief" in page["Calm"]
    db.session.expire_all()
    assert db.session.get(Couple, flagged.id).unreviewed_flags == 2

    invitation = db.session.scalar(
        sa.select(Invitation.id).where(Invitation.assessment_id == assessment.id, Invitation.submitted_at.is_not(None))
    )
    for item in ("afraid", "controlled"):
        response = client.post_form(f"/couples/{flagged.id}/safety/{invitation}/safety/{item}", {"note": "Seen alone."})
        assert response.status_code == 302
        db.session.expire_all()
    assert db.session.get(Couple, flagged.id).unreviewed_flags == 0
    assert (
        "None to review Ready: read the session brief"
        in rows(client.get("/couples/").get_data(as_text=True))["Flagged"]
    )


def test_next_step_names_who_we_are_waiting_for_and_since_when(
    client, make_practice, make_couple, make_assessment, answer_as, db
):
    owner = make_practice()  # UTC practice: dates show as they are stored
    waiting = make_couple(owner, label="Both waiting", names=("Elif", "Oskar"))
    first, _ = make_assessment(waiting)
    age(db, first.id, days=2)
    half = make_couple(owner, label="Half done", names=("Hana", "Wren"))
    _, tokens = make_assessment(half, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN})
    make_couple(owner, label="New couple")
    login(client, owner)

    page = rows(client.get("/couples/").get_data(as_text=True))
    sent = (utcnow() - timedelta(days=2)).strftime("%-d %b")
    assert f"Waiting for Elif and Oskar since {sent}" in page["Both waiting"]
    assert f"Waiting for Wren since {utcnow():%-d %b}" in page["Half done"]
    assert "Send the intake questionnaires" in page["New couple"]


def test_needs_attention_finds_flags_links_running_out_and_partners_who_have_not_started(
    client, make_practice, make_couple, make_assessment, answer_as, db
):
    owner = make_practice()  # reminder_after_days defaults to 3: "not started after 3 days"
    flagged = make_couple(owner, label="Flag")
    _, tokens = make_assessment(flagged, instruments=["safety"])
    answer_as(tokens[1], {"safety": SAFETY_FLAGGED})
    answer_as(tokens[2], {"safety": SAFETY_CLEAR})
    soon = make_couple(owner, label="Runs out")
    make_assessment(soon, expiry_days=1)  # runs out within 48 hours
    slow = make_couple(owner, label="Not started")
    old, _ = make_assessment(slow)
    age(db, old.id, days=4)
    started = make_couple(owner, label="Started late")
    late, tokens = make_assessment(started, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN}, submit=False)
    answer_as(tokens[2], {"checkin": CHECKIN}, submit=False)
    age(db, late.id, days=4)  # both started: not "not started", and the links run for 10 more days
    fresh = make_couple(owner, label="Fresh")
    make_assessment(fresh)
    done = make_couple(owner, label="Done")
    _, tokens = make_assessment(done, instruments=["checkin"])
    for pos in (1, 2):
        answer_as(tokens[pos], {"checkin": CHECKIN})
    make_couple(owner, label="Nothing yet")
    login(client, owner)

    assert labels(client, "attention") == {"Flag", "Runs out", "Not started"}
    # A partner who has not started after 5 days is asked for when the practice says 5.
    owner.practice.reminder_after_days = 5
    db.session.commit()
    assert labels(client, "attention") == {"Flag", "Runs out"}
    # The filter is offered by name.
    assert '<option value="attention">Needs attention</option>' in client.get("/couples/").get_data(as_text=True)


def test_needs_attention_keeps_to_the_clinicians_own_couples(
    make_client, make_practice, make_clinician, make_couple, make_assessment, answer_as
):
    owner = make_practice()
    mine, theirs = make_clinician(owner), make_clinician(owner)
    for clinician, label in ((mine, "Mine"), (theirs, "Theirs")):
        couple = make_couple(clinician, label=label)
        _, tokens = make_assessment(couple, instruments=["safety"])
        answer_as(tokens[1], {"safety": SAFETY_FLAGGED})
    assert labels(login(make_client(), mine), "attention") == {"Mine"}
    assert labels(login(make_client(), owner), "attention") == {"Mine", "Theirs"}
