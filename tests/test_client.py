"""The partner's questionnaires through HTTP: open a link, answer, leave, resume, send."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from markupsafe import escape
from sqlalchemy.orm import joinedload

from clinic.db_types import utcnow
from clinic.models import Answer, Couple, CoupleStatus, Invitation, Partner, Score
from clinic.services import invitations, responses
from clinic.tokens import hash_token
from instruments import load_registry
from tests.conftest import CSRF_META

REGISTRY = load_registry()
CONNECTION = REGISTRY.get("connection", 1)
DIFFERENTIATION = REGISTRY.get("differentiation", 1)
CHOICE_IDS = {
    inst.id: [item.id for item in inst.items if item.type == "choice"] for inst in map(REGISTRY.latest, REGISTRY.ids())
}


# Helpers shared by the other test_client_*.py files.


def open_link(make_client, raw_token: str):
    """A new browser that opened a partner's link; the token is gone from the address."""
    browser = make_client()
    response = browser.get(f"/l/{raw_token}")
    assert response.status_code == 302
    assert response.location == "/q"
    return browser


def page_csrf(browser) -> str:
    """The CSRF token from the welcome page's meta tag, as autosave.js reads it."""
    match = CSRF_META.search(browser.get("/q").get_data(as_text=True))
    assert match
    return match.group(1)


def autosave(browser, instrument, item, value, *, csrf: str | None = None, **extra):
    """POST one answer the way autosave.js does."""
    body = {"instrument": instrument, "item": item, "value": value, **extra}
    return browser.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf or page_csrf(browser)})


def stored(db, invitation_id: int) -> dict[tuple[str, str], int | str]:
    """Every answer row of an invitation, read straight from the database."""
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Answer.instrument_id, Answer.item_id, Answer.value, Answer.text).where(
            Answer.invitation_id == invitation_id
        )
    )
    return {(i, item): (v if v is not None else t) for i, item, v, t in rows}


def invitation_of(db, assessment, position: int) -> Invitation:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(Invitation)
        .join(Partner, Partner.id == Invitation.partner_id)
        .where(Invitation.assessment_id == assessment.id, Partner.position == position)
    )


def scores_of(db, invitation_id: int) -> dict[str, tuple[int, dict]]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Score).where(Score.invitation_id == invitation_id))
    return {s.instrument_id: (s.instrument_version, s.result) for s in rows}


def couple_status(db, assessment) -> CoupleStatus:
    db.session.expire_all()
    return db.session.get(Couple, assessment.couple_id).status


def page_address(number: int, page: int = 1) -> str:
    """The address of a questionnaire page: by place, never by the questionnaire's id."""
    return f"/q/{number}" if page == 1 else f"/q/{number}/{page}"


def form_pages(db, invitation_id: int) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Each questionnaire's pages as this partner sees them, by instrument id: (address, item ids)."""
    db.session.expire_all()
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.id == invitation_id).options(joinedload(Invitation.assessment))
    )
    return {
        step.instrument.id: [(page_address(step.number, n), page) for n, page in enumerate(step.pages, start=1)]
        for step in responses.progress(invitation, {})
    }


def address_of(db, invitation_id: int, instrument_id: str, item_id: str | None = None) -> str:
    """The page an item is on (or the questionnaire's first page)."""
    pages = form_pages(db, invitation_id)[instrument_id]
    return next(address for address, items in pages if item_id is None or item_id in items)


def post_questionnaire(browser, db, invitation_id: int, instrument_id: str, answers: dict[str, str], **extra):
    """Post answers (item id -> value) page by page, as a partner without JavaScript does;
    returns the response of each page posted, in order. `extra` goes with every post."""
    posted = []
    for address, items in form_pages(db, invitation_id)[instrument_id]:
        on_page = {f"item_{item_id}": value for item_id, value in answers.items() if item_id in items}
        if on_page or extra:
            posted.append(browser.post_form(address, {**on_page, **extra}))
    return posted


# The CSRF token is in the page's meta tag and in the "Leave this page" form of every partner page.
CSRF_INPUT = re.compile(r'(<input[^>]*name="csrf_token"[^>]*value=")[^"]+(")')


REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')


def leaves_for(response) -> str | None:
    """Where the answer to a post to /q/leave sends the browser at once (a refresh, no redirect)."""
    found = REFRESH.search(response.get_data(as_text=True)) if response.status_code == 200 else None
    return found.group(1).replace("&amp;", "&") if found else None


def body_without_csrf(response) -> str:
    """A page's HTML without its CSRF tokens (they differ from browser to browser)."""
    return CSRF_INPUT.sub(r"\1\2", CSRF_META.sub("", response.get_data(as_text=True)))


def text_in_html(text: str) -> str:
    """Text as a page prints it (an apostrophe becomes &#39;)."""
    return str(escape(text))


@pytest.fixture
def owner(make_practice):
    """The owner of a practice with a recognisable name, therapist name and credential."""
    return make_practice(practice_name="Harbour Light Couples Therapy", owner_name="Dr. Ada Brook", credential="LMFT")


@pytest.fixture
def intake(owner, make_couple, make_assessment):
    """A couple (Jonah and Priya) with the default intake set; returns (assessment, tokens by position)."""
    couple = make_couple(owner, names=("Jonah", "Priya"))
    return make_assessment(couple)


# The whole path.


def test_both_partners_answer_leave_resume_and_send(intake, make_client, db):
    """The whole path: welcome, answer page by page, leave, resume where it stopped, review, send."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    priya = open_link(make_client, tokens[2])
    jonah_id = invitation_of(db, assessment, 1).id

    welcome = jonah.get("/q").get_data(as_text=True)
    assert "Harbour Light Couples Therapy" in welcome
    assert "Dr. Ada Brook, LMFT" in welcome
    assert "Hello, Jonah" in welcome and "Priya" not in welcome
    # The whole length, honestly: 38 + 24 + 10 + 8 questions, 8 + 6 + 3 + 2 minutes.
    assert "Dr. Ada Brook has asked you to answer 80 questions before your next session." in welcome
    assert "They take about <strong>19 minutes</strong> in all." in welcome
    assert re.search(
        r"You can stop any time and come back with the same link until \d{1,2} [A-Z][a-z]+ \d{4}\.", welcome
    )
    assert "<strong>Your therapist</strong> sees all of your answers." in welcome
    assert "<strong>Your partner</strong> sees none of them." in welcome
    assert "check-ins, not tests" in welcome
    assert '<a class="button primary big" href="/q/1">Start</a>' in welcome

    # Jonah answers the first questionnaire with the pages' own button (no JavaScript): each
    # page leads to the next one, the last to the next questionnaire.
    pages = form_pages(db, jonah_id)
    posted = post_questionnaire(jonah, db, jonah_id, "connection", dict.fromkeys(CHOICE_IDS["connection"], "4"))
    following = [address for address, _ in pages["connection"][1:]] + [page_address(2)]
    assert [(r.status_code, r.location) for r in posted] == [(302, address) for address in following]
    # Then three answers of the second by autosave, and a text note.
    csrf = page_csrf(jonah)
    for item_id in CHOICE_IDS["differentiation"][:3]:
        assert autosave(jonah, "differentiation", item_id, 2, csrf=csrf).get_json() == {"saved": True}
    assert autosave(jonah, "life_context", "anything_else", "New job in March.", csrf=csrf).status_code == 200
    # Priya answers a little too; that changes nothing for Jonah.
    assert autosave(priya, "connection", "heard_1", 1).status_code == 200

    jonah_invitation = invitation_of(db, assessment, 1)
    assert jonah_invitation.started_at is not None
    assert couple_status(db, assessment) == CoupleStatus.IN_PROGRESS

    # Jonah closes the browser and opens his link again later: resume on the page where he stopped.
    jonah = open_link(make_client, tokens[1])
    welcome = jonah.get("/q").get_data(as_text=True)
    fourth = CHOICE_IDS["differentiation"][3]
    resume_at = address_of(db, jonah_id, "differentiation", fourth)
    assert f'<a class="button primary big" href="{resume_at}">Continue</a>' in welcome
    assert "All answered" in welcome and f"3 of {len(CHOICE_IDS['differentiation'])} answered" in welcome
    # What is left: 6 x 21/24 + 3 + 2 = 10.25 minutes, said as 11.
    assert "You have about <strong>11 minutes</strong> left." in welcome
    page = jonah.get(address_of(db, jonah_id, "differentiation", CHOICE_IDS["differentiation"][0]))
    page = page.get_data(as_text=True)
    for item_id in CHOICE_IDS["differentiation"][:3]:
        assert re.search(rf'<input checked id="item_{item_id}-1" name="item_{item_id}" type="radio" value="2">', page)
    assert page.count("<input checked") == 3
    assert "New job in March." in jonah.get(address_of(db, jonah_id, "life_context", "anything_else")).get_data(
        as_text=True
    )

    # The review lists what is missing (by page and number), and sending is still allowed.
    review = jonah.get("/q/review").get_data(as_text=True)
    assert "All 38 questions answered." in review
    assert f'href="{resume_at}#item-4"' in review
    # The safety questions are only counted, never listed.
    assert "0 of 8 answered." in review
    assert not [item.id for item in REGISTRY.latest("safety").items if text_in_html(item.text) in review]
    response = jonah.post_form("/q/submit", {"confirm": "y"})  # much is unanswered: Jonah confirms
    assert response.status_code == 302 and response.location == "/q/done"
    assert "You're done — thank you" in jonah.get("/q/done").get_data(as_text=True)

    # Scores were recorded with the engine, on the stored versions; checked by hand
    # from connection-v1.yaml: every answer 4, reverse-keyed items count 1 + 5 - 4 = 2.
    scores = scores_of(db, jonah_invitation.id)
    assert set(scores) == {"connection", "differentiation", "life_context", "safety"}
    version, connection = scores["connection"]
    assert version == 1
    # heard: 4, 4, 2 (heard_3 reversed), 4, 2 (heard_5 reversed) -> 16 / 5
    assert connection["scores"]["heard"] == {"value": 3.2, "valid": True, "band": "Mixed"}
    # withdrawal (a concern area): 4, 4, 4, 2, 2 -> 3.2, "Some"
    assert connection["scores"]["withdrawal"] == {"value": 3.2, "valid": True, "band": "Some"}
    # pursuing: 4, 4, 4, 2 (pursuing_4 reversed) -> 3.5, which is not below 3.5: "High"
    assert connection["scores"]["pursuing"] == {"value": 3.5, "valid": True, "band": "High"}
    assert connection["totals"]["total"] == {"value": 3.2, "valid": True, "band": "Mixed"}
    assert connection["flags"] == []
    # Three differentiation answers are too few for a valid score: no guess is recorded.
    assert all(not s["valid"] and s["value"] is None for s in scores["differentiation"][1]["scores"].values())
    assert scores["life_context"][1] == {"scores": {}, "totals": {}, "flags": []}
    assert "New job" not in str(scores)  # scores never carry the answers themselves

    # One partner sent: still in progress; Priya's answers are untouched and unscored.
    assert stored(db, invitation_of(db, assessment, 2).id) == {("connection", "heard_1"): 1}
    assert scores_of(db, invitation_of(db, assessment, 2).id) == {}
    assert couple_status(db, assessment) == CoupleStatus.IN_PROGRESS

    # Reopening the sent link shows that it is done, and no answers at all: its one form is the
    # choice about shared statements.
    again = open_link(make_client, tokens[1])
    done = again.get("/q").get_data(as_text=True)
    assert "You're done — thank you" in done
    assert "New job" not in done and "Agree" not in done and 'type="radio"' not in done
    assert set(re.findall(r'<input[^>]*\bname="([^"]+)"', done)) == {"csrf_token", "share", "save"}
    for url in (page_address(1), pages["safety"][-1][0], "/q/review"):
        assert again.get(url).location == "/q/done"

    priya.post_form("/q/submit", {"confirm": "y"})
    assert couple_status(db, assessment) == CoupleStatus.COMPLETED


def test_safety_answers_are_flagged_and_the_page_shows_the_crisis_text(intake, make_client, db, owner):
    """Every page of the safety questionnaire carries the practice's crisis text, before the
    first question; a worrying answer becomes a flag when the answers are sent."""
    owner.practice.crisis_text = "Call the Harbour crisis line on 0800 123 456, day or night."
    db.session.commit()
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    safety_pages = form_pages(db, jonah_id)["safety"]
    assert [address for address, _ in safety_pages] == ["/q/4", "/q/4/2"]
    for number, (address, _) in enumerate(safety_pages, start=1):
        page = jonah.get(address).get_data(as_text=True)
        assert f"Questionnaire 4 of 4 · Page {number} of 2" in page and '<progress max="80" value="0"' in page
        # Before the first question, under its own heading, as a line to scan.
        crisis = page.index("<li>Call the Harbour crisis line on 0800 123 456, day or night.</li>")
        assert page.index('<aside class="crisis"') < page.index("If you need help now") < crisis
        assert crisis < page.index("<fieldset")
    assert "crisis line" not in jonah.get("/q/1").get_data(as_text=True)

    posted = post_questionnaire(jonah, db, jonah_id, "safety", {"afraid": "1", "self_harm": "3"})
    assert [r.location for r in posted] == ["/q/4/2", "/q/review"]
    assert jonah.post_form("/q/submit", {"confirm": "y"}).location == "/q/done"
    safety = scores_of(db, jonah_id)["safety"][1]
    assert safety["flags"] == [{"item_id": "self_harm", "level": "urgent"}]


def test_instrument_page_is_accessible_and_works_on_a_phone(intake, make_client, client, db):
    """Every page of a questionnaire: fieldsets with legends, labelled radios, the engine's order
    numbered across pages, both ways to save without JavaScript, and scripts only from files."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    pages = form_pages(db, invitation_of(db, assessment, 1).id)
    html, order, numbers = [], [], []
    for number, (address, items) in enumerate(pages["connection"], start=1):
        page = jonah.get(address).get_data(as_text=True)
        assert f"Questionnaire 1 of 4 · Page {number} of 8" in page
        assert '<progress max="80" value="0" aria-describedby="time-left" aria-labelledby="step-label">' in page
        # Every question is a fieldset with a legend, every answer a labelled radio button.
        assert page.count("<fieldset") == page.count("<legend>") == len(items) <= 10
        assert page.count('<label class="choice" for="item_') == page.count('type="radio"') == len(items) * 5
        order += re.findall(r'data-item="([a-z0-9_]+)"', page)
        numbers += re.findall(r'<fieldset class="item" id="item-(\d+)"', page)
        html.append(page)
    # Items come in the order the engine gives for this invitation, numbered on from page to page.
    assert order == [item.id for item in CONNECTION.items]
    assert numbers == [str(n) for n in range(1, 39)]
    for number, item in enumerate(CONNECTION.items, start=1):
        assert f"{number}.</span> {text_in_html(item.text)}</legend>" in html[0] + "".join(html[1:])
    page = html[0]
    # Both ways to save without JavaScript, and autosave with it (a file, never inline).
    assert "Save and continue" in page and "Save and finish later" in page
    assert re.search(r'<script src="/static/js/autosave.js" defer></script>', page)
    assert re.search(r'<script src="/static/js/leave.js" defer></script>', page)
    assert "<script>" not in page and not re.search(r"\son[a-z]+=", page)
    assert 'role="status" aria-live="polite"' in page
    assert 'data-autosave-url="/q/autosave" data-instrument="connection"' in page
    # A text question has a real label, its hint and its limit; no attribute says "None".
    notes = jonah.get(address_of(db, invitation_of(db, assessment, 1).id, "life_context", "anything_else"))
    notes = notes.get_data(as_text=True)
    assert '<label class="legend" for="item_anything_else">' in notes
    assert re.search(
        r'<textarea aria-describedby="item_anything_else-hint" id="item_anything_else" maxlength="500"', notes
    )
    assert '="None"' not in notes and '="None"' not in page
    # The partner's pages never lead to the therapist side.
    assert "/signin" not in page and 'aria-label="Main"' not in page
    assert '<link rel="stylesheet" href="/static/css/client.css">' in page
    css = client.get("/static/css/client.css")
    text = css.get_data(as_text=True)
    css.close()
    assert "min-height: 48px" in text and "@media (max-width: 480px)" in text
    script = client.get("/static/js/autosave.js")
    js = script.get_data(as_text=True)
    script.close()
    assert "X-CSRFToken" in js and "Saved" in js


def test_save_and_finish_later_keeps_answers_and_says_so(intake, make_client, db):
    """Save and finish later: the page is saved, and the welcome page says so."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    response = jonah.post_form("/q/1", {"item_heard_1": "5", "later": "Save and finish later"})
    assert response.location == "/q"
    assert "Your answers are saved." in jonah.get("/q").get_data(as_text=True)
    assert stored(db, invitation_of(db, assessment, 1).id) == {("connection", "heard_1"): 5}


def test_untouched_questions_on_a_page_post_keep_what_another_tab_saved(intake, make_client, db):
    """A page post changes only what it shows as chosen; an emptied text box clears its note."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    autosave(jonah, "connection", "heard_2", 5)
    autosave(jonah, "life_context", "anything_else", "kept")
    # A page opened before that save posts only what it shows as chosen.
    jonah.post_form(address_of(db, jonah_id, "connection", "heard_1"), {"item_heard_1": "3"})
    post_questionnaire(jonah, db, jonah_id, "life_context", {"work": "2", "anything_else": ""})
    assert stored(db, jonah_id) == {
        ("connection", "heard_1"): 3,
        ("connection", "heard_2"): 5,
        ("life_context", "work"): 2,
        # A text box always posts its content: emptied on purpose, the note is cleared.
    }


def test_the_first_autosave_starts_the_questionnaires_and_later_ones_keep_that_time(intake, make_client, db):
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    csrf = page_csrf(jonah)
    assert invitation_of(db, assessment, 1).started_at is None
    assert couple_status(db, assessment) == CoupleStatus.WAITING

    assert autosave(jonah, "connection", "heard_1", 4, csrf=csrf).get_json() == {"saved": True}
    started = invitation_of(db, assessment, 1).started_at
    assert started is not None
    assert couple_status(db, assessment) == CoupleStatus.IN_PROGRESS

    # Saves within a few minutes leave the invitation's row alone (its last activity follows the
    # saves to within responses.ACTIVITY_STEP) ...
    assert autosave(jonah, "connection", "heard_2", 2, csrf=csrf).get_json() == {"saved": True}
    again = invitation_of(db, assessment, 1)
    assert again.started_at == started and again.last_activity_at == started
    # ... and a save after a longer pause moves it, never the start.
    earlier = utcnow() - responses.ACTIVITY_STEP - timedelta(seconds=1)
    db.session.execute(sa.update(Invitation).where(Invitation.id == again.id).values(last_activity_at=earlier))
    db.session.commit()
    assert autosave(jonah, "connection", "heard_3", 3, csrf=csrf).get_json() == {"saved": True}
    again = invitation_of(db, assessment, 1)
    assert again.started_at == started and utcnow() - again.last_activity_at < timedelta(seconds=30)
    assert stored(db, again.id) == {
        ("connection", "heard_1"): 4,
        ("connection", "heard_2"): 2,
        ("connection", "heard_3"): 3,
    }


def test_autosave_clears_an_answer_with_null_or_empty_text(intake, make_client, db):
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    csrf = page_csrf(jonah)
    autosave(jonah, "connection", "heard_1", 4, csrf=csrf)
    autosave(jonah, "life_context", "anything_else", "a note", csrf=csrf)
    autosave(jonah, "connection", "heard_1", 5, csrf=csrf)  # last write wins
    assert stored(db, invitation_of(db, assessment, 1).id) == {
        ("connection", "heard_1"): 5,
        ("life_context", "anything_else"): "a note",
    }
    assert autosave(jonah, "connection", "heard_1", None, csrf=csrf).status_code == 200
    assert autosave(jonah, "life_context", "anything_else", "  ", csrf=csrf).status_code == 200
    assert stored(db, invitation_of(db, assessment, 1).id) == {}


# Links that do not open.


def test_unknown_expired_revoked_and_replaced_links_all_look_the_same(
    owner, make_couple, make_assessment, make_client, db
):
    """Opened fresh, an unknown, expired, revoked or replaced link gets one generic page; a
    browser that had opened the link before is told how it ended, and nothing more."""
    couple = make_couple(owner, names=("Jonah", "Priya"))
    assessment, tokens = make_assessment(couple)
    other, other_tokens = make_assessment(make_couple(owner))

    expired = invitation_of(db, other, 1)
    expired.expires_at = utcnow() - timedelta(minutes=1)
    invitations.revoke(invitations.find_by_token(other_tokens[2]))
    invitations.reissue(invitations.find_by_token(tokens[1]))
    db.session.commit()

    responses = [
        make_client().get(f"/l/{token}")
        for token in ("unknown-" + "x" * 40, other_tokens[1], other_tokens[2], tokens[1], "a" * 500)
    ]
    assert {r.status_code for r in responses} == {404}
    bodies = {body_without_csrf(r) for r in responses}
    assert len(bodies) == 1
    body = bodies.pop()
    assert "This link isn't available" in body
    assert "/signin" not in body
    # The partner session ends with the link: a browser that opened it before is shut out too,
    # and every partner page says why (410), without a name or an answer.
    priya = open_link(make_client, tokens[2])
    assert autosave(priya, "life_context", "anything_else", "Priya's own words").status_code == 200
    invitations.revoke(invitations.find_by_token(tokens[2]))
    db.session.commit()
    ended = set()
    for url in ("/q", "/q/1", "/q/4/2", "/q/review", "/q/done"):
        response = priya.get(url)
        assert response.status_code == 410, url
        ended.add(body_without_csrf(response))
    assert len(ended) == 1
    page = ended.pop()
    assert "<h1>This link has been closed</h1>" in page
    assert "Your answers have not been sent to your therapist." in page
    assert "Nothing you sent just now was saved." not in page  # nothing was sent
    for hidden in ("Jonah", "Priya", "own words", "Harbour Light", "Dr. Ada Brook", "This link isn't available"):
        assert hidden not in page, hidden
    saved = autosave(priya, "connection", "heard_1", 3)
    assert saved.status_code == 410
    assert saved.get_json() == {
        "error": "This link has been closed by your therapist's practice, so this answer was not saved."
    }
    assert stored(db, invitation_of(db, assessment, 2).id) == {("life_context", "anything_else"): "Priya's own words"}


def test_pages_without_a_partner_session_show_the_link_page(client):
    """Without a partner session every partner page is the generic link page."""
    for url in ("/q", "/q/1", "/q/1/2", "/q/review", "/q/done"):
        response = client.get(url)
        assert response.status_code == 404
        assert "This link isn't available" in response.get_data(as_text=True)


def test_guessing_links_is_rate_limited(client, intake, app):
    _, tokens = intake
    per_minute = int(app.config["LINK_OPEN_LIMIT"].split()[0])
    for n in range(per_minute):
        assert client.get(f"/l/guess-{n:04d}-" + "x" * 30).status_code == 404
    response = client.get(f"/l/{tokens[1]}")  # even a real link waits now
    assert response.status_code == 429
    assert "Please wait a moment" in response.get_data(as_text=True)


# Sending.


def test_double_submit_sends_once_with_the_same_scores(intake, make_client, db):
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    invitation_id = invitation_of(db, assessment, 1).id
    post_questionnaire(jonah, db, invitation_id, "connection", dict.fromkeys(CHOICE_IDS["connection"], "2"))
    first = jonah.post_form("/q/submit", {"confirm": "y"})
    invitation = invitation_of(db, assessment, 1)
    sent_at, before = invitation.submitted_at, scores_of(db, invitation.id)
    assert sent_at is not None and set(before) == {"connection", "differentiation", "life_context", "safety"}
    rows = db.session.execute(sa.select(Score.id, Score.created_at)).all()
    second = jonah.post_form("/q/submit", {"confirm": "y"})  # a double click, or a retry after a timeout
    assert first.location == second.location == "/q/done"
    assert invitation_of(db, assessment, 1).submitted_at == sent_at
    assert scores_of(db, invitation.id) == before
    assert db.session.execute(sa.select(Score.id, Score.created_at)).all() == rows


def test_two_devices_sending_at_once_send_once(intake, make_client, db):
    """Four devices send at the same moment: one send scores, and every device lands on the
    thank-you (the ones that lost the race say the answers had already been sent)."""
    assessment, tokens = intake
    devices = [open_link(make_client, tokens[1]) for _ in range(4)]
    autosave(devices[0], "connection", "heard_1", 5)
    tokens_csrf = [page_csrf(d) for d in devices]
    barrier = threading.Barrier(len(devices))
    results = []

    def send(device, csrf):
        barrier.wait()
        response = device.post("/q/submit", data={"csrf_token": csrf, "confirm": "y"})
        results.append((response.status_code, response.location, response.get_data(as_text=True)))

    threads = [threading.Thread(target=send, args=pair) for pair in zip(devices, tokens_csrf, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(devices)
    for status, location, page in results:
        if status == 302:  # the winner, or a device that found the answers sent before it began
            assert location == "/q/done"
        else:  # sent by another device while this request was under way
            assert status == 409 and "You're done — thank you" in page and "had already been sent" in page
    assert (302, "/q/done") in [(status, location) for status, location, _ in results]
    invitation = invitation_of(db, assessment, 1)
    assert invitation.submitted_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Score)) == 4  # one per instrument


def test_saves_after_sending_answer_409_and_change_nothing(intake, make_client, db):
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    csrf = page_csrf(jonah)
    autosave(jonah, "connection", "heard_1", 4, csrf=csrf)
    other_tab = open_link(make_client, tokens[1])
    other_csrf = page_csrf(other_tab)
    assert jonah.post_form("/q/submit", {"confirm": "y"}).location == "/q/done"
    invitation = invitation_of(db, assessment, 1)
    before = stored(db, invitation.id), scores_of(db, invitation.id)

    response = autosave(other_tab, "connection", "heard_1", 1, csrf=other_csrf)
    assert response.status_code == 409 and "already been sent" in response.get_json()["error"]
    assert autosave(other_tab, "connection", "heard_2", None, csrf=other_csrf).status_code == 409
    response = other_tab.post("/q/1", data={"csrf_token": other_csrf, "item_heard_1": "1"})
    assert response.status_code == 409 and "already been sent" in response.get_data(as_text=True)
    assert (stored(db, invitation.id), scores_of(db, invitation.id)) == before


def close_in_another_transaction(db, invitation_id: int, *, submitted: bool) -> None:
    """Another request sends the answers (or the therapist revokes the link), committed on its own."""
    column = Invitation.submitted_at if submitted else Invitation.revoked_at
    with db.engine.begin() as other:
        other.execute(sa.update(Invitation).where(Invitation.id == invitation_id).values({column: utcnow()}))


@pytest.mark.parametrize("submitted", [True, False], ids=["sent meanwhile", "closed meanwhile"])
def test_a_page_that_loses_the_race_with_sending_or_closing_says_so(submitted, intake, make_client, monkeypatch, db):
    """The link was open when the request loaded it, then another request sent the answers (or
    the therapist revoked the link) before this page's save wrote anything: the page says which,
    and nothing of it is written."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    csrf = page_csrf(jonah)
    invitation_id = invitation_of(db, assessment, 1).id
    real_save = responses.save_answers

    def closed_just_before(*args, **kwargs):
        close_in_another_transaction(db, invitation_id, submitted=submitted)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(responses, "save_answers", closed_just_before)
    page = jonah.post("/q/1", data={"csrf_token": csrf, "item_heard_1": "2"})
    text = page.get_data(as_text=True)
    if submitted:
        assert page.status_code == 409 and "already been sent" in text
    else:
        assert page.status_code == 410 and "This link has been closed" in text
        assert "Nothing you sent just now was saved." in text
    assert stored(db, invitation_id) == {}


@pytest.mark.parametrize("submitted", [True, False], ids=["sent meanwhile", "closed meanwhile"])
def test_an_autosave_that_loses_the_race_with_sending_or_closing_says_so_and_writes_nothing(
    submitted, intake, make_client, monkeypatch, db
):
    """Another connection sends the answers (or revokes the link) after the autosave request has
    read its session and just before its one conditional write: 409 or 410, nothing written."""
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    csrf = page_csrf(jonah)
    invitation_id = invitation_of(db, assessment, 1).id
    real_autosave = responses.autosave

    def closed_just_before(*args, **kwargs):
        close_in_another_transaction(db, invitation_id, submitted=submitted)
        return real_autosave(*args, **kwargs)

    monkeypatch.setattr(responses, "autosave", closed_just_before)
    saved = autosave(jonah, "connection", "heard_1", 2, csrf=csrf)
    if submitted:
        assert saved.status_code == 409 and "already been sent" in saved.get_json()["error"]
    else:
        assert saved.status_code == 410
        assert saved.get_json() == {
            "error": "This link has been closed by your therapist's practice, so this answer was not saved."
        }
    assert stored(db, invitation_id) == {}


# Concurrency.


def test_two_tabs_autosaving_at_once_keep_every_answer(intake, make_client, db):
    assessment, tokens = intake
    tabs = [open_link(make_client, tokens[1]) for _ in range(2)]
    csrf = [page_csrf(tab) for tab in tabs]
    items = CHOICE_IDS["connection"]
    halves = [items[0::2], items[1::2]]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def answer(n):
        barrier.wait()
        for item_id in halves[n]:
            statuses.append(autosave(tabs[n], "connection", item_id, n + 1, csrf=csrf[n]).status_code)
        # Both tabs also change the same question; one of them is last, and it wins.
        statuses.append(autosave(tabs[n], "connection", "heard_1", 5 - n, csrf=csrf[n]).status_code)

    threads = [threading.Thread(target=answer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) == {200}
    saved = stored(db, invitation_of(db, assessment, 1).id)
    assert {item for _, item in saved} == set(items)
    for n, half in enumerate(halves):
        for item_id in half:
            if item_id != "heard_1":
                assert saved["connection", item_id] == n + 1
    assert saved["connection", "heard_1"] in (4, 5)


# Privacy.


def test_only_token_hashes_are_stored(intake, make_client, outbox, db):
    _, tokens = intake
    invitations.send_reminder(invitations.find_by_token(tokens[1]))  # a further link, by email
    (reminder,) = outbox()
    (reminder_token,) = re.findall(r"/l/([A-Za-z0-9_\-]+)", reminder.get_content())
    raws = [*tokens.values(), reminder_token]
    for raw in raws:
        open_link(make_client, raw)
    found = {raw: [] for raw in raws}
    hashes = set()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                text = " ".join(str(value) for value in row)
                for raw in raws:
                    if raw in text:
                        found[raw].append(table.name)
                    if hash_token(raw) in text:
                        hashes.add(hash_token(raw))
    assert found == {raw: [] for raw in raws}
    assert hashes == {hash_token(raw) for raw in raws}


def test_a_partner_can_never_reach_the_other_partners_answers(
    intake, owner, make_couple, make_assessment, make_client, db
):
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    priya = open_link(make_client, tokens[2])
    autosave(priya, "life_context", "anything_else", "Priya's private note")
    autosave(priya, "connection", "heard_1", 1)
    jonah_id, priya_id = invitation_of(db, assessment, 1).id, invitation_of(db, assessment, 2).id
    elsewhere, _ = make_assessment(make_couple(owner), instruments=["checkin"])
    stranger_id = invitation_of(db, elsewhere, 1).id
    before = stored(db, priya_id)

    csrf = page_csrf(jonah)
    # Ids in the body are refused, not followed.
    for extra in ({"invitation": priya_id}, {"invitation_id": priya_id}, {"partner": 2}, {"invitation": stranger_id}):
        response = autosave(jonah, "connection", "heard_1", 5, csrf=csrf, **extra)
        assert response.status_code == 400
    # Another couple's questionnaire is not Jonah's to answer or see.
    assert autosave(jonah, "checkin", "satisfied", 5, csrf=csrf).status_code == 400
    assert jonah.get("/q/checkin").status_code == 404
    assert jonah.get("/q/5").status_code == 404  # Jonah has four questionnaires
    # Posting ids to the pages changes nothing but Jonah's own answers.
    heard_2_page = address_of(db, jonah_id, "connection", "heard_2")
    saved = jonah.post(heard_2_page, data={"csrf_token": csrf, "item_heard_2": "4", "invitation_id": str(priya_id)})
    assert saved.status_code == 302
    sent = jonah.post("/q/submit", data={"csrf_token": csrf, "confirm": "y", "invitation_id": str(priya_id)})
    assert sent.location == "/q/done"
    assert invitation_of(db, assessment, 1).submitted_at is not None

    assert stored(db, priya_id) == before
    assert invitation_of(db, assessment, 2).submitted_at is None
    assert scores_of(db, priya_id) == {}
    assert stored(db, stranger_id) == {}
    assert invitation_of(db, elsewhere, 1).submitted_at is None
    assert set(stored(db, jonah_id)) == {("connection", "heard_2")}

    # Nothing of Priya's reaches any page of Jonah's.
    for url in ("/q", "/q/done"):
        page = jonah.get(url).get_data(as_text=True)
        assert "Priya" not in page and "private note" not in page


def test_a_forged_session_for_another_invitation_opens_nothing(intake, make_client, db):
    """A session naming Priya's invitation with the hash of Jonah's link gets the "replaced"
    page everywhere: it shows nothing of Priya's invitation, and nothing it sends is written."""
    assessment, tokens = intake
    priya = open_link(make_client, tokens[2])
    assert autosave(priya, "life_context", "anything_else", "Priya's private note").status_code == 200
    assert autosave(priya, "connection", "heard_1", 1).status_code == 200
    jonah = open_link(make_client, tokens[1])
    priya_id = invitation_of(db, assessment, 2).id
    before = stored(db, priya_id)
    with jonah.session_transaction() as session:
        held = dict(session["partner"])
        session["partner"] = {"invitation": priya_id, "token": held["token"]}

    for url in ("/q", "/q/1", "/q/3/2", "/q/review", "/q/done"):
        response = jonah.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 410 and "<h1>This link has been replaced</h1>" in page, url
        for hidden in ("Priya", "Jonah", "private note", "<fieldset", "<input checked"):
            assert hidden not in page, (url, hidden)
    csrf = page_csrf(jonah)
    assert autosave(jonah, "connection", "heard_1", 3, csrf=csrf).status_code == 410
    assert autosave(jonah, "connection", "heard_2", 3, csrf=csrf).status_code == 410
    for url, data in (
        ("/q/1", {"item_heard_1": "5", "item_heard_2": "5"}),
        ("/q/submit", {"confirm": "y", "share": "y"}),
        ("/q/sharing", {"share": "y"}),
    ):
        response = jonah.post(url, data={"csrf_token": csrf, **data})
        page = response.get_data(as_text=True)
        assert response.status_code == 410 and "Nothing you sent just now was saved." in page, url
        assert "Priya" not in page and "private note" not in page
    assert stored(db, priya_id) == before
    priya_invitation = invitation_of(db, assessment, 2)
    assert priya_invitation.submitted_at is None and priya_invitation.shares_agreement is False
    assert scores_of(db, priya_id) == {}


def test_answers_never_reach_the_logs(intake, make_client, caplog, db):
    assessment, tokens = intake
    jonah = open_link(make_client, tokens[1])
    jonah_id = invitation_of(db, assessment, 1).id
    notes_page = address_of(db, jonah_id, "life_context", "anything_else")
    with caplog.at_level("DEBUG"):
        autosave(jonah, "life_context", "anything_else", "zebra-secret-words")
        post_questionnaire(jonah, db, jonah_id, "life_context", {"anything_else": "zebra-secret-again", "work": "3"})
        autosave(jonah, "life_context", "work", 9)
        too_long = jonah.post_form(notes_page, {"item_anything_else": "zebra-" + "x" * 600})
        assert too_long.status_code == 400
        jonah.post_form("/q/submit", {"confirm": "y"})
    assert "zebra" not in caplog.text


# Fixed work per page, whatever the size of the practice.


def _client_page_queries(db, owner, make_couple, make_assessment, make_client, count_queries, couples: int) -> dict:
    for _ in range(couples - 1):
        make_assessment(make_couple(owner))
    assessment, tokens = make_assessment(make_couple(owner))
    jonah = open_link(make_client, tokens[1])
    csrf = page_csrf(jonah)
    heard_3_page = address_of(db, invitation_of(db, assessment, 1).id, "connection", "heard_3")
    autosave(jonah, "connection", "heard_1", 4, csrf=csrf)  # the first save also updates the couple's status
    counts = {}
    for name, call in {
        "welcome": lambda: jonah.get("/q"),
        "instrument": lambda: jonah.get(heard_3_page),
        "autosave": lambda: autosave(jonah, "connection", "heard_2", 4, csrf=csrf),
        "page post": lambda: jonah.post(heard_3_page, data={"csrf_token": csrf, "item_heard_3": "4"}),
        "review": lambda: jonah.get("/q/review"),
        "submit": lambda: jonah.post("/q/submit", data={"csrf_token": csrf, "confirm": "y"}),
        "done": lambda: jonah.get("/q/done"),
    }.items():
        with count_queries() as statements:
            response = call()
        assert response.status_code in (200, 302), name
        counts[name] = len(statements)
    return counts


def test_client_pages_run_a_fixed_number_of_queries(
    owner, make_couple, make_assessment, make_client, count_queries, db
):
    few = _client_page_queries(db, owner, make_couple, make_assessment, make_client, count_queries, 5)
    many = _client_page_queries(db, owner, make_couple, make_assessment, make_client, count_queries, 50)
    assert few == many
    assert few["welcome"] <= 2 and few["instrument"] <= 2 and few["review"] <= 2 and few["done"] <= 1
