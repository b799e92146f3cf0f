"""The partner's side of issue 14, through HTTP: consent for what a couple summary shares, a second
look before sending much unanswered, sends that meet an ended link, safety answers kept private,
"Leave this page", and questionnaires in pages.

The summary is built and rendered as the report job does (tests/test_reports_pdf.py's context_for
and clinic.reports.pdf); its expected statements and themes are those of
tests/test_reports_layout.py's consent test, here reached by partners who answer and choose on
their own pages.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic.blueprints.client.routes import CONFIRM_FIRST, SHARING_SAVED, UNKNOWN_ITEMS
from clinic.db_types import utcnow
from clinic.models import DEFAULT_LEAVE_URL, CoupleStatus, Invitation, Score
from clinic.reports import pdf
from clinic.services import invitations, responses
from tests.test_client import (
    REGISTRY,
    address_of,
    autosave,
    couple_status,
    form_pages,
    invitation_of,
    leaves_for,
    open_link,
    post_questionnaire,
    scores_of,
    stored,
    text_in_html,
)
from tests.test_reports_layout import REVERSED, STRENGTHS, between_or_rest
from tests.test_reports_pdf import AFFECTION_HIGH, RITUALS_LOW, context_for, flat, shows, text_of

INTAKE_IDS = ("connection", "differentiation", "life_context", "safety")
SAFETY = REGISTRY.latest("safety")
NOTE_KEPT = "An answer is saved. To keep it private, it isn't shown. Choose again to replace it."
NOTHING_SAVED = "Nothing you sent just now was saved."
NOT_SENT = "Your answers have not been sent to your therapist."
HEADINGS = {
    "closed": "This link has been closed",
    "expired": "This link has run out",
    "replaced": "This link has been replaced",
}
LEAVE_FORM = re.compile(
    r'<form method="post" action="/q/leave" class="leave-form"\s+data-leave-to="([^"]*)">\s*'
    r'<input type="hidden" name="csrf_token" value="[^"]+">\s*'
    r'<button type="submit" class="leave-button">Leave this page</button>\s*</form>'
)
SHARE_BOX = re.compile(r'<input[^>]*\bid="share"[^>]*>')
CHECKED = re.compile(r"<input[^>]*\schecked\b")  # a radio button or box shown as chosen


def choice_items(instrument_id: str) -> list[str]:
    return [item.id for item in REGISTRY.latest(instrument_id).items if item.type == "choice"]


def sent_rows(db, invitation_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Score).where(Score.invitation_id == invitation_id))


def flat_text(page: str) -> str:
    """A page's HTML with every run of whitespace made one space (lines the templates wrap)."""
    return re.sub(r"\s+", " ", page)


def title_of(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, re.S).group(1).strip()


def heading_of(page: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)).strip()


def fieldset_of(page: str, item_id: str) -> str:
    return re.search(rf'<fieldset[^>]*data-item="{item_id}".*?</fieldset>', page, re.S).group(0)


def share_box_checked(page: str) -> bool:
    return " checked" in SHARE_BOX.search(page).group(0)


def end_link(db, token: str, how: str) -> str | None:
    """What the therapist (or the clock) does to a partner's link: revoke it, reissue it (the new
    link is returned) or let it run out; committed."""
    invitation = invitations.find_by_token(token)
    new_link = None
    if how == "closed":
        invitations.revoke(invitation)
    elif how == "replaced":
        new_link = invitations.reissue(invitation)
    else:
        invitation.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    return new_link


@pytest.fixture
def owner(make_practice):
    """The owner of a practice with a recognisable name (as in tests/test_client.py)."""
    return make_practice(practice_name="Harbour Light Couples Therapy", owner_name="Dr. Ada Brook", credential="LMFT")


@pytest.fixture
def intake(owner, make_couple, make_assessment):
    """Jonah and Priya with the default intake; returns (assessment, tokens by position)."""
    return make_assessment(make_couple(owner, names=("Jonah", "Priya")))


# --- consent: what a couple summary may share -----------------------------------------------------


@pytest.fixture
def robin_and_sasha(make_practice, make_couple, make_assessment):
    """A couple asked only the connection check-in; returns (couple, assessment, tokens)."""
    couple = make_couple(make_practice(), names=("Robin", "Sasha"))
    assessment, tokens = make_assessment(couple, instruments=["connection"])
    return couple, assessment, tokens


def answer_and_send(make_client, db, assessment, tokens, position: int, *, share: bool):
    """One partner answers on the pages (affection high, rituals low: tests/test_reports_pdf.py),
    leaves the sharing box as it comes or ticks it, and sends; returns the partner's browser."""
    browser = open_link(make_client, tokens[position])
    invitation_id = invitation_of(db, assessment, position).id
    answers = {item_id: str(value) for item_id, value in (AFFECTION_HIGH | RITUALS_LOW).items()}
    assert {r.status_code for r in post_questionnaire(browser, db, invitation_id, "connection", answers)} == {302}
    review = browser.get("/q/review").get_data(as_text=True)
    assert not share_box_checked(review)  # the default is no
    send = {"confirm": "y", **({"share": "y"} if share else {})}
    assert browser.post_form("/q/submit", send).location == "/q/done"
    return browser


def agreements(db, assessment) -> tuple[bool, bool]:
    return invitation_of(db, assessment, 1).shares_agreement, invitation_of(db, assessment, 2).shares_agreement


def assert_summary_shows(db, couple, *, statements: bool) -> None:
    """The couple summary (built and rendered as the report job does) lists the statements both
    chose only when `statements`; the theme both find hard is there either way."""
    db.session.expire_all()
    ctx = context_for(couple, "summary")
    text = text_of(pdf.render_pdf(ctx))
    shared = between_or_rest(text, "What you share", "Themes to work on together")
    assert ctx["strengths_shared"] is statements
    if statements:
        assert ctx["strengths"] == list(STRENGTHS)
        assert shows(shared, "You both said these are true for you, and you both agreed they could appear here:")
        assert shows(shared, " ".join(f"“{s}”" for s in STRENGTHS))
    else:
        assert ctx["strengths"] == []
        assert shows(shared, "Statements you both agree with appear here only when each of you has said they may.")
        for statement in STRENGTHS:
            assert flat(statement) not in text, statement
    for statement in REVERSED:
        assert flat(statement) not in text, statement
    themes = text.split(flat("Themes to work on together"), 1)[1]
    assert shows(
        themes, "Shared time and rituals Small shared habits, fun together and checking in at the end of the day."
    )


@pytest.mark.parametrize(
    ("robin_shares", "sasha_shares"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["neither agreed", "Robin agreed", "Sasha agreed", "both agreed"],
)
def test_the_summary_lists_shared_statements_only_when_both_partners_ticked_the_box(
    robin_and_sasha, make_client, db, robin_shares, sasha_shares
):
    """Each partner's choice on the review page is kept with the send; the summary lists the
    statements both chose only when both said yes, and shows the themes otherwise."""
    couple, assessment, tokens = robin_and_sasha
    for position, share in ((1, robin_shares), (2, sasha_shares)):
        browser = answer_and_send(make_client, db, assessment, tokens, position, share=share)
        done = flat_text(browser.get("/q/done").get_data(as_text=True))
        said = "You said yes: a summary for the two of you may list" if share else "You said no: a summary"
        assert said in done and share_box_checked(done) is share
    assert agreements(db, assessment) == (robin_shares, sasha_shares)
    assert_summary_shows(db, couple, statements=robin_shares and sasha_shares)


def test_a_partner_can_change_the_choice_after_sending_and_the_summary_follows(robin_and_sasha, make_client, db):
    """The done page's form changes the choice after sending: one yes is not enough, two are,
    and a yes taken back (the box left empty) is a no again."""
    couple, assessment, tokens = robin_and_sasha
    robin = answer_and_send(make_client, db, assessment, tokens, 1, share=False)
    sasha = answer_and_send(make_client, db, assessment, tokens, 2, share=False)
    assert agreements(db, assessment) == (False, False)
    assert_summary_shows(db, couple, statements=False)

    changed = robin.post_form("/q/sharing", {"share": "y"})
    assert changed.status_code == 302 and changed.location == "/q/done"
    done = robin.get("/q/done").get_data(as_text=True)
    assert text_in_html(SHARING_SAVED[True]) in done and share_box_checked(done)
    assert agreements(db, assessment) == (True, False)
    assert_summary_shows(db, couple, statements=False)

    assert sasha.post_form("/q/sharing", {"share": "y"}).location == "/q/done"
    assert agreements(db, assessment) == (True, True)
    assert_summary_shows(db, couple, statements=True)

    assert robin.post_form("/q/sharing", {}).location == "/q/done"
    done = robin.get("/q/done").get_data(as_text=True)
    assert text_in_html(SHARING_SAVED[False]) in done and not share_box_checked(done)
    assert agreements(db, assessment) == (False, True)
    assert_summary_shows(db, couple, statements=False)
    # Changing the choice never reopens or resends the answers.
    robin_invitation = invitation_of(db, assessment, 1)
    assert robin_invitation.submitted_at is not None and sent_rows(db, robin_invitation.id) == 1


def test_the_choice_made_before_sending_is_on_the_review_page_and_goes_with_the_send(robin_and_sasha, make_client, db):
    """Before sending, the sharing form leads back to the review page, whose box then shows the
    choice; the send keeps what the box says."""
    _, assessment, tokens = robin_and_sasha
    robin = open_link(make_client, tokens[1])
    chosen = robin.post_form("/q/sharing", {"share": "y"})
    assert chosen.status_code == 302 and chosen.location == "/q/review"
    review = robin.get("/q/review").get_data(as_text=True)
    assert text_in_html(SHARING_SAVED[True]) in review and share_box_checked(review)
    assert agreements(db, assessment) == (True, False)
    assert invitation_of(db, assessment, 1).submitted_at is None
    assert robin.post_form("/q/submit", {"confirm": "y", "share": "y"}).location == "/q/done"
    assert agreements(db, assessment) == (True, False)


# --- a second look before sending ----------------------------------------------------------------


def answer_all_but(browser, db, invitation_id: int, instrument_id: str, left: int) -> None:
    """Answer every question of every questionnaire on its pages, but the last `left` of one."""
    for each in INTAKE_IDS:
        items = choice_items(each)
        if each == instrument_id:
            items = items[: len(items) - left]
        posted = post_questionnaire(browser, db, invitation_id, each, dict.fromkeys(items, "1"))
        assert {r.status_code for r in posted} == {302}


@pytest.mark.parametrize(
    ("instrument_id", "left", "confirm"),
    [
        ("differentiation", 8, False),  # 8 of 24: exactly a third
        ("differentiation", 9, True),
        ("connection", 12, False),  # 12 x 3 = 36, not more than 38
        ("connection", 13, True),
        ("safety", 2, False),
        ("safety", 3, True),  # 3 of 80 questions in all, but more than a third of this one
    ],
)
def test_more_than_a_third_of_one_questionnaire_unanswered_asks_for_a_second_look(
    intake, make_client, db, instrument_id, left, confirm
):
    """The review page asks to confirm only when a questionnaire has more than a third of its
    questions unanswered; a send without that word is refused whole, and with it goes through."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    answer_all_but(jonah, db, jonah_id, instrument_id, left)
    before = stored(db, jonah_id)
    total = len(choice_items(instrument_id))
    title = REGISTRY.latest(instrument_id).client_title

    review = jonah.get("/q/review").get_data(as_text=True)
    assert ('id="confirm-box"' in review) is confirm and ('name="confirm"' in review) is confirm
    if confirm:
        # Only the questionnaire that needs it is named.
        hint = flat_text(re.search(r'<p id="confirm-hint">(.*?)</p>', review, re.S).group(1))
        assert hint == (
            f"Many questions are unanswered in: <strong>{title}</strong> ({total - left} of {total} answered). "
            "Your therapist can only read an area when most of its questions are answered."
        )
        refused = jonah.post_form("/q/submit", {"share": "y"})
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400
        assert f'<p class="field-errors" id="confirm-error" role="alert">{text_in_html(CONFIRM_FIRST)}</p>' in page
        assert re.search(r'<input aria-describedby="confirm-hint confirm-error" aria-invalid="true" id="confirm"', page)
        # Nothing was sent: no scores, no send time, not even the choice posted with it.
        invitation = invitation_of(db, assessment, 1)
        assert invitation.submitted_at is None and invitation.shares_agreement is False
        assert sent_rows(db, jonah_id) == 0 and stored(db, jonah_id) == before
        assert couple_status(db, assessment) == CoupleStatus.IN_PROGRESS
        sent = jonah.post_form("/q/submit", {"confirm": "y"})
    else:
        sent = jonah.post_form("/q/submit")
    assert sent.status_code == 302 and sent.location == "/q/done"
    assert invitation_of(db, assessment, 1).submitted_at is not None
    assert sent_rows(db, jonah_id) == len(INTAKE_IDS)


# --- a send that meets an ended link ---------------------------------------------------------------


def assert_nothing_sent(db, assessment, answers_before: dict) -> None:
    invitation = invitation_of(db, assessment, 1)
    assert invitation.submitted_at is None and invitation.shares_agreement is False
    assert sent_rows(db, invitation.id) == 0
    assert stored(db, invitation.id) == answers_before  # saved answers are kept, nothing added


@pytest.mark.parametrize("how", ["closed", "expired", "replaced"])
def test_a_send_after_the_link_ended_says_how_and_writes_nothing(intake, make_client, db, how):
    """The partner had the review page open when the therapist revoked or reissued the link (or
    it ran out): the send gets a 410 page that says which, and nothing of it is written."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    assert autosave(jonah, "connection", "heard_1", 4).status_code == 200
    before = stored(db, invitation_of(db, assessment, 1).id)
    assert jonah.get("/q/review").status_code == 200
    new_link = end_link(db, tokens[1], how)

    response = jonah.post_form("/q/submit", {"confirm": "y", "share": "y"})
    page = response.get_data(as_text=True)
    assert response.status_code == 410
    assert f"<h1>{HEADINGS[how]}</h1>" in page and NOTHING_SAVED in page and NOT_SENT in page
    assert "Jonah" not in page
    assert_nothing_sent(db, assessment, before)
    # The session keeps saying so; a page that was only opened has nothing to say about a send.
    again = jonah.get("/q")
    assert again.status_code == 410 and HEADINGS[how] in again.get_data(as_text=True)
    assert NOTHING_SAVED not in again.get_data(as_text=True)
    if new_link:  # the newer link has the saved answers, and can send them
        newer = open_link(make_client, new_link)
        heard = newer.get(address_of(db, invitation_of(db, assessment, 1).id, "connection", "heard_1"))
        assert '<input checked id="item_heard_1-3"' in heard.get_data(as_text=True)
        assert newer.post_form("/q/submit", {"confirm": "y"}).location == "/q/done"


@pytest.mark.parametrize("how", ["closed", "expired", "replaced"])
def test_a_send_that_loses_the_race_with_the_link_ending_writes_nothing(intake, make_client, db, app, monkeypatch, how):
    """The link ends after the send has checked the session and just before its one conditional
    write (the therapist's request, in its own transaction): the same 410 page, nothing written."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    assert autosave(jonah, "connection", "heard_1", 4).status_code == 200
    before = stored(db, invitation_of(db, assessment, 1).id)
    real_submit = responses.submit
    raced = []

    def ended_just_before(*args, **kwargs):
        with app.app_context():  # another request: its own session and transaction
            end_link(db, tokens[1], how)
        raced.append(how)
        return real_submit(*args, **kwargs)

    monkeypatch.setattr(responses, "submit", ended_just_before)
    response = jonah.post_form("/q/submit", {"confirm": "y", "share": "y"})
    page = response.get_data(as_text=True)
    assert raced == [how]  # the session check had passed: the race was lost at the write
    assert response.status_code == 410
    assert f"<h1>{HEADINGS[how]}</h1>" in page and NOTHING_SAVED in page and NOT_SENT in page
    assert_nothing_sent(db, assessment, before)
    assert couple_status(db, assessment) != CoupleStatus.COMPLETED


@pytest.mark.parametrize("how", ["closed", "expired", "replaced"])
def test_a_page_post_that_loses_the_race_with_the_link_ending_saves_nothing(
    intake, make_client, db, app, monkeypatch, how
):
    """The link ends after a page post has checked the session and just before it saves: the
    410 page says how, and none of the page's answers is kept (a reissue included: the old link
    must not write through the new one's invitation)."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    assert autosave(jonah, "connection", "heard_1", 4).status_code == 200
    before = stored(db, jonah_id)
    real_save = responses.save_answers
    raced = []

    def ended_just_before(*args, **kwargs):
        with app.app_context():  # another request: its own session and transaction
            end_link(db, tokens[1], how)
        raced.append(how)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(responses, "save_answers", ended_just_before)
    address, items = form_pages(db, jonah_id)["connection"][1]
    response = jonah.post_form(address, {f"item_{item_id}": "2" for item_id in items})
    page = response.get_data(as_text=True)
    assert raced == [how]
    assert response.status_code == 410
    assert f"<h1>{HEADINGS[how]}</h1>" in page and NOTHING_SAVED in page
    assert stored(db, jonah_id) == before


# --- safety answers stay private ----------------------------------------------------------------


def test_saved_safety_answers_are_never_shown_again(intake, make_client, db):
    """Safety answers saved by autosave or by a page post are kept, but no page opened later
    shows them checked: each says an answer is saved and can be replaced. Other answers show."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    assert autosave(jonah, "safety", "afraid", 3).status_code == 200
    posted = post_questionnaire(jonah, db, jonah_id, "safety", {"controlled": "2", "self_harm": "4"})
    assert {r.status_code for r in posted} == {302}
    assert autosave(jonah, "connection", "heard_1", 4).status_code == 200
    answered = {"afraid", "controlled", "self_harm"}
    assert {item for (i, item) in stored(db, jonah_id) if i == "safety"} == answered

    reopened = open_link(make_client, tokens[1])
    for browser in (jonah, reopened):  # the same browser, and whoever opens the link later
        for address, items in form_pages(db, jonah_id)["safety"]:
            page = browser.get(address).get_data(as_text=True)
            assert not CHECKED.search(page), address
            for number, item_id in enumerate(items, start=1 if address == "/q/4" else 5):
                fieldset = fieldset_of(page, item_id)
                if item_id in answered:
                    assert NOTE_KEPT in fieldset
                    assert f'aria-describedby="item-{number}-saved"' in fieldset
                    assert f'<p class="saved-note" id="item-{number}-saved">' in fieldset
                else:
                    assert NOTE_KEPT not in fieldset and "aria-describedby" not in fieldset
        heard = browser.get(address_of(db, jonah_id, "connection", "heard_1")).get_data(as_text=True)
        assert '<input checked id="item_heard_1-3"' in heard and NOTE_KEPT not in heard

    # Choosing again replaces the kept answer, and still shows nothing.
    replaced = reopened.post_form(address_of(db, jonah_id, "safety", "afraid"), {"item_afraid": "1"})
    assert replaced.status_code == 302
    assert stored(db, jonah_id)["safety", "afraid"] == 1
    assert not CHECKED.search(reopened.get(address_of(db, jonah_id, "safety", "afraid")).get_data(as_text=True))

    # The review page counts them and never lists a safety question, answered or not.
    review = reopened.get("/q/review").get_data(as_text=True)
    assert "3 of 8 answered." in review
    for item in SAFETY.items:
        assert text_in_html(item.text) not in review, item.id


def test_no_title_heading_or_address_of_the_partner_flow_says_safety(intake, make_client, db):
    """Walk the whole flow as a partner without JavaScript (Start, Save and continue on every
    page, send, done): no address, tab title or heading says "safety", and the safety pages are
    "A few more questions"."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    addresses, titles, headings, safety_pages = ["/q"], [], [], []

    def visit(address: str) -> str:
        page = jonah.get(address)
        assert page.status_code == 200, address
        text = page.get_data(as_text=True)
        titles.append(title_of(text))
        headings.append(heading_of(text))
        return text

    welcome = visit("/q")
    address = re.search(r'<a class="button primary big" href="([^"]+)">Start</a>', welcome).group(1)
    while address != "/q/review":
        addresses.append(address)
        page = visit(address)
        instrument_id = re.search(r'data-instrument="([a-z_]+)"', page).group(1)
        if instrument_id == "safety":
            safety_pages.append(address)
            assert title_of(page) == "A few more questions · Tandem" and heading_of(page) == "A few more questions"
        items = re.findall(r'<fieldset[^>]*data-item="([a-z0-9_]+)"', page)
        moved = jonah.post_form(address, {f"item_{item_id}": "1" for item_id in items})
        assert moved.status_code == 302
        address = moved.location
    addresses.append(address)
    visit(address)
    sent = jonah.post_form("/q/submit")  # everything answered: no second look needed
    assert sent.status_code == 302
    addresses.append(sent.location)
    done = visit(sent.location)
    assert "You're done — thank you" in done

    every_page = [a for pages in form_pages(db, invitation_of(db, assessment, 1).id).values() for a, _ in pages]
    assert addresses == ["/q", *every_page, "/q/review", "/q/done"]
    assert safety_pages == ["/q/4", "/q/4/2"]
    for said in addresses + titles + headings:
        assert "safety" not in said.lower(), said
    assert SAFETY.title not in " ".join(titles + headings)  # the therapist's title ("Safety check")


# --- Leave this page -----------------------------------------------------------------------------

NEUTRAL = "https://recipes.example.org/soup"


@pytest.fixture
def neutral_site(owner, db):
    """The practice names its own neutral site."""
    owner.practice.leave_url = NEUTRAL
    db.session.commit()
    return NEUTRAL


def leave_to(response) -> str:
    match = LEAVE_FORM.search(response.get_data(as_text=True))
    assert match, "no Leave this page form"
    return match.group(1)


def test_every_live_partner_page_leaves_for_the_practices_neutral_site(intake, neutral_site, make_client, db):
    """Welcome, a questionnaire page, review and done carry the form that posts to /q/leave and
    names the practice's site; the generic link page (no practice known) names the default."""
    _, tokens = intake
    jonah = open_link(make_client, tokens[1])
    pages = {url: jonah.get(url) for url in ("/q", "/q/1/2", "/q/4", "/q/review")}
    assert jonah.post_form("/q/submit", {"confirm": "y"}).location == "/q/done"
    pages["/q/done"] = jonah.get("/q/done")
    for url, response in pages.items():
        assert response.status_code == 200 and leave_to(response) == NEUTRAL, url
    generic = make_client().get("/l/unknown-" + "x" * 40)
    assert generic.status_code == 404 and leave_to(generic) == DEFAULT_LEAVE_URL


def test_the_ended_link_page_leaves_for_the_practices_neutral_site(intake, neutral_site, make_client, db):
    """The page of a link that ended is still a partner page of that practice: it names the
    practice's site, as the form's own post (/q/leave) does."""
    _, tokens = intake
    priya = open_link(make_client, tokens[2])
    end_link(db, tokens[2], "closed")
    ended = priya.get("/q")
    assert ended.status_code == 410
    left = priya.post_form("/q/leave")
    assert leaves_for(left) == NEUTRAL
    assert leave_to(ended) == NEUTRAL


def test_leaving_ends_the_partner_session_and_goes_to_the_neutral_site(intake, neutral_site, make_client, db):
    """POST /q/leave sends the browser on to the practice's site and ends the session: /q is then the
    generic link page, and saves go nowhere. It needs the page's CSRF token."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    assert jonah.post("/q/leave").status_code == 400  # no CSRF token: refused, nothing ended
    assert jonah.get("/q").status_code == 200

    left = jonah.post_form("/q/leave")
    assert leaves_for(left) == NEUTRAL
    after = jonah.get("/q")
    assert after.status_code == 404 and "This link isn't available" in after.get_data(as_text=True)
    assert "Hello, Jonah" not in after.get_data(as_text=True)
    assert jonah.get("/q/1").status_code == 404
    assert autosave(jonah, "connection", "heard_1", 3).status_code == 404
    assert stored(db, invitation_of(db, assessment, 1).id) == {}

    # A browser whose link had ended leaves the same way, and then holds nothing at all.
    priya = open_link(make_client, tokens[2])
    end_link(db, tokens[2], "closed")
    assert priya.get("/q").status_code == 410
    assert leaves_for(priya.post_form("/q/leave")) == NEUTRAL
    assert priya.get("/q").status_code == 404
    # Without a partner session there is no practice to ask: the default site.
    stranger = make_client()
    assert leaves_for(stranger.post_form("/q/leave")) == DEFAULT_LEAVE_URL


# --- questionnaires in pages -------------------------------------------------------------------


def test_every_page_holds_at_most_ten_questions_and_every_question_is_on_exactly_one(intake, make_client, db):
    """The intake's questionnaires in 8, 6, 2 and 2 pages as the partner gets them: each page
    shows the items the helpers expect, at most 10, and together every item once."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    pages = form_pages(db, invitation_of(db, assessment, 1).id)
    assert list(pages) == list(INTAKE_IDS)
    assert {i: len(p) for i, p in pages.items()} == {
        "connection": 8,
        "differentiation": 6,
        "life_context": 2,
        "safety": 2,
    }
    for number, instrument_id in enumerate(INTAKE_IDS, start=1):
        shown = []
        for page_number, (address, items) in enumerate(pages[instrument_id], start=1):
            assert address == (f"/q/{number}" if page_number == 1 else f"/q/{number}/{page_number}")
            page = jonah.get(address).get_data(as_text=True)
            on_page = re.findall(r'data-item="([a-z0-9_]+)"', page)
            assert on_page == list(items) and 1 <= len(on_page) <= 10, address
            shown += on_page
        every_item = [item.id for item in REGISTRY.latest(instrument_id).items]
        assert sorted(shown) == sorted(every_item) and len(shown) == len(set(shown))


def test_each_page_says_where_the_partner_is_and_how_long_is_left(intake, make_client, db):
    """Where the partner is (questionnaire 1 of 4, page 2 of 8), a progress bar over all 80
    questions, and the questions answered with the minutes left, which go down as answers are saved."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    page = flat_text(jonah.get("/q/1/2").get_data(as_text=True))
    assert '<p id="step-label">Questionnaire 1 of 4 · Page 2 of 8</p>' in page
    assert '<progress max="80" value="0"' in page
    assert "0 of 80 questions answered · about 19 minutes left" in page

    first_two = [item for _, items in form_pages(db, jonah_id)["connection"][:2] for item in items]
    post_questionnaire(jonah, db, jonah_id, "connection", dict.fromkeys(first_two, "3"))
    page = flat_text(jonah.get("/q/1/3").get_data(as_text=True))
    assert "Questionnaire 1 of 4 · Page 3 of 8" in page and '<progress max="80" value="9"' in page
    # 8 x 29/38 + 6 + 3 + 2 = 17.1 minutes, said as 18.
    assert "9 of 80 questions answered · about 18 minutes left" in page
    # A questionnaire in one piece names no page; the last page of the last one leads to the review.
    last = flat_text(jonah.get("/q/4/2").get_data(as_text=True))
    assert "Questionnaire 4 of 4 · Page 2 of 2" in last and 'value="Save and review"' in last
    assert '<a href="/q/3/2">Previous page</a>' in flat_text(jonah.get("/q/4").get_data(as_text=True))


def test_start_and_continue_go_to_the_first_page_with_a_question_unanswered(intake, make_client, db):
    """The welcome page's button (and each questionnaire's link) goes to the first unanswered page."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    pages = form_pages(db, jonah_id)
    assert '<a class="button primary big" href="/q/1">Start</a>' in jonah.get("/q").get_data(as_text=True)

    # Pages 1 and 2 of the first questionnaire answered, and one question of page 4.
    answered = [item for _, items in pages["connection"][:2] for item in items] + [pages["connection"][3][1][0]]
    post_questionnaire(jonah, db, jonah_id, "connection", dict.fromkeys(answered, "3"))
    welcome = open_link(make_client, tokens[1]).get("/q").get_data(as_text=True)
    assert '<a class="button primary big" href="/q/1/3">Continue</a>' in welcome
    assert '<a href="/q/1/3">Feeling close</a>' in welcome

    # The first questionnaire done, and the second but for one question on its fifth page.
    post_questionnaire(jonah, db, jonah_id, "connection", dict.fromkeys(choice_items("connection"), "3"))
    missing = pages["differentiation"][4][1][-1]
    rest = [item for item in choice_items("differentiation") if item != missing]
    post_questionnaire(jonah, db, jonah_id, "differentiation", dict.fromkeys(rest, "3"))
    welcome = jonah.get("/q").get_data(as_text=True)
    assert '<a class="button primary big" href="/q/2/5">Continue</a>' in welcome
    assert '<a href="/q/1">Feeling close</a>' in welcome  # complete: its first page
    assert address_of(db, jonah_id, "differentiation", missing) == "/q/2/5"


def test_a_page_post_with_a_question_of_another_page_is_refused_whole(intake, make_client, db):
    """An answer to a question that is not on the page posted: nothing of the page is saved."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    pages = form_pages(db, jonah_id)["connection"]
    on_page, elsewhere = pages[0][1][0], pages[1][1][0]
    refused = jonah.post_form(pages[0][0], {f"item_{on_page}": "3", f"item_{elsewhere}": "3"})
    assert refused.status_code == 400
    assert text_in_html(UNKNOWN_ITEMS) in refused.get_data(as_text=True)
    assert stored(db, jonah_id) == {}
    # A questionnaire id, a page past the end, or page 0 is no page at all.
    for url in ("/q/connection", "/q/safety", "/q/0", "/q/5", "/q/1/0", "/q/1/9", "/q/4/3"):
        response = jonah.get(url)
        assert response.status_code == 404, url
        assert "Hello, Jonah" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("crisis_text", "lines"),
    [
        ("Call 111 at any hour.\nText SHOUT to 85258.", ["Call 111 at any hour.", "Text SHOUT to 85258."]),
        ("Call 111 at any hour. Text SHOUT to 85258.", ["Call 111 at any hour.", "Text SHOUT to 85258."]),
    ],
    ids=["lines", "sentences"],
)
def test_the_crisis_text_is_a_short_list_on_every_safety_page(intake, owner, make_client, db, crisis_text, lines):
    """The practice's crisis text, cut into its lines (or its sentences), on both safety pages."""
    owner.practice.crisis_text = crisis_text
    db.session.commit()
    _, tokens = intake
    jonah = open_link(make_client, tokens[1])
    for address in ("/q/4", "/q/4/2"):
        page = jonah.get(address).get_data(as_text=True)
        aside = re.search(r'<aside class="crisis".*?</aside>', page, re.S).group(0)
        assert '<h2 id="crisis-heading">If you need help now</h2>' in aside
        assert re.findall(r"<li>(.*?)</li>", aside) == lines
    assert '<aside class="crisis"' not in jonah.get("/q/3/2").get_data(as_text=True)


def test_scores_of_a_page_by_page_send_match_the_answers(intake, make_client, db):
    """Answers posted page by page reach the scores whole (every page's answers counted)."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    for instrument_id in INTAKE_IDS:
        post_questionnaire(jonah, db, jonah_id, instrument_id, dict.fromkeys(choice_items(instrument_id), "1"))
    assert len(stored(db, jonah_id)) == 80
    assert jonah.post_form("/q/submit").location == "/q/done"
    scores = scores_of(db, jonah_id)
    assert set(scores) == set(INTAKE_IDS)
    assert all(s["valid"] for s in scores["connection"][1]["scores"].values())
    assert db.session.get(Invitation, jonah_id).submitted_at is not None
