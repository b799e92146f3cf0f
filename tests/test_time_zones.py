"""Every date and time a therapist is shown names its zone, or the page states the practice's zone.

A practice in New York sees "4 Dec 2026, 09:05 EST" (never a bare "09:05" that could be read as
UTC or as the reader's own zone), and every signed-in page says once which zone its dates are in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa

from clinic.models import Clinician
from tests.conftest import CHECKIN, SAFETY_FLAGGED, login

ZONE = "America/New_York"
# A time of day as pages write it, and what follows it.
TIME_OF_DAY = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b(?P<after>\s*\S*)")
ZONE_STATED = f"Dates and times are in the practice's time zone, {ZONE}."


def page_text(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<svg\b.*?</svg>", " ", html, flags=re.S)  # charts carry no clock times
    # Forms ask for times ("such as 18:00", in the zone their hint names): only shown times count.
    html = re.sub(r"<form\b.*?</form>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def times_without_zone(text: str) -> list[str]:
    return [m.group(0) for m in TIME_OF_DAY.finditer(text) if m.group("after").strip(" .,;:)") not in {"EST", "EDT"}]


def test_times_on_therapist_pages_name_the_practice_zone(
    client, db, make_practice, make_couple, make_assessment, answer_as
):
    owner = make_practice(timezone=ZONE)
    couple = make_couple(owner, label="Zone pair")
    _assessment, tokens = make_assessment(couple, instruments=["checkin", "safety"])
    answer_as(tokens[1], {"checkin": CHECKIN, "safety": SAFETY_FLAGGED})
    login(client, owner)
    owner = db.session.get(Clinician, owner.id)

    pages = {
        "dashboard": client.get("/couples/"),
        "couple view": client.get(f"/couples/{couple.id}"),
        "account": client.get("/account"),
        "audit": client.get("/practice/audit/"),
        "outcomes": client.get("/outcomes/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = page_text(response)
        assert text.count(ZONE_STATED) == 1, name
        assert times_without_zone(text) == [], name
    # The pages do show clock times (the test would pass on pages without any otherwise).
    assert re.search(r"\d{1,2}:\d{2} E[SD]T", page_text(pages["couple view"]))
    assert re.search(r"\d{1,2}:\d{2}:\d{2} E[SD]T", page_text(pages["audit"]))


def test_the_zone_follows_daylight_saving(client, db, make_practice):
    owner = make_practice(timezone=ZONE)
    winter, summer = datetime(2026, 1, 15, 17, 5, tzinfo=UTC), datetime(2026, 7, 15, 17, 5, tzinfo=UTC)
    login(client, owner)
    for when, shown in ((winter, "15 Jan 2026, 12:05 EST"), (summer, "15 Jul 2026, 13:05 EDT")):
        db.session.execute(sa.update(Clinician).where(Clinician.id == owner.id).values(last_sign_in_at=when))
        db.session.commit()
        assert shown in page_text(client.get("/account"))


def test_signed_out_pages_name_no_practice_zone(client):
    # Nobody is signed in: there is no practice, so no zone line (the sign-in page shows no times).
    assert "time zone" not in page_text(client.get("/signin"))
