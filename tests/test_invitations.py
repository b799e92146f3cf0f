"""Assessments and the partners' links: made once, emailed, reissued, revoked, reminded."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.db_types import utcnow
from clinic.models import Assessment, AuditEvent, Couple, CoupleStatus, Invitation, InvitationLink, Partner, Practice
from clinic.services import invitations
from clinic.tokens import hash_token
from tests.conftest import CSRF_META, login
from tests.test_client import page_address, stored

LINK = re.compile(r'value="(http://localhost/l/([A-Za-z0-9_\-]+))"')
# The one page for a link opened fresh that no longer works (it says nothing about why).
LINK_NOT_AVAILABLE = "This link isn't available"
# What the pages of a session whose link ended say, by how it ended.
ENDED_HEADINGS = {"reissue": "This link has been replaced", "revoke": "This link has been closed"}
NOT_SENT = "Your answers have not been sent to your therapist."


def assert_link_ended(response, heading: str, *, posted: bool = False) -> None:
    """A partner page of a session whose link ended: 410, saying how, and that nothing was sent."""
    page = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 410, response.status_code
    assert heading in page and NOT_SENT in page
    assert ("Nothing you sent just now was saved." in page) == posted
    assert LINK_NOT_AVAILABLE not in page


def assert_link_not_available(response) -> None:
    """The generic page for a link opened fresh that is unknown or ended."""
    page = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 404, response.status_code
    assert LINK_NOT_AVAILABLE in page
    assert not any(heading in page for heading in ENDED_HEADINGS.values())


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


def test_development_email_reaches_the_console_but_never_the_log(
    app, client, owner, make_couple, outbox, capsys, monkeypatch, caplog
):
    couple = make_couple(owner, names=("Jonah", "Priya"))
    login(client, owner)
    start(client, couple, occasion="Week 2")
    assert capsys.readouterr().out == ""  # outside development, the outbox only
    outbox_before = len(outbox())

    monkeypatch.setitem(app.config, "ENV_NAME", "development")
    with caplog.at_level("DEBUG"):
        links = LINK.findall(start(client, couple).get_data(as_text=True))
    printed = capsys.readouterr().out
    assert len(outbox()) == outbox_before + 2  # still written to the outbox too
    assert printed.count("Subject: Your questionnaires from Lakeside Couples Practice") == 2
    assert "To: " in printed and "From: " in printed
    assert "Hello Jonah" in printed and "Hello Priya" in printed
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for link, _ in links:
        assert printed.count(link) == 1
        assert link not in logged
    assert "outbox file" in logged


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

    assert_link_not_available(make_client().get(f"/l/{tokens[1]}"))  # the old link is dead
    # The session it opened takes nothing more, and says why, every time it is asked.
    assert_link_ended(partner_browser.get("/q"), ENDED_HEADINGS["reissue"])
    assert_link_ended(partner_browser.get(page_address(1)), ENDED_HEADINGS["reissue"])
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
    assert_link_not_available(make_client().get(f"/l/{tokens[2]}"))
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


def test_remind_now_sends_a_further_link_with_the_same_deadline(
    client, owner, make_couple, make_assessment, make_client, smtp, db
):
    couple = make_couple(owner)
    _, tokens = make_assessment(couple)
    invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == hash_token(tokens[1])))
    deadline = invitation.expires_at
    login(client, owner)
    response = client.post_form(f"/couples/{couple.id}/invitations/{invitation.id}/remind", follow_redirects=True)
    assert "Reminder sent" in response.get_data(as_text=True)
    assert "keeps working" in response.get_data(as_text=True)
    (message,) = smtp
    assert "reminder" in message["Subject"].lower()
    assert "no longer works" not in message.get_content()
    reminder_token = emailed_token(message)
    assert reminder_token != tokens[1]
    db.session.expire_all()
    fresh = db.session.get(Invitation, invitation.id)
    assert fresh.reminders_sent == 1 and fresh.expires_at == deadline
    # The reminder's link is a further one: both open the same questionnaires, only hashes are kept.
    assert fresh.token_hash == hash_token(tokens[1])
    assert set(db.session.scalars(sa.select(InvitationLink.token_hash))) == {hash_token(reminder_token)}
    assert make_client().get(f"/l/{tokens[1]}").status_code == 302
    assert make_client().get(f"/l/{reminder_token}").status_code == 302
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "invitation.reminded"))
    assert event.target == f"invitation:{invitation.id}"


def emailed_token(message) -> str:
    """The link token in an email's body."""
    (token,) = re.findall(r"http://localhost/l/([A-Za-z0-9_\-]+)", message.get_content())
    return token


def partner_can_answer(browser, csrf: str, value: int) -> bool:
    """The partner's session still loads its pages and saves an answer."""
    if browser.get("/q").status_code != 200 or browser.get(page_address(1)).status_code != 200:
        return False
    response = browser.post(
        "/q/autosave",
        json={"instrument": "connection", "item": "heard_1", "value": value},
        headers={"X-CSRFToken": csrf},
    )
    return response.status_code == 200


def open_session(make_client, token: str):
    """A browser that opened a link, with its page's CSRF token."""
    browser = make_client()
    assert browser.get(f"/l/{token}").status_code == 302
    match = CSRF_META.search(browser.get("/q").get_data(as_text=True))
    return browser, match.group(1)


@pytest.mark.parametrize("ending", ["reissue", "revoke"])
def test_reminders_leave_the_partners_link_and_session_working_until_a_reissue_or_revoke(
    ending, app, client, owner, make_couple, make_assessment, make_client, smtp, db
):
    couple = make_couple(owner)
    assessment, tokens = make_assessment(couple)
    invitation_id = db.session.scalar(sa.select(Invitation.id).where(Invitation.token_hash == hash_token(tokens[1])))
    first, first_csrf = open_session(make_client, tokens[1])
    assert partner_can_answer(first, first_csrf, 1)

    # A reminder sent now by the therapist.
    login(client, owner)
    client.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/remind")
    now_token = emailed_token(smtp[-1])
    assert partner_can_answer(first, first_csrf, 2)  # the open session goes on, autosave included
    assert make_client().get(f"/l/{tokens[1]}").status_code == 302  # the first link still opens
    second, second_csrf = open_session(make_client, now_token)  # and so does the reminder's
    assert partner_can_answer(second, second_csrf, 3)

    # A reminder sent by cron.
    age(db, [i.id for i in assessment.invitations], 4)
    assert "Sent 2 reminders." in run_reminders(app)
    cron_token = emailed_token(next(m for m in smtp[1:] if m["X-Envelope-To"] == smtp[0]["X-Envelope-To"]))
    assert partner_can_answer(first, first_csrf, 4) and partner_can_answer(second, second_csrf, 5)
    for token in (tokens[1], now_token):
        assert make_client().get(f"/l/{token}").status_code == 302
    third, third_csrf = open_session(make_client, cron_token)
    assert partner_can_answer(third, third_csrf, 1)
    db.session.expire_all()
    assert db.session.get(Invitation, invitation_id).reminders_sent == 2

    # The raw tokens are nowhere in the database, the reminders' included.
    raw_tokens = (tokens[1], tokens[2], now_token, cron_token)
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                text = " ".join(str(v) for v in row)
                assert not any(t in text for t in raw_tokens), table.name

    # The therapist ends the link: every older link and every session any of them opened ends.
    if ending == "reissue":
        response = client.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/reissue", {"expiry_days": "5"})
        ((_, new_token),) = LINK.findall(response.get_data(as_text=True))
    else:
        assert client.post_form(f"/couples/{couple.id}/invitations/{invitation_id}/revoke").status_code == 302
    for token in (tokens[1], now_token, cron_token):
        assert_link_not_available(make_client().get(f"/l/{token}"))
    saved = stored(db, invitation_id)
    for browser, csrf in ((first, first_csrf), (second, second_csrf), (third, third_csrf)):
        # Each session's pages now say how the link ended (the session is kept for that alone).
        assert_link_ended(browser.get("/q"), ENDED_HEADINGS[ending])
        assert_link_ended(browser.get(page_address(1)), ENDED_HEADINGS[ending])
        posted = browser.post(page_address(1), data={"csrf_token": csrf, "item_heard_1": "5"})
        assert_link_ended(posted, ENDED_HEADINGS[ending], posted=True)
        response = browser.post(
            "/q/autosave",
            json={"instrument": "connection", "item": "heard_2", "value": 3},
            headers={"X-CSRFToken": csrf},
        )
        assert response.status_code == 410
        assert "this answer was not saved" in response.get_json()["error"]
        assert_link_ended(browser.get("/q/review"), ENDED_HEADINGS[ending])
    assert stored(db, invitation_id) == saved  # nothing a session sent after the end was kept
    links_left = sa.select(sa.func.count()).where(InvitationLink.invitation_id == invitation_id)
    assert db.session.scalar(links_left) == 0
    if ending == "reissue":
        fresh, fresh_csrf = open_session(make_client, new_token)
        assert partner_can_answer(fresh, fresh_csrf, 2)
    # The other partner's link was never touched.
    assert make_client().get(f"/l/{tokens[2]}").status_code == 302


def test_a_refused_reminder_now_leaves_the_link_as_it_was(
    client, owner, make_couple, make_assessment, make_client, flaky_smtp, db
):
    couple = make_couple(owner)
    _, tokens = make_assessment(couple)
    invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == hash_token(tokens[1])))
    browser, csrf = open_session(make_client, tokens[1])
    flaky_smtp.refuse = {1}
    login(client, owner)
    response = client.post_form(f"/couples/{couple.id}/invitations/{invitation.id}/remind", follow_redirects=True)
    assert "The reminder could not be sent" in response.get_data(as_text=True)
    assert flaky_smtp.messages == []
    db.session.expire_all()
    fresh = db.session.get(Invitation, invitation.id)
    assert fresh.reminders_sent == 0 and fresh.last_sent_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InvitationLink)) == 0
    # The trail is append-only: the link it made is recorded, and so is its taking back.
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.action.like("invitation.remind%")).order_by(AuditEvent.id)
    ).all()
    assert actions == ["invitation.reminded", "invitation.reminder_failed"]
    assert partner_can_answer(browser, csrf, 3)
    assert make_client().get(f"/l/{tokens[1]}").status_code == 302


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


def run_reminders(app, *, exit_code: int = 0):
    """What the command prints (a cron job mails it to the operator)."""
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == exit_code, result.output
    return result.output


def test_a_reminder_goes_to_the_address_stored_when_it_is_sent(
    app, owner, make_couple, make_assessment, flaky_smtp, db
):
    """A run takes a while: a partner's address changed (or removed) by the therapist meanwhile
    is the one used, and a link reissued meanwhile gets no extra reminder link."""
    first, second = make_couple(owner), make_couple(owner)
    ids = []
    for couple in (first, second):
        assessment, _ = make_assessment(couple)
        ids += [invitation.id for invitation in assessment.invitations]
    age(db, ids, 4)
    partners = sorted(
        db.session.scalars(sa.select(Partner).where(Partner.couple_id == second.id)), key=lambda p: p.position
    )
    old = [p.email for p in partners]
    engine = db.engine

    def therapist_edits_the_second_couple(seen: int) -> None:
        if seen == 1:  # while the first couple's reminders go out
            with engine.begin() as conn:
                conn.execute(sa.update(Partner).where(Partner.id == partners[0].id).values(email="new.a@example.org"))
                conn.execute(sa.update(Partner).where(Partner.id == partners[1].id).values(email=None))

    flaky_smtp.on_message = therapist_edits_the_second_couple
    output = run_reminders(app)
    assert "Sent 3 reminders." in output
    recipients = [m["X-Envelope-To"] for m in flaky_smtp.messages]
    assert recipients[-1] == "new.a@example.org"
    assert not set(old) & set(recipients)  # neither old address got a link


def test_a_refused_reminder_leaves_the_others_sent_counted_and_working_and_is_retried(
    app, owner, make_couple, make_assessment, make_client, flaky_smtp, db, caplog
):
    couples_ = [make_couple(owner, names=(f"Ana {n}", f"Bo {n}")) for n in range(2)]
    tokens = {}
    ids = []
    for couple in couples_:
        assessment, by_position = make_assessment(couple)
        for invitation in assessment.invitations:
            ids.append(invitation.id)
            tokens[invitation.id] = (
                by_position[1] if invitation.token_hash == hash_token(by_position[1]) else by_position[2]
            )
    age(db, ids, 4)
    flaky_smtp.refuse = {3}  # the mail server refuses the third message of the run

    # The app's own loggers at DEBUG (the stand-in mail server's debug log is not the app's).
    with caplog.at_level("DEBUG", logger="clinic"):
        output = run_reminders(app, exit_code=1)
    assert "Sent 3 reminders." in output
    assert "1 reminder could not be sent" in output
    # The app's log and the output hold counts and the kind of error, never a name, address or link.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("clinic"))
    for word in ("Ana", "Bo ", "@", "/l/"):
        assert word not in output and word not in logged
    assert "SMTPDataError" in logged

    # Every reminder that went out is counted and carries a link that opens.
    assert len(flaky_smtp.messages) == 3
    for message in flaky_smtp.messages:
        assert make_client().get(f"/l/{emailed_token(message)}").status_code == 302
    db.session.expire_all()
    counts = {i.id: i.reminders_sent for i in db.session.scalars(sa.select(Invitation))}
    refused = sorted(ids)[2]  # reminders go out in invitation order
    assert counts == {i: (0 if i == refused else 1) for i in ids}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InvitationLink)) == 3
    # The refused partner keeps the link they have.
    assert make_client().get(f"/l/{tokens[refused]}").status_code == 302

    # The next run sends only the one still due, and the others stay at one reminder each.
    output = run_reminders(app)
    assert "Sent 1 reminder." in output
    assert len(flaky_smtp.messages) == 4
    db.session.expire_all()
    assert {i.id: i.reminders_sent for i in db.session.scalars(sa.select(Invitation))} == dict.fromkeys(ids, 1)
    assert "Sent 0 reminders." in run_reminders(app)


def test_send_reminders_with_the_mail_server_down_exits_1_and_changes_nothing(
    app, owner, make_couple, make_assessment, make_client, db
):
    couple = make_couple(owner)
    assessment, tokens = make_assessment(couple)
    age(db, [i.id for i in assessment.invitations], 4)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9)  # nothing listens on the discard port
    try:
        output = run_reminders(app, exit_code=1)
    finally:
        app.config.update(MAIL_SERVER="", MAIL_PORT=587)
    assert "Sent 0 reminders." in output and "2 reminders could not be sent" in output
    db.session.expire_all()
    assert {i.reminders_sent for i in db.session.scalars(sa.select(Invitation))} == {0}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InvitationLink)) == 0
    assert all(make_client().get(f"/l/{t}").status_code == 302 for t in tokens.values())


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
