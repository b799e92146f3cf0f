"""Assessments and the partners' links: made once, emailed, reissued, revoked, reminded."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.db_types import utcnow
from clinic.models import Assessment, AuditEvent, Couple, CoupleStatus, Invitation, Practice
from clinic.services import invitations
from clinic.tokens import hash_token
from tests.conftest import login

LINK = re.compile(r'value="(http://localhost/l/([A-Za-z0-9_\-]+))"')


def start(client, couple, **overrides):
    data = {
        "occasion": "Intake",
        "instruments": list(invitations.INTAKE),
        "expiry_days": "14",
        "send_email": "y",
    }
    data.update(overrides)
    return client.post_form(f"/couples/{couple.id}/assessments/new", data)


@pytest.fixture
def owner(make_practice):
    return make_practice(practice_name="Lakeside Couples Practice", owner_name="Dr. Vera Holm")


def test_assessment_form_defaults_to_the_intake_set(client, owner, make_couple):
    couple = make_couple(owner)
    login(client, owner)
    page = client.get(f"/couples/{couple.id}/assessments/new").get_data(as_text=True)
    for instrument_id in invitations.INTAKE:
        assert re.search(rf'<input checked[^>]*value="{instrument_id}"', page), instrument_id
    assert not re.search(r'<input checked[^>]*value="checkin"', page)
    assert 'value="Intake"' in page and 'value="14"' in page


def test_start_assessment_shows_both_links_once_with_qr_and_emails_them(client, owner, make_couple, smtp, db):
    couple = make_couple(owner, names=("Jonah", "Priya"))
    login(client, owner)
    response = start(client, couple)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    links = LINK.findall(page)
    assert len(links) == 2 and links[0][1] != links[1][1]
    assert page.count('src="data:image/svg+xml') == 2  # QR codes inline, nothing fetched
    assert "Emailed to partner" in page

    # Each token is 256 bits, and only its hash is stored.
    for _, token in links:
        assert len(token) >= 43
    stored = set(db.session.scalars(sa.select(Invitation.token_hash)))
    assert stored == {hash_token(token) for _, token in links}

    # The emails: one per partner, with their link, the practice and therapist, nothing else.
    assert len(smtp) == 2
    by_partner = {m["X-Envelope-To"]: m for m in smtp}
    for message in by_partner.values():
        body = message.get_content()
        assert "Lakeside Couples Practice" in body and "Dr. Vera Holm" in body
        assert sum(link in body for link, _ in links) == 1
    jonah = next(m for m in smtp if "Hello Jonah" in m.get_content())
    assert "Priya" not in jonah.get_content()

    # The links are not shown again.
    detail = client.get(f"/couples/{couple.id}").get_data(as_text=True)
    assert not LINK.search(detail)
    assert "Not opened yet" in detail
    db.session.expire_all()
    assert db.session.get(Couple, couple.id).status == CoupleStatus.WAITING


def test_raw_token_is_nowhere_in_the_database(client, owner, make_couple, db):
    couple = make_couple(owner)
    login(client, owner)
    tokens = [t for _, t in LINK.findall(start(client, couple, send_email="").get_data(as_text=True))]
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                text = " ".join(str(v) for v in row)
                assert not any(t in text for t in tokens), table.name


def test_partner_without_email_gets_a_link_but_no_email(client, owner, make_couple, smtp):
    couple = make_couple(owner, emails=False)
    login(client, owner)
    page = start(client, couple).get_data(as_text=True)
    assert len(LINK.findall(page)) == 2
    assert page.count("No email address on file") == 2
    assert smtp == []


def test_mail_server_down_still_shows_the_links(client, owner, make_couple, app):
    couple = make_couple(owner)
    login(client, owner)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9)  # nothing listens on the discard port
    try:
        response = start(client, couple)
    finally:
        app.config.update(MAIL_SERVER="", MAIL_PORT=587)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert len(LINK.findall(page)) == 2
    assert page.count("The email could not be sent") == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"occasion": ""}, "Name the occasion, such as Intake."),
        ({"instruments": []}, "Choose at least one questionnaire."),
        ({"instruments": ["connection", "not_a_questionnaire"]}, "is not a valid choice"),
        ({"expiry_days": "0"}, "Number must be between 1 and 90."),
        ({"expiry_days": "soon"}, "Not a valid integer value."),
    ],
)
def test_assessment_validation(change, message, client, owner, make_couple, db):
    couple = make_couple(owner)
    login(client, owner)
    response = start(client, couple, **change)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assessment)) == 0


def test_assessment_remembers_instrument_versions(client, owner, make_couple, db):
    couple = make_couple(owner)
    login(client, owner)
    start(client, couple, instruments=["checkin", "connection"])
    assert db.session.scalar(sa.select(Assessment.instruments)) == [["checkin", 1], ["connection", 1]]


def test_reissue_kills_the_old_link_and_shows_the_new_once(
    client, owner, make_couple, make_assessment, make_client, smtp, db
):
    couple = make_couple(owner)
    _, tokens = make_assessment(couple)
    invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == hash_token(tokens[1])))
    partner_browser = make_client()
    partner_browser.get(f"/l/{tokens[1]}")

    login(client, owner)
    response = client.post_form(
        f"/couples/{couple.id}/invitations/{invitation.id}/reissue", {"expiry_days": "3", "send_email": "y"}
    )
    assert response.status_code == 200
    ((new_link, new_token),) = LINK.findall(response.get_data(as_text=True))
    assert new_token != tokens[1]
    assert len(smtp) == 1 and new_link in smtp[0].get_content()

    assert make_client().get(f"/l/{tokens[1]}").status_code == 404  # the old link is dead
    assert partner_browser.get("/q").status_code == 404  # and so is the session it opened
    assert make_client().get(f"/l/{new_token}").status_code == 302
    db.session.expire_all()
    fresh = db.session.get(Invitation, invitation.id)
    assert timedelta(days=2, hours=23) < fresh.expires_at - utcnow() <= timedelta(days=3)


def test_revoke_stops_the_link(client, owner, make_couple, make_assessment, make_client, db):
    couple = make_couple(owner)
    _, tokens = make_assessment(couple)
    invitation_id = db.session.scalar(sa.select(Invitation.id).where(Invitation.token_hash == hash_token(tokens[2])))
    login(client, owner)
    assert client.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/revoke").status_code == 302
    assert make_client().get(f"/l/{tokens[2]}").status_code == 404
    assert make_client().get(f"/l/{tokens[1]}").status_code == 302
    assert "Revoked" in client.get(f"/couples/{couple.id}").get_data(as_text=True)


def test_revoked_link_can_be_reissued(client, owner, make_couple, make_assessment, make_client, db):
    couple = make_couple(owner)
    _, tokens = make_assessment(couple)
    invitation_id = db.session.scalar(sa.select(Invitation.id).where(Invitation.token_hash == hash_token(tokens[2])))
    login(client, owner)
    client.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/revoke")
    response = client.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/reissue", {"expiry_days": "7"})
    ((_, token),) = LINK.findall(response.get_data(as_text=True))
    assert make_client().get(f"/l/{token}").status_code == 302


def test_remind_now_sends_a_fresh_link_with_the_same_deadline(client, owner, make_couple, make_assessment, smtp, db):
    couple = make_couple(owner)
    _, tokens = make_assessment(couple)
    invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == hash_token(tokens[1])))
    deadline = invitation.expires_at
    login(client, owner)
    response = client.post_form(f"/couples/{couple.id}/invitations/{invitation.id}/remind", follow_redirects=True)
    assert "Reminder sent" in response.get_data(as_text=True)
    (message,) = smtp
    assert "reminder" in message["Subject"].lower()
    assert "/l/" in message.get_content()
    db.session.expire_all()
    fresh = db.session.get(Invitation, invitation.id)
    assert fresh.reminders_sent == 1 and fresh.expires_at == deadline
    assert fresh.token_hash != hash_token(tokens[1])


@pytest.mark.parametrize("action", ["revoke", "remind", "reissue"])
def test_invitation_actions_on_foreign_ids_are_404(
    action, make_client, make_practice, make_clinician, make_couple, make_assessment, db
):
    owner = make_practice()
    couple = make_couple(make_clinician(owner))
    other_couple = make_couple(owner)
    make_assessment(couple)
    invitation_id = db.session.scalar(sa.select(Invitation.id).limit(1))
    stranger = login(make_client(), make_practice())
    colleague = login(make_client(), make_clinician(owner))
    data = {"expiry_days": "5"}
    assert stranger.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/{action}", data).status_code == 404
    assert colleague.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/{action}", data).status_code == 404
    # The right invitation under the wrong couple is 404 too, even for the owner.
    owner_browser = login(make_client(), owner)
    assert (
        owner_browser.post_form(f"/couples/{other_couple.id}/invitations/{invitation_id}/{action}", data).status_code
        == 404
    )
    db.session.expire_all()
    invitation = db.session.get(Invitation, invitation_id)
    assert invitation.revoked_at is None and invitation.reminders_sent == 0


# -- send-reminders ---------------------------------------------------------


def age(db, invitation_ids, days):
    """Pretend the links were made (and last sent) `days` ago."""
    past = utcnow() - timedelta(days=days)
    db.session.execute(
        sa.update(Invitation).where(Invitation.id.in_(invitation_ids)).values(created_at=past, last_sent_at=past)
    )
    db.session.commit()


def run_reminders(app):
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    return result.output


def test_send_reminders_follows_the_practice_rules(app, owner, make_couple, make_assessment, smtp, db):
    couple = make_couple(owner, names=("Ola", "Kit"))
    assessment, _ = make_assessment(couple)
    ids = [i.id for i in assessment.invitations]

    assert "Sent 0 reminders." in run_reminders(app)  # too early (practice: after 3 days)
    age(db, ids, 4)
    assert "Sent 2 reminders." in run_reminders(app)
    assert len(smtp) == 2
    assert "Sent 0 reminders." in run_reminders(app)  # just reminded
    age(db, ids, 4)
    assert "Sent 2 reminders." in run_reminders(app)
    age(db, ids, 4)
    assert "Sent 0 reminders." in run_reminders(app)  # at most 2 (practice default)
    assert len(smtp) == 4
    for message in smtp:
        body = message.get_content()
        # Never a word about the other partner.
        assert not ("Ola" in body and "Kit" in body)
        for word in ("finished", "submitted", "completed", "partner has"):
            assert word not in body.lower()


@pytest.mark.parametrize("state", ["submitted", "revoked", "expired", "archived"])
def test_no_reminder_after_submission_revocation_expiry_or_archive(
    state, app, owner, make_couple, make_assessment, smtp, db
):
    couple = make_couple(owner)
    assessment, _ = make_assessment(couple)
    ids = [i.id for i in assessment.invitations]
    age(db, ids, 5)
    values = {
        "submitted": {"submitted_at": utcnow()},
        "revoked": {"revoked_at": utcnow()},
        "expired": {"expires_at": utcnow() - timedelta(hours=1)},
    }.get(state)
    if values:
        db.session.execute(sa.update(Invitation).where(Invitation.id == ids[0]).values(**values))
    else:
        db.session.execute(sa.update(Couple).where(Couple.id == couple.id).values(archived=True))
    db.session.commit()
    expected = 0 if state == "archived" else 1
    assert f"Sent {expected} reminder" in run_reminders(app)
    assert len(smtp) == expected


def test_reminders_respect_changed_practice_settings(app, owner, make_couple, make_assessment, smtp, db):
    couple = make_couple(owner)
    assessment, _ = make_assessment(couple)
    db.session.execute(sa.update(Practice).values(reminder_after_days=7, reminder_max=1))
    db.session.commit()
    age(db, [i.id for i in assessment.invitations], 5)
    assert "Sent 0 reminders." in run_reminders(app)
    age(db, [i.id for i in assessment.invitations], 8)
    assert "Sent 2 reminders." in run_reminders(app)
    age(db, [i.id for i in assessment.invitations], 8)
    assert "Sent 0 reminders." in run_reminders(app)


# -- practice settings -------------------------------------------------------


def test_owner_changes_practice_settings(client, owner, db):
    login(client, owner)
    response = client.post_form(
        "/practice/settings",
        {
            "name": "Lakeside Practice",
            "timezone": "Europe/Dublin",
            "invite_expiry_days": "10",
            "reminder_after_days": "2",
            "reminder_max": "0",
            "report_page_size": "Letter",
            "crisis_text": "Call 112 or 1800 111 111.",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    practice = db.session.get(Practice, owner.practice_id)
    assert (practice.name, practice.timezone, practice.invite_expiry_days, practice.reminder_max) == (
        "Lakeside Practice",
        "Europe/Dublin",
        10,
        0,
    )
    assert practice.report_page_size == "Letter"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "practice.settings_changed"))
    assert {"crisis_text", "timezone", "report_page_size"} <= set(event.detail["changed"])
    assert "1800 111 111" not in str(event.detail)  # which settings changed, never their values


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("invite_expiry_days", "365", "Number must be between 1 and 90."),
        ("timezone", "Mars/Base", "Not a valid choice"),
        ("crisis_text", "", "This field is required."),
        ("report_page_size", "A3", "Not a valid choice"),
    ],
)
def test_settings_validation(field, value, message, client, owner):
    login(client, owner)
    data = {
        "name": "X",
        "timezone": "UTC",
        "invite_expiry_days": "14",
        "reminder_after_days": "3",
        "reminder_max": "2",
        "report_page_size": "A4",
        "crisis_text": "Call 911.",
    }
    # The untouched form is valid: only the changed field can make it fail.
    assert client.post_form("/practice/settings", data).status_code == 302
    data[field] = value
    response = client.post_form("/practice/settings", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_settings_are_owner_only(make_client, owner, make_clinician):
    browser = login(make_client(), make_clinician(owner))
    assert browser.get("/practice/settings").status_code == 404
