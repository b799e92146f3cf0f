"""Shared fixtures: an app on a migrated database, a clean database per test,
a client that carries CSRF tokens like a browser, and factories."""

from __future__ import annotations

import contextlib
import contextvars
import email
import email.policy
import os
import re
import secrets
import socket
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from clinic import audit, create_app, memo
from clinic.config import TestConfig, database_url
from clinic.extensions import db as _db
from clinic.extensions import limiter
from clinic.models import Clinician, Couple, Partner, TokenPurpose
from clinic.reports.jobs import drain_local_pool
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
        _remember_posted(kwargs.get("data"), kwargs.get("json"))
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
def make_empty_database(tmp_path):
    """Factory: the URL of a database nobody has touched (a new SQLite file, or a new
    PostgreSQL database beside the suite's); each is dropped after the test."""
    made: list[str] = []
    counter = iter(range(1, 10_000))

    def make() -> str:
        if not is_postgres():
            return f"sqlite:///{tmp_path / f'fresh-{next(counter)}.db'}"
        name = f"tandem_fresh_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(TEST_DB_URL).set(database=name).render_as_string(hide_password=False)

    admin = sa.create_engine(TEST_DB_URL, isolation_level="AUTOCOMMIT") if is_postgres() else None
    try:
        yield make
    finally:
        if admin is not None:
            with admin.connect() as conn:
                for name in made:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture
def empty_database_url(make_empty_database) -> str:
    """A database nobody has touched: a new SQLite file, or a new PostgreSQL database."""
    return make_empty_database()


@pytest.fixture
def db(app):
    """The database, emptied after the test."""
    with app.app_context():
        limiter.reset()
        yield _db
        # A report still rendering in the local pool holds locks TRUNCATE must wait for.
        drain_local_pool()
        # Emptying the database is the one change clinic.memo cannot see: forget what it kept.
        memo.init_app(app)
        _db.session.remove()
        tables = [t.name for t in _db.metadata.sorted_tables]
        # The audit tables refuse UPDATE, DELETE and TRUNCATE; the suite's clean-up alone lifts that.
        with _db.engine.begin() as conn, audit.unguarded(conn):
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


def login(browser: Client, clinician: Clinician) -> Client:
    """Sign a browser in as this clinician (with the suite's password); returns the browser."""
    response = browser.post_form("/signin", {"email": clinician.email, "password": PASSWORD})
    assert response.status_code == 302
    return browser


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
    """An aiosmtpd handler that keeps every message it is handed, refuses the ones whose
    numbers (from 1) are in `refuse`, and calls `on_message(number)` (in the server's
    thread) after each one it accepts."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[int] = set()
        self.seen = 0
        self.on_message = None

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen in self.refuse:
            return "554 5.7.1 Message refused"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        if self.on_message:
            self.on_message(self.seen)
        return "250 Message accepted"


@contextlib.contextmanager
def _smtp_server(app):
    """A real SMTP server on loopback that the app sends to while the block runs."""
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
        yield handler
    finally:
        app.config.update(saved)
        controller.stop()


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback; the app sends to it during the test (its messages)."""
    with _smtp_server(app) as handler:
        yield handler.messages


@pytest.fixture
def flaky_smtp(app):
    """The same server, handed over whole: a test sets `refuse` and `on_message`."""
    with _smtp_server(app) as handler:
        yield handler


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


# A world for the security tests (access matrix, CSRF, form fuzzing): one practice with
# every role and a couple in every state a route can ask about, and a second practice.

ACTORS = ("anonymous", "outsider", "colleague", "therapist", "owner", "partner_a", "partner_b")
CHECKIN = {"satisfied": 4, "close": 4, "hopeful": 5, "together": 3}
SAFETY_CLEAR = dict.fromkeys(
    ("afraid", "controlled", "watched", "threatened", "physical_harm", "forced_sex", "self_harm", "harm_partner"), 1
)
# "Sometimes" afraid of the partner: a review-level flag on partner A's safety check.
SAFETY_FLAGGED = {**SAFETY_CLEAR, "afraid": 3}
# Columns that change when nobody did anything to the data (a sign-in, a lock counter).
VOLATILE_COLUMNS = {"last_sign_in_at", "failed_signins", "failed_signins_since", "locked_until"}


class World:
    """Practice P with every role and couple K in every state a route asks about; practice Q is the outsider's."""

    # P: owner, the couple's therapist, a colleague, a pending (invited) and a former (deactivated)
    # clinician. K: a submitted assessment with partner A's safety flag, an open one, a ready
    # report and prep notes; the therapist also has an archived couple.

    def __init__(self, app, db, n: int):
        self.app, self.db, self.n = app, db, n
        self._browsers: dict[str, Client] = {}
        self._csrf: dict[str, str] = {}

    def browser(self, actor: str) -> Client:
        """This actor's browser, signed in or holding the partner's link session (made once)."""
        if actor not in self._browsers:
            browser = self.app.test_client()
            # Each actor on its own address: per-address rate limits never mix them up.
            browser.environ_base["REMOTE_ADDR"] = f"10.{self.n % 250}.{ACTORS.index(actor)}.1"
            if actor.startswith("partner_"):
                response = browser.get(f"/l/{self.open_tokens[1 if actor == 'partner_a' else 2]}")
                assert response.status_code == 302 and response.location == "/q", response.status_code
            elif actor != "anonymous":
                response = browser.post_form("/signin", {"email": self.emails[actor], "password": PASSWORD})
                assert response.status_code == 302, f"{actor} could not sign in"
                assert "/signin" not in response.location
            self._browsers[actor] = browser
        return self._browsers[actor]

    def csrf(self, actor: str) -> str:
        """A CSRF token of this actor's session (stays valid as long as the session)."""
        if actor not in self._csrf:
            # The lightest page with a token that this actor can open.
            page = "/signin" if actor == "anonymous" else "/q" if actor.startswith("partner_") else "/account"
            match = CSRF_META.search(self.browser(actor).get(page).get_data(as_text=True))
            assert match, f"no CSRF token on {page} for {actor}"
            self._csrf[actor] = match.group(1)
        return self._csrf[actor]

    def prepare(self, *, tokens: bool) -> None:
        """Every actor's browser (and CSRF token): signing in and opening links write rows of their own."""
        for actor in ACTORS:
            if tokens:
                self.csrf(actor)
            else:
                self.browser(actor)

    def secrets(self) -> dict[str, str]:
        """What only the couple's therapist and the owner may ever see, by name."""
        return {
            "couple label": self.couple_label,
            "partner A name": self.partner_names[1],
            "partner B name": self.partner_names[2],
            "partner A email": self.partner_emails[1],
            "partner B email": self.partner_emails[2],
            "prep notes": self.prep_notes,
        }

    def snapshot(self) -> dict[tuple[str, tuple], dict]:
        """Every row practice P owns (and of any table not listed), by table and key, volatile columns left out."""
        db, pid = self.db, self.practice_id
        db.session.rollback()
        m = db.metadata.tables
        clinicians = sa.select(m["clinician"].c.id).where(m["clinician"].c.practice_id == pid)
        couples_ = sa.select(m["couple"].c.id).where(m["couple"].c.practice_id == pid)
        assessments = sa.select(m["assessment"].c.id).where(m["assessment"].c.couple_id.in_(couples_))
        invitations_ = sa.select(m["invitation"].c.id).where(m["invitation"].c.assessment_id.in_(assessments))
        scope = {
            "practice": m["practice"].c.id == pid,
            "clinician": m["clinician"].c.practice_id == pid,
            "account_token": m["account_token"].c.clinician_id.in_(clinicians),
            "couple": m["couple"].c.practice_id == pid,
            "partner": m["partner"].c.couple_id.in_(couples_),
            "assessment": m["assessment"].c.couple_id.in_(couples_),
            "invitation": m["invitation"].c.assessment_id.in_(assessments),
            "answer": m["answer"].c.invitation_id.in_(invitations_),
            "score": m["score"].c.invitation_id.in_(invitations_),
            "safety_review": m["safety_review"].c.invitation_id.in_(invitations_),
            "report": m["report"].c.couple_id.in_(couples_),
        }
        rows = {}
        for name, table in m.items():
            if name in ("audit_event", "audit_head"):  # append-only: reads are recorded too
                continue
            stmt = sa.select(table)
            if name in scope:
                stmt = stmt.where(scope[name])
            keys = [c.name for c in table.primary_key.columns]
            for row in db.session.execute(stmt).mappings():
                values = {k: v for k, v in row.items() if k not in VOLATILE_COLUMNS}
                rows[name, tuple(row[k] for k in keys)] = values
        db.session.rollback()
        return rows


def snapshot_diff(before: dict, after: dict, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """The rows that appeared, disappeared or changed (but for `ignore` columns), in words."""
    lines = []
    for key in sorted(before.keys() | after.keys(), key=repr):
        old, new = before.get(key), after.get(key)
        if old is None or new is None:
            if old != new:
                lines.append(f"{key[0]} {key[1]} {'added' if old is None else 'removed'}")
            continue
        changed = sorted(k for k in old if k not in ignore and old[k] != new.get(k))
        if changed:
            lines.append(f"{key[0]} {key[1]} changed: {', '.join(changed)}")
    return lines


@pytest.fixture
def server_errors_as_pages(app, monkeypatch):
    """An exception in a view answers 500 as in production, instead of raising into the test."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)


@pytest.fixture
def make_world(app, db, make_practice, make_clinician, make_couple, make_assessment, answer_as):
    """Factory: a World (several may live side by side in one test)."""
    from clinic.db_types import utcnow
    from clinic.models import Report, ReportKind, ReportStatus

    counter = iter(range(1, 10_000))

    def make() -> World:
        n = next(counter)
        w = World(app, db, n)
        owner = make_practice(practice_name=f"Practice P{n}", owner_name=f"Olive Owner {n}")
        therapist = make_clinician(owner, name=f"Theo Therapist {n}")
        colleague = make_clinician(owner, name=f"Cora Colleague {n}")
        former = make_clinician(owner, name=f"Fern Former {n}")
        accounts.deactivate_clinician(former, by=owner)
        pending = make_clinician(owner, name=f"Penny Pending {n}", password=None)
        w.invite_token = accounts.reissue_invitation(pending, lifetime=timedelta(hours=72))
        outsider = make_practice(practice_name=f"Practice Q{n}", owner_name=f"Otto Outsider {n}")
        _, w.reset_token = accounts.request_password_reset(colleague.email, lifetime=timedelta(minutes=30))
        _db.session.commit()

        w.practice_id, w.other_practice_id = owner.practice_id, outsider.practice_id
        people = {"owner": owner, "therapist": therapist, "colleague": colleague, "outsider": outsider}
        w.emails = {actor: c.email for actor, c in people.items()}
        w.ids = {actor: c.id for actor, c in people.items()} | {"pending": pending.id, "former": former.id}

        w.couple_label = f"Kestrel Quill {n}"
        w.partner_names = {1: f"Oriel Vantaggio {n}", 2: f"Tamsin Ferrowby {n}"}
        couple = make_couple(therapist, label=w.couple_label, names=(w.partner_names[1], w.partner_names[2]))
        partners = _db.session.scalars(sa.select(Partner).where(Partner.couple_id == couple.id)).all()
        w.partner_emails = {p.position: p.email for p in partners}
        w.couple_id = couple.id
        w.prep_notes = f"Prep notes Zephyr {n}"
        couples.save_prep_notes(couple, w.prep_notes)
        archived = make_couple(therapist, label=f"Archived Wren {n}")
        couples.set_archived(archived, True)
        w.archived_couple_id = archived.id
        _db.session.commit()

        submitted, w.submitted_tokens = make_assessment(couple, instruments=["checkin", "safety"], occasion="Intake")
        answer_as(w.submitted_tokens[1], {"checkin": CHECKIN, "safety": SAFETY_FLAGGED})
        answer_as(w.submitted_tokens[2], {"checkin": CHECKIN, "safety": SAFETY_CLEAR})
        w.submitted_invitations = _invitation_ids(submitted.id)
        current, w.open_tokens = make_assessment(couple, instruments=["checkin", "safety"], occasion="Week 4")
        w.open_invitations = _invitation_ids(current.id)

        report = Report(
            couple_id=couple.id,
            kind=ReportKind.CLINICIAN,
            cache_key="0" * 64,
            status=ReportStatus.READY,
            pdf=b"%PDF-1.4\n% a stand-in\n%%EOF\n",
            finished_at=utcnow(),
        )
        _db.session.add(report)
        _db.session.commit()
        w.report_id = report.id
        return w

    return make


def _invitation_ids(assessment_id: int) -> dict[int, int]:
    """{partner position: invitation id} of one assessment."""
    from clinic.models import Invitation

    rows = _db.session.execute(
        sa.select(Partner.position, Invitation.id)
        .join(Invitation, Invitation.partner_id == Partner.id)
        .where(Invitation.assessment_id == assessment_id)
    )
    return dict(rows.all())


# What tests typed into forms and autosave bodies: passwords, names, notes, free-text answers,
# labels. None of it may reach a log (only values long enough not to match by chance).
POSTED: set[str] = set()
# Fields whose values are ids or choices, not something a person wrote.
NOT_WRITTEN = {"instrument", "item", "value", "next", "action", "status", "page_size", "timezone"}


def _remember_posted(*bodies) -> None:
    for body in bodies:
        if not isinstance(body, dict):
            continue
        for field, value in body.items():
            values = value if isinstance(value, list | tuple) else [value]
            for one in values:
                if field not in NOT_WRITTEN and isinstance(one, str) and len(one.strip()) >= 8:
                    POSTED.add(one.strip())


# Logs: every record of every test is kept and checked (tests/test_logs_clean.py checks one
# whole journey more closely, for names, answers and notes as well).

# Shaped like a link token (secrets.token_urlsafe(32): 43 URL-safe characters), or an email address.
TOKEN_LIKE = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])")
EMAIL_LIKE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# Turned up to DEBUG in every test: the app's own loggers and the access logs.
APP_LOGGERS = ("clinic", "instruments", "werkzeug", "gunicorn.access", "gunicorn.error")


@pytest.fixture(autouse=True)
def logs_hold_no_secrets():
    """Keep every log record of the test; fail it if one holds a token, an email address, the
    password or anything the test typed into a form."""
    import logging

    POSTED.clear()
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            kept.append(record)

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in APP_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    problems = []
    for record in kept:
        # aiosmtpd's log ("mail.log") is the fake mail server's, standing in for the practice's provider.
        if record.name.startswith("mail.log"):
            continue
        text = formatter.format(record)
        for what, found in (
            ("a link token", TOKEN_LIKE.search(text)),
            ("an email address", EMAIL_LIKE.search(text)),
            ("the password", PASSWORD in text),
            ("something typed into a form", next((v for v in POSTED if v in text), None)),
        ):
            if found:
                problems.append(f"{what} in a {record.name} record: {text[:300]}")
    assert not problems, "log records hold secrets:\n" + "\n".join(problems)
