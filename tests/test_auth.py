"""Sign-in, sign-out, session renewal, safe redirects and CSRF."""

import pytest
import sqlalchemy as sa

from clinic.blueprints.auth.routes import GENERIC_FAILURE
from clinic.models import Clinician
from clinic.security import is_safe_next
from tests.conftest import PASSWORD


def signed_in_as(client):
    """The name on the start page, or None when the client is not signed in."""
    response = client.get("/", follow_redirects=True)
    if response.request.path == "/signin":
        return None
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_signin_success_lands_on_home(client, auth, make_practice):
    owner = make_practice(owner_name="Ada Rivers")
    response = auth.login(owner.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Hello, Ada Rivers" in signed_in_as(client)
    assert client.get("/").headers["Location"] == "/couples/"


def test_signin_email_is_case_insensitive(client, auth, make_practice):
    make_practice(email="mixed@example.org")
    assert auth.login("  MIXED@Example.ORG ").status_code == 302


def test_signin_records_last_sign_in(client, auth, make_practice, db):
    owner = make_practice()
    auth.login(owner.email)
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).last_sign_in_at is not None


@pytest.mark.parametrize(
    "case",
    ["wrong_password", "unknown_email", "deactivated", "invited_without_password", "empty_password"],
)
def test_every_failure_gets_the_same_generic_message(case, client, auth, make_practice, make_clinician, db):
    owner = make_practice()
    email, password = owner.email, PASSWORD
    if case == "wrong_password":
        password = "not the password at all"
    elif case == "unknown_email":
        email = "nobody@example.org"
    elif case == "deactivated":
        clinician = make_clinician(owner)
        clinician.active = False
        db.session.commit()
        email = clinician.email
    elif case == "invited_without_password":
        email = make_clinician(owner, password=None).email
    elif case == "empty_password":
        password = ""

    response = auth.login(email, password)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert signed_in_as(client) is None
    if case == "empty_password":
        assert "This field is required." in page
    else:
        assert GENERIC_FAILURE in page
        # Nothing else on the page hints at which part was wrong.
        for hint in ("no account", "not found", "deactivated", "inactive", "wrong password"):
            assert hint not in page.lower()


def test_failure_pages_are_identical_for_unknown_and_known_email(client, auth, make_practice):
    owner = make_practice()
    known = auth.login(owner.email, "a wrong password!").get_data(as_text=True)
    unknown = auth.login("ghost@example.org", "a wrong password!").get_data(as_text=True)

    def strip(page):  # the CSRF token and the echoed email differ by design
        import re

        page = re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", page)
        page = re.sub(r'<meta name="csrf-token" content="[^"]*">', "", page)
        return page.replace(owner.email, "EMAIL").replace("ghost@example.org", "EMAIL")

    assert strip(known) == strip(unknown)


def test_session_is_cleared_and_renewed_at_signin(client, auth, make_practice):
    owner = make_practice()
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-chosen"
    before = client.get_cookie("session").value
    auth.login(owner.email)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"].startswith(f"{owner.id}:")
    assert client.get_cookie("session").value != before


def test_signout_ends_the_session(client, auth, make_practice):
    owner = make_practice()
    auth.login(owner.email)
    response = auth.logout()
    assert response.status_code == 302
    assert signed_in_as(client) is None


def test_signout_needs_post(client, auth, make_practice):
    owner = make_practice()
    auth.login(owner.email)
    assert client.get("/signout").status_code == 405
    assert signed_in_as(client) is not None


def test_protected_page_redirects_to_signin_with_relative_next(client):
    response = client.get("/practice/clinicians?x=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin?next=")
    assert response.headers["Location"] == "/signin?next=/practice/clinicians?x%3D1"


def test_safe_next_is_followed(client, auth, make_practice):
    owner = make_practice()
    response = client.post_form("/signin", {"email": owner.email, "password": PASSWORD, "next": "/practice/clinicians"})
    assert response.headers["Location"] == "/practice/clinicians"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\r\nLocation: https://evil.example",
        "evil.example",
    ],
)
def test_next_to_another_host_is_refused(target, client, make_practice):
    owner = make_practice()
    response = client.post_form("/signin", {"email": owner.email, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/", True),
        ("/practice/clinicians?page=2", True),
        ("", False),
        (None, False),
        ("//x.org", False),
        ("/\\x.org", False),
        ("https://localhost/", False),
        ("/a\nb", False),
        ("x" * 2001, False),
    ],
)
def test_is_safe_next(target, safe):
    assert is_safe_next(target) is safe


def test_signin_without_csrf_token_is_rejected(client, make_practice):
    owner = make_practice()
    response = client.post("/signin", data={"email": owner.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert signed_in_as(client) is None


def test_signin_with_forged_csrf_token_is_rejected(client, make_practice):
    owner = make_practice()
    response = client.post_form("/signin", {"email": owner.email, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert signed_in_as(client) is None


def test_csrf_token_from_another_browser_is_rejected(client, make_client, make_practice):
    owner = make_practice()
    other_token = make_client().csrf_token()
    response = client.post_form("/signin", {"email": owner.email, "password": PASSWORD, "csrf_token": other_token})
    assert response.status_code == 400


def test_signout_without_csrf_is_rejected(client, auth, make_practice):
    owner = make_practice()
    auth.login(owner.email)
    assert client.post("/signout").status_code == 400
    assert signed_in_as(client) is not None


def test_password_hash_is_argon2id(make_practice, db):
    owner = make_practice()
    stored = db.session.scalar(sa.select(Clinician.password_hash).where(Clinician.id == owner.id))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_signed_in_user_visiting_signin_goes_home(client, auth, make_practice):
    auth.login(make_practice().email)
    assert client.get("/signin").headers["Location"] == "/"


def test_oversized_password_is_refused_without_hashing(client, make_practice):
    owner = make_practice()
    response = client.post_form("/signin", {"email": owner.email, "password": "x" * 100_000})
    assert response.status_code == 200
    assert "Field cannot be longer than 256 characters." in response.get_data(as_text=True)
    assert signed_in_as(client) is None
