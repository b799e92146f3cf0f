"""CSRF on every state-changing route, with CSRF switched on as in production.

Every non-GET route of app.url_map refuses a request without a token, and one with
another session's token, with 400 and no change; the same request with the right token
gets what the access matrix says. Over HTTPS, Flask-WTF also wants a same-origin
Referer, which browsers send because the app says Referrer-Policy: same-origin.
"""

from __future__ import annotations

import pytest

from clinic.extensions import csrf
from tests.conftest import ACTORS, CSRF_META, snapshot_diff
from tests.test_access_matrix import CELLS, EXPECTED, REQUESTS, ROUTES, outcome, url_for_world
from tests.test_client import leaves_for

WRITES = [cell for cell in CELLS if cell[1] != "GET"]
# The words of the CSRF refusal: the app's page, or the partner pages' page and JSON.
REFUSALS = ("This form has expired", "open too long")
# Who sends the request: the first actor the matrix lets through, so that the token is the
# only thing missing.
PREFERENCE = ("therapist", "owner", "partner_a", "anonymous", "outsider", "colleague", "partner_b")


def sender(cell) -> str:
    """The actor who may make this request (anonymous if nobody may)."""
    assert cell in EXPECTED, f"{cell[1]} {cell[0]} has no row in test_access_matrix.EXPECTED"
    row = dict(zip(ACTORS, EXPECTED[cell], strict=True))
    return next((actor for actor in PREFERENCE if row[actor] == "ok"), "anonymous")


def refused_for_csrf(response) -> bool:
    """A 400 that is the CSRF check's refusal (not a form that failed for another reason)."""
    return response.status_code == 400 and any(words in response.get_data(as_text=True) for words in REFUSALS)


def post(app, world, actor, cell, *, token, **kwargs):
    """The matrix's request for this cell, with the given token (None: no token at all)."""
    endpoint, method = cell
    spec = REQUESTS.get(cell, {})
    url = url_for_world(app, world, endpoint)
    browser = world.browser(actor)
    if "json" in spec:
        headers = {"X-CSRFToken": token} if token else {}
        return browser.open(
            url, method=method, json=spec["json"], headers=headers | kwargs.pop("headers", {}), **kwargs
        )
    data = spec.get("data", {})
    data = data(world, actor) if callable(data) else dict(data)
    if token:
        data["csrf_token"] = token
    return browser.open(url, method=method, data=data, **kwargs)


def test_csrf_is_on_in_the_suite_as_in_production(app):
    """The suite's app checks tokens (and the HTTPS referer) and no view is exempt."""
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True
    assert app.config.get("WTF_CSRF_SSL_STRICT", True) is True
    assert set(app.config.get("WTF_CSRF_METHODS", {"POST", "PUT", "PATCH", "DELETE"})) >= {
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
    }
    assert not csrf._exempt_views and not csrf._exempt_blueprints
    assert WRITES, "no state-changing routes found"


@pytest.mark.parametrize("cell", WRITES, ids=[f"{method} {endpoint}" for endpoint, method in WRITES])
def test_state_changing_route_needs_this_sessions_token(cell, app, make_world, server_errors_as_pages, monkeypatch):
    """No token, or another browser's token: 400 and nothing changed; this session's token: let through."""
    from clinic.reports import jobs

    monkeypatch.setattr(jobs, "enqueue", lambda report_id: None)
    assert cell in ROUTES
    world = make_world()
    actor = sender(cell)
    world.browser(actor)
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "10.250.0.9"
    foreign_token = stranger.csrf_token()

    for name, token in (("no token", None), ("another session's token", foreign_token)):
        before = world.snapshot()
        response = post(app, world, actor, cell, token=token)
        assert refused_for_csrf(response), f"{actor} with {name}: {response.status_code}"
        assert not snapshot_diff(before, world.snapshot()), (
            f"{actor} with {name} changed: {snapshot_diff(before, world.snapshot())}"
        )

    response = post(app, world, actor, cell, token=world.csrf(actor))
    expected = dict(zip(ACTORS, EXPECTED[cell], strict=True))[actor]
    got = outcome(response)
    if got == "signin" and cell[0] == "auth.signout":
        got = "ok"  # signing out lands on the sign-in page
    assert got == expected, f"{actor} with the right token: {response.status_code} {response.location}"


def page_token(browser, url: str) -> str:
    """Open a page over HTTPS like a browser and read its CSRF token; checks the Referrer-Policy."""
    page = browser.get(url, base_url="https://localhost")
    assert page.status_code == 200, page.status_code
    assert page.headers["Referrer-Policy"] == "same-origin"
    match = CSRF_META.search(page.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.mark.parametrize(
    ("referer", "accepted"),
    [
        ("https://localhost/couples/{couple}", True),
        (None, False),
        ("https://evil.example/couples/{couple}", False),
        ("http://localhost/couples/{couple}", False),
        ("https://localhost.evil.example/", False),
        ("https://localhost:8443/couples/{couple}", False),
    ],
    ids=["same origin", "no referer", "other site", "plain http", "lookalike host", "other port"],
)
def test_https_form_post_needs_a_same_origin_referer(referer, accepted, make_world, db):
    """Over HTTPS a form post passes with the page's same-origin Referer and fails without one."""
    world = make_world()
    browser = world.browser("therapist")
    page = f"/couples/{world.couple_id}"
    token = page_token(browser, page)
    headers = {"Referer": referer.format(couple=world.couple_id)} if referer else {}
    before = world.snapshot()
    response = browser.post(
        f"{page}/notes",
        base_url="https://localhost",
        data={"notes": "Notes over HTTPS", "csrf_token": token},
        headers=headers,
    )
    if accepted:
        assert response.status_code == 302, response.status_code
        assert [line.split(" changed")[0] for line in snapshot_diff(before, world.snapshot())] == [
            f"couple ({world.couple_id},)"
        ]
    else:
        assert refused_for_csrf(response), response.status_code
        assert not snapshot_diff(before, world.snapshot())


@pytest.mark.parametrize(
    ("referer", "status"), [("https://localhost/q", 200), (None, 400), ("https://evil.example/q", 400)]
)
def test_https_autosave_needs_a_same_origin_referer(referer, status, make_world, db):
    """The partner's autosave (token in a header) follows the same rule over HTTPS."""
    world = make_world()
    browser = world.browser("partner_a")
    token = page_token(browser, "/q")
    headers = {"X-CSRFToken": token} | ({"Referer": referer} if referer else {})
    before = world.snapshot()
    response = browser.post(
        "/q/autosave",
        base_url="https://localhost",
        json={"instrument": "safety", "item": "afraid", "value": 2},
        headers=headers,
    )
    assert response.status_code == status, response.get_json()
    assert status == 200 or refused_for_csrf(response)
    assert bool(snapshot_diff(before, world.snapshot())) == (status == 200)


def test_leave_this_page_needs_this_sessions_token(app, make_world):
    """A partner's "Leave this page" ends their session only with that session's token (another
    site cannot end it); the matrix's row, sent by a therapist, cannot tell whether it did."""
    from clinic.models import DEFAULT_LEAVE_URL

    world = make_world()
    browser = world.browser("partner_a")
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "10.250.0.9"
    for token in (None, stranger.csrf_token()):
        response = browser.post("/q/leave", data={"csrf_token": token} if token else {})
        assert refused_for_csrf(response), response.status_code
        assert browser.get("/q").status_code == 200, "the session ended without its token"
    response = browser.post("/q/leave", data={"csrf_token": world.csrf("partner_a")})
    assert leaves_for(response) == DEFAULT_LEAVE_URL
    assert browser.get("/q").status_code == 404
