"""Rate limits per address on every way into an account, and the per-account lock after
repeated failures, which answers exactly like a wrong password."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic import passwords
from clinic.blueprints.auth.routes import GENERIC_FAILURE
from clinic.db_types import utcnow
from clinic.models import AuditEvent, Clinician
from clinic.services import twofactor
from tests.conftest import PASSWORD
from tests.test_twofactor import code, enrol, wrong_code

WRONG = "not the right password"
CSRF = (
    re.compile(r'name="csrf_token"[^>]*value="[^"]*"'),
    re.compile(r'<meta name="csrf-token" content="[^"]*">'),
)


def attempt(browser, email: str, password: str):
    return browser.post_form("/signin", {"email": email, "password": password})


def page_of(response, email: str) -> str:
    """The response page without what differs by design: CSRF tokens and the echoed email."""
    page = response.get_data(as_text=True)
    for pattern in CSRF:
        page = pattern.sub("", page)
    return page.replace(email, "EMAIL")


def from_address(make_client, address: str):
    """A browser whose requests come from this remote address."""
    browser = make_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


# Per-address limits.


def test_signin_posts_are_limited_per_address(client, make_client, make_practice, db):
    owner = make_practice()
    for i in range(10):
        assert attempt(client, f"guess{i}@example.org", WRONG).status_code == 200
    response = attempt(client, owner.email, PASSWORD)
    assert response.status_code == 429
    assert "Please wait a moment" in response.get_data(as_text=True)
    assert client.get("/signin").status_code == 200  # the page itself still loads
    # Another address is not held back by this one.
    assert attempt(from_address(make_client, "192.0.2.7"), owner.email, PASSWORD).status_code == 302


def test_the_code_step_is_limited_per_address(make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    browser = make_client()
    attempt(browser, owner.email, PASSWORD)
    for _ in range(10):
        assert browser.post_form("/signin/code", {"code": wrong_code(secret)}).status_code == 200
    assert browser.post_form("/signin/code", {"code": code(secret)}).status_code == 429


@pytest.mark.parametrize("path", ["/invite/{}", "/reset/{}"])
def test_one_time_links_share_one_limit_per_address(path, make_client, db):
    browser = make_client()
    for i in range(10):
        assert browser.get(path.format(f"guess-{i:04d}-token")).status_code == 302
        assert browser.get("/invite" if "invite" in path else "/reset").status_code == 404
    assert browser.get("/invite/another-guess-token").status_code == 429
    assert browser.get("/reset/another-guess-token").status_code == 429
    assert browser.get("/invite").status_code == 429
    assert from_address(make_client, "192.0.2.8").get("/invite/yet-another-token").status_code == 302


def test_password_reset_requests_are_limited_per_address(client, db, outbox):
    for i in range(5):
        assert client.post_form("/forgot-password", {"email": f"who{i}@example.org"}).status_code == 200
    assert client.post_form("/forgot-password", {"email": "who@example.org"}).status_code == 429


# The per-account lock.


def lock_out(make_client, email: str, failures: int = 5):
    """Wrong passwords from different addresses (so only the account counts them)."""
    for i in range(failures):
        browser = from_address(make_client, f"198.51.100.{i + 1}")
        assert attempt(browser, email, WRONG).status_code == 200


def test_five_wrong_passwords_lock_the_account_for_15_minutes(make_practice, make_client, db):
    owner = make_practice()
    lock_out(make_client, owner.email)
    browser = make_client()
    response = attempt(browser, owner.email, PASSWORD)
    assert response.status_code == 200
    assert GENERIC_FAILURE in response.get_data(as_text=True)
    assert browser.get("/couples/").status_code == 302

    db.session.expire_all()
    locked = db.session.get(Clinician, owner.id)
    assert timedelta(minutes=14) < locked.locked_until - utcnow() <= timedelta(minutes=15)
    locked.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert attempt(make_client(), owner.email, PASSWORD).status_code == 302


def test_four_wrong_passwords_do_not_lock(make_practice, make_client, db):
    owner = make_practice()
    lock_out(make_client, owner.email, failures=4)
    assert attempt(make_client(), owner.email, PASSWORD).status_code == 302


def test_failures_older_than_15_minutes_do_not_count(make_practice, make_client, db):
    owner = make_practice()
    lock_out(make_client, owner.email, failures=4)
    db.session.execute(sa.update(Clinician).values(failed_signins_since=utcnow() - timedelta(minutes=15, seconds=1)))
    db.session.commit()
    lock_out(make_client, owner.email, failures=1)
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).failed_signins == 1
    assert attempt(make_client(), owner.email, PASSWORD).status_code == 302


def test_a_successful_sign_in_starts_the_count_again(make_practice, make_client, db):
    owner = make_practice()
    lock_out(make_client, owner.email, failures=4)
    assert attempt(make_client(), owner.email, PASSWORD).status_code == 302
    lock_out(make_client, owner.email, failures=4)
    assert attempt(make_client(), owner.email, PASSWORD).status_code == 302


def test_a_locked_account_answers_exactly_like_a_wrong_password(make_practice, make_client, db):
    owner = make_practice()
    lock_out(make_client, owner.email)
    locked = page_of(attempt(make_client(), owner.email, PASSWORD), owner.email)
    wrong = page_of(attempt(make_client(), owner.email, WRONG), owner.email)
    unknown = page_of(attempt(make_client(), "ghost@example.org", PASSWORD), "ghost@example.org")
    assert locked == wrong == unknown


def test_unknown_emails_get_the_same_treatment(make_client, db):
    pages = {
        page_of(attempt(from_address(make_client, f"203.0.113.{i}"), "ghost@example.org", WRONG), "ghost@example.org")
        for i in range(1, 8)
    }
    assert len(pages) == 1
    assert GENERIC_FAILURE in pages.pop()


def test_every_case_costs_one_password_hash(make_practice, make_client, db, monkeypatch):
    """Locked, unknown and wrong all verify one hash, so response times stay alike."""
    owner = make_practice()
    lock_out(make_client, owner.email)
    calls = []
    real = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda *a: calls.append(a[0] is None) or real(*a))
    for email, password in ((owner.email, PASSWORD), ("ghost@example.org", WRONG), (owner.email, WRONG)):
        calls.clear()
        attempt(make_client(), email, password)
        assert len(calls) == 1, email


def test_wrong_codes_count_towards_the_lock(make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    for i in range(5):
        browser = from_address(make_client, f"198.51.100.{i + 1}")
        assert attempt(browser, owner.email, PASSWORD).headers["Location"] == "/signin/code"
        assert browser.post_form("/signin/code", {"code": wrong_code(secret)}).status_code == 200
    # The right password and the right code are now refused too.
    browser = make_client()
    assert attempt(browser, owner.email, PASSWORD).status_code == 200
    db.session.execute(sa.update(Clinician).values(locked_until=None))
    db.session.commit()
    # A password step alone never clears the count: it took a right code as well.
    assert attempt(browser, owner.email, PASSWORD).headers["Location"] == "/signin/code"
    assert browser.post_form("/signin/code", {"code": code(secret)}).status_code == 302


def test_a_right_password_does_not_reset_the_count_of_wrong_codes(make_practice, make_client, db):
    owner = make_practice()
    secret, _ = enrol(db, owner)
    for i in range(5):
        browser = from_address(make_client, f"198.51.100.{i + 1}")
        attempt(browser, owner.email, PASSWORD)
        browser.post_form("/signin/code", {"code": wrong_code(secret)})
    db.session.expire_all()
    assert db.session.get(Clinician, owner.id).failed_signins == 5
    # Now locked: the code step refuses even the right code, with the usual message.
    response = browser.post_form("/signin/code", {"code": code(secret)})
    assert response.status_code == 200
    assert twofactor.WRONG_CODE in response.get_data(as_text=True)
    assert browser.get("/couples/").status_code == 302


def test_failures_and_the_lock_are_audited_without_the_typed_email(make_practice, make_client, db):
    owner = make_practice()
    attempt(make_client(), "ghost@example.org", WRONG)
    lock_out(make_client, owner.email)
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    failures = [e for e in events if e.action == "signin.failure"]
    assert len(failures) == 6
    assert failures[0].practice_id is None and failures[0].target is None
    assert all(e.target == f"clinician:{owner.id}" for e in failures[1:])
    (locked,) = [e for e in events if e.action == "signin.locked"]
    assert locked.practice_id == owner.practice_id and locked.detail == {"minutes": 15}
    everything = " ".join(f"{e.detail} {e.target}" for e in events)
    assert "ghost" not in everything and WRONG not in everything and owner.email not in everything


# Shared limits: with REDIS_URL, every worker process counts in the same place.

_WORKER = """
import sys
from flask_migrate import upgrade
from clinic import create_app
from clinic.config import TestConfig

class WorkerConfig(TestConfig):
    SQLALCHEMY_DATABASE_URI = sys.argv[1]
    REDIS_URL = sys.argv[2]
    MAIL_OUTBOX = sys.argv[3]

app = create_app(WorkerConfig)
print(app.config["RATELIMIT_STORAGE_URI"])
with app.app_context():
    upgrade()
browser = app.test_client()
page = browser.get("/signin").get_data(as_text=True)
token = page.split('<meta name="csrf-token" content="')[1].split('"')[0]
for i in range(int(sys.argv[4])):
    form = {"email": f"guess{i}@example.org", "password": "not the right password", "csrf_token": token}
    print(browser.post("/signin", data=form).status_code)
"""


def test_with_redis_every_worker_process_counts_against_one_limit(tmp_path):
    """Two processes (two gunicorn workers, or two machines) share one count per address."""
    import subprocess
    import sys

    from redis import Redis

    url = "redis://127.0.0.1:6379/13"
    Redis.from_url(url).flushdb()
    database = "sqlite:///" + str(tmp_path / "workers.db")

    def worker(attempts: int) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, database, url, str(tmp_path), str(attempts)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.split()

    try:
        first = worker(6)
        assert first[0] == url  # the limiter counts in Redis
        assert first[1:] == ["200"] * 6
        # A fresh process has an empty memory: only a shared count stops it after 4 more.
        second = worker(5)
        assert second[1:] == ["200"] * 4 + ["429"]
        assert Redis.from_url(url).keys("LIMITS*")
    finally:
        Redis.from_url(url).flushdb()


def test_without_redis_sign_in_still_works_and_each_process_counts_alone(tmp_path):
    """Redis unreachable (nothing listens on the port): signing in answers as usual, never 500,
    and the limit still holds, counted in the process's memory."""
    import subprocess
    import sys

    unreachable = "redis://127.0.0.1:1/0"
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, "sqlite:///" + str(tmp_path / "alone.db"), unreachable, str(tmp_path), "11"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = done.stdout.split()
    assert printed[0] == unreachable  # Redis is configured, and down
    assert printed[1:] == ["200"] * 10 + ["429"]
