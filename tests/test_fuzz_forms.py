"""Random input to every form: never a 500, and nothing already saved is lost.

Each test keeps one world and one signed-in browser for all of its examples on purpose
(as tests/test_client_fuzz.py does for the partner's pages): what earlier examples saved
must survive the later ones, so sharing the function-scoped fixtures is the point and
their health check is suppressed. Posts are mostly a valid form with fields changed,
dropped or added, sometimes anything at all: text, unicode, NUL bytes, huge strings,
repeated fields. After a refused post the database is exactly as before; after an
accepted one it holds what was posted and nothing else changed.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from urllib.parse import quote, urlsplit

import pyotp
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clinic import passwords
from clinic.models import Clinician, Couple, Practice
from clinic.services import accounts, twofactor
from tests.conftest import ACTORS, PASSWORD, World, snapshot_diff
from tests.test_access_matrix import CELLS, EXPECTED, REQUESTS, ROUTES, url_for_world, world_values

SHARED = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "  padded  ",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\u202etxet",
    "🙂" * 30,
    "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45",  # full-width "example"
    "0",
    "-1",
    "1e309",
    "NaN",
    "9" * 30,
    "9999-12-31",
    "x" * 121,
    "x" * 1001,
]
# Past every field's limit; the last is past the 256 KB body limit too.
HUGE = ["x" * 20_001, "é" * 70_000, "y" * 300_000]
# Short text, long text within most limits, the nasty list, and past every limit.
text_values = (
    st.text(max_size=60) | st.text(min_size=61, max_size=1500) | st.sampled_from(NASTY) | st.sampled_from(HUGE)
)
values = text_values | st.lists(text_values, min_size=2, max_size=3)
field_names = st.text(min_size=1, max_size=12).filter(lambda name: name != "csrf_token")
_addresses = itertools.count(1)


@st.composite
def form_posts(draw, valid: dict):
    """Mostly the valid form with some fields changed, dropped or added; sometimes anything at all."""
    names = list(valid)
    if draw(st.integers(0, 3)) == 0:
        return draw(st.dictionaries(st.sampled_from(names) | field_names, values, max_size=len(names) + 2))
    data = dict(valid)
    for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))):
        if draw(st.booleans()):
            data.pop(name)
        else:
            data[name] = draw(values)
    data.update(draw(st.dictionaries(field_names, values, max_size=2)))
    return data


def first(data: dict, name: str):
    """The value a form reads for a field: the first of repeated values, None when missing."""
    value = data.get(name)
    return value[0] if isinstance(value, list) else value


def new_browser(app):
    """A fresh browser from an address of its own (per-address rate limits are not under test)."""
    browser = app.test_client()
    n = next(_addresses)
    browser.environ_base["REMOTE_ADDR"] = f"10.251.{n // 250 % 250}.{n % 250 + 1}"
    return browser


def post(browser, url: str, data: dict, token: str):
    """POST a form with a valid CSRF token; a 500 fails the test at once."""
    response = browser.post(url, data={**data, "csrf_token": token})
    assert response.status_code < 500, (response.status_code, url, {k: str(v)[:80] for k, v in data.items()})
    return response


def only(diff: list[str], *prefixes: str) -> list[str]:
    """The lines of a diff that are about none of the given rows."""
    return [line for line in diff if not line.startswith(prefixes)]


def clinician(db, clinician_id: int) -> Clinician:
    """A clinician, read afresh."""
    db.session.expire_all()
    return db.session.get(Clinician, clinician_id)


def unlock(db, clinician_id: int) -> None:
    """Forget failed attempts, so that later examples still reach the step under test."""
    db.session.execute(
        sa.update(Clinician)
        .where(Clinician.id == clinician_id)
        .values(failed_signins=0, failed_signins_since=None, locked_until=None)
    )
    db.session.commit()


@pytest.fixture
def world(make_world, server_errors_as_pages, monkeypatch) -> World:
    """One world shared by every example of a test; requested reports stay queued."""
    from clinic.reports import jobs

    monkeypatch.setattr(jobs, "enqueue", lambda report_id: None)
    made = make_world()
    # Signing in writes to the clinician's row: done before any example's "before".
    for actor in ("therapist", "owner"):
        made.csrf(actor)
    return made


# Sign-in and clinicians' one-time links.


@SHARED
@given(data=st.data())
def test_signin(data, app, world):
    """Only the right email and password sign in; redirects stay on this site; nothing changes."""
    if not hasattr(world, "baseline"):
        world.baseline = world.snapshot()
    email = world.emails["therapist"]
    valid = {
        "email": data.draw(st.sampled_from([email, email.upper(), f"  {email} "])),
        "password": PASSWORD,
        "next": data.draw(
            st.sampled_from(
                ["/couples/", "//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"]
            )
            | st.text(max_size=20)
        ),
    }
    form = data.draw(form_posts(valid))
    browser = new_browser(app)
    response = post(browser, "/signin", form, browser.csrf_token())
    if response.status_code == 302 and urlsplit(response.location).path != "/signin/code":
        assert accounts.normalise_email(first(form, "email") or "") == email and first(form, "password") == PASSWORD
        parts = urlsplit(response.location)
        assert parts.netloc in ("", "localhost") and response.location.startswith("/")
        assert not response.location.startswith(("//", "/\\"))
    assert not snapshot_diff(world.baseline, world.snapshot(), ignore=("updated_at",))


@SHARED
@given(data=st.data())
def test_accept_invitation(data, app, db, world):
    """The invited clinician's password is set only from a valid, matching pair."""
    pending = clinician(db, world.ids["pending"])
    if pending.password_hash is not None:  # an earlier example accepted: invite again
        db.session.execute(sa.update(Clinician).where(Clinician.id == pending.id).values(password_hash=None))
    raw = accounts.reissue_invitation(pending, lifetime=timedelta(hours=1))
    db.session.commit()
    before = world.snapshot()
    browser = new_browser(app)
    assert browser.get(f"/invite/{raw}").status_code == 302
    form = data.draw(form_posts({"password": "a long new password", "confirm": "a long new password"}))
    response = post(browser, "/invite", form, browser.csrf_token())
    stored = clinician(db, pending.id).password_hash
    if response.status_code == 302:
        assert first(form, "password") == first(form, "confirm")
        assert passwords.verify_password(stored, first(form, "password"))
    else:
        assert stored is None
    assert not only(snapshot_diff(before, world.snapshot()), f"clinician ({pending.id},)", "account_token")


@SHARED
@given(data=st.data())
def test_forgot_password(data, app, world):
    """Any address gets the same answer; only reset links of that address's account change."""
    email = world.emails["colleague"]
    form = data.draw(form_posts({"email": data.draw(st.sampled_from([email, "nobody@example.org"]))}))
    before = world.snapshot()
    browser = new_browser(app)
    post(browser, "/forgot-password", form, browser.csrf_token())
    assert not only(snapshot_diff(before, world.snapshot()), "account_token")


@SHARED
@given(data=st.data())
def test_reset_password(data, app, db, world):
    """A reset link sets the password only from a valid, matching pair; otherwise the old one stays."""
    colleague = clinician(db, world.ids["colleague"])
    _, raw = accounts.request_password_reset(colleague.email, lifetime=timedelta(minutes=30))
    db.session.commit()
    old_hash = colleague.password_hash
    before = world.snapshot()
    browser = new_browser(app)
    assert browser.get(f"/reset/{raw}").status_code == 302
    form = data.draw(form_posts({"password": "another long password", "confirm": "another long password"}))
    response = post(browser, "/reset", form, browser.csrf_token())
    stored = clinician(db, colleague.id).password_hash
    if response.status_code == 302:
        assert first(form, "password") == first(form, "confirm")
        assert passwords.verify_password(stored, first(form, "password"))
    else:
        assert stored == old_hash
    assert not only(snapshot_diff(before, world.snapshot()), f"clinician ({colleague.id},)", "account_token")


# A clinician's own account.


@SHARED
@given(data=st.data())
def test_change_password(data, app, db, world):
    """The password changes only with the current one and a valid, matching new pair."""
    if not hasattr(world, "password"):
        world.password = PASSWORD
    unlock(db, world.ids["colleague"])
    browser = world.browser("colleague")
    old_hash = clinician(db, world.ids["colleague"]).password_hash
    valid = {
        "current_password": world.password,
        "password": "a fresh long password",
        "confirm": "a fresh long password",
    }
    form = data.draw(form_posts(valid))
    before = world.snapshot()
    response = post(browser, "/account/password", form, world.csrf("colleague"))
    stored = clinician(db, world.ids["colleague"]).password_hash
    if response.status_code == 302 and urlsplit(response.location).path == "/account":
        assert first(form, "current_password") == world.password
        assert first(form, "password") == first(form, "confirm")
        assert passwords.verify_password(stored, first(form, "password"))
        world.password = first(form, "password")
    else:
        assert stored == old_hash
    assert not only(snapshot_diff(before, world.snapshot()), f"clinician ({world.ids['colleague']},)")


@SHARED
@given(code=text_values | st.from_regex(r"\A[0-9 -]{6,8}\Z"))
def test_two_factor_confirm_code(code, app, db, world):
    """Random codes never turn two-factor sign-in on, and never break the page."""
    browser = world.browser("therapist")
    if not clinician(db, world.ids["therapist"]).totp_secret:
        post(browser, "/account/two-factor/start", {}, world.csrf("therapist"))
    response = post(browser, "/account/two-factor", {"code": code}, world.csrf("therapist"))
    enabled = clinician(db, world.ids["therapist"]).two_factor_enabled
    assert enabled == (response.status_code == 200 and "recovery" in response.get_data(as_text=True).lower())


def enrol(db, clinician_id: int) -> list[str]:
    """Turn two-factor sign-in on for a clinician; returns the recovery codes."""
    person = clinician(db, clinician_id)
    twofactor.begin_enrolment(person)
    codes = twofactor.confirm_enrolment(person, pyotp.TOTP(person.totp_secret).now())
    db.session.commit()
    return codes


@SHARED
@given(data=st.data())
def test_two_factor_signin_code(data, app, db, world):
    """After the right password, random codes never sign in and never break the page."""
    outsider = world.ids["outsider"]
    if not clinician(db, outsider).two_factor_enabled:
        enrol(db, outsider)
    unlock(db, outsider)
    browser = new_browser(app)
    signin = post(browser, "/signin", {"email": world.emails["outsider"], "password": PASSWORD}, browser.csrf_token())
    assert signin.status_code == 302 and urlsplit(signin.location).path == "/signin/code"
    form = data.draw(form_posts({"code": data.draw(text_values | st.from_regex(r"\A[0-9]{6}\Z"))}))
    response = post(browser, "/signin/code", form, browser.csrf_token())
    assert not (response.status_code == 302 and urlsplit(response.location).path not in ("/signin", "/signin/code"))


@SHARED
@given(data=st.data())
def test_two_factor_disable(data, app, db, world):
    """Turning two-factor sign-in off needs the password and a code; random input leaves it on."""
    outsider = world.ids["outsider"]
    if not hasattr(world, "recovery"):
        world.recovery = enrol(db, outsider)
        browser = new_browser(app)
        post(browser, "/signin", {"email": world.emails["outsider"], "password": PASSWORD}, browser.csrf_token())
        done = post(browser, "/signin/code", {"code": world.recovery.pop()}, browser.csrf_token())
        assert done.status_code == 302 and urlsplit(done.location).path != "/signin"
        world.outsider_browser = browser
    unlock(db, outsider)
    browser = world.outsider_browser
    form = data.draw(form_posts({"password": PASSWORD, "code": "000000"}))
    response = post(browser, "/account/two-factor/disable", form, browser.csrf_token())
    assert response.status_code in (302, 400, 413)
    assert clinician(db, outsider).two_factor_enabled


# The owner's practice pages.


@SHARED
@given(data=st.data())
def test_invite_clinician(data, app, world):
    """An invitation adds one clinician with what was posted; a refused one adds nothing."""
    valid = {"name": "Ivy New", "email": f"ivy{next(_addresses)}@example.org", "credential": "LMFT"}
    form = data.draw(form_posts(valid))
    before = world.snapshot()
    response = post(world.browser("owner"), "/practice/clinicians/invite", form, world.csrf("owner"))
    diff = snapshot_diff(before, world.snapshot())
    if response.status_code == 200:
        assert [line.split(" (")[0] for line in diff] == ["account_token", "clinician"]
        assert all(line.endswith("added") for line in diff)
    else:
        assert response.status_code in (400, 413) and not diff


@SHARED
@given(data=st.data())
def test_practice_settings(data, app, world):
    """Saved settings are exactly what was posted; refused settings change nothing."""
    valid = {
        "name": "Practice renamed",
        "timezone": "Europe/Berlin",
        "invite_expiry_days": "10",
        "reminder_after_days": "2",
        "reminder_max": "1",
        "report_page_size": "Letter",
        "crisis_text": "Call 112 in an emergency.",
    }
    form = data.draw(form_posts(valid))
    before = world.snapshot()
    response = post(world.browser("owner"), "/practice/settings", form, world.csrf("owner"))
    after = world.snapshot()
    diff = snapshot_diff(before, after, ignore=("updated_at",))
    if response.status_code == 302:
        assert not only(diff, f"practice ({world.practice_id},)")
        # A field left out keeps what is saved (WTForms reads it from the practice).
        was, saved = before["practice", (world.practice_id,)], after["practice", (world.practice_id,)]
        for name in ("name", "crisis_text", "timezone", "report_page_size"):
            assert saved[name] == (first(form, name) if name in form else was[name])
        for name in ("invite_expiry_days", "reminder_after_days", "reminder_max"):
            assert saved[name] == (int(first(form, name)) if name in form else was[name])
    else:
        assert response.status_code in (400, 413) and not diff


# Couples.


COUPLE_FORM = {
    "label": "Heron Pike",
    "partner_a-display_name": "Noor",
    "partner_a-email": "noor@example.org",
    "partner_a-pronouns": "she/her",
    "partner_b-display_name": "Ilse",
    "partner_b-email": "",
    "partner_b-pronouns": "",
}


@SHARED
@given(form=form_posts(COUPLE_FORM))
def test_create_couple(form, world):
    """A new couple has the posted label; a refused form adds nothing; no other couple changes."""
    before = world.snapshot()
    response = post(world.browser("therapist"), "/couples/new", form, world.csrf("therapist"))
    after = world.snapshot()
    diff = snapshot_diff(before, after)
    if response.status_code == 302:
        assert all(line.endswith("added") for line in diff) and len(diff) == 3
        new = max(pk for table, (pk,) in after if table == "couple")
        assert after["couple", (new,)]["label"] == first(form, "label").strip()
    else:
        assert response.status_code in (400, 413) and not diff


@SHARED
@given(data=st.data())
def test_edit_couple(data, world):
    """An edit saves the posted label and names; a refused edit keeps the couple as it was."""
    valid = {
        "label": world.couple_label,
        "partner_a-display_name": world.partner_names[1],
        "partner_a-email": world.partner_emails[1],
        "partner_b-display_name": world.partner_names[2],
        "partner_b-email": world.partner_emails[2],
    }
    form = data.draw(form_posts(valid))
    before = world.snapshot()
    response = post(world.browser("therapist"), f"/couples/{world.couple_id}/edit", form, world.csrf("therapist"))
    after = world.snapshot()
    diff = snapshot_diff(before, after)
    if response.status_code == 302:
        assert not only(diff, f"couple ({world.couple_id},)", "partner")
        saved = after["couple", (world.couple_id,)]
        # A field left out keeps what is saved (the form is filled from the couple).
        assert saved["label"] == (first(form, "label").strip() if "label" in form else world.couple_label)
        world.couple_label = saved["label"]
    else:
        assert response.status_code in (400, 413) and not diff


@SHARED
@given(
    form=form_posts(
        {"occasion": "Week 6", "instruments": ["checkin", "safety"], "expiry_days": "14", "send_email": "y"}
    )
)
def test_new_assessment(form, world):
    """A new assessment adds itself and two links; a refused form adds nothing."""
    before = world.snapshot()
    url = f"/couples/{world.couple_id}/assessments/new"
    response = post(world.browser("therapist"), url, form, world.csrf("therapist"))
    diff = snapshot_diff(before, world.snapshot())
    if response.status_code == 200 and "Links for" in response.get_data(as_text=True):
        assert not only([d for d in diff if not d.endswith("added")], f"couple ({world.couple_id},)")
        assert sorted(d.split(" (")[0] for d in diff if d.endswith("added")) == [
            "assessment",
            "invitation",
            "invitation",
        ]
    else:
        assert not diff


@SHARED
@given(form=form_posts({"expiry_days": "7", "send_email": "y"}))
def test_reissue(form, world):
    """A new link replaces the token and nothing else; a refused form keeps the old link."""
    invitation = world.open_invitations[1]
    before = world.snapshot()
    url = f"/couples/{world.couple_id}/invitations/{invitation}/reissue"
    response = post(world.browser("therapist"), url, form, world.csrf("therapist"))
    diff = snapshot_diff(before, world.snapshot())
    if response.status_code == 200:
        assert any(d.startswith(f"invitation ({invitation},) changed") and "token_hash" in d for d in diff)
        assert not only(diff, f"invitation ({invitation},)", f"couple ({world.couple_id},)")
    else:
        assert not diff


@SHARED
# Long notes by default: a save that kept only part of them would show.
@given(form=form_posts({"notes": "Start with the check-in gap, then ask about the move. " * 30}))
def test_prep_notes(form, world):
    """Valid notes are saved as typed (line ends and ends trimmed); too long ones keep the old notes."""
    before = world.snapshot()
    response = post(world.browser("therapist"), f"/couples/{world.couple_id}/notes", form, world.csrf("therapist"))
    after = world.snapshot()
    notes = first(form, "notes")
    # Too long, or holding NUL (every form refuses it: clinic.forms.Form): the old notes stay.
    if response.status_code == 413 or (notes is not None and (len(notes) > 20_000 or "\x00" in notes)):
        assert not snapshot_diff(before, after)
    else:
        assert response.status_code == 302
        expected = (notes or "").replace("\r\n", "\n").strip()
        assert after["couple", (world.couple_id,)]["prep_notes"] == expected
        assert not only(snapshot_diff(before, after), f"couple ({world.couple_id},)")


@SHARED
@given(
    instrument=st.sampled_from(["safety", "safety", "checkin"]) | st.text(min_size=1, max_size=20),
    item=st.sampled_from(["afraid", "afraid", "controlled"]) | st.text(min_size=1, max_size=20),
    form=form_posts({"note": "Followed up in an individual session; safety plan agreed. " * 12}),
)
def test_safety_review(instrument, item, form, world):
    """A real flag gets the posted note; anything else is 404 or refused and changes nothing."""
    invitation = world.submitted_invitations[1]
    url = f"/couples/{world.couple_id}/safety/{invitation}/{quote(instrument, safe='')}/{quote(item, safe='')}"
    before = world.snapshot()
    response = post(world.browser("therapist"), url, form, world.csrf("therapist"))
    after = world.snapshot()
    diff = snapshot_diff(before, after)
    note = first(form, "note")
    if (
        (instrument, item) == ("safety", "afraid")
        and response.status_code == 302
        and (note is None or len(note) <= 1000)
        and "\x00" not in (note or "")  # every form refuses NUL (clinic.forms.Form)
    ):
        reviews = [v for (table, _), v in after.items() if table == "safety_review"]
        assert [r["note"] for r in reviews] == [(note or "").strip()]
        # The couple's count of unreviewed flags (for the dashboard) falls to 0 with the first
        # review; nothing else of the couple changes, and later reviews leave it alone.
        couple = ("couple", (world.couple_id,))
        assert after[couple]["unreviewed_flags"] == 0
        if before[couple]["unreviewed_flags"] == 0:
            assert not only(diff, "safety_review")
        else:
            assert before[couple]["unreviewed_flags"] == 1
            assert only(diff, "safety_review") == [f"couple ({world.couple_id},) changed: unreviewed_flags, updated_at"]
    else:
        assert not diff


CHECKIN_FORM = {
    "checkin-cadence": "weekly",
    "checkin-first_date": (date.today() + timedelta(days=9)).isoformat(),
    "checkin-session_time": "18:00",
    "checkin-dates": "",
    "checkin-lead_hours": "24",
}


@SHARED
@given(form=form_posts(CHECKIN_FORM))
def test_checkin_schedule(form, world):
    """A saved schedule holds the posted cadence and lead time; a refused form changes nothing and says why."""
    before = world.snapshot()
    url = f"/couples/{world.couple_id}/checkins"
    response = post(world.browser("therapist"), url, form, world.csrf("therapist"))
    after = world.snapshot()
    diff = snapshot_diff(before, after)
    if response.status_code == 302:
        assert not only(diff, "checkin_schedule")  # the same schedule posted again changes nothing
        (saved,) = [row for (table, _), row in after.items() if table == "checkin_schedule"]
        assert saved["cadence"].value == first(form, "checkin-cadence")
        assert saved["lead_hours"] == int(first(form, "checkin-lead_hours"))
        assert not saved["paused"] and saved["ended_at"] is None
    else:
        assert response.status_code in (400, 413) and not diff
        if response.status_code == 400:
            assert 'class="field-errors"' in response.get_data(as_text=True)


@SHARED
@given(form=form_posts({"kind": "clinician", "appendix": "y"}))
def test_request_report(form, world):
    """Asking for a PDF only ever adds a queued report; the ready one stays as it was."""
    before = world.snapshot()
    response = post(world.browser("therapist"), f"/couples/{world.couple_id}/reports", form, world.csrf("therapist"))
    diff = snapshot_diff(before, world.snapshot())
    assert response.status_code in (302, 413)
    assert all(line.startswith("report") and line.endswith("added") for line in diff)


@SHARED
@given(data=st.data())
def test_delete_couple(data, db, world, make_couple):
    """A couple is deleted only when its label is typed exactly; otherwise nothing is lost."""
    if not hasattr(world, "victim"):
        world.victim = None
    if world.victim is None:
        therapist = db.session.get(Clinician, world.ids["therapist"])
        couple = make_couple(therapist, label="Wren & Ash")
        world.victim = (couple.id, couple.label)
    couple_id, label = world.victim
    confirm = data.draw(
        st.sampled_from([label, f"  {label}\n", label.upper(), label.replace(" ", "\u00a0"), label[:-1], f"{label}."])
        | text_values
    )
    form = data.draw(form_posts({"confirm": confirm}))
    before = world.snapshot()
    response = post(world.browser("therapist"), f"/couples/{couple_id}/delete", form, world.csrf("therapist"))
    diff = snapshot_diff(before, world.snapshot())
    typed = first(form, "confirm")
    if typed is not None and typed.strip() == label and response.status_code == 302:
        assert diff and all(line.endswith("removed") for line in diff)
        assert f"couple ({couple_id},) removed" in diff
        world.victim = None
    else:
        assert not diff, (typed, diff)
    db.session.expire_all()
    assert db.session.get(Couple, world.couple_id) is not None


# The GET filters.

query_values = text_values | st.integers(min_value=-(2**80), max_value=2**80).map(str)


@SHARED
@given(query=st.dictionaries(st.sampled_from(["q", "status", "page"]) | field_names, query_values, max_size=4))
@example(query={"page": "99999999999999999999"})
@example(query={"q": "%_\\", "status": "expired"})
@example(query={"q": "a\x00b"})
def test_dashboard_filters(query, world):
    """Any search, status or page shows a page: a filter it cannot use is ignored."""
    response = world.browser("therapist").get("/couples/", query_string=query)
    assert response.status_code == 200, response.status_code


@SHARED
@given(
    query=st.dictionaries(
        st.sampled_from(["action", "clinician", "couple", "start", "end", "before"]) | field_names,
        query_values | st.dates().map(str),
        max_size=5,
    )
)
@example(query={"before": "99999999999999999999"})
@example(query={"couple": "99999999999999999999"})
@example(query={"clinician": "99999999999999999999"})
@example(query={"end": "9999-12-31"})
@example(query={"start": "0001-01-01"})
@example(query={"action": "a\x00b"})
def test_audit_filters(query, db, world):
    """Any filter of the audit trail shows a page, in a practice east of UTC as well."""
    db.session.execute(sa.update(Practice).where(Practice.id == world.practice_id).values(timezone="Asia/Tokyo"))
    db.session.commit()
    response = world.browser("owner").get("/practice/audit/", query_string=query)
    assert response.status_code == 200, response.status_code


@SHARED
@given(
    query=st.dictionaries(
        st.sampled_from(["clinician", "start", "end"]) | field_names,
        query_values | st.dates().map(str),
        max_size=4,
    ),
    actor=st.sampled_from(["owner", "therapist"]),
    path=st.sampled_from(["/outcomes/", "/outcomes/export.csv"]),
)
@example(query={"clinician": "99999999999999999999"}, actor="owner", path="/outcomes/")
@example(query={"end": "9999-12-31"}, actor="owner", path="/outcomes/export.csv")
@example(query={"start": "0001-01-01"}, actor="therapist", path="/outcomes/")
@example(query={"start": "a\x00b"}, actor="owner", path="/outcomes/")
def test_outcomes_filters(query, actor, path, db, world):
    """Any filter of the outcomes overview or its CSV answers a page, a refusal in words (400) or,
    for a therapist out of reach, 404: never a server error."""
    db.session.execute(
        sa.update(Practice).where(Practice.id == world.practice_id).values(timezone="Pacific/Kiritimati")
    )
    db.session.commit()
    response = world.browser(actor).get(path, query_string=query)
    assert response.status_code in (200, 400, 404), response.status_code
    if response.status_code == 400:
        assert "Nothing is shown until the filters above are corrected." in response.text


# Every state-changing route, whatever else is posted with it, and every URL parameter.

WRITES = [cell for cell in CELLS if cell[1] != "GET" and cell in EXPECTED]


def allowed_actor(cell) -> str:
    """The first actor the access matrix lets through (anonymous if nobody)."""
    row_ = dict(zip(ACTORS, EXPECTED[cell], strict=True))
    return next(
        (a for a in ("therapist", "owner", "partner_a", "anonymous", "colleague") if row_[a] == "ok"), "anonymous"
    )


@pytest.mark.parametrize("cell", WRITES, ids=[f"{m} {e}" for e, m in WRITES])
@settings(SHARED, max_examples=6)
@given(extra=st.dictionaries(field_names, values, min_size=1, max_size=4))
def test_extra_fields_on_every_form(cell, extra, app, world):
    """Unknown fields next to a valid form never cause a server error."""
    endpoint = cell[0]
    actor = allowed_actor(cell)
    spec = REQUESTS.get(cell, {})
    url = url_for_world(app, world, endpoint)
    browser = world.browser(actor)
    if "json" in spec:
        response = browser.post(url, json={**spec["json"], **extra}, headers={"X-CSRFToken": world.csrf(actor)})
        assert response.status_code < 500
        return
    form = spec.get("data", {})
    form = form(world, actor) if callable(form) else dict(form)
    post(browser, url, {**extra, **form}, world.csrf(actor))


# Every route with parameters, and which of them are numbers (record ids, a version).
PARAMETERISED = [cell for cell in CELLS if "<" in ROUTES.get(cell, "") and cell in EXPECTED]


def int_parameters(cell) -> list[str]:
    """The names of the URL's integer parameters."""
    return re.findall(r"<int:(\w+)>", ROUTES[cell])


def request(world: World, actor: str, method: str, url: str):
    """A GET, or a POST with the actor's valid CSRF token and nothing else."""
    browser = world.browser(actor)
    if method == "GET":
        return browser.get(url)
    return browser.open(url, method=method, data={"csrf_token": world.csrf(actor)})


@settings(SHARED, max_examples=40)
@given(data=st.data())
def test_url_parameters(data, app, world):
    """Unknown ids and odd text in any URL parameter answer a page or 404, never 500."""
    cell = data.draw(st.sampled_from(PARAMETERISED))
    endpoint, method = cell
    values = world_values(app, world, endpoint)
    for name, real in values.items():
        if name in int_parameters(cell):
            # Ids past the database's range: test_ids_beyond_the_database_range_are_404.
            odd = st.sampled_from([0, 2**31 - 1]) | st.integers(0, 2**31 - 1)
        else:
            odd = st.text(min_size=1, max_size=300)
        values[name] = data.draw(st.just(real) | odd)
    url = app.url_map.bind("localhost").build(endpoint, values)
    response = request(world, allowed_actor(cell), method, url)
    assert response.status_code < 500, (response.status_code, url[:200])


ID_CELLS = [cell for cell in PARAMETERISED if int_parameters(cell)]


def test_ids_beyond_the_database_range_are_404(app, world):
    """An id too large for the database is a record that does not exist: 404, not 500."""
    # 2^31 is past PostgreSQL's integer columns, 2^63 past SQLite's and bigint, 2^64 past both.
    failures = []
    for endpoint, method in ID_CELLS:
        for huge in (2**31, 2**63, 2**64):
            url = url_for_world(app, world, endpoint, **dict.fromkeys(int_parameters((endpoint, method)), huge))
            response = request(world, allowed_actor((endpoint, method)), method, url)
            if response.status_code != 404:
                failures.append(f"{method} {url}: {response.status_code}")
    assert not failures, f"{len(failures)} of {len(ID_CELLS) * 3} requests:\n" + "\n".join(failures)


NUL_FIRST = ("anonymous", "therapist", "owner", "partner_a", "colleague", "outsider")
FORM_CELLS = [cell for cell in WRITES if "data" in REQUESTS.get(cell, {})]


@pytest.mark.parametrize("cell", FORM_CELLS, ids=[f"{m} {e}" for e, m in FORM_CELLS])
def test_nul_byte_in_any_field_is_refused_not_500(cell, app, world):
    """A NUL byte, which PostgreSQL cannot store in text, in any field of a valid form: never a 500."""
    endpoint, method = cell
    row_ = dict(zip(ACTORS, EXPECTED[cell], strict=True))
    actor = next((a for a in NUL_FIRST if row_[a] == "ok"), "anonymous")
    data = REQUESTS[cell]["data"]
    valid = data(world, actor) if callable(data) else dict(data)
    failures = []
    for name in valid:
        form = {**valid, name: f"{valid[name]}\x00"}
        response = world.browser(actor).open(
            url_for_world(app, world, endpoint), method=method, data={**form, "csrf_token": world.csrf(actor)}
        )
        if response.status_code >= 500:
            failures.append(f"{name}: {response.status_code}")
    assert not failures, f"{method} {endpoint} as {actor}: " + ", ".join(failures)
