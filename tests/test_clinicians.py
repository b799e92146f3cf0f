"""The owner invites, re-invites, deactivates and reactivates clinicians."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.db_types import utcnow
from clinic.models import AccountToken, Clinician
from tests.conftest import PASSWORD

NEW_PASSWORD = "a brand new password"
LINK = re.compile(r"http://localhost/invite/([A-Za-z0-9_\-]+)")


def invite(client, name="Noor Haddad", email="noor@example.org", credential="LPC"):
    return client.post_form("/practice/clinicians/invite", {"name": name, "email": email, "credential": credential})


def link_from(response) -> str:
    match = LINK.search(response.get_data(as_text=True))
    assert match, "no invitation link on the page"
    return match.group(0)


def accept(client, link, password=NEW_PASSWORD, confirm=None):
    path = link.replace("http://localhost", "")
    opened = client.get(path)
    assert opened.status_code == 302
    assert opened.headers["Location"] == "/invite"  # the token leaves the address bar
    return client.post_form("/invite", {"password": password, "confirm": confirm or password})


@pytest.fixture
def owner(make_practice, auth):
    owner = make_practice(practice_name="Willow Street Practice", owner_name="Ines Park")
    auth.login(owner.email)
    return owner


def test_owner_sees_the_team(client, owner, make_clinician):
    make_clinician(owner, name="Sam Ortiz", credential="LMFT")
    page = client.get("/practice/clinicians").get_data(as_text=True)
    assert "Ines Park" in page
    assert "Sam Ortiz, LMFT" in page


def test_invitation_is_emailed_shown_once_and_accepted(client, owner, make_client, outbox, db):
    response = invite(client)
    assert response.status_code == 200
    link = link_from(response)

    (message,) = outbox()
    assert message["To"] == "noor@example.org"
    assert "Willow Street Practice" in message["Subject"]
    body = message.get_content()
    assert link in body
    assert "Ines Park" in body

    # The link is not shown again.
    assert LINK.search(client.get("/practice/clinicians").get_data(as_text=True)) is None

    newcomer = make_client()
    response = accept(newcomer, link)
    assert response.status_code == 302
    assert "Hello, Noor Haddad" in newcomer.get("/couples/").get_data(as_text=True)

    # And the new password works on its own.
    other = make_client()
    assert other.post_form("/signin", {"email": "noor@example.org", "password": NEW_PASSWORD}).status_code == 302


def test_only_the_token_hash_is_stored(client, owner, db):
    token = link_from(invite(client)).rsplit("/", 1)[1]
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                assert token not in " ".join(str(v) for v in row)
    stored = db.session.scalars(sa.select(AccountToken.token_hash)).all()
    assert len(stored) == 1 and len(stored[0]) == 64


def test_invitation_link_cannot_be_reused(client, owner, make_client):
    link = link_from(invite(client))
    accept(make_client(), link)
    again = make_client()
    response = accept(again, link, password="someone else's password")
    assert response.status_code == 404
    assert "This link can't be used" in response.get_data(as_text=True)
    assert (
        again.post_form("/signin", {"email": "noor@example.org", "password": "someone else's password"}).status_code
        == 200
    )


def test_expired_invitation_is_refused(client, owner, make_client, db):
    link = link_from(invite(client))
    db.session.execute(sa.update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = accept(make_client(), link)
    assert response.status_code == 404
    assert "This link can't be used" in response.get_data(as_text=True)


def test_unknown_invitation_looks_like_expired_one(make_client, db):
    browser = make_client()
    browser.get("/invite/not-a-real-token")
    response = browser.get("/invite")
    assert response.status_code == 404
    assert "This link can't be used" in response.get_data(as_text=True)


def test_weak_password_on_invitation_keeps_the_link_usable(client, owner, make_client):
    link = link_from(invite(client))
    browser = make_client()
    response = accept(browser, link, password="short")
    assert response.status_code == 200
    assert "Use at least 12 characters." in response.get_data(as_text=True)
    response = browser.post_form("/invite", {"password": NEW_PASSWORD, "confirm": "something different"})
    assert "The two passwords differ." in response.get_data(as_text=True)
    response = browser.post_form("/invite", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302


def test_new_link_kills_the_old_one(client, owner, make_client, db, outbox):
    first = link_from(invite(client))
    clinician_id = db.session.scalar(sa.select(Clinician.id).where(Clinician.email == "noor@example.org"))
    response = client.post_form(f"/practice/clinicians/{clinician_id}/resend")
    second = link_from(response)
    assert second != first
    assert len(outbox()) == 2
    assert accept(make_client(), first).status_code == 404
    assert accept(make_client(), second).status_code == 302


def test_duplicate_email_invitation_is_refused_beside_the_field(client, owner, make_clinician):
    make_clinician(owner, email="taken@example.org")
    response = invite(client, email="Taken@Example.org")
    assert response.status_code == 400
    assert "An account with this email address already exists." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "email": "x@example.org"}, "This field is required."),
        ({"name": "Al", "email": "not-an-email"}, "Enter an email address like name@example.org."),
        ({"name": "A" * 121, "email": "x@example.org"}, "Field cannot be longer than 120 characters."),
    ],
)
def test_invalid_invitation_form_says_why(client, owner, data, message, db):
    response = client.post_form("/practice/clinicians/invite", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clinician)) == 1


def test_deactivated_clinician_is_locked_out_and_session_ends(client, owner, make_clinician, make_client, db):
    colleague = make_clinician(owner)
    theirs = make_client()
    theirs.post_form("/signin", {"email": colleague.email, "password": PASSWORD})
    assert theirs.get("/couples/").status_code == 200

    response = client.post_form(f"/practice/clinicians/{colleague.id}/deactivate")
    assert response.status_code == 302

    # The open session is over...
    assert theirs.get("/couples/").status_code == 302
    # ...and signing in again fails with the generic message.
    again = theirs.post_form("/signin", {"email": colleague.email, "password": PASSWORD})
    assert "That email and password do not match an active account." in again.get_data(as_text=True)

    client.post_form(f"/practice/clinicians/{colleague.id}/reactivate")
    assert theirs.post_form("/signin", {"email": colleague.email, "password": PASSWORD}).status_code == 302


def test_owner_cannot_deactivate_themself(client, owner, db):
    response = client.post_form(f"/practice/clinicians/{owner.id}/deactivate", follow_redirects=True)
    assert "cannot be deactivated" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).active


def test_deactivation_needs_csrf(client, owner, make_clinician, db):
    colleague = make_clinician(owner)
    assert client.post(f"/practice/clinicians/{colleague.id}/deactivate").status_code == 400
    db.session.expire_all()
    assert db.session.get(Clinician, colleague.id).active


def test_deactivated_clinician_invitation_link_dies(client, owner, make_client, db):
    link = link_from(invite(client))
    clinician_id = db.session.scalar(sa.select(Clinician.id).where(Clinician.email == "noor@example.org"))
    client.post_form(f"/practice/clinicians/{clinician_id}/deactivate")
    assert accept(make_client(), link).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/practice/clinicians"),
        ("post", "/practice/clinicians/invite"),
        ("post", "/practice/clinicians/{id}/deactivate"),
        ("post", "/practice/clinicians/{id}/reactivate"),
        ("post", "/practice/clinicians/{id}/resend"),
    ],
)
def test_clinician_pages_are_404_for_non_owners_and_other_practices(
    method, path, make_practice, make_clinician, make_client, db
):
    home = make_practice()
    target = make_clinician(home, password=None)
    plain = make_clinician(home)
    other_owner = make_practice()
    url = path.format(id=target.id)

    # The other practice's owner has a clinicians page of their own; only ids can leak.
    outsiders = [plain.email] + ([other_owner.email] if "{id}" in path else [])
    for email in outsiders:
        browser = make_client()
        browser.post_form("/signin", {"email": email, "password": PASSWORD})
        response = browser.get(url) if method == "get" else browser.post_form(url)
        assert response.status_code == 404, email
        assert "couldn" in response.get_data(as_text=True)

    db.session.expire_all()
    refreshed = db.session.get(Clinician, target.id)
    assert refreshed.active and refreshed.password_hash is None


def test_unknown_clinician_id_is_404(client, owner):
    assert client.post_form("/practice/clinicians/99999/deactivate").status_code == 404
