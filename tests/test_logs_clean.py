"""A whole working day through HTTP, with every log record kept: no secret reaches the logs.

The owner invites a clinician by email; the clinician sets a password, forgets it and
resets it; creates a couple; sends the questionnaires by email; both partners answer
(with free text) and send; the clinician reads the results, writes notes, reviews the
safety flag, and has a PDF made and downloads it. The access-log lines a server writes
for the emailed links are replayed through the werkzeug and gunicorn loggers. Not one
record may hold a link token, a password, an answer, a note, a name or an email address.
(tests/conftest.py also checks every record of every other test for tokens, email
addresses and the suite's password.)
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from clinic.models import Invitation, Partner, Report, ReportStatus
from tests.conftest import PASSWORD, TOKEN_LIKE
from tests.test_client import post_questionnaire

THEO = "theo.marsh@example.org"
THEO_FIRST_PASSWORD = "lighthouse keeper ledger 7"
THEO_NEW_PASSWORD = "another quiet harbour 9"
PARTNERS = {1: ("Oriel Vantaggio", "oriel.v@example.net"), 2: ("Tamsin Ferrowby", "t.ferrowby@example.net")}
LABEL = "O & T Ferrowby"
FREE_TEXT = {1: "My mother's illness weighs on me, Zanzibar quokka", 2: "Night shifts at the depot, Umbra pelican"}
PREP_NOTES = "Ask about the depot shifts first; Halcyon marmot"
SAFETY_NOTE = "Spoke to Oriel alone on Tuesday; Verdigris tapir"
COUPLE_FORM = {
    "label": LABEL,
    "partner_a-display_name": PARTNERS[1][0],
    "partner_a-email": PARTNERS[1][1],
    "partner_b-display_name": PARTNERS[2][0],
    "partner_b-email": PARTNERS[2][1],
}


@pytest.fixture
def records():
    """Every log record from DEBUG up, from any logger, while the test runs."""
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            kept.append(record)

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("werkzeug"), logging.getLogger("gunicorn.access")]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield kept
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)


def written(record: logging.LogRecord) -> str:
    """The record as a handler would write it, traceback included."""
    return logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)


def mail_to(smtp, address: str, path: str, timeout: float = 10.0) -> str:
    """The path of the newest link under `path` in a message to this address (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(list(smtp)):
            if address in message["To"]:
                found = re.search(rf"https?://[^/\s]+({re.escape(path)}[A-Za-z0-9_\-]+)", message.get_content())
                if found:
                    return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no message to {address} with a {path} link")


def signin(browser, email: str, password: str) -> None:
    """Sign in through the form; two-factor sign-in is off for everyone here."""
    response = browser.post_form("/signin", {"email": email, "password": password})
    assert response.status_code == 302 and urlsplit(response.location).path == "/", response.status_code


def replay_access_logs(paths: list[str]) -> None:
    """What the development server and gunicorn write for each request to a link."""
    werkzeug = logging.getLogger("werkzeug")
    gunicorn = logging.getLogger("gunicorn.access")
    stamp = datetime.now().strftime("%d/%b/%Y %H:%M:%S")
    for path in paths:
        # werkzeug.serving: '<address> - - [<time>] "%s" %s %s' % (request line, status, size)
        werkzeug.info(f'127.0.0.1 - - [{stamp}] "%s" %s %s', f"GET {path} HTTP/1.1", 302, "-")
        # gunicorn's default access_log_format, with its atoms as a mapping.
        gunicorn.info(
            '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
            {"h": "10.0.0.7", "l": "-", "u": "-", "t": f"[{stamp}]", "r": f"GET {path} HTTP/1.1"}
            | {"s": "302", "b": "0", "f": "-", "a": "Mozilla/5.0"},
        )


def test_a_whole_journey_leaves_no_secret_in_the_logs(records, app, db, make_practice, make_client, smtp):
    """Tokens, passwords, answers, notes, names and email addresses never reach a log record."""
    owner = make_practice(practice_name="Harbour Light Couples", owner_name="Dr Ada Brook")

    # The owner invites Theo, who opens the emailed link and sets a password.
    ada = make_client()
    signin(ada, owner.email, PASSWORD)
    assert ada.post_form("/practice/clinicians/invite", {"name": "Theo Marsh", "email": THEO}).status_code == 200
    invite_path = mail_to(smtp, THEO, "/invite/")
    theo = make_client()
    assert theo.get(invite_path).status_code == 302
    accepted = theo.post_form("/invite", {"password": THEO_FIRST_PASSWORD, "confirm": THEO_FIRST_PASSWORD})
    assert accepted.status_code == 302
    assert theo.post_form("/signout").status_code == 302

    # Theo forgets the password and resets it from the emailed link.
    stranger = make_client()
    assert stranger.post_form("/forgot-password", {"email": THEO}).status_code == 200
    reset_path = mail_to(smtp, THEO, "/reset/")
    assert theo.get(reset_path).status_code == 302
    reset = theo.post_form("/reset", {"password": THEO_NEW_PASSWORD, "confirm": THEO_NEW_PASSWORD})
    assert reset.status_code == 302
    assert stranger.post_form("/signin", {"email": THEO, "password": THEO_FIRST_PASSWORD}).status_code == 200
    signin(theo, THEO, THEO_NEW_PASSWORD)

    # A couple, and an assessment whose links go out by email.
    created = theo.post_form(
        "/couples/new",
        COUPLE_FORM,
    )
    assert created.status_code == 302
    couple_id = int(created.location.rstrip("/").rsplit("/", 1)[1])
    started = theo.post_form(
        f"/couples/{couple_id}/assessments/new",
        {
            "occasion": "Intake",
            "instruments": ["checkin", "life_context", "safety"],
            "expiry_days": "14",
            "send_email": "y",
        },
    )
    assert started.status_code == 200 and started.get_data(as_text=True).count("Emailed to") == 2
    link_paths = {position: mail_to(smtp, PARTNERS[position][1], "/l/") for position in (1, 2)}

    # Both partners answer, by page and by autosave, with a free-text note, and send.
    for position, path in link_paths.items():
        partner = make_client()
        assert partner.get(path).status_code == 302
        invitation_id = db.session.scalar(
            sa.select(Invitation.id)
            .join(Partner, Partner.id == Invitation.partner_id)
            .where(Partner.couple_id == couple_id, Partner.position == position)
        )
        checkin = dict.fromkeys(("satisfied", "close", "hopeful", "together"), "4")
        posted = post_questionnaire(partner, db, invitation_id, "checkin", checkin)
        context = {**dict.fromkeys(("work", "money", "illness"), "2"), "anything_else": FREE_TEXT[position]}
        posted += post_questionnaire(partner, db, invitation_id, "life_context", context)
        assert len(posted) == 3 and all(response.status_code == 302 for response in posted)
        token = partner.csrf_token()
        saved = partner.post(
            "/q/autosave",
            json={"instrument": "safety", "item": "afraid", "value": 3 if position == 1 else 1},
            headers={"X-CSRFToken": token},
        )
        assert saved.status_code == 200
        # Most of life_context and safety is unanswered: sending needs the partner's word.
        assert partner.post_form("/q/submit", {"confirm": "y", "share": "y"}).status_code == 302

    # Theo reads the results, writes notes, reviews the flag, and has the PDF made.
    page = theo.get(f"/couples/{couple_id}")
    assert page.status_code == 200 and "Zanzibar" in page.get_data(as_text=True)
    assert theo.post_form(f"/couples/{couple_id}/notes", {"notes": PREP_NOTES}).status_code == 302
    invitation_a = db.session.scalar(
        sa.select(Invitation.id)
        .join(Partner, Partner.id == Invitation.partner_id)
        .where(Partner.couple_id == couple_id, Partner.position == 1)
    )
    reviewed = theo.post_form(f"/couples/{couple_id}/safety/{invitation_a}/safety/afraid", {"note": SAFETY_NOTE})
    assert reviewed.status_code == 302
    asked = theo.post_form(f"/couples/{couple_id}/reports", {"kind": "clinician", "appendix": "y"})
    report_id = int(asked.location.rsplit("/", 1)[1])
    deadline = time.monotonic() + 60
    while db.session.scalar(sa.select(Report.status).where(Report.id == report_id)) != ReportStatus.READY:
        assert time.monotonic() < deadline, "the report was not rendered in time"
        time.sleep(0.1)
        db.session.rollback()
    pdf = theo.get(f"/couples/{couple_id}/reports/{report_id}/download")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    links = [invite_path, reset_path, *link_paths.values()]
    replay_access_logs(links)

    secrets = {
        "the owner's password": PASSWORD,
        "Theo's first password": THEO_FIRST_PASSWORD,
        "Theo's new password": THEO_NEW_PASSWORD,
        "Theo's email": THEO,
        "the owner's email": owner.email,
        "the couple's label": LABEL,
        "the prep notes": PREP_NOTES,
        "the safety note": SAFETY_NOTE,
    }
    for position in (1, 2):
        secrets[f"partner {position}'s name"] = PARTNERS[position][0]
        secrets[f"partner {position}'s email"] = PARTNERS[position][1]
        secrets[f"partner {position}'s free text"] = FREE_TEXT[position]
    for path in links:
        secrets[f"the token of {path.split('/')[1]} link"] = path.rsplit("/", 1)[1]

    # The fake mail server stands in for the practice's mail provider: its log is not Tandem's.
    lines = [written(r) for r in records if not r.name.startswith("mail.log")]
    replayed = [line for line in lines if line.startswith(("werkzeug", "gunicorn.access"))]
    assert len(replayed) == 2 * len(links) and all("[redacted]" in line for line in replayed), replayed
    assert any(line.startswith("clinic.") for line in lines), "the app's own records were not captured"
    found = [
        f"{what} in: {line[:200]}" for line in lines for what, value in secrets.items() if value.lower() in line.lower()
    ]
    found += [f"something like a token in: {line[:200]}" for line in lines if TOKEN_LIKE.search(line)]
    assert not found, "\n".join(found)


# A value the database cannot store is a bug (500, logged with its message); the database going
# away is a blip (503, logged by its class). Neither log line may carry what was being written.
FAILURES = {"refused value": ("DataError", 500), "database away": ("OperationalError", 503)}


@pytest.mark.parametrize(("error", "status"), FAILURES.values(), ids=FAILURES.keys())
def test_a_failed_write_logs_no_partner_details(
    error, status, records, app, db, make_practice, make_client, server_errors_as_pages
):
    """When the database refuses a write, the logged failure does not carry the values it was given."""
    owner = make_practice()
    browser = make_client()
    signin(browser, owner.email, PASSWORD)
    engine = db.engine

    def refuse(cursor, statement, parameters, context):
        # What a lost connection, a deadlock or a value the database cannot store looks like.
        if statement.lstrip().upper().startswith("INSERT INTO PARTNER"):
            raise getattr(engine.dialect.loaded_dbapi, error)("the database refused the write")

    sa.event.listen(engine, "do_execute", refuse)
    sa.event.listen(engine, "do_executemany", refuse)
    try:
        response = browser.post_form(
            "/couples/new",
            COUPLE_FORM,
        )
    finally:
        sa.event.remove(engine, "do_execute", refuse)
        sa.event.remove(engine, "do_executemany", refuse)
    assert response.status_code == status
    lines = [written(r) for r in records]
    logged = "the database refused the write" if status == 500 else "database unavailable: OperationalError"
    assert any(logged in line for line in lines), "the failure was not logged"
    leaked = [
        what
        for what, value in {
            "partner A's name": PARTNERS[1][0],
            "partner A's email": PARTNERS[1][1],
            "partner B's name": PARTNERS[2][0],
            "partner B's email": PARTNERS[2][1],
        }.items()
        if any(value in line for line in lines)
    ]
    assert not leaked, f"the logged error holds {', '.join(leaked)}"


def test_a_failure_behind_a_link_logs_no_token(
    records, app, db, make_practice, make_couple, make_assessment, make_client, server_errors_as_pages
):
    """When opening a partner's link fails, the logged failure (a 503: the database went away)
    does not carry the link's token."""
    _, tokens = make_assessment(make_couple(make_practice()), instruments=["checkin"])
    engine = db.engine

    def refuse(cursor, statement, parameters, context):
        # The database goes away just as the link is looked up.
        if "FROM invitation" in statement:
            raise engine.dialect.loaded_dbapi.OperationalError("the database went away")

    sa.event.listen(engine, "do_execute", refuse)
    try:
        response = make_client().get(f"/l/{tokens[1]}")
    finally:
        sa.event.remove(engine, "do_execute", refuse)
    assert response.status_code == 503
    lines = [written(r) for r in records]
    assert any("database unavailable: OperationalError on client.open_link" in line for line in lines), (
        "the failure was not logged"
    )
    assert not [line for line in lines if tokens[1] in line], "the logged error holds the link's token"
