"""The layout, error pages and response headers every page shares."""

import re

import pytest

from clinic import create_app
from clinic.config import TestConfig
from clinic.extensions import db as _db
from clinic.models import Practice
from tests.conftest import PASSWORD, Client


def test_layout_is_accessible_and_self_contained(client, auth, make_practice):
    auth.login(make_practice().email)
    page = client.get("/account").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<a class="skip-link" href="#content">' in page
    assert '<main id="content"' in page
    assert "<title>Your account · Tandem</title>" in page
    # Everything the page loads comes from this server: no CDN, no third party.
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith(("/", "#")), url


def test_stylesheet_has_visible_focus_and_small_screen_rules(client):
    css = client.get("/static/css/tandem.css")
    assert css.status_code == 200
    text = css.get_data(as_text=True)
    assert ":focus-visible" in text
    assert "@media (max-width: 480px)" in text
    css.close()


def test_flash_messages_are_announced(client, make_practice):
    response = client.get("/", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'role="status"' in page
    assert "Please sign in to continue." in page


def test_not_found_page_is_friendly(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "We couldn't find that page" in page
    assert "Traceback" not in page and "werkzeug" not in page.lower()


def assert_protected(headers, *, production: bool = False) -> None:
    """The headers every response carries (ASVS V14.4): CSP without inline script, no sniffing,
    no cross-site referrer, never cached; HSTS only in production."""
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    if production:
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    else:
        assert "Strict-Transport-Security" not in headers  # only in production, over HTTPS


def test_every_kind_of_response_gets_security_headers(client):
    responses = {
        "page": client.get("/signin"),
        "redirect": client.get("/"),
        "not found": client.get("/no/such/page"),
        "partner page without a session": client.get("/q"),
        "JSON autosave refused": client.post("/q/autosave", json={}),
        "health check": client.get("/healthz"),
    }
    assert responses["redirect"].status_code == 302
    assert responses["JSON autosave refused"].status_code in {400, 404}
    for kind, response in responses.items():
        try:
            assert_protected(response.headers)
        except AssertionError as exc:
            raise AssertionError(f"{kind}: {exc}") from exc
    # Static files may be cached (they hold no client data) but keep the other protections.
    with client.get("/static/css/tandem.css") as static:
        assert static.status_code == 200
        assert static.headers["X-Content-Type-Options"] == "nosniff"
        assert static.headers.get("Cache-Control") != "no-store"


def test_production_adds_hsts_to_every_response():
    from clinic.config import Config

    config = type(
        "ProductionHeadersConfig",
        (Config,),
        {
            "SECRET_KEY": "Zq8v3N_pL2rT9xW4kY7mB1cD6fH0jS5a-uE",
            "DEBUG": False,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "BASE_URL": "https://tandem.example.org",
            "DATA_KEYS": "x1V0Zb6pYt3Rk9sQm2Lw8Hc5Nf7Dg4Ja0Ue6Ti1Oy3E=",
            "AUDIT_KEY": "Hd5-wQ7rL0xP2mZ9kT4vB8nC1yF6jS3gA_eU",
            "RATELIMIT_STORAGE_URI": "memory://",
        },
    )
    browser = create_app(config).test_client()
    https = {"base_url": "https://tandem.example.org"}
    for path in ("/signin", "/no/such/page", "/healthz", "/"):
        assert_protected(browser.get(path, **https).headers, production=True)


def test_healthz_touches_nothing(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.fixture
def failing_app(app, db):
    """A copy of the app with a view that breaks mid-transaction."""
    config = type(
        "FailingConfig",
        (TestConfig,),
        {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "PROPAGATE_EXCEPTIONS": False},
    )
    failing = create_app(config)
    failing.test_client_class = Client

    @failing.route("/boom")
    def boom():
        _db.session.add(Practice(name="Half-written practice", timezone="UTC"))
        _db.session.flush()
        _db.session.add(Practice(name=None))  # violates NOT NULL: the transaction is now broken
        _db.session.flush()
        return "unreachable"

    yield failing
    with failing.app_context():
        _db.engine.dispose()


def test_server_error_page_shows_no_internals_and_rolls_back(failing_app, make_practice, db):
    owner = make_practice(owner_name="Rosa Vance")
    browser = failing_app.test_client()
    browser.post_form("/signin", {"email": owner.email, "password": PASSWORD})

    response = browser.get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    for internal in ("Traceback", "IntegrityError", "NOT NULL", "Half-written", "sqlalchemy"):
        assert internal not in page
    # The page could load the signed-in clinician only because the broken
    # transaction was rolled back first.
    assert "Sign out" in page
    # Nothing from the failed request was kept.
    db.session.expire_all()
    assert [p.name for p in db.session.query(Practice).all()] == [owner.practice.name]


def test_a_nul_character_is_refused_beside_the_field_not_a_server_error(client, make_practice):
    owner = make_practice()
    response = client.post_form("/signin", {"email": owner.email + "\x00", "password": PASSWORD})
    assert response.status_code == 200
    assert "invisible character (NUL)" in response.get_data(as_text=True)
    client.post_form("/signin", {"email": owner.email, "password": PASSWORD})
    # A search box holding NUL is an invalid filter, ignored like any other.
    assert client.get("/couples/?q=a%00b").status_code == 200
