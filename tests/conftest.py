"""Shared fixtures: an app on a migrated database, a clean database per test,
a client that carries CSRF tokens like a browser, and factories."""

from __future__ import annotations

import contextlib
import contextvars
import email
import email.policy
import os
import re
import socket
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from clinic import create_app
from clinic.config import TestConfig, database_url
from clinic.extensions import db as _db
from clinic.extensions import limiter
from clinic.models import Clinician, Couple, Partner, TokenPurpose
from clinic.services import accounts, couples, invitations

# `make test` sets TANDEM_TEST_DB for the PostgreSQL run; otherwise SQLite.
TEST_DB_URL = database_url(os.environ.get("TANDEM_TEST_DB"))
PASSWORD = "correct horse battery"

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def is_postgres() -> bool:
    return bool(TEST_DB_URL and TEST_DB_URL.startswith("postgresql"))


class Client(FlaskClient):
    """A test client that fetches a CSRF token the way a browser gets one: from a page.

    Each request runs in an empty contextvars.Context: Flask reuses an app context
    that is already pushed (the test's, for database access), which would share
    `g` — the signed-in user, the CSRF token — between requests like no real
    browser ever could.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)

    def csrf_token(self) -> str:
        page = self.get("/signin", follow_redirects=True).get_data(as_text=True)
        match = CSRF_META.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def post_form(self, url: str, data: dict | None = None, **kwargs):
        """POST a form with a valid CSRF token (unless the data already names one)."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token())
        return self.post(url, data=data, **kwargs)


def _reset_database(url: str) -> None:
    """An empty database before migrations run (PostgreSQL keeps state between runs)."""
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()


@pytest.fixture(scope="session")
def database_url_for_tests(tmp_path_factory) -> str:
    """The URL of the suite's database: PostgreSQL when asked for, else a SQLite file."""
    if TEST_DB_URL:
        return TEST_DB_URL
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "tandem-test.db")


@pytest.fixture(scope="session")
def app(database_url_for_tests, tmp_path_factory):
    """The app under test, on a database built by the real migrations."""

    class SuiteConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url_for_tests
        MAIL_OUTBOX = str(tmp_path_factory.mktemp("outbox"))

    _reset_database(database_url_for_tests)
    application = create_app(SuiteConfig)
    application.test_client_class = Client
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        _db.engine.dispose()


@pytest.fixture
def db(app):
    """The database, emptied after the test."""
    with app.app_context():
        limiter.reset()
        yield _db
        _db.session.remove()
        tables = [t.name for t in _db.metadata.sorted_tables]
        with _db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(_db.metadata.sorted_tables):
                    conn.execute(table.delete())


@pytest.fixture
def client(app, db) -> Client:
    """A browser-like client with its own cookie jar."""
    return app.test_client()


@pytest.fixture
def make_client(app, db):
    """Another browser (e.g. a second device or a second person)."""
    return app.test_client


@pytest.fixture
def make_practice(db):
    """Factory: a practice with a signed-up owner; returns the owner."""
    counter = iter(range(1, 10_000))

    def make(**kw) -> Clinician:
        n = next(counter)
        owner = accounts.create_practice(
            practice_name=kw.pop("practice_name", f"Practice {n}"),
            owner_name=kw.pop("owner_name", f"Owner {n}"),
            email=kw.pop("email", f"owner{n}@example.org"),
            password=kw.pop("password", PASSWORD),
            credential=kw.pop("credential", "LMFT"),
            timezone=kw.pop("timezone", "UTC"),
        )
        assert not kw, f"unknown arguments {kw}"
        db.session.commit()
        return owner

    return make


@pytest.fixture
def make_clinician(db):
    """Factory: a clinician who accepted an invitation to the owner's practice."""
    counter = iter(range(1, 10_000))

    def make(owner: Clinician, *, password: str | None = PASSWORD, **kw) -> Clinician:
        n = next(counter)
        clinician, token = accounts.invite_clinician(
            owner.practice,
            name=kw.pop("name", f"Clinician {n}"),
            email=kw.pop("email", f"clinician{n}@example.org"),
            credential=kw.pop("credential", "LCSW"),
            lifetime=kw.pop("lifetime", timedelta(hours=72)),
        )
        assert not kw, f"unknown arguments {kw}"
        if password is not None:
            accounts.accept_invitation(accounts.find_token(token, TokenPurpose.INVITE), password)
        db.session.commit()
        return clinician

    return make


@pytest.fixture
def make_couple(db):
    """Factory: a couple of the clinician's practice with two partners (emails optional)."""
    counter = iter(range(1, 10_000))

    def make(clinician: Clinician, *, label: str | None = None, emails: bool = True, **kw) -> Couple:
        n = next(counter)
        names = kw.pop("names", (f"Robin {n}", f"Sasha {n}"))
        assert not kw, f"unknown arguments {kw}"
        couple = couples.create_couple(
            clinician.practice,
            clinician,
            label=label or f"R & S {n}",
            partners=[
                couples.PartnerDetails(display_name=name, email=f"partner{n}{i}@example.org" if emails else None)
                for i, name in enumerate(names)
            ],
        )
        db.session.commit()
        return couple

    return make


@pytest.fixture
def make_assessment(db):
    """Factory: an assessment for a couple; returns (assessment, {partner position: raw link token})."""

    def make(couple: Couple, *, instruments=invitations.INTAKE, occasion="Intake", expiry_days=14):
        clinician = db.session.get(Clinician, couple.clinician_id)
        assessment, tokens = invitations.start_assessment(
            couple, occasion=occasion, instrument_ids=list(instruments), expiry_days=expiry_days, by=clinician
        )
        db.session.commit()
        positions = {
            p.id: p.position for p in db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id))
        }
        return assessment, {positions[partner_id]: raw for partner_id, raw in tokens.items()}

    return make


class AuthActions:
    def __init__(self, client: Client):
        self._client = client

    def login(self, email: str, password: str = PASSWORD, **kwargs):
        return self._client.post_form("/signin", {"email": email, "password": password}, **kwargs)

    def logout(self):
        return self._client.post_form("/signout")


@pytest.fixture
def auth(client) -> AuthActions:
    """Sign the default client in and out."""
    return AuthActions(client)


@pytest.fixture
def outbox(app):
    """The messages written to the development outbox during the test."""
    folder = Path(app.config["MAIL_OUTBOX"])
    for old in folder.glob("*.eml"):
        old.unlink()

    def read() -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(folder.glob("*.eml"))
        ]

    return read


class _Collector:
    """An aiosmtpd handler that keeps every message it is handed."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback; the app sends to it during the test."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = _Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: app.config[k] for k in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USE_SSL=False)
    try:
        yield handler.messages
    finally:
        app.config.update(saved)
        controller.stop()


@pytest.fixture
def count_queries(app):
    """A context manager listing the SQL statements run inside it (for constant-count tests)."""

    @contextlib.contextmanager
    def counting():
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        with app.app_context():
            engine = _db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)

    return counting


@pytest.fixture
def answer_as(db):
    """Save (and by default submit) a partner's answers through the services, by link token."""
    from clinic.services import responses

    def answer(token: str, by_instrument: dict[str, dict[str, int | str]], *, submit: bool = True):
        invitation = invitations.find_by_token(token)
        assert invitation is not None, "unknown token"
        for instrument_id, answers in by_instrument.items():
            responses.save_answers(invitation, instrument_id, answers)
        if submit:
            assert responses.submit(invitation)
        db.session.commit()
        return invitation

    return answer
