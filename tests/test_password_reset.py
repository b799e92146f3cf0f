"""Forgot password (a single-use emailed link) and changing the password while signed in."""

import logging
import re
import socket
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.blueprints.auth import routes as auth_routes
from clinic.blueprints.auth.routes import RESET_SENT, wait_for_mail
from clinic.db_types import utcnow
from clinic.logs import redact
from clinic.models import AccountToken, AuditEvent, Clinician, TokenPurpose
from tests.conftest import PASSWORD
from tests.test_twofactor import code, enrol

NEW_PASSWORD = "a fresh and long password"
RESET_LINK = re.compile(r"http://localhost/reset/([A-Za-z0-9_\-]+)")
CSRF = (
    re.compile(r'name="csrf_token"[^>]*value="[^"]*"'),
    re.compile(r'<meta name="csrf-token" content="[^"]*">'),
)


@pytest.fixture(autouse=True)
def mail_in_background(app, monkeypatch):
    """These tests send reset emails the way production does: off the request."""
    monkeypatch.setitem(app.config, "MAIL_IN_BACKGROUND", True)
    yield
    wait_for_mail()


def ask_for_reset(browser, email: str):
    response = browser.post_form("/forgot-password", {"email": email})
    wait_for_mail()
    return response


def link_in(message) -> str:
    match = RESET_LINK.search(message.get_content())
    assert match, "no reset link in the email"
    return match.group(0)


def use_link(browser, link: str, password: str = NEW_PASSWORD):
    opened = browser.get(link.replace("http://localhost", ""))
    assert opened.status_code == 302
    assert opened.headers["Location"] == "/reset"  # the token leaves the address bar
    return browser.post_form("/reset", {"password": password, "confirm": password})


def can_sign_in(make_client, email: str, password: str) -> bool:
    return make_client().post_form("/signin", {"email": email, "password": password}).status_code == 302


def signed_in(browser) -> bool:
    return browser.get("/couples/").status_code == 200


def without_csrf(page: str) -> str:
    for pattern in CSRF:
        page = pattern.sub("", page)
    return page


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(make_practice, make_client, outbox, db):
    owner = make_practice()
    answers = []
    for email in (owner.email, "nobody@example.org"):
        response = ask_for_reset(make_client(), email)
        assert response.status_code == 200
        answers.append(without_csrf(response.get_data(as_text=True)))
    assert answers[0] == answers[1]
    assert RESET_SENT.format(minutes=30) in answers[0]
    (message,) = outbox()
    assert message["To"] == owner.email
    # The unknown address left no trace of itself anywhere.
    details = " ".join(str(d) for d in db.session.scalars(sa.select(AuditEvent.detail)))
    assert "nobody" not in details


def test_the_link_comes_over_smtp_works_once_and_ends_every_session(make_practice, make_client, smtp, db):
    owner = make_practice(owner_name="Ada Rivers")
    signed_in_elsewhere = make_client()
    signed_in_elsewhere.post_form("/signin", {"email": owner.email, "password": PASSWORD})
    assert signed_in(signed_in_elsewhere)

    ask_for_reset(make_client(), owner.email)
    (message,) = smtp
    assert message["X-Envelope-To"] == owner.email
    assert "Ada Rivers" in message.get_content()
    link = link_in(message)

    browser = make_client()
    response = use_link(browser, link)
    assert response.status_code == 302 and response.headers["Location"] == "/signin"
    assert not signed_in(browser)  # not signed in by the link itself
    assert not signed_in(signed_in_elsewhere)
    assert can_sign_in(make_client, owner.email, NEW_PASSWORD)
    assert not can_sign_in(make_client, owner.email, PASSWORD)

    again = make_client()
    again.get(link.replace("http://localhost", ""))
    response = again.get("/reset")
    assert response.status_code == 404
    assert "This link can't be used" in response.get_data(as_text=True)

    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "password.reset_requested" in actions and "password.reset_done" in actions
    done = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "password.reset_done")).one()
    assert done.actor_id == owner.id and done.practice_id == owner.practice_id


def test_the_email_leaves_after_the_answer(make_practice, make_client, monkeypatch, db):
    owner = make_practice()
    release, sent = threading.Event(), []

    def slow_mail_server(to, subject, body):
        release.wait(10)
        sent.append(to)

    monkeypatch.setattr(auth_routes, "send_email", slow_mail_server)
    response = make_client().post_form("/forgot-password", {"email": owner.email})
    assert response.status_code == 200 and sent == []
    release.set()
    wait_for_mail()
    assert sent == [owner.email]


def test_the_link_expires_within_an_hour(make_practice, make_client, outbox, db):
    owner = make_practice()
    ask_for_reset(make_client(), owner.email)
    token = db.session.scalars(sa.select(AccountToken).where(AccountToken.purpose == TokenPurpose.RESET)).one()
    assert token.expires_at - token.created_at <= timedelta(hours=1)
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    browser = make_client()
    browser.get(link_in(outbox()[0]).replace("http://localhost", ""))
    assert browser.get("/reset").status_code == 404
    assert browser.post_form("/reset", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 404
    assert can_sign_in(make_client, owner.email, PASSWORD)


def test_a_new_link_replaces_the_old_one(make_practice, make_client, outbox, db):
    owner = make_practice()
    ask_for_reset(make_client(), owner.email)
    ask_for_reset(make_client(), owner.email)
    first, second = (link_in(m) for m in outbox())
    assert first != second
    browser = make_client()
    browser.get(first.replace("http://localhost", ""))
    assert browser.get("/reset").status_code == 404
    assert use_link(make_client(), second).status_code == 302


def test_only_the_token_hash_is_stored(make_practice, make_client, outbox, db):
    owner = make_practice()
    ask_for_reset(make_client(), owner.email)
    token = link_in(outbox()[0]).rsplit("/", 1)[1]
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                assert token not in " ".join(str(v) for v in row)


@pytest.mark.parametrize("case", ["deactivated", "invited"])
def test_no_link_for_accounts_that_cannot_sign_in(case, make_practice, make_clinician, make_client, outbox, db):
    owner = make_practice()
    if case == "deactivated":
        clinician = make_clinician(owner)
        clinician.active = False
        db.session.commit()
    else:
        clinician = make_clinician(owner, password=None)
    response = ask_for_reset(make_client(), clinician.email)
    assert response.status_code == 200
    assert RESET_SENT.format(minutes=30) in response.get_data(as_text=True)
    assert outbox() == []


def test_a_weak_new_password_keeps_the_link_usable(make_practice, make_client, outbox, db):
    owner = make_practice()
    ask_for_reset(make_client(), owner.email)
    browser = make_client()
    response = use_link(browser, link_in(outbox()[0]), password="short")
    assert response.status_code == 200
    assert "Use at least 12 characters." in response.get_data(as_text=True)
    response = browser.post_form("/reset", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302


def test_a_reset_does_not_skip_the_second_factor(make_practice, make_client, outbox, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    ask_for_reset(make_client(), owner.email)
    use_link(make_client(), link_in(outbox()[0]))
    browser = make_client()
    response = browser.post_form("/signin", {"email": owner.email, "password": NEW_PASSWORD})
    assert response.headers["Location"] == "/signin/code"
    assert not signed_in(browser)
    assert browser.post_form("/signin/code", {"code": code(secret)}).status_code == 302


def test_a_reset_lifts_a_sign_in_lock(make_practice, make_client, outbox, db):
    owner = make_practice()
    for _ in range(5):
        make_client().post_form("/signin", {"email": owner.email, "password": "wrong password here"})
    assert not can_sign_in(make_client, owner.email, PASSWORD)
    ask_for_reset(make_client(), owner.email)
    use_link(make_client(), link_in(outbox()[0]))
    assert can_sign_in(make_client, owner.email, NEW_PASSWORD)


def test_a_mail_server_that_is_down_changes_nothing_in_the_answer(
    make_practice, make_client, app, monkeypatch, caplog, db
):
    owner = make_practice()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", closed_port)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    with caplog.at_level(logging.ERROR):
        response = ask_for_reset(make_client(), owner.email)
    assert response.status_code == 200
    assert "a password reset email could not be sent" in caplog.text
    assert owner.email not in caplog.text


def test_the_forgot_form_checks_the_address(client, db, outbox):
    response = client.post_form("/forgot-password", {"email": "not an address"})
    assert response.status_code == 400
    assert "Enter an email address like name@example.org." in response.get_data(as_text=True)
    assert client.post("/forgot-password", data={"email": "x@example.org"}).status_code == 400  # no CSRF token


def test_reset_links_are_masked_in_logs(app, caplog):
    token = "Ab9_-" + "x" * 38
    assert redact(f"GET /reset/{token} HTTP/1.1") == "GET /reset/[redacted] HTTP/1.1"
    assert redact("GET /reset HTTP/1.1") == "GET /reset HTTP/1.1"
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('"%s" %s', f"GET /reset/{token} HTTP/1.1", 302)
    assert token not in caplog.text


def test_the_reset_purpose_is_allowed_and_others_are_not(make_practice, db):
    owner = make_practice()
    insert = sa.text(
        "INSERT INTO account_token (clinician_id, purpose, token_hash, created_at, expires_at) "
        "VALUES (:c, :p, :h, :t, :t)"
    )
    when = utcnow().replace(tzinfo=None)
    db.session.execute(insert, {"c": owner.id, "p": "reset", "h": "a" * 64, "t": when})
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(insert, {"c": owner.id, "p": "bogus", "h": "b" * 64, "t": when})
    db.session.rollback()


# Changing the password while signed in.


@pytest.fixture
def owner(make_practice, auth):
    owner = make_practice()
    auth.login(owner.email)
    return owner


def change(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post_form(
        "/account/password", {"current_password": current, "password": new, "confirm": confirm or new}
    )


def test_changing_needs_the_current_password(client, owner, make_client, db):
    response = change(client, current="not the password")
    assert response.status_code == 400
    assert "That is not your current password." in response.get_data(as_text=True)
    assert can_sign_in(make_client, owner.email, PASSWORD)
    assert change(client, new="short").status_code == 400
    assert "The two passwords differ." in change(client, confirm="something else entirely").get_data(as_text=True)


def test_changing_ends_other_sessions_and_keeps_this_one(client, owner, make_client, db):
    version = owner.session_version
    other = make_client()
    other.post_form("/signin", {"email": owner.email, "password": PASSWORD})
    assert signed_in(other)

    response = change(client)
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert signed_in(client)
    assert not signed_in(other)
    assert can_sign_in(make_client, owner.email, NEW_PASSWORD)
    assert not can_sign_in(make_client, owner.email, PASSWORD)
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "password.changed")).one()
    assert event.actor_id == owner.id
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).session_version == version + 1


def test_changing_needs_csrf(client, owner, db):
    version = owner.session_version
    response = client.post(
        "/account/password", data={"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).session_version == version
