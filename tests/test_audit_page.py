"""The owner browses and filters the audit trail; nobody else can."""

import sqlalchemy as sa

from clinic import audit
from clinic.models import AuditEvent
from tests.conftest import login


def test_owner_sees_and_filters_the_practice_trail(client, make_practice, make_clinician, make_couple, db):
    owner = make_practice()
    colleague = make_clinician(owner, name="Lee Amsel")
    couple = make_couple(colleague, label="Q & R")
    other_practice = make_practice()
    make_couple(other_practice, label="Elsewhere")
    browser = login(client, owner)

    page = browser.get("/practice/audit/").get_data(as_text=True)
    assert "couple.created" in page and "Q &amp; R" in page
    assert "Elsewhere" not in page

    only_signins = browser.get("/practice/audit/?action=signin").get_data(as_text=True)
    assert "couple.created" not in only_signins

    by_couple = browser.get(f"/practice/audit/?couple={couple.id}").get_data(as_text=True)
    assert "couple.created" in by_couple


def test_paging_is_by_id(client, make_practice, db):
    owner = make_practice()
    for i in range(105):
        audit.record("test.event", practice_id=owner.practice_id, detail={"n": i})
    db.session.commit()
    browser = login(client, owner)
    first = browser.get("/practice/audit/?action=test").get_data(as_text=True)
    assert first.count("<code>test.event</code>") == 100 and 'rel="next"' in first
    oldest_shown = db.session.scalars(
        sa.select(AuditEvent.id).where(AuditEvent.action == "test.event").order_by(AuditEvent.id.desc()).limit(100)
    ).all()[-1]
    second = browser.get(f"/practice/audit/?action=test&before={oldest_shown}").get_data(as_text=True)
    assert second.count("<code>test.event</code>") == 5 and 'rel="next"' not in second


def test_bad_filters_are_ignored_not_errors(client, make_practice):
    browser = login(client, make_practice())
    for query in ("?couple=abc", "?start=yesterday", "?before=-1", "?clinician=99999", "?action=%25"):
        assert browser.get("/practice/audit/" + query).status_code == 200


def test_audit_page_is_owner_only(make_client, make_practice, make_clinician):
    owner = make_practice()
    assert login(make_client(), make_clinician(owner)).get("/practice/audit/").status_code == 404
    assert make_client().get("/practice/audit/").status_code == 302  # anonymous: sign in first
