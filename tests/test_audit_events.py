"""Every audited action, driven through HTTP, leaves its row (who, which couple, what) and the
chain still verifies; and after a whole journey no audit row holds what people typed or were sent.

The actions are those `grep -rn "audit.record" clinic` finds; a new one belongs in EVENTS.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
import pytest
import sqlalchemy as sa

from clinic import audit
from clinic.models import AuditEvent, Clinician, Couple, Invitation
from tests.conftest import CHECKIN, CSRF_META, PASSWORD, World
from tests.test_reports import wait_until_done

NEW_PASSWORD = "a fresh long passphrase 42"
SECRET_ON_PAGE = re.compile(r'<code class="copy-field" id="totp-secret">([A-Z2-7 ]+)</code>')
RECOVERY_ON_PAGE = re.compile(r"<li><code>([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})</code></li>")
INVITE_LINK = re.compile(r'value="http://localhost(/invite/[A-Za-z0-9_\-]+)"')
SETTINGS = {
    "name": "Practice renamed",
    "timezone": "UTC",
    "invite_expiry_days": "10",
    "reminder_after_days": "3",
    "reminder_max": "2",
    "report_page_size": "A4",
    "crisis_text": "Call 911.",
}


@dataclass(frozen=True)
class Row:
    """An audit row a test expects: its action, who did it, and about what."""

    action: str
    actor: str
    actor_id: int | None = None
    couple_id: int | None = None
    target: str | None = None


def clinician(w: World, who: str, action: str, *, couple: bool = False, target: str | None = None) -> Row:
    return Row(action, "clinician", w.ids[who], w.couple_id if couple else None, target)


def anonymous_browser(w: World):
    browser = w.app.test_client()
    browser.environ_base["REMOTE_ADDR"] = f"10.{w.n % 250}.99.1"
    return browser


def enrol(browser) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on through the pages; the secret and the recovery codes shown."""
    assert browser.post_form("/account/two-factor/start").status_code == 302
    secret = SECRET_ON_PAGE.search(browser.get("/account/two-factor").get_data(as_text=True)).group(1)
    secret = secret.replace(" ", "")
    # Last step's code, so this step's stays unused for whatever the test does next.
    response = browser.post_form("/account/two-factor", {"code": pyotp.TOTP(secret).at(time.time() - 30)})
    assert response.status_code == 200
    return secret, RECOVERY_ON_PAGE.findall(response.get_data(as_text=True))


# --- the actions, each: drive the pages, return the rows that must appear ----------------------


def sign_in_ok(w):
    browser = anonymous_browser(w)
    assert browser.post_form("/signin", {"email": w.emails["therapist"], "password": PASSWORD}).status_code == 302
    return [clinician(w, "therapist", "signin.success")]


def sign_in_wrong_password(w):
    anonymous_browser(w).post_form("/signin", {"email": w.emails["therapist"], "password": "not the password"})
    return [Row("signin.failure", "anonymous", None, None, f"clinician:{w.ids['therapist']}")]


def sign_in_unknown_email(w):
    anonymous_browser(w).post_form("/signin", {"email": "nobody-here@example.org", "password": "whatever it is"})
    return [Row("signin.failure", "anonymous")]


def sign_in_locked(w):
    browser = anonymous_browser(w)
    for _ in range(w.app.config["SIGNIN_LOCK_FAILURES"]):
        browser.post_form("/signin", {"email": w.emails["colleague"], "password": "not the password"})
    return [Row("signin.locked", "system", None, None, f"clinician:{w.ids['colleague']}")]


def two_factor_on(w):
    enrol(w.browser("therapist"))
    return [clinician(w, "therapist", "2fa.enabled")]


def two_factor_off(w):
    browser = w.browser("therapist")
    secret, _ = enrol(browser)
    response = browser.post_form(
        "/account/two-factor/disable", {"password": PASSWORD, "code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 302
    return [clinician(w, "therapist", "2fa.enabled"), clinician(w, "therapist", "2fa.disabled")]


def two_factor_recovery_code(w):
    _, codes = enrol(w.browser("therapist"))
    browser = anonymous_browser(w)
    assert browser.post_form("/signin", {"email": w.emails["therapist"], "password": PASSWORD}).status_code == 302
    assert browser.post_form("/signin/code", {"code": codes[0]}).status_code == 302
    return [clinician(w, "therapist", "2fa.recovery_used"), clinician(w, "therapist", "signin.success")]


def two_factor_new_recovery_codes(w):
    browser = w.browser("therapist")
    secret, _ = enrol(browser)
    response = browser.post_form("/account/two-factor/recovery-codes", {"app_code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    return [clinician(w, "therapist", "two_factor.recovery_codes_regenerated")]


def clinician_unlocked(w):
    sign_in_locked(w)
    assert w.browser("owner").post_form(f"/practice/clinicians/{w.ids['colleague']}/unlock").status_code == 302
    return [clinician(w, "owner", "clinician.unlocked", target=f"clinician:{w.ids['colleague']}")]


def clinician_two_factor_reset(w):
    enrol(w.browser("therapist"))
    url = f"/practice/clinicians/{w.ids['therapist']}/reset-two-factor"
    assert w.browser("owner").post_form(url).status_code == 302
    return [clinician(w, "owner", "clinician.two_factor_reset", target=f"clinician:{w.ids['therapist']}")]


def sign_out(w):
    assert w.browser("therapist").post_form("/signout").status_code == 302
    return [clinician(w, "therapist", "session.ended")]


def results_viewed_by(who: str):
    def view(w):
        assert w.browser(who).get(f"/couples/{w.couple_id}").status_code == 200
        return [clinician(w, who, "couple.results_viewed", couple=True)]

    view.__name__ = f"results_viewed_by_{who}"
    return view


def report_requested_and_generated(w):
    response = w.browser("therapist").post_form(f"/couples/{w.couple_id}/reports", {"kind": "clinician"})
    assert response.status_code == 302
    report_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert report_id != w.report_id
    wait_until_done(w.db, report_id)
    target = f"report:{report_id}"
    return [
        clinician(w, "therapist", "report.requested", couple=True, target=target),
        Row("report.generated", "system", None, w.couple_id, target),
    ]


def report_downloaded(w):
    response = w.browser("owner").get(f"/couples/{w.couple_id}/reports/{w.report_id}/download")
    assert response.status_code == 200
    return [clinician(w, "owner", "report.downloaded", couple=True, target=f"report:{w.report_id}")]


def assessment_sent(w):
    data = {"occasion": "Week 8", "instruments": ["checkin"], "expiry_days": "14", "send_email": "y"}
    response = w.browser("therapist").post_form(f"/couples/{w.couple_id}/assessments/new", data)
    assert response.status_code == 200 and "Week 8" in response.get_data(as_text=True)  # the links, shown once
    newest = w.db.session.scalars(sa.select(Invitation).order_by(Invitation.id.desc()).limit(2)).all()
    rows = [
        clinician(w, "therapist", "assessment.created", couple=True, target=f"assessment:{newest[0].assessment_id}")
    ]
    for invitation in newest:
        target = f"invitation:{invitation.id}"
        rows += [
            clinician(w, "therapist", "invitation.created", couple=True, target=target),
            clinician(w, "therapist", "invitation.emailed", couple=True, target=target),
        ]
    return rows


def invitation_revoked(w):
    invitation_id = w.open_invitations[1]
    browser = w.browser("therapist")
    assert browser.post_form(f"/couples/{w.couple_id}/invitations/{invitation_id}/revoke").status_code == 302
    return [clinician(w, "therapist", "invitation.revoked", couple=True, target=f"invitation:{invitation_id}")]


def invitation_reissued(w):
    invitation_id = w.open_invitations[2]
    url = f"/couples/{w.couple_id}/invitations/{invitation_id}/reissue"
    response = w.browser("therapist").post_form(url, {"expiry_days": "7", "send_email": "y"})
    assert response.status_code in (200, 302)
    target = f"invitation:{invitation_id}"
    return [
        clinician(w, "therapist", "invitation.reissued", couple=True, target=target),
        clinician(w, "therapist", "invitation.emailed", couple=True, target=target),
    ]


def invitation_reminded(w):
    invitation_id = w.open_invitations[1]
    url = f"/couples/{w.couple_id}/invitations/{invitation_id}/remind"
    assert w.browser("therapist").post_form(url).status_code == 302
    return [clinician(w, "therapist", "invitation.reminded", couple=True, target=f"invitation:{invitation_id}")]


def invitation_reminder_failed(w):
    """The mail server refuses the reminder: the link it made is taken back, and the trail says so."""
    import smtplib
    from unittest import mock

    invitation_id = w.open_invitations[1]
    url = f"/couples/{w.couple_id}/invitations/{invitation_id}/remind"
    refused = smtplib.SMTPDataError(554, b"refused")
    with mock.patch("clinic.services.invitations.send_email", side_effect=refused):
        assert w.browser("therapist").post_form(url).status_code == 302
    target = f"invitation:{invitation_id}"
    return [
        clinician(w, "therapist", "invitation.reminded", couple=True, target=target),
        clinician(w, "therapist", "invitation.reminder_failed", couple=True, target=target),
    ]


def couple_exported(w):
    assert w.browser("therapist").get(f"/couples/{w.couple_id}/export").status_code == 200
    return [clinician(w, "therapist", "couple.exported", couple=True, target=f"couple:{w.couple_id}")]


def scores_exported(w):
    assert w.browser("therapist").get(f"/couples/{w.couple_id}/export.csv").status_code == 200
    assert w.browser("owner").get("/practice/export.csv").status_code == 200
    return [
        clinician(w, "therapist", "couple.exported_csv", couple=True, target=f"couple:{w.couple_id}"),
        clinician(w, "owner", "practice.exported_csv", target=f"practice:{w.practice_id}"),
    ]


def couple_exported_fhir(w):
    assert w.browser("therapist").get(f"/couples/{w.couple_id}/export/fhir?free_text=1").status_code == 200
    return [clinician(w, "therapist", "couple.exported_fhir", couple=True, target=f"couple:{w.couple_id}")]


def practice_exported_fhir(w):
    with tempfile.TemporaryDirectory() as folder:
        args = ["export-fhir", "--output", folder, "--practice", str(w.practice_id)]
        assert w.app.test_cli_runner().invoke(args=args).exit_code == 0
    return [Row("practice.exported_fhir", "system", None, None, f"practice:{w.practice_id}")]


def outcomes_exported(w):
    assert w.browser("owner").get("/outcomes/export.csv").status_code == 200
    assert w.browser("therapist").get(f"/outcomes/export.csv?clinician={w.ids['therapist']}").status_code == 200
    return [clinician(w, "owner", "outcomes.exported"), clinician(w, "therapist", "outcomes.exported")]


def couple_deleted(w):
    kept = w.db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.couple_id == w.couple_id))
    assert kept > 0
    response = w.browser("owner").post_form(f"/couples/{w.couple_id}/delete", {"confirm": w.couple_label})
    assert response.status_code == 302
    w.db.session.expire_all()
    assert w.db.session.scalar(sa.select(Couple.id).where(Couple.id == w.couple_id)) is None
    # The couple's earlier rows stay: the trail outlives what it talks about.
    after = w.db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.couple_id == w.couple_id))
    assert after == kept + 1
    return [clinician(w, "owner", "couple.deleted", couple=True, target=f"couple:{w.couple_id}")]


def settings_changed(w):
    assert w.browser("owner").post_form("/practice/settings", SETTINGS).status_code == 302
    return [clinician(w, "owner", "practice.settings_changed")]


def clinician_invited(w):
    data = {"name": "Nia Newcomer", "email": "nia.newcomer@example.org", "credential": "LMFT"}
    assert w.browser("owner").post_form("/practice/clinicians/invite", data).status_code in (200, 302)
    new_id = w.db.session.scalar(sa.select(Clinician.id).where(Clinician.email == "nia.newcomer@example.org"))
    return [clinician(w, "owner", "clinician.invited", target=f"clinician:{new_id}")]


def clinician_invitation_resent(w):
    response = w.browser("owner").post_form(f"/practice/clinicians/{w.ids['pending']}/resend")
    assert response.status_code in (200, 302)
    return [clinician(w, "owner", "clinician.invitation_reissued", target=f"clinician:{w.ids['pending']}")]


def clinician_joined(w):
    browser = anonymous_browser(w)
    assert browser.get(f"/invite/{w.invite_token}").status_code == 302
    assert browser.post_form("/invite", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    return [Row("clinician.joined", "clinician", w.ids["pending"])]


def clinician_deactivated(w):
    assert w.browser("owner").post_form(f"/practice/clinicians/{w.ids['colleague']}/deactivate").status_code == 302
    return [clinician(w, "owner", "clinician.deactivated", target=f"clinician:{w.ids['colleague']}")]


def clinician_reactivated(w):
    assert w.browser("owner").post_form(f"/practice/clinicians/{w.ids['former']}/reactivate").status_code == 302
    return [clinician(w, "owner", "clinician.reactivated", target=f"clinician:{w.ids['former']}")]


def couple_form(w, label: str) -> dict:
    return {
        "label": label,
        "partner_a-display_name": w.partner_names[1],
        "partner_a-email": w.partner_emails[1],
        "partner_b-display_name": w.partner_names[2],
        "partner_b-email": w.partner_emails[2],
        "clinician_id": str(w.ids["therapist"]),
    }


def couple_created(w):
    response = w.browser("therapist").post_form("/couples/new", couple_form(w, "Brand New Pair"))
    assert response.status_code == 302
    new_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return [Row("couple.created", "clinician", w.ids["therapist"], new_id, f"couple:{new_id}")]


def couple_updated(w):
    response = w.browser("therapist").post_form(f"/couples/{w.couple_id}/edit", couple_form(w, "Relabelled Pair"))
    assert response.status_code == 302
    return [clinician(w, "therapist", "couple.updated", couple=True, target=f"couple:{w.couple_id}")]


def couple_archived(w):
    assert w.browser("therapist").post_form(f"/couples/{w.couple_id}/archive").status_code == 302
    return [clinician(w, "therapist", "couple.archived", couple=True, target=f"couple:{w.couple_id}")]


def couple_unarchived(w):
    assert w.browser("therapist").post_form(f"/couples/{w.archived_couple_id}/unarchive").status_code == 302
    target = f"couple:{w.archived_couple_id}"
    return [Row("couple.unarchived", "clinician", w.ids["therapist"], w.archived_couple_id, target)]


def notes_saved(w):
    url = f"/couples/{w.couple_id}/notes"
    assert w.browser("therapist").post_form(url, {"notes": "Quartzite lantern notes"}).status_code == 302
    return [clinician(w, "therapist", "couple.notes_saved", couple=True)]


def safety_reviewed(w):
    invitation_id = w.submitted_invitations[1]
    url = f"/couples/{w.couple_id}/safety/{invitation_id}/safety/afraid"
    assert w.browser("therapist").post_form(url, {"note": "Spoke with them"}).status_code == 302
    target = f"invitation:{invitation_id}"
    return [clinician(w, "therapist", "safety.reviewed", couple=True, target=target)]


def password_changed(w):
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert w.browser("therapist").post_form("/account/password", data).status_code == 302
    return [clinician(w, "therapist", "password.changed")]


def password_reset(w):
    browser = anonymous_browser(w)
    assert browser.post_form("/forgot-password", {"email": w.emails["therapist"]}).status_code in (200, 302)
    assert browser.get(f"/reset/{w.reset_token}").status_code == 302
    assert browser.post_form("/reset", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    return [
        Row("password.reset_requested", "anonymous", None, None, f"clinician:{w.ids['therapist']}"),
        # The link the world made earlier (for the colleague) is the one followed.
        clinician(w, "colleague", "password.reset_done", target=f"clinician:{w.ids['colleague']}"),
    ]


EVENTS: list[Callable[[World], list[Row]]] = [
    sign_in_ok,
    sign_in_wrong_password,
    sign_in_unknown_email,
    sign_in_locked,
    two_factor_on,
    two_factor_off,
    two_factor_recovery_code,
    two_factor_new_recovery_codes,
    clinician_unlocked,
    clinician_two_factor_reset,
    sign_out,
    results_viewed_by("therapist"),
    results_viewed_by("owner"),
    report_requested_and_generated,
    report_downloaded,
    assessment_sent,
    invitation_revoked,
    invitation_reissued,
    invitation_reminded,
    invitation_reminder_failed,
    couple_exported,
    outcomes_exported,
    scores_exported,
    couple_exported_fhir,
    practice_exported_fhir,
    couple_deleted,
    settings_changed,
    clinician_invited,
    clinician_invitation_resent,
    clinician_joined,
    clinician_deactivated,
    clinician_reactivated,
    couple_created,
    couple_updated,
    couple_archived,
    couple_unarchived,
    notes_saved,
    safety_reviewed,
    password_changed,
    password_reset,
]


def rows_after(db, last_id: int) -> list[Row]:
    db.session.expire_all()
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id))
    return [Row(e.action, e.actor, e.actor_id, e.couple_id, e.target) for e in events]


@pytest.mark.parametrize("act", EVENTS, ids=lambda act: act.__name__)
def test_each_action_writes_its_audit_row(make_world, db, act, outbox):
    w = make_world()
    w.prepare(tokens=False)
    last_id = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    expected = act(w)
    written = rows_after(db, last_id)
    missing = [row for row in expected if row not in written]
    assert not missing, f"missing {missing}; written: {written}"
    # Rows of this practice's actions are the practice's (the owner's audit page shows them).
    practice_rows = db.session.scalars(sa.select(AuditEvent.practice_id).where(AuditEvent.id > last_id)).all()
    assert w.other_practice_id not in practice_rows
    assert audit.verify() == []


def test_every_audited_action_in_the_code_is_driven_here():
    """A new audit.record(...) call without a case above fails this test."""
    from pathlib import Path

    action = r'"([a-z0-9]+\.[a-z_]+)"'
    found = set()
    for path in (Path(__file__).resolve().parents[1] / "clinic").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r"audit\.record\(\s*" + action, text))
        found |= set(re.findall(r"_audit\([^,]+,\s*" + action, text))
        for pair in re.findall(action + r" if [\w.]+ else " + action, text):
            found |= set(pair)
    expected = set(re.findall(r"(?:Row|clinician)\([^)]*?" + action, Path(__file__).read_text()))
    assert len(found) > 25
    assert found <= expected, sorted(found - expected)


# --- nothing typed or sent ends up in the trail ------------------------------------------------


def test_no_audit_row_holds_notes_answers_tokens_or_passwords(make_world, make_couple, make_assessment, db, outbox):
    w = make_world()
    w.prepare(tokens=False)
    note = "Obsidian heron confided secrets"
    review_note = "Cobalt harbour review words"
    free_text = "Marigold anything-else answer text"
    therapist, owner = w.browser("therapist"), w.browser("owner")

    # Partners answer through the pages, one with free text.
    _, context_tokens = make_assessment(
        make_couple(db.session.get(Clinician, w.ids["therapist"])), instruments=["life_context"]
    )
    answers = [(w.open_tokens[1], "checkin", item, value) for item, value in CHECKIN.items()]
    answers.append((context_tokens[1], "life_context", "anything_else", free_text))
    for token, instrument, item, value in answers:
        partner = w.app.test_client()
        assert partner.get(f"/l/{token}").status_code == 302
        csrf = CSRF_META.search(partner.get("/q").get_data(as_text=True)).group(1)
        body = {"instrument": instrument, "item": item, "value": value}
        assert partner.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf}).status_code == 200
    # The clinician writes notes, reviews a flag with a note, views, exports, reports, re-sends links.
    assert therapist.post_form(f"/couples/{w.couple_id}/notes", {"notes": note}).status_code == 302
    url = f"/couples/{w.couple_id}/safety/{w.submitted_invitations[1]}/safety/afraid"
    assert therapist.post_form(url, {"note": review_note}).status_code == 302
    assert therapist.get(f"/couples/{w.couple_id}").status_code == 200
    assert therapist.get(f"/couples/{w.couple_id}/export").status_code == 200
    reissue = f"/couples/{w.couple_id}/invitations/{w.open_invitations[2]}/reissue"
    assert therapist.post_form(reissue, {"expiry_days": "7", "send_email": "y"}).status_code in (200, 302)
    report = therapist.post_form(f"/couples/{w.couple_id}/reports", {"kind": "clinician"})
    wait_until_done(db, int(report.headers["Location"].rsplit("/", 1)[1]))
    # Accounts: an invitation accepted, a password reset and a password change, 2FA on.
    joiner = anonymous_browser(w)
    joiner.get(f"/invite/{w.invite_token}")
    assert joiner.post_form("/invite", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    resetter = anonymous_browser(w)
    resetter.get(f"/reset/{w.reset_token}")
    assert resetter.post_form("/reset", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    change = {"current_password": PASSWORD, "password": NEW_PASSWORD + "!", "confirm": NEW_PASSWORD + "!"}
    assert owner.post_form("/account/password", change).status_code == 302
    secret, codes = enrol(therapist)
    anonymous_browser(w).post_form("/signin", {"email": w.emails["therapist"], "password": "a wrong password"})

    mails = " ".join(m.get_body(("plain",)).get_content() for m in outbox())
    sent_tokens = set(re.findall(r"/(?:l|invite|reset)/([A-Za-z0-9_\-]{20,})", mails))
    assert sent_tokens
    secrets = {
        "notes": note,
        "review note": review_note,
        "free text": free_text,
        "prep notes": w.prep_notes,
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "TOTP secret": secret,
        **{f"recovery code {i}": c for i, c in enumerate(codes)},
        **{f"link token {i}": t for i, t in enumerate([*w.open_tokens.values(), *w.submitted_tokens.values()])},
        **{f"context link token {p}": t for p, t in context_tokens.items()},
        "invitation token": w.invite_token,
        "reset token": w.reset_token,
        **{f"emailed token {i}": t for i, t in enumerate(sorted(sent_tokens))},
        **{k: v for k, v in w.secrets().items() if k != "prep notes"},
    }
    db.session.expire_all()
    events = db.session.scalars(sa.select(AuditEvent)).all()
    assert len(events) > 20
    assert {"couple.notes_saved", "safety.reviewed", "couple.exported", "2fa.enabled"} <= {e.action for e in events}
    problems = []
    for event in events:
        text = json.dumps(
            {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns}, default=str, ensure_ascii=False
        )
        problems += [f"{what} in row {event.id} ({event.action})" for what, value in secrets.items() if value in text]
        # Answer values never: no item id of an answered questionnaire is a detail key.
        assert not set(event.detail or {}) & set(CHECKIN), event.detail
    assert not problems, problems
    assert audit.verify() == []
