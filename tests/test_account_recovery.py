"""Account recovery: the owner unlocks a locked-out clinician or resets their two-factor sign-in
(with the owner's own fresh code when the owner uses two-factor), and a clinician replaces their
recovery codes. All through HTTP."""

from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from clinic.models import AuditEvent, Clinician
from tests.conftest import PASSWORD
from tests.test_html_markup import markup_problems
from tests.test_ratelimits import attempt, lock_out
from tests.test_twofactor import (
    RECOVERY_ON_PAGE,
    code,
    enrol,
    enrol_through_pages,
    password_step,
    settings_form,
    signed_in,
    wrong_code,
)

ACTIONS = {"unlock": "unlock", "reset": "reset-two-factor"}


@pytest.fixture
def owner(make_practice, auth):
    """A practice owner (practice zone Europe/London), signed in on the default client."""
    owner = make_practice(timezone="Europe/London")
    auth.login(owner.email)
    return owner


def url(clinician_id: int, action: str) -> str:
    return f"/practice/clinicians/{clinician_id}/{ACTIONS[action]}"


def fresh(db, clinician_id: int) -> Clinician:
    db.session.expire_all()
    return db.session.get(Clinician, clinician_id)


def events(db, action: str) -> list[AuditEvent]:
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def flashed(client) -> str:
    return client.get("/practice/clinicians").get_data(as_text=True)


def locked_clinician(make_clinician, make_client, owner) -> Clinician:
    clinician = make_clinician(owner)
    lock_out(make_client, clinician.email)
    return clinician


# Unlock


def test_the_owner_unlocks_a_locked_out_clinician(client, owner, make_clinician, make_client, db):
    clinician = locked_clinician(make_clinician, make_client, owner)
    until = fresh(db, clinician.id).locked_until
    assert until is not None
    assert attempt(make_client(), clinician.email, PASSWORD).status_code == 200  # refused while locked

    page = client.get("/practice/clinicians").get_data(as_text=True)
    local = until.astimezone(ZoneInfo("Europe/London")).strftime("%-d %b %Y, %H:%M")
    assert f"Locked out until {local} (Europe/London)." in page
    assert f'action="{url(clinician.id, "unlock")}"' in page
    # The owner has no two-factor: no code field.
    assert f'id="unlock-code-{clinician.id}"' not in page

    response = client.post_form(url(clinician.id, "unlock"))
    assert response.status_code == 302 and response.headers["Location"] == "/practice/clinicians"
    assert f"{clinician.name} is unlocked and can sign in again now." in flashed(client)
    stored = fresh(db, clinician.id)
    assert stored.locked_until is None and stored.failed_signins == 0 and stored.failed_signins_since is None
    (event,) = events(db, "clinician.unlocked")
    assert event.actor_id == owner.id and event.practice_id == owner.practice_id
    assert event.target == f"clinician:{clinician.id}"
    assert event.detail == {"failures": 5, "owner_code": False}
    assert attempt(make_client(), clinician.email, PASSWORD).status_code == 302


def test_unlocking_someone_who_is_not_locked_out_or_oneself_is_refused_plainly(
    client, owner, make_clinician, make_client, db
):
    clinician = make_clinician(owner)
    assert client.post_form(url(clinician.id, "unlock")).status_code == 302
    assert f"{clinician.name} is not locked out: they can sign in now." in flashed(client)
    assert client.post_form(url(owner.id, "unlock")).status_code == 302
    assert "This is for other clinicians." in flashed(client)
    assert client.post_form(url(owner.id, "reset")).status_code == 302
    assert "To turn off your own two-factor sign-in, use Security on your account page" in flashed(client)
    assert client.post_form(url(clinician.id, "reset")).status_code == 302
    assert "does not have two-factor sign-in on: there is nothing to reset." in flashed(client)
    assert events(db, "clinician.unlocked") == [] and events(db, "clinician.two_factor_reset") == []


# Reset two-factor


def test_a_reset_makes_the_clinician_set_up_two_factor_again_where_it_is_required(
    client, owner, make_clinician, make_client, db
):
    owner_secret, _ = enrol_through_pages(client)
    response = client.post_form("/practice/settings", settings_form(owner.practice, require_two_factor="y"))
    assert response.status_code == 302
    clinician = make_clinician(owner)
    secret, recovery_codes = enrol(db, clinician)
    phone = make_client()  # the lost phone, still signed in
    password_step(phone, clinician.email)
    assert phone.post_form("/signin/code", {"code": code(secret)}).status_code == 302
    assert signed_in(phone)

    page = client.get("/practice/clinicians").get_data(as_text=True)
    assert f'<label class="label" for="reset-code-{clinician.id}">' in page
    response = client.post_form(url(clinician.id, "reset"), {"code": code(owner_secret)})
    assert response.status_code == 302
    assert "At their next sign-in they will be asked to set it up again" in flashed(client)

    stored = fresh(db, clinician.id)
    assert not stored.two_factor_enabled
    assert stored.totp_secret is None and stored.recovery_code_hashes == "" and stored.totp_last_counter is None
    # Every session of the clinician ended (not merely held at enrolment).
    assert phone.get("/account/two-factor").headers["Location"].startswith("/signin")
    (event,) = events(db, "clinician.two_factor_reset")
    assert event.actor_id == owner.id and event.target == f"clinician:{clinician.id}"
    assert event.detail == {"owner_code": True, "sessions_ended": True, "must_enrol": True}

    # Next sign-in: the password alone, then held at enrolment until a new phone is set up.
    browser = make_client()
    assert password_step(browser, clinician.email).headers["Location"] != "/signin/code"
    assert browser.get("/couples/").headers["Location"] == "/account/two-factor"
    assert "requires two-factor sign-in" in browser.get("/account/two-factor").get_data(as_text=True)
    new_secret, _ = enrol_through_pages(browser)
    assert new_secret != secret
    assert browser.get("/couples/").status_code == 200
    # The old recovery codes died with the reset.
    again = make_client()
    assert password_step(again, clinician.email).headers["Location"] == "/signin/code"
    assert again.post_form("/signin/code", {"code": recovery_codes[0]}).status_code == 200
    assert not signed_in(again)


def test_a_reset_where_two_factor_is_optional_says_it_is_off(client, owner, make_clinician, make_client, db):
    clinician = make_clinician(owner)
    enrol(db, clinician)
    phone = make_client()
    password_step(phone, clinician.email)
    assert phone.post_form("/signin/code", {"code": code(clinician.totp_secret)}).status_code == 302
    assert client.post_form(url(clinician.id, "reset")).status_code == 302
    assert not signed_in(phone)
    page = flashed(client)
    assert "It is now off: they sign in with their password alone" in page
    assert "Two-factor sign-in is off." in page
    (event,) = events(db, "clinician.two_factor_reset")
    assert event.detail == {"owner_code": False, "sessions_ended": True, "must_enrol": False}
    browser = make_client()
    assert password_step(browser, clinician.email).status_code == 302
    assert signed_in(browser)


# The owner's fresh code


def test_the_owners_fresh_app_code_is_required_and_works_once(client, owner, make_clinician, make_client, db):
    owner_secret, owner_recovery = enrol_through_pages(client)
    clinician = locked_clinician(make_clinician, make_client, owner)
    enrol(db, clinician)

    def unchanged():
        stored = fresh(db, clinician.id)
        assert stored.locked_until is not None and stored.two_factor_enabled
        assert events(db, "clinician.unlocked") == [] and events(db, "clinician.two_factor_reset") == []

    refusals = {
        "missing": ({}, "Enter the 6-digit code your authenticator app shows now."),
        "wrong": ({"code": wrong_code(owner_secret)}, "That code is not right, or was already used."),
        # A recovery code proves a printout, not the phone in hand: refused, and not spent.
        "recovery code": ({"code": owner_recovery[0]}, "recovery codes do not work here"),
    }
    for action in ACTIONS:
        for why, (data, message) in refusals.items():
            response = client.post_form(url(clinician.id, action), data)
            assert response.status_code == 400, (action, why)
            page = response.get_data(as_text=True)
            assert message in page, (action, why)
            # The message stands beside this form's code field.
            assert f'<ul class="field-errors" id="{action}-code-{clinician.id}-error"><li>' in page
            assert markup_problems(page) == []
            unchanged()
    owner_now = fresh(db, owner.id)
    assert owner_now.recovery_codes_left == 10
    # Wrong codes count towards the owner's own sign-in lock, as at sign-in; a missing one does not.
    assert owner_now.failed_signins == 4

    now = code(owner_secret)
    assert client.post_form(url(clinician.id, "unlock"), {"code": now}).status_code == 302
    assert fresh(db, clinician.id).locked_until is None
    (event,) = events(db, "clinician.unlocked")
    assert event.detail == {"failures": 5, "owner_code": True}
    # The same code again: refused, nothing reset.
    response = client.post_form(url(clinician.id, "reset"), {"code": now})
    assert response.status_code == 400
    assert "That code is not right, or was already used." in response.get_data(as_text=True)
    assert fresh(db, clinician.id).two_factor_enabled
    assert events(db, "clinician.two_factor_reset") == []
    # A later code from the app does it.
    assert client.post_form(url(clinician.id, "reset"), {"code": code(owner_secret, 1)}).status_code == 302
    assert not fresh(db, clinician.id).two_factor_enabled
    # No code, secret or recovery code went into the trail.
    for event in events(db, "clinician.unlocked") + events(db, "clinician.two_factor_reset"):
        assert set(event.detail) <= {"failures", "owner_code", "sessions_ended", "must_enrol"}


def test_a_form_without_its_csrf_token_is_refused(client, owner, make_clinician, make_client, db):
    clinician = locked_clinician(make_clinician, make_client, owner)
    enrol(db, clinician)
    for action in ACTIONS:
        assert client.post(url(clinician.id, action), data={}).status_code == 400
    stored = fresh(db, clinician.id)
    assert stored.locked_until is not None and stored.two_factor_enabled


# Who may


@pytest.mark.parametrize("action", ACTIONS)
def test_a_clinician_who_is_not_the_owner_gets_404(action, owner, make_clinician, make_client, db):
    colleague = make_clinician(owner)
    clinician = locked_clinician(make_clinician, make_client, owner)
    enrol(db, clinician)
    browser = make_client()
    password_step(browser, colleague.email)
    assert browser.post_form(url(clinician.id, action)).status_code == 404
    assert browser.get("/practice/clinicians").status_code == 404
    stored = fresh(db, clinician.id)
    assert stored.locked_until is not None and stored.two_factor_enabled
    assert events(db, "clinician.unlocked") == [] and events(db, "clinician.two_factor_reset") == []


@pytest.mark.parametrize("action", ACTIONS)
def test_a_clinician_of_another_practice_is_404(action, client, owner, make_practice, make_clinician, make_client, db):
    other_owner = make_practice()
    foreign = locked_clinician(make_clinician, make_client, other_owner)
    enrol(db, foreign)
    assert client.post_form(url(foreign.id, action)).status_code == 404
    assert client.post_form(url(999_999, action)).status_code == 404
    stored = fresh(db, foreign.id)
    assert stored.locked_until is not None and stored.two_factor_enabled
    assert foreign.name not in client.get("/practice/clinicians").get_data(as_text=True)


# New recovery codes


def test_new_recovery_codes_need_a_current_app_code_and_replace_the_old(client, owner, make_client, db):
    secret, old_codes = enrol_through_pages(client)
    account = client.get("/account").get_data(as_text=True)
    assert 'action="/account/two-factor/recovery-codes"' in account
    assert markup_problems(account) == []

    for data, message in (
        ({}, "Enter the 6-digit code your authenticator app shows now."),
        ({"app_code": wrong_code(secret)}, "That code is not right, or was already used."),
        ({"app_code": old_codes[0]}, "recovery codes do not work here"),
    ):
        response = client.post_form("/account/two-factor/recovery-codes", data)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert message in page and '<ul class="field-errors" id="app_code-error">' in page
        assert markup_problems(page) == []
        assert RECOVERY_ON_PAGE.findall(page) == []
    assert events(db, "two_factor.recovery_codes_regenerated") == []
    assert fresh(db, owner.id).recovery_codes_left == 10

    now = code(secret)
    response = client.post_form("/account/two-factor/recovery-codes", {"app_code": now})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Your earlier recovery codes no longer work." in page
    new_codes = RECOVERY_ON_PAGE.findall(page)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert not any(c in client.get("/account").get_data(as_text=True) for c in new_codes)  # shown once
    # The code that made them is spent.
    assert client.post_form("/account/two-factor/recovery-codes", {"app_code": now}).status_code == 400

    (event,) = events(db, "two_factor.recovery_codes_regenerated")
    assert event.actor_id == owner.id and event.detail == {"count": 10}
    trail = " ".join(str(e.detail) for e in events(db, "two_factor.recovery_codes_regenerated"))
    assert not any(c in trail or c.replace("-", "") in trail for c in new_codes + old_codes)

    # The old codes no longer sign in; each new one does, once.
    browser = make_client()
    password_step(browser, owner.email)
    assert browser.post_form("/signin/code", {"code": old_codes[1]}).status_code == 200
    assert browser.post_form("/signin/code", {"code": new_codes[0]}).status_code == 302
    assert signed_in(browser)
    again = make_client()
    password_step(again, owner.email)
    assert again.post_form("/signin/code", {"code": new_codes[0]}).status_code == 200
    assert not signed_in(again)


def test_new_recovery_codes_without_two_factor_go_back_to_the_account(client, owner, db):
    response = client.post_form("/account/two-factor/recovery-codes", {"app_code": "123456"})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert events(db, "two_factor.recovery_codes_regenerated") == []


# Markup


def test_the_clinicians_page_with_every_recovery_form_has_sound_markup(client, owner, make_clinician, make_client, db):
    enrol_through_pages(client)
    for _ in range(2):
        clinician = locked_clinician(make_clinician, make_client, owner)
        enrol(db, clinician)
    page = client.get("/practice/clinicians").get_data(as_text=True)
    assert page.count('name="code"') == 4
    assert markup_problems(page) == []
