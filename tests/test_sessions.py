"""Clinician sessions: every sign-out ends them all, they time out when idle and after 12 hours,
the production cookie is a __Host- cookie, and partner sessions are left alone."""

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from clinic import ConfigError, create_app
from clinic.config import Config
from clinic.login import LAST_SEEN, SIGNED_IN_AT
from clinic.models import AuditEvent, Clinician
from tests.conftest import PASSWORD

IDLE_MESSAGE = "For your privacy you were signed out after 30 minutes without activity"


def sign_in(browser, email: str):
    response = browser.post_form("/signin", {"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return response


def signed_in(browser) -> bool:
    return browser.get("/couples/").status_code == 200


def shift_clock(browser, key: str, seconds: int) -> None:
    """Pretend the session's timestamp was taken this many seconds earlier."""
    with browser.session_transaction() as sess:
        sess[key] -= seconds


def test_signing_out_ends_every_session_of_the_clinician(make_practice, make_client, db):
    owner = make_practice()
    laptop, phone = make_client(), make_client()
    sign_in(laptop, owner.email)
    sign_in(phone, owner.email)
    assert signed_in(laptop) and signed_in(phone)

    assert laptop.post_form("/signout").headers["Location"] == "/signin"
    assert not signed_in(laptop)
    assert not signed_in(phone)
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "session.ended")).one()
    assert event.actor_id == owner.id and event.detail == {"reason": "signout", "all": True}


def test_signing_out_leaves_other_clinicians_signed_in(make_practice, make_clinician, make_client, db):
    owner = make_practice()
    colleague = make_clinician(owner)
    mine, theirs = make_client(), make_client()
    sign_in(mine, owner.email)
    sign_in(theirs, colleague.email)
    mine.post_form("/signout")
    assert signed_in(theirs)


def test_deactivation_ends_every_session(make_practice, make_clinician, make_client, db):
    owner = make_practice()
    colleague = make_clinician(owner)
    browsers = [make_client(), make_client()]
    for browser in browsers:
        sign_in(browser, colleague.email)
    owners = make_client()
    sign_in(owners, owner.email)
    owners.post_form(f"/practice/clinicians/{colleague.id}/deactivate")
    assert not any(signed_in(b) for b in browsers)
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "clinician.deactivated")).one()
    assert event.actor_id == owner.id and event.target == f"clinician:{colleague.id}"
    assert event.detail == {"sessions_ended": True}


def test_idle_sessions_end_after_30_minutes(client, make_practice, db):
    owner = make_practice()
    sign_in(client, owner.email)
    shift_clock(client, LAST_SEEN, 30 * 60 + 1)
    response = client.get("/couples/?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signin?next=/couples/?page%3D2"
    assert IDLE_MESSAGE in client.get("/signin").get_data(as_text=True)
    assert not signed_in(client)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "session.ended")).one()
    assert event.detail == {"reason": "idle"} and event.actor_id == owner.id
    # Only this browser's session timed out: the account's version is unchanged.
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).session_version == 1


def test_activity_keeps_the_session_alive(client, make_practice, db):
    owner = make_practice()
    sign_in(client, owner.email)
    shift_clock(client, LAST_SEEN, 29 * 60)
    assert signed_in(client)
    with client.session_transaction() as sess:
        before = sess[LAST_SEEN]
    shift_clock(client, LAST_SEEN, 29 * 60)  # another 29 minutes after that request
    assert signed_in(client)
    with client.session_transaction() as sess:
        assert sess[LAST_SEEN] >= before


def test_sessions_end_12_hours_after_sign_in_however_active(client, make_practice, db):
    owner = make_practice()
    sign_in(client, owner.email)
    shift_clock(client, SIGNED_IN_AT, 12 * 3600 - 60)
    assert signed_in(client)
    shift_clock(client, SIGNED_IN_AT, 61)
    response = client.get("/couples/")
    assert response.headers["Location"].startswith("/signin")
    page = client.get("/signin").get_data(as_text=True)
    assert "For your privacy you were signed out 12 hours after signing in" in page
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "session.ended")).one()
    assert event.detail == {"reason": "absolute"}


def test_a_session_without_its_clock_is_ended(client, make_practice, db):
    owner = make_practice()
    sign_in(client, owner.email)
    with client.session_transaction() as sess:
        del sess[SIGNED_IN_AT]
    assert not signed_in(client)


def test_timeouts_leave_partner_sessions_alone(make_practice, make_couple, make_assessment, make_client, db):
    owner = make_practice()
    _, tokens = make_assessment(make_couple(owner))
    partner = make_client()
    assert partner.get(f"/l/{tokens[1]}").headers["Location"] == "/q"
    with partner.session_transaction() as sess:
        assert SIGNED_IN_AT not in sess and "_user_id" not in sess
    assert partner.get("/q").status_code == 200
    assert partner.get("/q").status_code == 200


def test_signing_in_starts_the_clock(client, make_practice, db):
    owner = make_practice()
    sign_in(client, owner.email)
    with client.session_transaction() as sess:
        assert isinstance(sess[SIGNED_IN_AT], int) and sess[SIGNED_IN_AT] == sess[LAST_SEEN]
        assert sess["_user_id"] == f"{owner.id}:{owner.session_version}"


def production(**overrides):
    values = {
        "ENV_NAME": "production",
        "SECRET_KEY": "Zq8v3N_pL2rT9xW4kY7mB1cD6fH0jS5a-uE",
        "DEBUG": False,
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "BASE_URL": "https://tandem.example.org",
        "DATA_KEYS": Fernet.generate_key().decode(),
        "AUDIT_KEY": "Hd5-wQ7rL0xP2mZ9kT4vB8nC1yF6jS3gA_eU",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    values.update(overrides)
    return type("ProductionSessionConfig", (Config,), values)


def test_the_production_cookie_is_a_valid_host_cookie():
    app = create_app(production())
    response = app.test_client().get("/signin", base_url="https://tandem.example.org")
    (cookie,) = response.headers.getlist("Set-Cookie")
    name, _, attributes = cookie.partition(";")
    assert name.startswith("__Host-tandem=")
    parts = {p.strip().split("=")[0].lower(): p.strip() for p in attributes.split(";")}
    assert parts["path"] == "Path=/"
    assert "secure" in parts and "httponly" in parts
    assert parts["samesite"] == "SameSite=Lax"
    assert "domain" not in parts


@pytest.mark.parametrize(
    "override",
    [{"SESSION_COOKIE_DOMAIN": "example.org"}, {"SESSION_COOKIE_PATH": "/app"}, {"SESSION_COOKIE_SECURE": False}],
)
def test_production_refuses_a_host_cookie_the_browser_would_reject(override):
    with pytest.raises(ConfigError, match="__Host- session cookie"):
        create_app(production(**override))
