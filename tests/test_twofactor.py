"""Two-factor sign-in: enrolment, the second step, one use per code, recovery codes, turning it off, and
the owner's "required for everyone" setting."""

import hashlib
import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from clinic.login import PENDING_TWO_FACTOR
from clinic.models import AuditEvent, Clinician
from clinic.services import twofactor
from tests.conftest import PASSWORD

SECRET_ON_PAGE = re.compile(r'<code class="copy-field" id="totp-secret">([A-Z2-7 ]+)</code>')
RECOVERY_ON_PAGE = re.compile(r"<li><code>([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})</code></li>")


# A code is checked a few milliseconds after it is made. Made in the last moments of a 30-second step,
# last step's code would be two steps old by then and refused (a flake seen in CI), so wait those out.
STEP_SAFETY_SECONDS = 2.0


def code(secret: str, steps: int = 0) -> str:
    """The TOTP code for now, or for a number of 30-second steps before or after, made far enough from
    a step boundary that it still belongs to the same step when the app checks it."""
    left_in_step = 30 - time.time() % 30
    if left_in_step < STEP_SAFETY_SECONDS:
        time.sleep(left_in_step + 0.05)
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def wrong_code(secret: str) -> str:
    """A six-digit code that is not valid anywhere in the accepted window."""
    valid = {code(secret, steps) for steps in (-1, 0, 1)}
    return next(c for c in ("123456", "654321", "000000", "999999") if c not in valid)


def enrol(db, clinician: Clinician) -> tuple[str, list[str]]:
    """Turn 2FA on through the service, confirmed with last step's code so this step's is still unused."""
    twofactor.begin_enrolment(clinician)
    secret = clinician.totp_secret
    codes = twofactor.confirm_enrolment(clinician, code(secret, -1))
    db.session.commit()
    return secret, codes


def enrol_through_pages(client) -> tuple[str, list[str]]:
    """Turn 2FA on the way a clinician does; returns the secret and the recovery codes shown."""
    assert client.post_form("/account/two-factor/start").headers["Location"] == "/account/two-factor"
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = SECRET_ON_PAGE.search(page).group(1).replace(" ", "")
    response = client.post_form("/account/two-factor", {"code": code(secret, -1)})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"  # the codes must not linger in a cache
    codes = RECOVERY_ON_PAGE.findall(response.get_data(as_text=True))
    return secret, codes


def password_step(browser, email: str, password: str = PASSWORD):
    return browser.post_form("/signin", {"email": email, "password": password})


def signed_in(browser) -> bool:
    return browser.get("/couples/").status_code == 200


def audit_actions(db) -> list[str]:
    return db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()


@pytest.fixture
def owner(make_practice, auth):
    owner = make_practice()
    auth.login(owner.email)
    return owner


def test_enrolment_shows_a_qr_code_and_the_key_and_needs_a_code(client, owner, db):
    client.post_form("/account/two-factor/start")
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert '<img src="data:image/svg+xml' in page
    secret = SECRET_ON_PAGE.search(page).group(1).replace(" ", "")
    db.session.expire_all()
    stored = db.session.get(Clinician, owner.id)
    assert stored.totp_secret == secret and len(secret) == 32
    # Not on until a code from the app proves the scan worked.
    assert not stored.two_factor_enabled
    response = client.post_form("/account/two-factor", {"code": wrong_code(secret)})
    assert response.status_code == 400
    assert "That code does not match" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Clinician, owner.id).two_factor_enabled

    response = client.post_form("/account/two-factor", {"code": code(secret)})
    assert response.status_code == 200
    assert len(RECOVERY_ON_PAGE.findall(response.get_data(as_text=True))) == 10
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).two_factor_enabled
    assert "2fa.enabled" in audit_actions(db)


def test_the_secret_is_stored_encrypted(client, owner, db):
    secret, _ = enrol_through_pages(client)
    raw = db.session.execute(sa.text("SELECT totp_secret FROM clinician WHERE id = :id"), {"id": owner.id}).scalar()
    assert secret not in raw and raw.startswith("fernet:")


def test_recovery_codes_are_shown_once_and_stored_hashed(client, owner, db):
    _, codes = enrol_through_pages(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    account = client.get("/account").get_data(as_text=True)
    assert "10 of your recovery codes are unused" in account
    assert not any(c in account for c in codes)
    stored = db.session.scalar(sa.select(Clinician.recovery_code_hashes).where(Clinician.id == owner.id)).split()
    assert sorted(stored) == sorted(hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes)
    with db.engine.connect() as conn:
        for row in conn.execute(sa.text("SELECT * FROM clinician")):
            assert not any(c in str(row) or c.replace("-", "") in str(row) for c in codes)


def test_signin_becomes_two_steps(client, make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    browser = make_client()
    response = browser.post_form("/signin", {"email": owner.email, "password": PASSWORD, "next": "/account"})
    assert response.headers["Location"] == "/signin/code"
    # Only the marker: nobody is signed in yet.
    with browser.session_transaction() as sess:
        assert "_user_id" not in sess
        assert set(sess[PENDING_TWO_FACTOR]) == {"clinician", "at"}
        assert sess[PENDING_TWO_FACTOR]["clinician"] == owner.id
    assert not signed_in(browser)
    assert "signin.success" not in audit_actions(db)

    response = browser.post_form("/signin/code", {"code": code(secret)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert signed_in(browser)
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "signin.success")).one()
    assert event.actor_id == owner.id and event.detail == {"two_factor": "totp"}


def test_a_wrong_code_does_not_sign_in(make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    browser = make_client()
    password_step(browser, owner.email)
    response = browser.post_form("/signin/code", {"code": wrong_code(secret)})
    assert response.status_code == 200
    assert twofactor.WRONG_CODE in response.get_data(as_text=True)
    assert not signed_in(browser)
    failure = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "signin.failure")).one()
    assert failure.detail == {"step": "two_factor"} and failure.target == f"clinician:{owner.id}"


def test_the_code_step_without_a_password_step_goes_back_to_signin(make_client, db):
    browser = make_client()
    response = browser.post_form("/signin/code", {"code": "123456"})
    assert response.headers["Location"] == "/signin"


def test_the_pending_marker_expires_after_five_minutes(make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    browser = make_client()
    password_step(browser, owner.email)
    with browser.session_transaction() as sess:
        marker = dict(sess[PENDING_TWO_FACTOR])
        marker["at"] -= 301
        sess[PENDING_TWO_FACTOR] = marker
    response = browser.post_form("/signin/code", {"code": code(secret)})
    assert response.headers["Location"] == "/signin"
    assert not signed_in(browser)
    with browser.session_transaction() as sess:
        assert PENDING_TWO_FACTOR not in sess


def test_a_code_works_once_replay_is_rejected(make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    now_code = code(secret)

    first = make_client()
    password_step(first, owner.email)
    assert first.post_form("/signin/code", {"code": now_code}).status_code == 302

    replay = make_client()
    password_step(replay, owner.email)
    response = replay.post_form("/signin/code", {"code": now_code})
    assert response.status_code == 200
    assert twofactor.WRONG_CODE in response.get_data(as_text=True)
    assert not signed_in(replay)

    # A code from a later step is new, so it works (one step of clock drift is allowed).
    assert replay.post_form("/signin/code", {"code": code(secret, 1)}).status_code == 302
    assert signed_in(replay)


def test_the_enrolment_code_cannot_be_used_to_sign_in(client, owner, make_client, db):
    client.post_form("/account/two-factor/start")
    db.session.expire_all()
    secret = db.session.get(Clinician, owner.id).totp_secret
    used = code(secret)
    client.post_form("/account/two-factor", {"code": used})
    browser = make_client()
    password_step(browser, owner.email)
    assert browser.post_form("/signin/code", {"code": used}).status_code == 200
    assert not signed_in(browser)


def test_codes_outside_the_window_are_rejected(make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    owner.totp_last_counter = None  # nothing used yet: only the window decides below
    db.session.commit()
    browser = make_client()
    password_step(browser, owner.email)
    for steps in (-3, -2, 2, 3):
        response = browser.post_form("/signin/code", {"code": code(secret, steps)})
        assert response.status_code == 200, steps
    assert not signed_in(browser)
    assert browser.post_form("/signin/code", {"code": code(secret, -1)}).status_code == 302


def test_each_recovery_code_signs_in_once(make_practice, make_client, db):
    owner = make_practice()
    _, codes = enrol(db, owner)
    browser = make_client()
    password_step(browser, owner.email)
    # Typed loosely: lower case, spaces instead of dashes.
    typed = codes[3].lower().replace("-", " ")
    response = browser.post_form("/signin/code", {"code": typed})
    assert response.status_code == 302
    assert "unused codes left: 9" in browser.get("/couples/").get_data(as_text=True)
    used = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "2fa.recovery_used")).one()
    assert used.detail == {"remaining": 9} and used.actor_id == owner.id
    success = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "signin.success")).one()
    assert success.detail == {"two_factor": "recovery"}

    again = make_client()
    password_step(again, owner.email)
    assert again.post_form("/signin/code", {"code": codes[3]}).status_code == 200
    assert not signed_in(again)
    assert again.post_form("/signin/code", {"code": codes[4]}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).recovery_codes_left == 8


def test_turning_off_needs_the_password_and_a_code(client, owner, db):
    secret, _ = enrol_through_pages(client)
    response = client.post_form("/account/two-factor/disable", {"password": "not my password", "code": code(secret)})
    assert response.status_code == 400
    assert "That is not your current password." in response.get_data(as_text=True)
    response = client.post_form("/account/two-factor/disable", {"password": PASSWORD, "code": "12345"})
    assert response.status_code == 400
    assert twofactor.WRONG_CODE in response.get_data(as_text=True)
    response = client.post_form("/account/two-factor/disable", {"password": PASSWORD})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).two_factor_enabled

    response = client.post_form("/account/two-factor/disable", {"password": PASSWORD, "code": code(secret)})
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(Clinician, owner.id)
    assert not stored.two_factor_enabled
    assert stored.totp_secret is None and stored.recovery_code_hashes == ""
    assert "2fa.disabled" in audit_actions(db)
    assert "Off." in client.get("/account").get_data(as_text=True)


def test_turning_off_when_it_is_off_changes_nothing(client, owner, db):
    response = client.post_form("/account/two-factor/disable", {"password": PASSWORD, "code": "123456"})
    assert response.headers["Location"] == "/account"
    assert "2fa.disabled" not in audit_actions(db)


def test_starting_again_while_it_is_on_is_refused(client, owner, db):
    secret, _ = enrol_through_pages(client)
    response = client.post_form("/account/two-factor/start")
    assert response.headers["Location"] == "/account"
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).totp_secret == secret


def test_a_recovery_code_can_turn_it_off(client, owner, db):
    _, codes = enrol_through_pages(client)
    assert client.post_form("/account/two-factor/disable", {"password": PASSWORD, "code": codes[0]}).status_code == 302


def settings_form(practice, **changes) -> dict:
    data = {
        "name": practice.name,
        "timezone": practice.timezone,
        "invite_expiry_days": practice.invite_expiry_days,
        "reminder_after_days": practice.reminder_after_days,
        "reminder_max": practice.reminder_max,
        "report_page_size": practice.report_page_size,
        "crisis_text": practice.crisis_text,
    }
    data.update(changes)
    return data


def test_the_owner_must_have_two_factor_before_requiring_it(client, owner, db):
    response = client.post_form("/practice/settings", settings_form(owner.practice, require_two_factor="y"))
    assert response.status_code == 400
    assert "Turn on two-factor sign-in for your own account first" in response.get_data(as_text=True)
    enrol_through_pages(client)
    response = client.post_form("/practice/settings", settings_form(owner.practice, require_two_factor="y"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).practice.require_two_factor


def test_required_two_factor_holds_clinicians_at_enrolment(client, owner, make_clinician, make_client, db):
    enrol_through_pages(client)
    client.post_form("/practice/settings", settings_form(owner.practice, require_two_factor="y"))
    colleague = make_clinician(owner)

    browser = make_client()
    assert password_step(browser, colleague.email).status_code == 302
    for path in ("/couples/", "/account", "/library/", "/account/password"):
        response = browser.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/account/two-factor", path
    page = browser.get("/account/two-factor").get_data(as_text=True)
    assert "requires two-factor sign-in" in page

    secret, codes = enrol_through_pages(browser)
    assert len(codes) == 10
    assert browser.get("/couples/").status_code == 200

    # And from now on the code is asked for at sign-in.
    again = make_client()
    assert password_step(again, colleague.email).headers["Location"] == "/signin/code"
    assert again.post_form("/signin/code", {"code": code(secret)}).status_code == 302
    assert signed_in(again)


def test_a_clinician_held_at_enrolment_can_still_sign_out(client, owner, make_clinician, make_client, db):
    enrol_through_pages(client)
    client.post_form("/practice/settings", settings_form(owner.practice, require_two_factor="y"))
    colleague = make_clinician(owner)
    browser = make_client()
    password_step(browser, colleague.email)
    assert browser.post_form("/signout").headers["Location"] == "/signin"
    assert browser.get("/account/two-factor").headers["Location"].startswith("/signin")


def test_sessions_open_when_it_becomes_required_are_held_too(client, owner, make_clinician, make_client, db):
    colleague = make_clinician(owner)
    browser = make_client()
    password_step(browser, colleague.email)
    assert signed_in(browser)
    enrol_through_pages(client)
    client.post_form("/practice/settings", settings_form(owner.practice, require_two_factor="y"))
    assert browser.get("/couples/").headers["Location"] == "/account/two-factor"
