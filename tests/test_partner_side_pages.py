"""The partner's pages read plainly (reading grade 8 or lower), the practice names the neutral
site "Leave this page" goes to, and the therapist sees what the couple summary may share."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import textstat  # pinned to 0.7.3: it counts syllables with pyphen, offline

from clinic.db_types import utcnow
from clinic.models import DEFAULT_LEAVE_URL, Invitation
from clinic.services import invitations
from tests.conftest import SAFETY_CLEAR, login
from tests.test_client import CHOICE_IDS, form_pages, invitation_of, leaves_for, open_link

MAX_GRADE = 8
LEAVE_FORM = re.compile(r'<form method="post" action="/q/leave" class="leave-form"\s+data-leave-to="([^"]*)">')


# Elements a reader takes as one unit: a heading, a question, an answer, a line of a list.
UNIT_END = re.compile(r"</(?:p|li|h1|h2|h3|legend|label|summary|button|dt|dd)>")


def visible_text(page: str) -> str:
    """The words a partner reads in <main>, one sentence per unit: a question or an answer with
    no full stop of its own ("Not happening") still ends where it ends on the page."""
    main = page[page.index("<main") : page.index("</main>")]
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    units = [html.unescape(re.sub(r"<[^>]+>", " ", unit)) for unit in UNIT_END.split(main)]
    units = [re.sub(r"\s+", " ", unit).strip() for unit in units]
    return " ".join(unit if unit[-1] in ".?!:" else unit + "." for unit in units if unit)


def grade(page: str) -> float:
    return textstat.flesch_kincaid_grade(visible_text(page))


@pytest.fixture
def jonah_and_priya(make_practice, make_couple, make_assessment):
    owner = make_practice(practice_name="Harbour Light Couples Therapy", owner_name="Dr. Ada Brook")
    couple = make_couple(owner, names=("Jonah", "Priya"))
    assessment, tokens = make_assessment(couple)
    return owner, couple, assessment, tokens


def test_every_partner_page_reads_at_grade_8_or_lower(jonah_and_priya, make_client, db):
    _, _, assessment, tokens = jonah_and_priya
    jonah = open_link(make_client, tokens[1])
    invitation_id = invitation_of(db, assessment, 1).id
    pages = {"welcome": jonah.get("/q").get_data(as_text=True)}
    for instrument_id, addresses in form_pages(db, invitation_id).items():
        for number, (address, _) in enumerate(addresses, start=1):
            pages[f"{instrument_id} page {number}"] = jonah.get(address).get_data(as_text=True)
    pages["not found"] = jonah.get("/q/9").get_data(as_text=True)
    review = jonah.get("/q/review").get_data(as_text=True)
    assert "Before you send" in review  # nothing answered: the confirm box is part of what is read
    pages["review"] = review
    refused = jonah.post_form("/q/submit")
    assert refused.status_code == 400
    pages["review, confirm refused"] = refused.get_data(as_text=True)
    assert jonah.post_form("/q/submit", {"confirm": "y"}).location == "/q/done"
    pages["done"] = jonah.get("/q/done").get_data(as_text=True)
    pages["link not valid"] = make_client().get("/l/" + "x" * 43).get_data(as_text=True)

    priya = open_link(make_client, tokens[2])
    priya_invitation = invitation_of(db, assessment, 2)
    invitations.revoke(priya_invitation)
    db.session.commit()
    pages["link closed"] = priya.get("/q").get_data(as_text=True)
    invitations.reissue(invitation_of(db, assessment, 2), expiry_days=5)
    db.session.commit()
    pages["link replaced"] = priya.get("/q").get_data(as_text=True)

    grades = {name: grade(page) for name, page in pages.items()}
    too_hard = {name: round(value, 1) for name, value in grades.items() if value > MAX_GRADE}
    assert not too_hard, f"pages above grade {MAX_GRADE}: {too_hard}"
    assert len(grades) == 1 + 8 + 6 + 2 + 2 + 2 + 1 + 1 + 1 + 2


def test_the_expired_page_reads_plainly_and_says_what_happened(jonah_and_priya, make_client, db):
    _, _, assessment, tokens = jonah_and_priya
    jonah = open_link(make_client, tokens[1])
    db.session.get(Invitation, invitation_of(db, assessment, 1).id).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = jonah.get("/q")
    assert page.status_code == 410
    text = page.get_data(as_text=True)
    assert "This link has run out" in text and "Your answers have not been sent to your therapist." in text
    assert "Jonah" not in text and "Harbour Light" not in text
    assert grade(text) <= MAX_GRADE


# --- the neutral site: a practice setting -----------------------------------------------------


def settings_form(**changes) -> dict:
    return {
        "name": "Harbour Light Couples Therapy",
        "timezone": "UTC",
        "invite_expiry_days": "14",
        "reminder_after_days": "3",
        "reminder_max": "2",
        "report_page_size": "A4",
        "crisis_text": "Call 112 in an emergency.",
        **changes,
    }


def test_the_owner_sets_where_leave_this_page_goes_and_every_partner_page_uses_it(
    jonah_and_priya, make_client, client, db
):
    owner, _, assessment, tokens = jonah_and_priya
    jonah = open_link(make_client, tokens[1])
    assert LEAVE_FORM.search(jonah.get("/q").get_data(as_text=True)).group(1) == DEFAULT_LEAVE_URL

    login(client, owner)
    saved = client.post_form("/practice/settings", settings_form(leave_url="https://weather.example.org/today"))
    assert saved.status_code == 302
    invitation_id = invitation_of(db, assessment, 1).id
    addresses = ["/q", "/q/review", *(a for pages in form_pages(db, invitation_id).values() for a, _ in pages)]
    for address in addresses:
        page = jonah.get(address).get_data(as_text=True)
        assert LEAVE_FORM.search(page).group(1) == "https://weather.example.org/today", address

    # Leaving ends the partner session and goes there (a refresh: a redirect off the site
    # would break the pages' form-action rule).
    left = jonah.post_form("/q/leave")
    assert leaves_for(left) == "https://weather.example.org/today"
    after = jonah.get("/q")
    assert after.status_code == 404 and "This link isn't available" in after.get_data(as_text=True)
    # The generic page (no practice known) leaves for the default site.
    assert LEAVE_FORM.search(after.get_data(as_text=True)).group(1) == DEFAULT_LEAVE_URL


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("", DEFAULT_LEAVE_URL),
        ("   ", DEFAULT_LEAVE_URL),
        ("  https://news.example.org/  ", "https://news.example.org/"),
        ("http://weather.example.org", "http://weather.example.org"),
    ],
)
def test_the_leave_site_left_empty_is_the_default(jonah_and_priya, client, db, given, kept):
    owner = jonah_and_priya[0]
    login(client, owner)
    assert client.post_form("/practice/settings", settings_form(leave_url=given)).status_code == 302
    db.session.expire_all()
    assert db.session.get(type(owner.practice), owner.practice_id).leave_url == kept


@pytest.mark.parametrize(
    "given",
    ["javascript:alert(1)", "/q/review", "www.example.org", "https://", "ftp://example.org/", "https://a b.org/"],
)
def test_a_leave_site_that_is_not_a_web_address_is_refused(jonah_and_priya, client, db, given):
    owner = jonah_and_priya[0]
    login(client, owner)
    refused = client.post_form("/practice/settings", settings_form(leave_url=given))
    assert refused.status_code == 400
    assert "Enter a full web address that starts with https://" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(owner.practice), owner.practice_id).leave_url == DEFAULT_LEAVE_URL


# --- what the couple summary may share, as the therapist sees it --------------------------------


def _send(make_client, token: str, *, share: bool) -> None:
    browser = open_link(make_client, token)
    data = {"confirm": "y", **({"share": "y"} if share else {})}
    assert browser.post_form("/q/submit", data).location == "/q/done"


@pytest.mark.parametrize(
    ("jonah_shares", "priya_shares", "line"),
    [
        (None, None, "themes only, until both partners have sent their answers."),
        (False, None, "themes only, until both partners have sent their answers."),
        (False, False, "themes only; Jonah and Priya have not agreed to share statements both chose."),
        (True, False, "themes only; Priya has not agreed to share statements both chose."),
        (True, True, "lists statements both chose; both partners agreed to that."),
    ],
    ids=["nobody sent", "one sent", "neither agreed", "one agreed", "both agreed"],
)
def test_the_couple_view_says_what_the_summary_may_share(
    jonah_and_priya, make_client, client, db, answer_as, jonah_shares, priya_shares, line
):
    owner, couple, _, tokens = jonah_and_priya
    for token, share in ((tokens[1], jonah_shares), (tokens[2], priya_shares)):
        if share is not None:
            answer_as(
                token, {"safety": SAFETY_CLEAR, "connection": dict.fromkeys(CHOICE_IDS["connection"], 4)}, submit=False
            )
            _send(make_client, token, share=share)
    login(client, owner)
    page = client.get(f"/couples/{couple.id}").get_data(as_text=True)
    if jonah_shares is None:
        assert 'id="summary-sharing"' not in page  # no results yet: no PDF to prepare
        return
    shown = re.search(r'<p class="hint" id="summary-sharing">(.*?)</p>', page, re.S).group(1)
    assert re.sub(r"\s+", " ", shown).strip() == f"Couple summary: {line}"
