"""The readiness check, /readyz: JSON saying what works and what is degraded. 200 while the
app can serve (Redis down is "degraded", with reasons), 503 when the database is unreachable;
open to load balancers without a sign-in, and never a host, URL, password or name in it.
/healthz stays a liveness check that touches nothing."""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic import create_app
from clinic.config import TestConfig, database_url
from clinic.db_types import utcnow
from clinic.models import Practice, Report
from clinic.reports import jobs
from tests import test_reports
from tests.conftest import login
from tests.test_reports import ask

answered = test_reports.answered
ROOT = Path(__file__).resolve().parents[1]
KEYS = {"status", "database", "redis", "rate_limits", "report_queue", "reports_waiting", "oldest_waiting_seconds"}


def readiness(browser) -> tuple[int, dict, str]:
    response = browser.get("/readyz")
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json(), response.get_data(as_text=True)


def test_without_redis_configured_the_app_is_ready(client):
    status, body, _ = readiness(client)
    assert status == 200
    assert body == {
        "status": "ready",
        "database": "ok",
        "redis": "not configured",  # one process, as configured: not a degradation
        "rate_limits": "per-process",
        "report_queue": "in-process",
        "reports_waiting": 0,
        "oldest_waiting_seconds": None,
        "reasons": [],
    }


# --- Redis alive and dead, in an app configured as an operator would (its own process: the
# rate limiter is bound once, at start-up, to the store REDIS_URL names) --------------------

_APP = """
import json, sys
from flask_migrate import upgrade
from clinic import create_app
from clinic.config import TestConfig

class OperatorConfig(TestConfig):
    SQLALCHEMY_DATABASE_URI = sys.argv[1]
    REDIS_URL = sys.argv[2]
    MAIL_OUTBOX = sys.argv[3]

app = create_app(OperatorConfig)
with app.app_context():
    upgrade()
browser = app.test_client()
ready = browser.get("/readyz")
signin = browser.get("/signin")
print(json.dumps({"status": ready.status_code, "body": ready.get_data(as_text=True),
                  "healthz": browser.get("/healthz").status_code, "signin": signin.status_code}))
"""


def run_app(tmp_path, redis_url: str) -> dict:
    database = "sqlite:///" + str(tmp_path / "operator.db")
    done = subprocess.run(
        [sys.executable, "-c", _APP, database, redis_url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_with_redis_answering_the_app_is_ready_and_shares_its_limits(tmp_path):
    seen = run_app(tmp_path, "redis://127.0.0.1:6379/14")
    body = json.loads(seen["body"])
    assert seen["status"] == 200
    assert body["status"] == "ready" and body["reasons"] == []
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert body["rate_limits"] == "shared" and body["report_queue"] == "redis"
    assert "redis://" not in seen["body"] and "6379" not in seen["body"]


def test_with_redis_dead_the_app_is_degraded_and_says_why(tmp_path):
    seen = run_app(tmp_path, "redis://:hunter2-redis@127.0.0.1:1/0")  # nothing listens on port 1
    body = json.loads(seen["body"])
    assert seen["status"] == 200  # it still serves: a load balancer keeps sending requests
    assert body["status"] == "degraded"
    assert body["database"] == "ok" and body["redis"] == "unreachable"
    assert body["rate_limits"] == "per-process" and body["report_queue"] == "in-process"
    assert body["reasons"] == [
        "Rate limits are counted per process: their store (Redis) is not reachable.",
        "Reports render inside the web processes: Redis is not reachable.",
    ]
    for secret in ("hunter2", "redis://", "127.0.0.1"):
        assert secret not in seen["body"]
    assert seen["healthz"] == 200 and seen["signin"] == 200


# --- the database unreachable ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        database_url("postgresql://tandem:hunter2-db@127.0.0.1:1/tandem"),  # nothing listens on port 1
        "sqlite:////nonexistent-tandem-folder/hunter2-db/tandem.db",  # a folder that is not there
    ],
    ids=["postgresql-refused", "sqlite-missing"],
)
def test_with_the_database_unreachable_readiness_answers_503(url):
    class Unreachable(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    browser = create_app(Unreachable).test_client()
    status, body, text = readiness(browser)
    assert status == 503
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["reasons"] == ["The database is not reachable."]
    assert body["reports_waiting"] is None and body["oldest_waiting_seconds"] is None
    for secret in ("hunter2", "tandem.db", "127.0.0.1", "postgresql", "Traceback"):
        assert secret not in text
    # Liveness does not depend on the database.
    assert browser.get("/healthz").status_code == 200


def test_a_database_that_stops_answering_mid_check_still_answers_503_json(client, db, monkeypatch):
    def gone():
        raise sa.exc.OperationalError("SELECT count(*) FROM report", {}, ConnectionError("server closed"))

    monkeypatch.setattr(jobs, "queue_state", gone)
    status, body, _ = readiness(client)
    assert status == 503 and body["status"] == "unavailable" and body["database"] == "unreachable"


# --- the report queue ------------------------------------------------------------------------


@pytest.fixture
def no_worker(monkeypatch):
    """Reports are queued and nothing picks them up (no report worker running)."""
    monkeypatch.setattr(jobs, "_run_in_app", lambda app, report_id: None)


def test_reports_waiting_long_for_a_worker_make_it_degraded(app, client, answered, db, no_worker):
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    status, body, _ = readiness(client)
    assert status == 200 and body["status"] == "ready"
    assert body["reports_waiting"] == 1 and 0 <= body["oldest_waiting_seconds"] <= 5

    timeout = app.config["REPORT_JOB_TIMEOUT"]
    waited = int(timeout * 0.75)
    db.session.execute(
        sa.update(Report).where(Report.id == report_id).values(requested_at=utcnow() - timedelta(seconds=waited))
    )
    db.session.commit()
    status, body, _ = readiness(client)
    assert status == 200 and body["status"] == "degraded"
    assert body["reports_waiting"] == 1 and waited <= body["oldest_waiting_seconds"] <= waited + 5
    assert len(body["reasons"]) == 1 and "is a report worker running?" in body["reasons"][0]

    # Past the job timeout the report counts as failed (its page offers Try again), not waiting.
    db.session.execute(
        sa.update(Report).where(Report.id == report_id).values(requested_at=utcnow() - timedelta(seconds=timeout + 5))
    )
    db.session.commit()
    status, body, _ = readiness(client)
    assert body["status"] == "ready" and body["reports_waiting"] == 0 and body["oldest_waiting_seconds"] is None


# --- who may ask -----------------------------------------------------------------------------


def test_readiness_needs_no_sign_in_and_no_finished_two_factor_set_up(client, make_practice, db):
    owner = make_practice()
    db.session.get(Practice, owner.practice_id).require_two_factor = True
    db.session.commit()
    browser = login(client, owner)
    # The owner must set up two-factor sign-in before any page, but a probe is not a page.
    held_back = browser.get("/couples/")
    assert held_back.status_code == 302 and held_back.headers["Location"].endswith("/account/two-factor")
    status, body, _ = readiness(browser)
    assert status == 200 and set(body) >= KEYS


def test_readiness_is_never_rate_limited(make_client, db):
    probe = make_client()
    answers = {probe.get("/readyz").status_code for _ in range(60)}
    assert answers == {200}
