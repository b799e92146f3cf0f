"""Keep working when the database stumbles, and save answers in batches.

- Batch autosave: several answers in one request, all or nothing, each checked as one is.
- The database away for a moment (a restart, a dropped connection): every page answers 503 with
  Retry-After (a calm page, or JSON for autosave), never 500, nothing half-written, and the next
  request works without a restart. Simulated here on both databases by failing a statement with
  the driver's own OperationalError; tests/test_resilience_postgres.py kills real connections.
- Redis unreachable: sign-in, opening a link, autosave and submit all work.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic.blueprints.client.routes import AUTOSAVE_MAX_ANSWERS
from clinic.db_types import utcnow
from clinic.errors import RETRY_AFTER_SECONDS
from clinic.extensions import db as _db
from clinic.models import Invitation
from clinic.services.responses import ACTIVITY_STEP
from tests.conftest import login
from tests.test_client import CHOICE_IDS, invitation_of, open_link, page_csrf, stored


@pytest.fixture
def intake(make_practice, make_couple, make_assessment):
    owner = make_practice()
    couple = make_couple(owner, names=("Jonah", "Priya"))
    assessment, tokens = make_assessment(couple)
    return owner, couple, assessment, tokens


@pytest.fixture
def jonah(intake, make_client, db):
    """Jonah's browser on his link, its CSRF token, his invitation id, with one answer saved."""
    _owner, _couple, assessment, tokens = intake
    browser = open_link(make_client, tokens[1])
    csrf = page_csrf(browser)
    invitation_id = invitation_of(db, assessment, 1).id
    assert batch(browser, csrf, [("connection", "heard_1", 4)]).status_code == 200
    return browser, csrf, invitation_id


def batch(browser, csrf: str, answers, **body):
    """POST answers as autosave.js sends what a page kept: {"answers": [...]}."""
    entries = [{"instrument": i, "item": item, "value": value} for i, item, value in answers]
    return browser.post("/q/autosave", json={"answers": entries, **body}, headers={"X-CSRFToken": csrf})


# Batch autosave.


def test_a_batch_saves_every_answer_across_questionnaires_and_the_last_answer_to_an_item_wins(jonah, db):
    browser, csrf, invitation_id = jonah
    answers = [
        ("connection", "heard_1", 2),
        ("connection", "heard_2", 5),
        ("differentiation", CHOICE_IDS["differentiation"][0], 3),
        ("life_context", "anything_else", "We moved in May."),
        ("connection", "heard_2", 1),  # changed again before the network came back
    ]
    response = batch(browser, csrf, answers)
    assert response.status_code == 200 and response.get_json() == {"saved": True}
    assert stored(db, invitation_id) == {
        ("connection", "heard_1"): 2,
        ("connection", "heard_2"): 1,
        ("differentiation", CHOICE_IDS["differentiation"][0]): 3,
        ("life_context", "anything_else"): "We moved in May.",
    }


def test_a_batch_can_clear_and_set_answers_together(jonah, db):
    browser, csrf, invitation_id = jonah
    assert batch(browser, csrf, [("connection", "heard_1", None), ("connection", "heard_3", 2)]).status_code == 200
    assert stored(db, invitation_id) == {("connection", "heard_3"): 2}


DIFF_FIRST = CHOICE_IDS["differentiation"][0]
BAD_ENTRIES = {
    "off the scale": ("connection", "heard_3", 9),
    "unknown question": ("connection", "no_such_item", 2),
    "unknown questionnaire": ("no_such_questionnaire", "heard_3", 2),
    "text for a choice": ("connection", "heard_3", "often"),
    "a NUL in text": ("life_context", "anything_else", "a\x00b"),
}


@pytest.mark.parametrize("bad", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_one_bad_answer_in_a_batch_saves_none_of_it(bad, jonah, db):
    browser, csrf, invitation_id = jonah
    before = stored(db, invitation_id)
    # Other questions than the bad answer's: within a batch, a later answer to the same one would win.
    good = [("connection", "heard_1", 1), ("connection", "heard_2", 2), ("differentiation", DIFF_FIRST, 3)]
    for place in (0, 1, 3):  # first, in the middle, last
        answers = [*good[:place], bad, *good[place:]]
        response = batch(browser, csrf, answers)
        assert response.status_code == 400, (place, response.status_code)
        assert response.get_json()["error"].startswith("These answers could not be saved")
        assert stored(db, invitation_id) == before


BAD_BODIES = {
    "no answers": {"answers": []},
    "too many": {"answers": [{"instrument": "connection", "item": "heard_1", "value": 1}] * (AUTOSAVE_MAX_ANSWERS + 1)},
    "not a list": {"answers": {"instrument": "connection", "item": "heard_1", "value": 1}},
    "an entry with a key too many": {"answers": [{"instrument": "connection", "item": "heard_1", "value": 1, "x": 1}]},
    "an entry that is not an object": {"answers": [["connection", "heard_1", 1]]},
    "an id that is not text": {"answers": [{"instrument": "connection", "item": 7, "value": 1}]},
    "answers beside a single answer": {
        "answers": [{"instrument": "connection", "item": "heard_2", "value": 1}],
        "instrument": "connection",
        "item": "heard_3",
        "value": 1,
    },
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_malformed_batch_is_refused_whole_with_a_clear_message(body, jonah, db):
    browser, csrf, invitation_id = jonah
    before = stored(db, invitation_id)
    response = browser.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 400
    assert response.is_json and response.get_json()["error"]
    assert stored(db, invitation_id) == before


def test_a_batch_after_sending_is_refused_and_changes_nothing(jonah, make_client, db):
    browser, csrf, invitation_id = jonah
    assert browser.post_form("/q/submit", {"confirm": "y"}).status_code == 302
    before = stored(db, invitation_id)
    response = batch(browser, csrf, [("connection", "heard_1", 1), ("connection", "heard_2", 1)])
    assert response.status_code == 409
    assert stored(db, invitation_id) == before


# The database away for a moment.


@contextlib.contextmanager
def database_away(app, *, matching: str = "", times: int = 1, after: int = 0):
    """Fail the next `times` statements that contain `matching` (after letting `after` of them
    through) with the driver's own OperationalError, as a restarting or unreachable database
    does; yields the list of statements failed."""
    failed: list[str] = []
    passed: list[str] = []

    def fail(cursor, statement, parameters, context):
        if matching not in statement:
            return
        if len(passed) < after:
            passed.append(statement)
        elif len(failed) < times:
            failed.append(statement)
            # Raised where the driver runs the statement, so SQLAlchemy wraps it as it would a real one.
            raise context.dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    with app.app_context():
        dialect = _db.engine.dialect
    listened = [(dialect, "do_execute", fail), (dialect, "do_executemany", fail)]
    for target, name, fn in listened:
        sa.event.listen(target, name, fn)
    try:
        yield failed
    finally:
        for target, name, fn in listened:
            sa.event.remove(target, name, fn)


def assert_unavailable(response, *, json: bool, rate_limited: bool = False) -> None:
    assert response.status_code == 503
    if rate_limited:
        # On a rate-limited route Flask-Limiter moves Retry-After to the later of ours and the
        # end of the limit's window: never sooner than ours.
        assert RETRY_AFTER_SECONDS <= int(response.headers["Retry-After"]) <= 60
    else:
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["Cache-Control"] == "no-store"
    if json:
        assert response.is_json and response.get_json()["retry_after"] == RETRY_AFTER_SECONDS
    else:
        page = response.get_data(as_text=True)
        assert "A short pause" in page or "taking a short pause" in page
        assert "Traceback" not in page and "OperationalError" not in page


@pytest.mark.parametrize(
    ("statement", "after"),
    [
        ("INSERT INTO answer", 0),  # the first answer of the batch
        ("INSERT INTO answer", 1),  # the second, after the first was written
        ("UPDATE invitation", 0),  # the follow-up that moves a stale last activity, after both answers
    ],
)
def test_autosave_answers_503_json_when_the_database_is_away_writes_nothing_and_recovers(
    statement, after, app, jonah, db
):
    browser, csrf, invitation_id = jonah
    # Jonah's last activity is older than the step, so this save also moves it (UPDATE invitation).
    stale = utcnow() - ACTIVITY_STEP - timedelta(minutes=1)
    db.session.execute(sa.update(Invitation).where(Invitation.id == invitation_id).values(last_activity_at=stale))
    db.session.commit()
    before = stored(db, invitation_id)
    with database_away(app, matching=statement, after=after) as failed:
        response = batch(browser, csrf, [("connection", "heard_1", 1), ("connection", "heard_2", 2)])
    assert failed, "the simulated outage never happened"
    assert_unavailable(response, json=True)
    assert stored(db, invitation_id) == before
    # The next request works, on the same process and pool.
    assert batch(browser, csrf, [("connection", "heard_1", 1), ("connection", "heard_2", 2)]).status_code == 200
    assert stored(db, invitation_id) == {("connection", "heard_1"): 1, ("connection", "heard_2"): 2}
    assert utcnow() - invitation_of(db, jonah_assessment(db, invitation_id), 1).last_activity_at < timedelta(seconds=30)


def test_partner_pages_answer_a_calm_503_in_the_partners_layout(app, jonah, db):
    browser, _csrf, invitation_id = jonah
    before = stored(db, invitation_id)
    with database_away(app):
        page = browser.get("/q/1")
    assert_unavailable(page, json=False)
    body = page.get_data(as_text=True)
    assert "Leave this page" in body and "Sign in" not in body
    assert "Every answer already saved is safe." in body
    # A page posted without JavaScript during the outage: it says the page was not saved.
    with database_away(app, matching="INSERT INTO answer"):
        posted = browser.post_form("/q/1", {"item_heard_1": "2"})
    assert_unavailable(posted, json=False)
    assert "were not saved yet" in posted.get_data(as_text=True)
    assert stored(db, invitation_id) == before
    assert browser.get("/q/1").status_code == 200
    with database_away(app, matching="UPDATE invitation"):
        assert_unavailable(browser.post_form("/q/submit", {"confirm": "y"}), json=False)
    assert invitation_of(db, jonah_assessment(db, invitation_id), 1).submitted_at is None


def jonah_assessment(db, invitation_id):
    from clinic.models import Assessment, Invitation

    return db.session.scalar(
        sa.select(Assessment)
        .join(Invitation, Invitation.assessment_id == Assessment.id)
        .where(Invitation.id == invitation_id)
    )


def test_therapist_pages_and_sign_in_answer_503_not_500_and_recover(app, intake, make_client, db):
    owner, couple, _assessment, _tokens = intake
    browser = login(make_client(), owner)
    for address in ("/couples/", f"/couples/{couple.id}"):
        with database_away(app) as failed:
            response = browser.get(address)
        assert failed
        assert_unavailable(response, json=False)
        assert "taking a short pause" in response.get_data(as_text=True)
        assert browser.get(address).status_code == 200
    # JSON for a client that asks only for JSON.
    with database_away(app):
        assert_unavailable(browser.get("/couples/", headers={"Accept": "application/json"}), json=True)
    # Signing in while the database is away: the form is not lost in a 500, and it works after.
    fresh = make_client()
    csrf = fresh.csrf_token()
    with database_away(app, matching="clinician"):
        response = fresh.post(
            "/signin", data={"email": owner.email, "password": "correct horse battery", "csrf_token": csrf}
        )
    assert_unavailable(response, json=False, rate_limited=True)
    assert "What you just sent was not saved" in response.get_data(as_text=True)
    assert login(fresh, owner).get("/couples/").status_code == 200


# Redis unreachable: a partner and a therapist can still do everything.

_WITHOUT_REDIS = """
import json, logging, sys
warnings = []
class Keep(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warnings.append(record.getMessage())
logging.getLogger().addHandler(Keep())
from flask_migrate import upgrade
from clinic import create_app
from clinic.config import TestConfig
from clinic.extensions import db
from clinic.services import accounts, couples, invitations

class NoRedis(TestConfig):
    SQLALCHEMY_DATABASE_URI = sys.argv[1]
    REDIS_URL = sys.argv[2]
    MAIL_OUTBOX = sys.argv[3]

app = create_app(NoRedis)
with app.app_context():
    upgrade()
    owner = accounts.create_practice(practice_name="P", owner_name="O", email="o@example.org",
                                     password="correct horse battery", credential="", timezone="UTC")
    couple = couples.create_couple(owner.practice, owner, label="J & P", partners=[
        couples.PartnerDetails(display_name="Jonah", email=None),
        couples.PartnerDetails(display_name="Priya", email=None)])
    assessment, tokens = invitations.start_assessment(couple, occasion="Check-in", instrument_ids=["checkin"],
                                                      expiry_days=14, by=owner)
    db.session.commit()
    token = next(iter(tokens.values()))

def csrf(page):
    return page.split('<meta name="csrf-token" content="')[1].split('"')[0]

seen = {"storage": app.config["RATELIMIT_STORAGE_URI"]}
therapist = app.test_client()
token_t = csrf(therapist.get("/signin").get_data(as_text=True))
seen["signin"] = therapist.post("/signin", data={"email": "o@example.org", "password": "correct horse battery",
                                                 "csrf_token": token_t}).status_code
seen["couples"] = therapist.get("/couples/").status_code
partner = app.test_client()
seen["link"] = partner.get(f"/l/{token}").status_code
token_p = csrf(partner.get("/q").get_data(as_text=True))
answers = [{"instrument": "checkin", "item": item, "value": 4} for item in ("satisfied", "close", "hopeful", "together")]
seen["autosave"] = partner.post("/q/autosave", json={"answers": answers}, headers={"X-CSRFToken": token_p}).status_code
seen["submit"] = partner.post("/q/submit", data={"csrf_token": token_p}).status_code
seen["done"] = partner.get("/q/done").status_code
seen["warnings"] = warnings
print(json.dumps(seen))
"""


def test_without_redis_sign_in_link_opening_autosave_and_submit_all_work(tmp_path):
    """Redis configured but unreachable (nothing listens on the port): the rate limiter counts in
    the process's memory, and every step of both sides works (in a process of its own, because
    the limiter's storage is chosen once per process)."""
    import json

    unreachable = "redis://127.0.0.1:1/0"
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_REDIS, "sqlite:///" + str(tmp_path / "noredis.db"), unreachable, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "storage": unreachable,
        "signin": 302,
        "couples": 200,
        "link": 302,
        "autosave": 200,
        "submit": 302,
        "done": 200,
        # Said once, not on every request.
        "warnings": ["Rate limit storage unreachable - falling back to in-memory storage"],
    }
