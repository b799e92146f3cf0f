"""Who may reach what: every route x method x actor, generated from app.url_map (STYLE habit 10).

EXPECTED says, for each (endpoint, method), what each of seven actors gets. A route the
url_map has and the table lacks fails, naming the route, so no new route escapes. Every
forbidden request must change nothing and show none of the couple's details; every
allowed state-changing request must really change something, so "nothing changed" is
never true merely because the form data was wrong.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
from markupsafe import escape

from clinic import create_app
from clinic.config import TestConfig
from tests.conftest import ACTORS, PASSWORD, World, snapshot_diff
from tests.test_client import form_pages

IGNORED_METHODS = {"HEAD", "OPTIONS"}
CLINICIANS = {"outsider", "colleague", "therapist", "owner"}
PARTNERS = {"partner_a": 1, "partner_b": 2}

# What an actor may get:
#   ok      2xx, or a redirect anywhere but the sign-in page
#   signin  a redirect to /signin (the page needs a signed-in clinician)
#   404     the page does not exist for this actor (never 403: no hint that something is there)
#   400     the request is refused as unusable
# Actors: anonymous; outsider = the owner of another practice; colleague = another clinician of
# the same practice; therapist = the couple's clinician; owner = the practice owner; partner_a /
# partner_b = a browser holding that partner's questionnaire session.
# fmt: off
EXPECTED: dict[tuple[str, str], tuple[str, ...]] = {
    #                                             anonymous outsider colleague therapist owner partner_a partner_b
    ("main.healthz", "GET"):                     ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("main.readyz", "GET"):                      ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("main.home", "GET"):                        ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("main.account", "GET"):                     ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),

    ("auth.signin", "GET"):                      ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("auth.signin", "POST"):                     ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("auth.signout", "POST"):                    ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("auth.open_invitation", "GET"):             ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("auth.open_password_reset", "GET"):         ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("auth.forgot_password", "GET"):             ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("auth.forgot_password", "POST"):            ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    # Without a sign-in waiting for its code, the code page sends everyone back to sign in.
    ("auth.two_factor", "GET"):                  ("signin", "ok",    "ok",     "ok",     "ok",  "signin", "signin"),
    ("auth.two_factor", "POST"):                 ("signin", "ok",    "ok",     "ok",     "ok",  "signin", "signin"),
    # Without an invitation link opened in this browser the set-password page does not exist.
    ("auth.accept_invitation", "GET"):           ("404",    "404",   "404",    "404",    "404", "404",    "404"),
    ("auth.accept_invitation", "POST"):          ("404",    "404",   "404",    "404",    "404", "404",    "404"),
    ("auth.reset_password", "GET"):              ("404",    "404",   "404",    "404",    "404", "404",    "404"),
    ("auth.reset_password", "POST"):             ("404",    "404",   "404",    "404",    "404", "404",    "404"),

    # A clinician's own account: each acts on themselves only.
    ("main.change_password", "GET"):             ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("main.change_password", "POST"):            ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("main.two_factor", "GET"):                  ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("main.two_factor", "POST"):                 ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("main.two_factor_start", "POST"):           ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    # Nobody in the world has two-factor sign-in on: there is nothing to turn off.
    ("main.two_factor_disable", "POST"):         ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("main.new_recovery_codes", "POST"):         ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),

    ("couples.index", "GET"):                    ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("couples.create", "GET"):                   ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    # The outsider names practice P's therapist, who is not one of their choices.
    ("couples.create", "POST"):                  ("signin", "400",   "ok",     "ok",     "ok",  "404",    "404"),
    ("couples.detail", "GET"):                   ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.edit", "GET"):                     ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.edit", "POST"):                    ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.save_notes", "POST"):              ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.review_safety", "POST"):           ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.archive", "POST"):                 ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.unarchive", "POST"):               ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.new_assessment", "GET"):           ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.new_assessment", "POST"):          ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.reissue", "POST"):                 ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.revoke", "POST"):                  ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.remind", "POST"):                  ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.request_report", "POST"):          ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.report", "GET"):                   ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.download_report", "GET"):          ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.export", "GET"):                   ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.export_csv", "GET"):               ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("fhir.couple_bundle", "GET"):               ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.delete", "POST"):                  ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.set_checkins", "POST"):            ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.pause_checkins", "POST"):          ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.resume_checkins", "POST"):         ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),
    ("couples.end_checkins", "POST"):            ("signin", "404",   "404",    "ok",     "ok",  "404",    "404"),

    # Outcomes: every clinician sees an overview, of their own couples (the owner: the practice's);
    # tests/test_outcomes.py checks whose couples each one counts.
    ("outcomes.index", "GET"):                   ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("outcomes.export", "GET"):                  ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),

    ("library.index", "GET"):                    ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    ("library.detail", "GET"):                   ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),
    # Questionnaires as FHIR: any signed-in clinician may read them (no client data).
    ("fhir.questionnaire", "GET"):               ("signin", "ok",    "ok",     "ok",     "ok",  "404",    "404"),

    # Owner pages: the outsider owns practice Q, and sees Q's page, never P's clinicians.
    ("practice.clinicians", "GET"):              ("signin", "ok",    "404",    "404",    "ok",  "404",    "404"),
    ("practice.invite", "POST"):                 ("signin", "ok",    "404",    "404",    "ok",  "404",    "404"),
    ("practice.export_csv", "GET"):              ("signin", "ok",    "404",    "404",    "ok",  "404",    "404"),
    ("practice.resend", "POST"):                 ("signin", "404",   "404",    "404",    "ok",  "404",    "404"),
    ("practice.deactivate", "POST"):             ("signin", "404",   "404",    "404",    "ok",  "404",    "404"),
    ("practice.reactivate", "POST"):             ("signin", "404",   "404",    "404",    "ok",  "404",    "404"),
    ("practice.unlock", "POST"):                 ("signin", "404",   "404",    "404",    "ok",  "404",    "404"),
    ("practice.reset_two_factor", "POST"):       ("signin", "404",   "404",    "404",    "ok",  "404",    "404"),
    ("practice.settings", "GET"):                ("signin", "ok",    "404",    "404",    "ok",  "404",    "404"),
    ("practice.settings", "POST"):               ("signin", "ok",    "404",    "404",    "ok",  "404",    "404"),
    ("audit.index", "GET"):                      ("signin", "ok",    "404",    "404",    "ok",  "404",    "404"),

    # Partner pages: a partner's session opens its own invitation and nothing else.
    ("client.open_link", "GET"):                 ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
    ("client.welcome", "GET"):                   ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    ("client.instrument", "GET"):                ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    ("client.instrument", "POST"):               ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    ("client.autosave", "POST"):                 ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    ("client.review", "GET"):                    ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    ("client.submit", "POST"):                   ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    ("client.done", "GET"):                      ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    ("client.sharing", "POST"):                  ("404",    "404",   "404",    "404",    "404", "ok",     "ok"),
    # "Leave this page" never fails, whoever presses it (it is on the partner's 404 page too):
    # it ends a partner session, if the browser holds one, and goes to a neutral site.
    ("client.leave", "POST"):                    ("ok",     "ok",    "ok",     "ok",     "ok",  "ok",     "ok"),
}
# fmt: on

# How the world fills a URL parameter, by its name; then exceptions for one endpoint.
PARAMS = {
    "couple_id": lambda w: w.couple_id,
    "invitation_id": lambda w: w.open_invitations[1],
    "report_id": lambda w: w.report_id,
    "clinician_id": lambda w: w.ids["pending"],
    "instrument_id": lambda w: "safety",
    "item_id": lambda w: "afraid",
    "version": lambda w: 1,
    "token": lambda w: w.open_tokens[1],
    # Questionnaire pages are addressed by place: the page of the safety item the row posts.
    "number": lambda w: safety_place(w)[0],
    "page": lambda w: safety_place(w)[1],
}
PARAM_OVERRIDES = {
    ("couples.review_safety", "invitation_id"): lambda w: w.submitted_invitations[1],
    ("couples.unarchive", "couple_id"): lambda w: w.archived_couple_id,
    ("practice.reactivate", "clinician_id"): lambda w: w.ids["former"],
    # A signed-up clinician of P: the one these two owner actions are for.
    ("practice.unlock", "clinician_id"): lambda w: w.ids["colleague"],
    ("practice.reset_two_factor", "clinician_id"): lambda w: w.ids["colleague"],
    ("auth.open_invitation", "token"): lambda w: w.invite_token,
    ("auth.open_password_reset", "token"): lambda w: w.reset_token,
}

# What a state-changing request sends so that an allowed actor succeeds. "data" may be a
# function of (world, actor); "changes": False for requests that change no stored data;
# "fresh": each allowed actor needs a world of its own (the first one deletes the couple).
REQUESTS: dict[tuple[str, str], dict] = {
    ("auth.signin", "POST"): {
        "data": lambda w, actor: {"email": w.emails["therapist"], "password": PASSWORD},
        "changes": False,
    },
    ("auth.signout", "POST"): {"changes": False, "ends_session": True},
    ("auth.two_factor", "POST"): {"data": {"code": "123456"}, "changes": False},
    ("auth.forgot_password", "POST"): {
        "data": lambda w, actor: {"email": w.emails["therapist"]},
        # Anyone may have a link sent to an address; only its mailbox can use it.
        "anyone_changes_p": True,
    },
    ("auth.reset_password", "POST"): {
        "data": {"password": "a long new password for Cora", "confirm": "a long new password for Cora"}
    },
    ("main.change_password", "POST"): {
        "data": {
            "current_password": PASSWORD,
            "password": "a brand new passphrase for me",
            "confirm": "a brand new passphrase for me",
        }
    },
    ("main.two_factor", "POST"): {"data": {"code": "123456"}, "changes": False},
    ("main.two_factor_start", "POST"): {},
    ("main.two_factor_disable", "POST"): {"data": {"password": PASSWORD, "code": "000000"}, "changes": False},
    # Nobody in the world has two-factor on: the page answers and nothing changes.
    ("main.new_recovery_codes", "POST"): {"data": {"app_code": "000000"}, "changes": False},
    ("auth.accept_invitation", "POST"): {
        "data": {"password": "a long new password for Penny", "confirm": "a long new password for Penny"}
    },
    ("couples.create", "POST"): {
        "data": lambda w, actor: {
            "label": "Heron Pike",
            "partner_a-display_name": "Noor",
            "partner_b-display_name": "Ilse",
            "clinician_id": w.ids["therapist"],
        }
    },
    ("couples.edit", "POST"): {
        "data": lambda w, actor: {
            "label": f"Renamed by {actor}",
            "partner_a-display_name": w.partner_names[1],
            "partner_a-email": w.partner_emails[1],
            "partner_b-display_name": w.partner_names[2],
            "partner_b-email": w.partner_emails[2],
            "clinician_id": w.ids["therapist"],
        }
    },
    ("couples.save_notes", "POST"): {"data": lambda w, actor: {"notes": f"Notes by {actor}"}},
    ("couples.review_safety", "POST"): {"data": lambda w, actor: {"note": f"Followed up by {actor}"}},
    ("couples.archive", "POST"): {},
    ("couples.unarchive", "POST"): {},
    ("couples.new_assessment", "POST"): {"data": {"occasion": "Week 8", "instruments": "checkin", "expiry_days": "14"}},
    ("couples.reissue", "POST"): {"data": {"expiry_days": "7"}},
    ("couples.revoke", "POST"): {},
    ("couples.remind", "POST"): {},
    ("couples.request_report", "POST"): {"data": {"kind": "summary"}},
    ("couples.delete", "POST"): {"data": lambda w, actor: {"confirm": w.couple_label}, "fresh": True},
    # A weekly schedule from a week ahead (the practice's zone); each allowed actor replaces it.
    ("couples.set_checkins", "POST"): {
        "data": lambda w, actor: {
            "checkin-cadence": "weekly",
            "checkin-first_date": (date.today() + timedelta(days=7)).isoformat(),
            "checkin-session_time": "18:00" if actor == "therapist" else "17:30",
            "checkin-lead_hours": "24",
        }
    },
    # The world's couple has no schedule: these buttons answer with a message and change nothing
    # (tests/test_checkins.py pauses, resumes and ends a real one).
    ("couples.pause_checkins", "POST"): {"changes": False},
    ("couples.resume_checkins", "POST"): {"changes": False},
    ("couples.end_checkins", "POST"): {"changes": False},
    ("practice.invite", "POST"): {
        "data": lambda w, actor: {"name": "Ivy Invitee", "email": f"ivy-{w.n}-{actor}@example.org"}
    },
    ("practice.resend", "POST"): {},
    ("practice.deactivate", "POST"): {},
    ("practice.reactivate", "POST"): {},
    # The colleague is neither locked out nor using two-factor, so the owner is told so and nothing changes
    # (the lock's columns are left out of snapshots anyway); tests/test_account_recovery.py covers both acts.
    ("practice.unlock", "POST"): {"data": {"code": "000000"}, "changes": False},
    ("practice.reset_two_factor", "POST"): {"data": {"code": "000000"}, "changes": False},
    ("practice.settings", "POST"): {
        "data": {
            "name": "Renamed practice",
            "timezone": "Europe/Berlin",
            "invite_expiry_days": "10",
            "reminder_after_days": "2",
            "reminder_max": "1",
            "report_page_size": "Letter",
            "crisis_text": "Call 112 in an emergency.",
        }
    },
    ("client.instrument", "POST"): {"data": {"item_afraid": "1"}},
    ("client.autosave", "POST"): {"json": {"instrument": "safety", "item": "afraid", "value": 1}},
    # Nothing of the open assessment is answered: sending it needs the partner's confirmation.
    ("client.submit", "POST"): {"data": {"confirm": "y"}},
    ("client.sharing", "POST"): {"data": {"share": "y"}},
    # Only the browser's session changes: "ok" for a partner only if their session really ended.
    ("client.leave", "POST"): {"changes": False, "ends_partner_session": True},
}


def safety_place(world: World) -> tuple[int, int]:
    """(questionnaire number, page) of the safety item "afraid" in the open assessment
    (the safety questionnaire is not shuffled: both partners have it on the same page)."""
    places = set()
    for position in PARTNERS.values():
        pages = form_pages(world.db, world.open_invitations[position])
        number = list(pages).index("safety") + 1
        page = next(n for n, (_, items) in enumerate(pages["safety"], start=1) if "afraid" in items)
        places.add((number, page))
    assert len(places) == 1, places
    return places.pop()


def route_cells(app) -> dict[tuple[str, str], str]:
    """{(endpoint, method): rule} for every route of the app but static files."""
    cells = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - IGNORED_METHODS:
            cells[rule.endpoint, method] = rule.rule
    return cells


# The parametrization needs the routes before any fixture runs; create_app has no side
# effects (STYLE habit 1), so an app of its own is cheap. test_table_covers_the_url_map
# checks the suite's app as well.
ROUTES = route_cells(create_app(TestConfig))
CELLS = sorted(ROUTES.keys() | EXPECTED.keys())


def world_values(app, world: World, endpoint: str) -> dict:
    """The endpoint's URL parameters, filled from the world."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {}
    for name in rule.arguments:
        fill = PARAM_OVERRIDES.get((endpoint, name), PARAMS.get(name))
        assert fill is not None, f"{endpoint} ({rule.rule}) has a parameter {name!r}: say in PARAMS how to fill it"
        values[name] = fill(world)
    return values


def url_for_world(app, world: World, endpoint: str, **values) -> str:
    """The endpoint's URL with every parameter filled from the world (or given)."""
    return app.url_map.bind("localhost").build(endpoint, world_values(app, world, endpoint) | values)


def send(app, world: World, actor: str, endpoint: str, method: str):
    """One request by this actor, with a valid CSRF token and the row's data."""
    browser = world.browser(actor)
    url = url_for_world(app, world, endpoint)
    if method == "GET":
        return browser.get(url)
    spec = REQUESTS.get((endpoint, method), {})
    if "json" in spec:
        return browser.open(url, method=method, json=spec["json"], headers={"X-CSRFToken": world.csrf(actor)})
    data = spec.get("data", {})
    data = data(world, actor) if callable(data) else dict(data)
    return browser.open(url, method=method, data={**data, "csrf_token": world.csrf(actor)})


def outcome(response) -> str:
    """ok, signin, or the status code of an error, for one response."""
    status = response.status_code
    if 300 <= status < 400:
        return "signin" if urlsplit(response.location).path == "/signin" else "ok"
    if 200 <= status < 300:
        return "ok"
    return str(status)


def must_not_show(world: World, actor: str) -> dict[str, str]:
    """What this actor must never see in any response, by name."""
    secrets = world.secrets()
    if actor in PARTNERS:
        other = 3 - PARTNERS[actor]
        other_letter = "AB"[other - 1]
        return {
            name: value
            for name, value in secrets.items()
            if name in ("couple label", "prep notes", f"partner {other_letter} name", f"partner {other_letter} email")
        }
    if actor in ("anonymous", "outsider", "colleague"):
        return secrets
    return {}


def leaks(response, hidden: dict[str, str]) -> list[str]:
    """The names of hidden values found in the response body (as written or HTML-escaped)."""
    body = response.get_data()
    return [name for name, value in hidden.items() if value.encode() in body or str(escape(value)).encode() in body]


def foreign_partner_changes(before: dict, after: dict, own_invitation: int) -> list[str]:
    """Changed rows of answers, scores or invitations that are not this partner's own."""
    found = []
    for key in before.keys() | after.keys():
        table, pk = key
        if before.get(key) == after.get(key) or table not in ("invitation", "answer", "score", "safety_review"):
            continue
        row = after.get(key) or before.get(key)
        invitation = pk[0] if table == "invitation" else row["invitation_id"]
        if invitation != own_invitation:
            found.append(f"{table} {pk}")
    return found


@pytest.fixture
def no_report_rendering(monkeypatch):
    """Requested reports stay queued: rendering is not what this test is about."""
    from clinic.reports import jobs

    monkeypatch.setattr(jobs, "enqueue", lambda report_id: None)


def test_table_covers_the_url_map(app):
    """Every route of the suite's app has a row, and every row a route."""
    cells = route_cells(app)
    missing = sorted(
        f"{method} {endpoint} ({cells[endpoint, method]})" for endpoint, method in cells.keys() - EXPECTED.keys()
    )
    stale = sorted(f"{method} {endpoint}" for endpoint, method in EXPECTED.keys() - cells.keys())
    assert not missing, "routes without a row in EXPECTED (say who may reach them):\n" + "\n".join(missing)
    assert not stale, "rows in EXPECTED for routes that no longer exist:\n" + "\n".join(stale)
    for row in EXPECTED.values():
        assert len(row) == len(ACTORS)


@pytest.mark.parametrize("cell", CELLS, ids=[f"{method} {endpoint}" for endpoint, method in CELLS])
def test_access(cell, app, make_world, no_report_rendering, server_errors_as_pages):
    """Each actor gets what EXPECTED says; forbidden requests change nothing and show nothing."""
    endpoint, method = cell
    assert cell in ROUTES, f"EXPECTED has a row for {method} {endpoint}, which is not a route any more"
    assert cell in EXPECTED, f"{method} {endpoint} ({ROUTES[cell]}) has no row in EXPECTED: say who may reach it"
    expected = dict(zip(ACTORS, EXPECTED[cell], strict=True))
    spec = REQUESTS.get(cell, {})
    writes = method != "GET"
    # Forbidden actors first, so that what they must not change is still there to change.
    order = [a for a in ACTORS if expected[a] != "ok"] + [a for a in ACTORS if expected[a] == "ok"]
    world = make_world()
    world.prepare(tokens=writes)
    after = world.snapshot() if writes else None
    changed_by_allowed = False
    problems = []
    for actor in order:
        allowed = expected[actor] == "ok"
        if allowed and spec.get("fresh") and changed_by_allowed:
            world, changed_by_allowed = make_world(), False
            world.prepare(tokens=writes)
            after = world.snapshot()
        before = after
        response = send(app, world, actor, endpoint, method)
        got = outcome(response)
        if spec.get("ends_session") and got == "signin" and actor in CLINICIANS:
            # Signing out lands on the sign-in page too: "ok" only if the session really ended.
            got = "ok" if outcome(world.browser(actor).get("/account")) == "signin" else "still signed in"
        if spec.get("ends_partner_session") and got == "ok" and actor in PARTNERS:
            got = "ok" if outcome(world.browser(actor).get("/q")) == "404" else "still in the partner session"
        where = f" -> {response.location}" if response.location else ""
        if got != expected[actor]:
            problems.append(f"{actor}: expected {expected[actor]}, got {got} ({response.status_code}{where})")
        found = leaks(response, must_not_show(world, actor))
        if found:
            problems.append(f"{actor}: the response shows {', '.join(found)} ({response.status_code})")
        if not writes:
            continue
        after = world.snapshot()
        diff = snapshot_diff(before, after)
        if (not allowed or (actor == "outsider" and not spec.get("anyone_changes_p"))) and diff:
            problems.append(f"{actor} ({got}) changed practice P's data: {'; '.join(diff)}")
        if allowed and actor in PARTNERS:
            foreign = foreign_partner_changes(before, after, world.open_invitations[PARTNERS[actor]])
            if foreign:
                problems.append(f"{actor} changed what is not their own invitation's: {', '.join(foreign)}")
        if allowed and actor != "outsider" and spec.get("changes", True) and not changed_by_allowed:
            if not diff:
                problems.append(f"{actor}: an allowed {method} changed nothing (is the row's data right?)")
            changed_by_allowed = True
    assert not problems, f"{method} {endpoint}:\n  " + "\n  ".join(problems)
