"""The owner browses and filters the audit trail; nobody else can."""

import re
from datetime import UTC, datetime

import pytest
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
    # The owner's own sign-in is shown; what does not start with "signin" is not.
    assert only_signins.count("<code>signin.success</code>") == 1
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


SHOWN_ACTION = re.compile(r"<code>(test\.[a-z_]+)</code>")


def shown(browser, query: str) -> list[str]:
    """The test actions on the audit page for this query, newest first."""
    response = browser.get("/practice/audit/" + query)
    assert response.status_code == 200
    return SHOWN_ACTION.findall(response.get_data(as_text=True))


def test_the_who_filter_shows_that_clinicians_rows_only(client, make_practice, make_clinician, db):
    owner = make_practice()
    colleague = make_clinician(owner, name="Lee Amsel")
    for who, action in ((colleague, "test.by_colleague"), (owner, "test.by_owner"), (colleague, "test.again")):
        audit.record(action, actor="clinician", actor_id=who.id, practice_id=owner.practice_id)
    audit.record("test.by_nobody", actor="system", practice_id=owner.practice_id)
    db.session.commit()
    browser = login(client, owner)

    assert shown(browser, f"?action=test&clinician={colleague.id}") == ["test.again", "test.by_colleague"]
    assert shown(browser, f"?action=test&clinician={owner.id}") == ["test.by_owner"]
    everyone = ["test.by_nobody", "test.again", "test.by_owner", "test.by_colleague"]
    assert shown(browser, "?action=test&clinician=0") == everyone
    page = browser.get(f"/practice/audit/?clinician={colleague.id}").get_data(as_text=True)
    assert '<td data-label="Who">Lee Amsel</td>' in page
    # Someone of another practice is not a choice: the filter is ignored, nothing leaks either way.
    stranger = make_practice()
    assert shown(browser, f"?action=test&clinician={stranger.id}") == everyone


# Rows at known instants; the practice is in New York (UTC-5 in early March).
AT = {
    "test.march_first": datetime(2026, 3, 1, 15, 0, tzinfo=UTC),
    "test.march_fifth_morning": datetime(2026, 3, 5, 5, 30, tzinfo=UTC),  # 00:30 on the 5th in New York
    "test.march_fifth_late": datetime(2026, 3, 6, 3, 0, tzinfo=UTC),  # 22:00 on the 5th in New York
    "test.march_tenth": datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
}


@pytest.fixture
def dated_trail(client, make_practice, db, monkeypatch):
    owner = make_practice(timezone="America/New_York")
    for action, at in AT.items():
        monkeypatch.setattr(audit, "utcnow", lambda at=at: at)
        audit.record(action, actor="system", practice_id=owner.practice_id)
    db.session.commit()
    monkeypatch.undo()
    return login(client, owner)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("start=2026-03-05", ["test.march_tenth", "test.march_fifth_late", "test.march_fifth_morning"]),
        ("end=2026-03-05", ["test.march_fifth_late", "test.march_fifth_morning", "test.march_first"]),
        ("start=2026-03-05&end=2026-03-05", ["test.march_fifth_late", "test.march_fifth_morning"]),
        ("start=2026-03-06&end=2026-03-09", []),
        ("start=2026-03-02", ["test.march_tenth", "test.march_fifth_late", "test.march_fifth_morning"]),
        ("end=2026-03-01", ["test.march_first"]),
    ],
)
def test_date_filters_are_whole_days_in_the_practice_zone(dated_trail, query, expected):
    assert shown(dated_trail, f"?action=test&{query}") == expected


def test_a_start_after_the_end_shows_nothing_rather_than_failing(dated_trail):
    assert shown(dated_trail, "?action=test&start=2026-03-10&end=2026-03-01") == []
