"""The whole journey in Chromium against the real server: a therapist makes a couple and its
links, each partner fills the questionnaires page by page (one on a phone with the mouse, who
leaves with "Leave this page" and comes back; one with the keyboard alone and, for part of the
way, without JavaScript; one of a second couple without JavaScript on a small phone), the
therapist reads the comparison and downloads the report, and one partner's browser finds
nothing of the other's. Every partner tab is watched: no title or history entry may say
"safety", and on the phone no page may be taller than three screens.

The tests run in order and share the story they build (the couple, the links, the report).
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pypdf import PdfReader

from tests.browser.a11y import focus_problem
from tests.browser.conftest import DEMO, THERAPIST
from tests.browser.journeys import (
    NARROW,
    PartnerTabs,
    above_the_fold,
    answer_by_clicks,
    answer_by_keyboard,
    band_of,
    checked_values,
    choice_item_ids,
    expected_mean,
    focused,
    saved_out_of_sight,
    tab_through,
    tab_to,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": NARROW, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# The couple view must work on a small laptop or tablet too.
LAPTOP_WIDTH = 1024
LABEL = "J & R"
PARTNER_A = {"name": "Juniper", "email": "juniper@example.org", "pronouns": "she/her"}
PARTNER_B = {"name": "Rowan", "email": "rowan@example.org", "pronouns": ""}
NOTE_A = "Starting a new job in March."
NOTE_B = "We are moving house in spring."
PREP_NOTES = "Ask each of them about the move; see Juniper alone first about feeling afraid."
REVIEW_NOTE = "Spoke with Juniper alone; no immediate danger."
# Partner A answers every connection question "Neither agree nor disagree" (3): every area,
# reverse-keyed or not, scores 3.00, which is "Mixed" overall. Partner B answers "Disagree" (2).
A_CONNECTION, B_CONNECTION = 3, 2
# Things only the therapist (and partner B) may see, which partner A's browser must never show.
B_SECRETS = (PARTNER_B["name"], PARTNER_B["email"], NOTE_B, LABEL, PREP_NOTES, "Overall connection")
# A second couple, whose partner A fills everything in without JavaScript on a small phone.
LABEL_2 = "K & M"
PARTNER_2A, PARTNER_2B = "Kit", "Morgan"
C_CONNECTION = 4  # "Agree" to every connection question
DATE = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}")
# The default intake as partners see it: each questionnaire's title and its number of pages.
INTAKE = (("Feeling close", 8), ("Closeness and independence", 6), ("Life right now", 2), ("A few more questions", 2))
INTAKE_QUESTIONS, INTAKE_MINUTES = 80, 19
CONNECTION, DIFFERENTIATION, LIFE_CONTEXT, SAFETY = 1, 2, 3, 4  # their places in the intake
# Where "Leave this page" goes: the therapist sets it in the practice's settings, and the
# partners' browsers get a small neutral page from it (there is no internet here).
LEAVE_URL = "https://weather.example/today"
NEUTRAL_TITLE = "Weather today"
NEUTRAL_PAGE = (
    "<!doctype html><html lang='en'><meta name='viewport' content='width=device-width'>"
    f"<title>{NEUTRAL_TITLE}</title><h1>{NEUTRAL_TITLE}</h1><p>Sunny.</p>"
)
SAVED_NOTE = "An answer is saved. To keep it private, it isn't shown. Choose again to replace it."
CONFIRM_FIRST = "Please tick the box to send your answers with these questions unanswered, or go back to them."


@dataclass
class Story:
    couple_url: str = ""
    links: dict[str, str] = field(default_factory=dict)
    report_url: str = ""
    download_url: str = ""
    done: set[str] = field(default_factory=set)

    def needs(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.fail(f"an earlier journey did not finish: {', '.join(missing)}")


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


def _context(chromium: Browser, live_server, **kwargs) -> BrowserContext:
    context = chromium.new_context(base_url=live_server.url, **kwargs)
    context.set_default_timeout(10_000)
    # The practice's neutral site, served here: "Leave this page" must land somewhere real.
    context.route(
        re.compile(r"^https://weather\.example/"),
        lambda route: route.fulfill(status=200, content_type="text/html", body=NEUTRAL_PAGE),
    )
    return context


def _progress(number: int, page: int) -> str:
    """What a questionnaire page says of where it is: "Questionnaire 1 of 4 · Page 2 of 8"."""
    pages = INTAKE[number - 1][1]
    where = f"Questionnaire {number} of {len(INTAKE)}"
    return f"{where} · Page {page} of {pages}" if pages > 1 else where


def _address(number: int, page: int) -> re.Pattern:
    return re.compile(rf"/q/{number}$" if page == 1 else rf"/q/{number}/{page}$")


def _on_page(page: Page, number: int, n: int) -> None:
    """The partner is on page `n` of questionnaire `number`: its address, title and progress."""
    title = INTAKE[number - 1][0]
    expect(page).to_have_url(_address(number, n))
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page).to_have_title(f"{title} · Tandem")
    expect(page.locator("#step-label")).to_have_text(_progress(number, n))


@pytest.fixture(scope="module")
def therapist(chromium, live_server):
    """The therapist's desktop browser, allowed to use the clipboard."""
    context = _context(chromium, live_server, viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    yield context
    context.close()


@pytest.fixture(scope="module")
def partner_a(chromium, live_server):
    """Partner A's phone."""
    context = _context(chromium, live_server, viewport=PHONE, is_mobile=True, has_touch=True)
    yield context
    context.close()


@pytest.fixture(scope="module")
def partner_b(chromium, live_server):
    """Partner B's laptop, used with the keyboard only."""
    context = _context(chromium, live_server, viewport=DESKTOP)
    yield context
    context.close()


def _in_practice_zone(text: str) -> datetime:
    """The first date on the page, read as a time in the therapist's practice zone."""
    found = DATE.search(text)
    assert found, f"no date in {text!r}"
    return datetime.strptime(found.group(0), "%d %b %Y, %H:%M").replace(tzinfo=ZoneInfo(THERAPIST["timezone"]))


def _assert_recent(shown: datetime) -> None:
    """A date shown for something that just happened is now, in the practice's zone (not UTC)."""
    now = datetime.now(ZoneInfo(THERAPIST["timezone"]))
    assert abs(now - shown) < timedelta(minutes=5), f"{shown} is not now ({now}) in {THERAPIST['timezone']}"


# --- 1. the therapist: sign in, add a couple, start the intake, copy both links -------------


def test_1_therapist_adds_a_couple_and_copies_both_links(therapist, live_server, journey, story):
    steps = journey("1-therapist-links")
    page = therapist.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin"))
    expect(page).to_have_title("Sign in · Tandem")
    favicon = page.locator('link[rel="icon"]').get_attribute("href")
    icon = page.request.get(favicon)
    assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml"), icon.status
    steps.step(page, "signin")
    page.get_by_label("Email").fill(THERAPIST["email"])
    page.get_by_label("Password").fill(THERAPIST["password"])
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Couples", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="No couples yet — add your first")).to_be_visible()
    expect(page).to_have_title("Couples · Tandem")
    steps.step(page, "dashboard-empty")

    # Where "Leave this page" sends a partner is the practice's to choose (a neutral site).
    page.get_by_role("link", name="Settings", exact=True).click()
    leave_to = page.get_by_label(re.compile("Leave this page"))
    leave_to.fill(LEAVE_URL)
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(leave_to).to_have_value(LEAVE_URL)
    steps.step(page, "settings-leave-site")
    page.get_by_role("link", name="Couples", exact=True).click()

    page.get_by_role("link", name="Add a couple").first.click()
    expect(page).to_have_title("Add a couple · Tandem")
    steps.step(page, "add-couple")
    # Sent empty: each message stands beside its own field, and the field says it is invalid.
    page.get_by_role("button", name="Add couple").click()
    label_field = page.get_by_label("Label")
    expect(label_field).to_have_attribute("aria-invalid", "true")
    label_error = page.locator(".field.has-error", has=label_field).locator(".field-errors")
    expect(label_error).to_have_text(re.compile("Give the couple a label"))
    group_a = page.get_by_role("group", name="Partner A")
    group_b = page.get_by_role("group", name="Partner B")
    expect(group_a.locator(".field.has-error .field-errors")).to_have_text(re.compile("Each partner needs a name"))
    steps.step(page, "add-couple-errors")

    label_field.fill(LABEL)
    for group, partner in ((group_a, PARTNER_A), (group_b, PARTNER_B)):
        group.get_by_label("Name").fill(partner["name"])
        group.get_by_label("Email").fill(partner["email"])
        group.get_by_label("Pronouns").fill(partner["pronouns"])
    page.get_by_role("button", name="Add couple").click()
    expect(page.get_by_text(f"Couple {LABEL} added.")).to_be_visible()
    expect(page).to_have_title(f"{LABEL} · Tandem")
    story.couple_url = page.url
    steps.step(page, "couple-added")

    page.get_by_role("link", name="Send questionnaires").click()
    expect(page.get_by_label("Occasion")).to_have_value("Intake")
    expect(page.get_by_label("Email each partner their link now")).to_be_checked()
    steps.step(page, "start-intake")
    page.get_by_role("button", name="Create links").click()
    expect(page.get_by_role("heading", name="Links for Intake", level=1)).to_be_visible()

    for letter, partner in (("A", PARTNER_A), ("B", PARTNER_B)):
        card = page.locator("section.link-card", has=page.get_by_role("heading", name=f"Partner {letter}"))
        expect(card).to_contain_text(partner["name"])
        expect(card).to_contain_text(f"Emailed to {partner['email']}")
        link = card.get_by_label("Private link").input_value()
        assert re.fullmatch(rf"{re.escape(live_server.url)}/l/[A-Za-z0-9_\-]{{43}}", link), link
        story.links[letter] = link
        # The copy button (shown only with JavaScript) puts exactly that link on the clipboard.
        copy = card.locator("button[data-copy]")
        expect(copy).to_have_text("Copy")
        copy.click()
        expect(copy).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == link
    assert story.links["A"] != story.links["B"]
    steps.step(page, "links")

    # The emailed links are the same links, one to each partner.
    sent = {}
    for path in sorted(live_server.outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        sent[str(message["To"])] = message.get_body(preferencelist=("plain",)).get_content()
    for letter, partner in (("A", PARTNER_A), ("B", PARTNER_B)):
        mail = next(body for to, body in sent.items() if partner["email"] in to)
        assert story.links[letter] in mail
        assert story.links["B" if letter == "A" else "A"] not in mail

    page.get_by_role("link", name="Done").click()
    table = page.locator("article.assessment")
    expect(table).to_contain_text("Not opened yet")
    _assert_recent(_in_practice_zone(table.locator("h3").inner_text()))
    steps.step(page, "couple-waiting")
    page.get_by_role("link", name="Couples", exact=True).click()
    expect(page.get_by_role("row", name=re.compile(re.escape(LABEL)))).to_contain_text("Waiting")
    steps.step(page, "dashboard")
    page.close()
    story.done.add("links")


# --- 2. partner A on a phone: page by page, leaves, comes back, finish, send ----------------


def _session_ended(context: BrowserContext, seconds: float = 5) -> None:
    """This browser's partner session has ended: its pages answer "This link isn't available"."""
    deadline = time.monotonic() + seconds
    while True:
        status = context.request.get("/q", max_redirects=0).status
        if status == 404:
            return
        assert time.monotonic() < deadline, f"the partner session did not end: /q still answers {status}"
        time.sleep(0.1)


def _leave(page: Page, tabs: PartnerTabs) -> None:
    """Press "Leave this page" (with JavaScript): the page and its place in the history become
    the practice's neutral site, the partner session ends, and Back shows no questionnaire."""
    before = page.evaluate("() => history.length")
    left = page.url
    page.get_by_role("button", name="Leave this page").click()
    expect(page).to_have_url(LEAVE_URL)
    expect(page).to_have_title(NEUTRAL_TITLE)
    # The session is ended by a beacon sent as the page goes (Playwright reports it aborted
    # with the page, but the browser delivers it): wait until the server no longer knows it.
    _session_ended(page.context)
    assert page.evaluate("() => history.length") == before, "leaving added a history entry"
    kept = [entry["url"] for entry in tabs.entries(page)]
    assert left not in kept and kept[-1] == LEAVE_URL, f"the questionnaire's history entry was kept: {kept}"
    tabs.look(page, partner=False)
    page.go_back()
    expect(page.get_by_role("heading", name="This link isn't available", level=1)).to_be_visible()
    expect(page.locator("fieldset[data-item]")).to_have_count(0)


def _phone_page(steps, page: Page, tabs: PartnerTabs, label: str) -> None:
    """A partner page on the phone: kept and checked (layout, axe), its way out in sight, and
    its title, history and height recorded."""
    steps.step(page, label)
    above_the_fold(page, page.get_by_role("button", name="Leave this page"))
    tabs.look(page)


def test_2_partner_a_on_a_phone_comes_back_and_sends(partner_a, journey, story):
    story.needs("links")
    steps = journey("2-partner-a-phone")
    tabs = PartnerTabs()
    page = tabs.watch(partner_a.new_page())
    page.goto(story.links["A"])
    expect(page).to_have_url(re.compile(r"/q$"))  # the token leaves the address bar at once
    expect(page.get_by_role("heading", name=f"Hello, {PARTNER_A['name']}")).to_be_visible()
    expect(page).to_have_title("Your questionnaires · Tandem")
    # An honest welcome: how many questions, how long, and that it can wait; Start in sight.
    welcome = page.locator("main")
    expect(welcome).to_contain_text(f"asked you to answer {INTAKE_QUESTIONS} questions")
    expect(welcome).to_contain_text(f"They take about {INTAKE_MINUTES} minutes in all.")
    expect(welcome).to_contain_text("You can stop any time and come back with the same link")
    expect(welcome).to_contain_text("Your partner sees none of them.")
    above_the_fold(page, page.get_by_role("link", name="Start", exact=True))
    _phone_page(steps, page, tabs, "welcome")
    page.get_by_role("link", name="Start", exact=True).click()

    # Feeling close, page by page: the first page whole, half of the second, then "Leave this page".
    _on_page(page, CONNECTION, 1)
    expect(page.locator("progress")).to_have_attribute("max", str(INTAKE_QUESTIONS))
    first = choice_item_ids(page)
    answer_by_clicks(page, dict.fromkeys(first, "Neither agree nor disagree"))
    expect(page.locator("#save-status")).to_have_text("Saved")
    _phone_page(steps, page, tabs, "connection-1")
    page.get_by_role("button", name="Save and continue").click()
    _on_page(page, CONNECTION, 2)
    # Progress in all, as the page opens: the questions answered so far, of every questionnaire.
    expect(page.locator("progress")).to_have_attribute("value", str(len(first)))
    expect(page.locator(".time-left")).to_contain_text(f"{len(first)} of {INTAKE_QUESTIONS} questions answered")
    ids = choice_item_ids(page)
    half = ids[: len(ids) // 2]
    answer_by_clicks(page, dict.fromkeys(half, "Neither agree nor disagree"))
    expect(page.locator("#save-status")).to_have_text("Saved")
    _phone_page(steps, page, tabs, "connection-2-half")
    _leave(page, tabs)
    _phone_page(steps, page, tabs, "back-after-leaving")
    page.close()

    # The same link again: the answers were kept, and Continue opens the first page not finished.
    page = tabs.watch(partner_a.new_page())
    page.goto(story.links["A"])
    expect(page.locator("ol.steps li").first).to_contain_text(f"{len(first) + len(half)} of 38 answered")
    expect(page.locator("main")).to_contain_text("You have about")
    _phone_page(steps, page, tabs, "welcome-back")
    page.get_by_role("link", name="Continue", exact=True).click()
    _on_page(page, CONNECTION, 2)
    assert checked_values(page) == dict.fromkeys(half, str(A_CONNECTION)), "the answers given were not kept"
    _phone_page(steps, page, tabs, "answers-kept")
    page.get_by_role("link", name="Previous page").click()
    _on_page(page, CONNECTION, 1)
    assert checked_values(page) == dict.fromkeys(first, str(A_CONNECTION)), "the first page's answers were not kept"
    page.get_by_role("button", name="Save and continue").click()
    _on_page(page, CONNECTION, 2)
    answer_by_clicks(page, dict.fromkeys(ids[len(half) :], "Neither agree nor disagree"))
    page.get_by_role("button", name="Save and continue").click()

    def every_page(number: int, start: int, answer: str, label: str) -> None:
        """Answer every question of each page of a questionnaire from page `start` on, and save it."""
        for n in range(start, INTAKE[number - 1][1] + 1):
            _on_page(page, number, n)
            answer_by_clicks(page, dict.fromkeys(choice_item_ids(page), answer))
            _phone_page(steps, page, tabs, f"{label}-{n}")
            page.get_by_role("button", name="Save and continue").click()

    every_page(CONNECTION, 3, "Neither agree nor disagree", "connection")
    every_page(DIFFERENTIATION, 1, "Slightly agree", "differentiation")

    for n in (1, 2):
        _on_page(page, LIFE_CONTEXT, n)
        context_answers = dict.fromkeys(choice_item_ids(page), "Not happening")
        if "work" in context_answers:
            context_answers["work"] = "Happening, weighing on me"
        answer_by_clicks(page, context_answers)
        note = page.get_by_label(re.compile("Anything else you'd like your therapist to know"))
        if note.count():
            note.fill(NOTE_A)
        _phone_page(steps, page, tabs, f"life-context-{n}")
        page.get_by_role("button", name="Save and continue").click()

    # The safety questions: a neutral title, the crisis lines beside them, answers by the mouse.
    safety_ids: list[str] = []
    for n in (1, 2):
        _on_page(page, SAFETY, n)
        crisis = page.get_by_role("complementary", name="If you need help now")
        expect(crisis).to_be_visible()
        expect(crisis.locator("li").first).to_be_visible()
        on_page = choice_item_ids(page)
        safety = dict.fromkeys(on_page, "Never")
        if "afraid" in safety:
            safety["afraid"] = "Sometimes"  # a review-level flag, for the therapist only
        answer_by_clicks(page, safety)
        safety_ids += on_page
        _phone_page(steps, page, tabs, f"safety-{n}")
        if n == 1:
            page.get_by_role("button", name="Save and continue").click()
    assert "afraid" in safety_ids
    page.close()  # every answer is saved as it is chosen: closing the tab loses none

    # The link opened again (on a shared phone, perhaps): the safety answers are not shown.
    page = tabs.watch(partner_a.new_page())
    page.goto(story.links["A"])
    expect(page.locator("ol.steps li").nth(3)).to_contain_text("All answered")
    page.get_by_role("link", name=INTAKE[SAFETY - 1][0]).click()
    for n in (1, 2):
        _on_page(page, SAFETY, n)
        expect(page.locator('.questionnaire input[type="radio"]:checked')).to_have_count(0)
        shown_saved = saved_out_of_sight(page)
        assert shown_saved == choice_item_ids(page), f"not every saved answer says so: {shown_saved}"
        expect(page.get_by_text(SAVED_NOTE).first).to_be_visible()
        _phone_page(steps, page, tabs, f"safety-{n}-reopened")
        # Saving a page without choosing again keeps the saved answers.
        page.get_by_role("button", name="Save and review" if n == 2 else "Save and continue").click()

    expect(page).to_have_url(re.compile(r"/q/review$"))
    expect(page.get_by_role("heading", name="Check and send", level=1)).to_be_visible()
    expect(page.get_by_text("You have answered every question.")).to_be_visible()
    expect(page.locator("#confirm-box")).to_have_count(0)  # nothing unanswered: nothing to confirm
    share = page.get_by_label("Yes, statements we both chose may appear in a summary for the two of us")
    expect(share).not_to_be_checked()  # the default is no
    _phone_page(steps, page, tabs, "review")
    share.check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="You're done — thank you")).to_be_visible()
    expect(page.locator("#sharing-now")).to_contain_text("You said yes")
    _phone_page(steps, page, tabs, "done")
    # The choice can still be changed after sending.
    share = page.get_by_label("Yes, statements we both chose may appear in a summary for the two of us")
    expect(share).to_be_checked()
    share.uncheck()
    page.get_by_role("button", name="Save my choice").click()
    expect(page.get_by_text("Saved: no shared statements will appear in a summary for the two of you.")).to_be_visible()
    expect(page.locator("#sharing-now")).to_contain_text("You said no")
    _phone_page(steps, page, tabs, "done-sharing-changed")
    page.close()
    story.done.add("partner A")

    # What the phone showed, page after page.
    tabs.write(steps.folder / "pages.txt")
    tabs.never_say("safety")
    tabs.fit_the_phone()


# --- 3. partner B with the keyboard only, and part of the way without JavaScript ------------


def _save_by_keyboard(page: Page, button: str = "Save and continue") -> None:
    tab_to(page, "button, input[type=submit]", text=button)
    page.keyboard.press("Enter")


def test_3_partner_b_with_the_keyboard_and_without_javascript(partner_b, chromium, live_server, journey, story):
    story.needs("links")
    steps = journey("3-partner-b-keyboard")
    tabs = PartnerTabs()
    page = tabs.watch(partner_b.new_page())
    page.goto(story.links["B"])
    expect(page.get_by_role("heading", name=f"Hello, {PARTNER_B['name']}")).to_be_visible()
    steps.step(page, "welcome")
    # The first Tab reaches the skip link, which is visible while it has the focus.
    page.keyboard.press("Tab")
    assert focus_problem(page) is None
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    tab_to(page, "a", text="Start")
    page.keyboard.press("Enter")
    _on_page(page, CONNECTION, 1)
    first = choice_item_ids(page)
    answer_by_keyboard(page, first, "ArrowDown", autosave=True)
    _save_by_keyboard(page)
    _on_page(page, CONNECTION, 2)
    ids = choice_item_ids(page)
    half = ids[: len(ids) // 2]
    answer_by_keyboard(page, half, "ArrowDown", autosave=True)
    steps.step(page, "half-by-keyboard")
    tabs.look(page)
    page.close()

    page = tabs.watch(partner_b.new_page())
    page.goto(story.links["B"])
    tab_to(page, "a", text="Continue")
    page.keyboard.press("Enter")
    _on_page(page, CONNECTION, 2)
    assert checked_values(page) == dict.fromkeys(half, str(B_CONNECTION)), "the answers given were not kept"
    answer_by_keyboard(page, ids[len(half) : len(half) + 1], "ArrowDown", autosave=True)
    # Shift+Tab goes back to the previous question, onto the answer chosen there.
    tab_to(page, 'input[type="radio"]', back=True)
    assert focused(page, "name") == f"item_{half[-1]}" and focused(page, "checked") is True
    answer_by_keyboard(page, ids[len(half) + 1 :], "ArrowDown", autosave=True)
    steps.step(page, "connection-by-keyboard")
    _save_by_keyboard(page)
    for number, start in ((CONNECTION, 3), (DIFFERENTIATION, 1)):
        for n in range(start, INTAKE[number - 1][1] + 1):
            _on_page(page, number, n)
            answer_by_keyboard(page, choice_item_ids(page), "ArrowDown", autosave=True)
            _save_by_keyboard(page)
    _on_page(page, LIFE_CONTEXT, 1)
    tabs.look(page)
    page.close()

    # The same link without JavaScript: no autosave, and "Save and continue" posts the page.
    no_js = _context(chromium, live_server, viewport=DESKTOP, java_script_enabled=False)
    try:
        page = tabs.watch(no_js.new_page())
        autosaves = []
        page.on("request", lambda r: autosaves.append(r.url) if r.url.endswith("/q/autosave") else None)
        page.goto(story.links["B"])
        expect(page.locator("ol.steps li").nth(1)).to_contain_text("All answered")
        steps.step(page, "welcome-no-javascript", scripts=False)
        tab_to(page, "a", text="Continue")
        page.keyboard.press("Enter")
        for n in (1, 2):
            _on_page(page, LIFE_CONTEXT, n)
            answer_by_keyboard(page, choice_item_ids(page), "ArrowDown", autosave=False)
            expect(page.locator("#save-status")).to_have_text("")  # nothing saved behind the scenes
            if page.locator(".questionnaire textarea").count():
                tab_to(page, "textarea")
                page.keyboard.type(NOTE_B)
            steps.step(page, f"life-context-{n}-no-javascript", scripts=False)
            tabs.look(page)
            _save_by_keyboard(page)
        _on_page(page, SAFETY, 1)
        safety_first = choice_item_ids(page)
        answer_by_keyboard(page, safety_first, "Space", autosave=False)
        _save_by_keyboard(page, "Save and finish later")
        expect(page.get_by_text("Your answers are saved.")).to_be_visible()
        expect(page.locator("ol.steps li").nth(2)).to_contain_text("All answered")
        expect(page.locator("ol.steps li").nth(3)).to_contain_text(f"{len(safety_first)} of 8 answered")
        steps.step(page, "saved-for-later-no-javascript", scripts=False)
        tabs.look(page)
        assert autosaves == [], "a page without JavaScript sent autosave requests"
    finally:
        no_js.close()

    # Back with JavaScript: Continue opens the safety questions' second page; the first page's
    # answers are saved but, opened again, not shown.
    page = tabs.watch(partner_b.new_page())
    page.goto(story.links["B"])
    tab_to(page, "a", text="Continue")
    page.keyboard.press("Enter")
    _on_page(page, SAFETY, 2)
    tab_to(page, "a", text="Previous page")
    page.keyboard.press("Enter")
    _on_page(page, SAFETY, 1)
    assert checked_values(page) == {}, "a saved safety answer was shown again"
    assert saved_out_of_sight(page) == safety_first
    steps.step(page, "safety-saved-not-shown")
    _save_by_keyboard(page)
    _on_page(page, SAFETY, 2)
    answer_by_keyboard(page, choice_item_ids(page), "Space", autosave=True)
    steps.step(page, "safety-by-keyboard")
    _save_by_keyboard(page, "Save and review")
    expect(page.get_by_role("heading", name="Check and send", level=1)).to_be_visible()
    expect(page.get_by_text("You have answered every question.")).to_be_visible()
    steps.step(page, "review")
    _save_by_keyboard(page, "Send my answers")
    expect(page.get_by_role("heading", name="You're done — thank you")).to_be_visible()
    expect(page.locator("#sharing-now")).to_contain_text("You said no")  # nobody ticked the box
    steps.step(page, "done")
    tabs.look(page)
    page.close()
    story.done.add("partner B")
    tabs.write(steps.folder / "pages.txt")
    tabs.never_say("safety")


# --- 3b. a partner of a second couple, on a small phone, all the way without JavaScript ------


def _no_javascript(chromium: Browser, live_server) -> BrowserContext:
    """A small phone with JavaScript switched off: plain forms, no autosave."""
    return _context(chromium, live_server, viewport=SMALL_PHONE, is_mobile=True, java_script_enabled=False)


def _watch_autosaves(page: Page, sent: list[str]) -> None:
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/q/autosave") else None)


def test_3b_a_partner_without_javascript_from_start_to_finish(therapist, chromium, live_server, journey, story):
    story.needs("links")
    steps = journey("3b-partner-no-javascript")
    # The therapist adds a second couple and makes their links (no email this time).
    page = therapist.new_page()
    page.goto("/")
    page.get_by_role("link", name="Add a couple").first.click()
    page.get_by_label("Label").fill(LABEL_2)
    page.get_by_role("group", name="Partner A").get_by_label("Name").fill(PARTNER_2A)
    page.get_by_role("group", name="Partner B").get_by_label("Name").fill(PARTNER_2B)
    page.get_by_role("button", name="Add couple").click()
    expect(page.get_by_text(f"Couple {LABEL_2} added.")).to_be_visible()
    couple_url = page.url
    page.get_by_role("link", name="Send questionnaires").click()
    page.get_by_label("Email each partner their link now").uncheck()
    page.get_by_role("button", name="Create links").click()
    card = page.locator("section.link-card", has=page.get_by_role("heading", name="Partner A"))
    link = card.get_by_label("Private link").input_value()
    card_b = page.locator("section.link-card", has=page.get_by_role("heading", name="Partner B"))
    story.links["2B"] = card_b.get_by_label("Private link").input_value()
    story.done.add("second couple")
    page.close()

    autosaves: list[str] = []
    tabs = PartnerTabs()
    context = _no_javascript(chromium, live_server)
    try:
        page = tabs.watch(context.new_page())
        _watch_autosaves(page, autosaves)
        page.goto(link)
        expect(page.get_by_role("heading", name=f"Hello, {PARTNER_2A}")).to_be_visible()
        steps.step(page, "welcome", scripts=False)
        tabs.look(page)
        page.get_by_role("link", name="Start", exact=True).click()
        for n in range(1, INTAKE[CONNECTION - 1][1] + 1):
            _on_page(page, CONNECTION, n)
            answer_by_clicks(page, dict.fromkeys(choice_item_ids(page), "Agree"), autosave=False)
            steps.step(page, f"connection-{n}", scripts=False, axe=False)
            tabs.look(page)
            page.get_by_role("button", name="Save and continue").click()

        _on_page(page, DIFFERENTIATION, 1)
        first = choice_item_ids(page)
        answer_by_clicks(page, dict.fromkeys(first, "Slightly agree"), autosave=False)
        page.get_by_role("button", name="Save and continue").click()
        _on_page(page, DIFFERENTIATION, 2)
        ids = choice_item_ids(page)
        half = ids[: len(ids) // 2]
        answer_by_clicks(page, dict.fromkeys(half, "Slightly agree"), autosave=False)
        given = checked_values(page)
        assert sorted(given) == sorted(half)
        steps.step(page, "differentiation-2-half", scripts=False, axe=False)
        page.get_by_role("button", name="Save and finish later").click()
        expect(page.get_by_text("Your answers are saved.")).to_be_visible()
        steps.step(page, "saved-for-later", scripts=False, axe=False)
        tabs.look(page)
    finally:
        context.close()  # the browser is closed: only what was posted can be kept

    context = _no_javascript(chromium, live_server)
    try:
        page = tabs.watch(context.new_page())
        _watch_autosaves(page, autosaves)
        page.goto(link)
        expect(page.locator("ol.steps li").nth(0)).to_contain_text("All answered")
        expect(page.locator("ol.steps li").nth(1)).to_contain_text(f"{len(first) + len(half)} of 24 answered")
        steps.step(page, "welcome-back", scripts=False, axe=False)
        tabs.look(page)
        page.get_by_role("link", name="Continue", exact=True).click()
        _on_page(page, DIFFERENTIATION, 2)
        assert checked_values(page) == given, "the answers posted before closing the browser were not kept"
        answer_by_clicks(page, dict.fromkeys(ids[len(half) :], "Slightly agree"), autosave=False)
        page.get_by_role("button", name="Save and continue").click()
        for n in range(3, INTAKE[DIFFERENTIATION - 1][1] + 1):
            _on_page(page, DIFFERENTIATION, n)
            answer_by_clicks(page, dict.fromkeys(choice_item_ids(page), "Slightly agree"), autosave=False)
            tabs.look(page)
            page.get_by_role("button", name="Save and continue").click()

        # Life right now is skipped, page by page: a questionnaire left unanswered.
        for n in (1, 2):
            _on_page(page, LIFE_CONTEXT, n)
            steps.step(page, f"life-context-{n}-skipped", scripts=False, axe=False)
            tabs.look(page)
            page.get_by_role("button", name="Save and continue").click()

        for n in (1, 2):
            _on_page(page, SAFETY, n)
            expect(page.get_by_role("complementary", name="If you need help now")).to_be_visible()
            answer_by_clicks(page, dict.fromkeys(choice_item_ids(page), "Never"), autosave=False)
            steps.step(page, f"safety-{n}", scripts=False, axe=False)
            tabs.look(page)
            page.get_by_role("button", name="Save and review" if n == 2 else "Save and continue").click()

        # A second look before sending: more than a third of a questionnaire is unanswered.
        expect(page.get_by_role("heading", name="Check and send", level=1)).to_be_visible()
        expect(page.get_by_text(re.compile(r"questions are still unanswered"))).to_be_visible()
        confirm_box = page.locator("#confirm-box")
        expect(confirm_box).to_contain_text(INTAKE[LIFE_CONTEXT - 1][0])
        confirm = page.get_by_label("Send my answers with these questions unanswered")
        expect(confirm).not_to_be_checked()
        steps.step(page, "review-confirm", scripts=False)
        tabs.look(page)

        def send_unconfirmed(twin: Page) -> None:
            twin.goto(live_server.url + "/q/review")  # the twin has no base URL
            twin.get_by_role("button", name="Send my answers").click()
            expect(twin.get_by_text(CONFIRM_FIRST)).to_be_visible()

        page.get_by_role("button", name="Send my answers").click()
        expect(page.get_by_text(CONFIRM_FIRST)).to_be_visible()  # nothing was sent
        expect(page.get_by_role("heading", name="Check and send", level=1)).to_be_visible()
        expect(confirm).to_have_attribute("aria-invalid", "true")
        steps.step(page, "review-confirm-refused", scripts=False, reach=send_unconfirmed)
        tabs.look(page)
        confirm.check()
        page.get_by_role("button", name="Send my answers").click()
        expect(page.get_by_role("heading", name="You're done — thank you")).to_be_visible()
        steps.step(page, "done", scripts=False)
        tabs.look(page)

    finally:
        context.close()
    assert autosaves == [], "a page without JavaScript sent autosave requests"
    tabs.write(steps.folder / "pages.txt")
    tabs.never_say("safety")

    # The therapist sees the submission, and the results of the one partner who sent.
    page = therapist.new_page()
    page.goto(couple_url)
    row = page.locator("article.assessment").get_by_role("row", name=re.compile(PARTNER_2A))
    expect(row).to_contain_text("Submitted")
    _assert_recent(_in_practice_zone(row.inner_text()))
    expect(page.locator("article.assessment").get_by_role("row", name=re.compile(PARTNER_2B))).to_contain_text(
        "Not opened yet"
    )
    total = expected_mean("connection", "total", C_CONNECTION)
    # Only Kit has sent: the brief says who we are waiting for, and the scores show Kit's column only.
    expect(page.locator("#brief .standing")).to_contain_text(f"Waiting for B {PARTNER_2B}")
    scores = page.locator(".instrument-result", has=page.get_by_role("heading", name=re.compile("Connection")))
    expect(scores.get_by_role("columnheader")).to_have_count(2)
    expect(scores.get_by_role("row", name=re.compile("^Overall connection"))).to_contain_text(
        f"{total:.2f} {band_of('connection', 'total', total)}"
    )
    steps.step(page, "therapist-sees-submission", widths=(LAPTOP_WIDTH, PHONE["width"], NARROW))
    page.close()


def test_3c_leave_this_page_without_javascript(chromium, live_server, journey, story):
    """Without JavaScript, "Leave this page" is a plain form: it ends the partner session and goes
    to the practice's neutral site, and Back finds no questionnaire."""
    story.needs("second couple")
    steps = journey("3c-leave-without-javascript")
    context = _no_javascript(chromium, live_server)
    try:
        page = context.new_page()
        page.goto(story.links["2B"])
        page.get_by_role("link", name="Start", exact=True).click()
        _on_page(page, CONNECTION, 1)
        page.get_by_role("button", name="Leave this page").click()
        expect(page).to_have_url(LEAVE_URL)
        expect(page).to_have_title(NEUTRAL_TITLE)
        _session_ended(context)
        page.go_back()
        expect(page.get_by_role("heading", name="This link isn't available", level=1)).to_be_visible()
        expect(page.locator("fieldset[data-item]")).to_have_count(0)
        steps.step(page, "back-after-leaving", scripts=False, axe=False)
    finally:
        context.close()


# --- 4. the therapist: comparison, safety flag, notes, report, PDF --------------------------


def test_4_therapist_reads_the_comparison_and_downloads_the_report(therapist, journey, story):
    story.needs("partner A", "partner B")
    steps = journey("4-therapist-results")
    page = therapist.new_page()
    page.goto(story.couple_url)

    # The session brief comes first: above the fold on a laptop and on a phone.
    brief = page.locator("#brief")
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for heading in ("Session brief", "Where things stand", "Safety"):
            above_the_fold(page, brief.get_by_role("heading", name=heading, exact=True))
    page.set_viewport_size(DESKTOP)

    # Safety comes first in the brief, in words, for the therapist only.
    panel = brief.locator(".safety-panel")
    expect(panel).to_contain_text("1 safety flag to review.")
    expect(panel).to_contain_text("I have felt afraid of my partner.")
    expect(panel).to_contain_text("Sometimes")
    expect(panel).to_contain_text(PARTNER_A["name"])
    # Where things stand: both partners sent the intake.
    expect(brief.locator(".standing")).to_contain_text(f"{PARTNER_A['name']} sent it")
    expect(brief.locator(".standing")).to_contain_text(f"{PARTNER_B['name']} sent it")

    heard_b = expected_mean("connection", "heard", B_CONNECTION)
    total_b = expected_mean("connection", "total", B_CONNECTION)
    scores = page.locator(".instrument-result", has=page.get_by_role("heading", name=re.compile("Connection")))
    heard = scores.get_by_role("row", name=re.compile("^Feeling heard"))
    expect(heard).to_contain_text(f"3.00 {band_of('connection', 'heard', 3.0)}")
    expect(heard).to_contain_text(f"{heard_b:.2f}")
    expect(heard).to_contain_text(band_of("connection", "heard", heard_b))
    expect(heard).to_contain_text(f"{PARTNER_A['name']} higher by {3.0 - heard_b:.2f}")
    total = scores.get_by_role("row", name=re.compile("^Overall connection"))
    expect(total).to_contain_text("3.00 Mixed")
    expect(total).to_contain_text(f"{total_b:.2f}")
    expect(total).to_contain_text(band_of("connection", "total", total_b))
    # Life right now is one click away (a closed section): both partners' notes are in it.
    expect(page.locator("p.context-note")).to_have_count(2)
    page.locator("#context > summary").click()
    expect(page.get_by_text(NOTE_A)).to_be_visible()
    expect(page.get_by_text(NOTE_B)).to_be_visible()
    steps.step(page, "comparison", widths=(LAPTOP_WIDTH, PHONE["width"], NARROW))
    page.reload()  # the keyboard walk starts at the top, not at the section just opened
    tab_through(page)
    page.set_viewport_size(PHONE)
    # On a phone the therapist can still reach the safety review, the notes and the report.
    for control in (
        panel.get_by_text("Mark reviewed").first,
        page.get_by_label("Your notes for the next session"),
        page.get_by_role("button", name="Save notes"),
        page.get_by_role("button", name="Prepare PDF"),
    ):
        control.scroll_into_view_if_needed()
        expect(control).to_be_in_viewport()
    steps.step(page, "comparison-phone", widths=())
    page.set_viewport_size(DESKTOP)

    panel.get_by_text("Mark reviewed").first.click()
    panel.get_by_label("Note (optional)").fill(REVIEW_NOTE)
    panel.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_text("Safety flag marked as reviewed.")).to_be_visible()
    # With nothing left to review the brief says so in one calm line; the reviewed flag is one click away.
    expect(page.locator("#brief .calm")).to_have_text("Every safety flag has been reviewed.")
    expect(page.locator("#brief .safety-panel")).to_have_count(0)
    page.locator("#brief .reviewed-flags > summary").click()
    reviewed = page.locator("#brief .reviewed-by")
    expect(reviewed).to_contain_text(f"Reviewed by {THERAPIST['name']}")
    expect(reviewed).to_contain_text(REVIEW_NOTE)
    _assert_recent(_in_practice_zone(reviewed.inner_text()))
    steps.step(page, "safety-reviewed")

    page.get_by_label("Your notes for the next session").fill(PREP_NOTES)
    page.get_by_role("button", name="Save notes").click()
    expect(page.get_by_text("Notes saved.")).to_be_visible()
    expect(page.get_by_label("Your notes for the next session")).to_have_value(PREP_NOTES)
    steps.step(page, "notes-saved")

    expect(page.get_by_label("Session-prep report (for you)")).to_be_checked()
    # The PDF is made off the request, so the first page says it is being prepared and
    # refreshes itself. While that page is checked, its refresh is held back (then let go).
    held, holding = [], [False]
    report_page = re.compile(r"/reports/\d+$")

    def hold_refresh(route):
        if holding[0]:
            held.append(route)
        else:
            route.continue_()

    page.route(report_page, hold_refresh)
    page.get_by_role("button", name="Prepare PDF").click()
    expect(page.get_by_role("heading", name="Session-prep report", level=1)).to_be_visible()
    holding[0] = True
    story.report_url = page.url
    expect(page.locator("p.preparing")).to_contain_text("Preparing your PDF")
    steps.step(page, "report-preparing")
    holding[0] = False
    for route in held:
        route.continue_()
    page.unroute(report_page, hold_refresh)
    # The page refreshes itself until the PDF is ready (no clicking "Check again").
    download = page.get_by_role("link", name="Download PDF")
    expect(download).to_be_visible(timeout=60_000)
    _assert_recent(_in_practice_zone(page.locator("main").inner_text()))
    steps.step(page, "report-ready")
    story.download_url = download.get_attribute("href")
    with page.expect_download() as info:
        download.click()
    pdf_path = steps.folder / "session-prep.pdf"
    info.value.save_as(pdf_path)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf_path.read_bytes())).pages)
    # pypdf joins some neighbouring cells ("3.00Mixed") and splits some words: compare without spaces.
    flat = re.sub(r"\s+", "", text)
    for expected in (
        LABEL,
        PARTNER_A["name"],
        PARTNER_B["name"],
        "Overall connection",
        "3.00 Mixed",
        f"{total_b:.2f} {band_of('connection', 'total', total_b)}",
        "I have felt afraid of my partner.",
        PREP_NOTES,
    ):
        assert re.sub(r"\s+", "", expected) in flat, f"{expected!r} is not in the PDF:\n{text[:3000]}"
    page.close()
    story.done.add("report")


# --- 5. partner A's browser, handed partner B's or the therapist's addresses ----------------


def _assert_shows_nothing_of_theirs(page: Page) -> None:
    text = page.locator("body").inner_text()
    for secret in B_SECRETS:
        assert secret not in text, f"{secret!r} shown at {page.url}"
    for answer in ("Disagree", "Once or twice", "Happening, manageable", "3.00", "Mixed"):
        assert answer not in text, f"an answer or score ({answer!r}) shown at {page.url}"


def test_5_partner_a_sees_nothing_of_the_others(partner_a, journey, story):
    story.needs("report")
    steps = journey("5-partner-a-isolation")
    page = partner_a.new_page()
    couple = story.couple_url
    # The therapist's addresses do not exist for a partner's browser: the plain "not found" page.
    for name, url in (
        ("couple", couple),
        ("report", story.report_url),
        ("couple-edit", couple + "/edit"),
        ("new-assessment", couple + "/assessments/new"),
        ("dashboard", "/"),
        ("audit", "/practice/audit"),
        ("settings", "/practice/settings"),
    ):
        response = page.goto(url)
        assert response.status == 404, f"{url} answered {response.status}"
        expect(page.get_by_role("heading", name="We couldn't find that page")).to_be_visible()
        _assert_shows_nothing_of_theirs(page)
        steps.step(page, f"404-{name}")
    for url in (story.download_url, couple + "/export"):
        response = page.request.get(url)
        assert response.status == 404, f"{url} answered {response.status}"
        assert "pdf" not in response.headers.get("content-type", "")
        assert "json" not in response.headers.get("content-type", "")
    # The partner pages' own addresses show this browser's own (sent) answers only: the thank-you page.
    for path in ("/q", "/q/1", "/q/4/2", "/q/review", "/q/done"):
        page.goto(path)
        expect(page.get_by_role("heading", name="You're done — thank you")).to_be_visible()
        _assert_shows_nothing_of_theirs(page)
    steps.step(page, "own-done-page")
    # A questionnaire is addressed by its place, never by its name.
    response = page.goto("/q/connection")
    assert response.status == 404, f"/q/connection answered {response.status}"
    _assert_shows_nothing_of_theirs(page)
    # Partner B's link: B has sent their answers, so it shows only a thank-you with no name.
    page.goto(story.links["B"])
    expect(page.get_by_role("heading", name="You're done — thank you")).to_be_visible()
    _assert_shows_nothing_of_theirs(page)
    steps.step(page, "partner-b-link")
    # A link that was never made, or a mangled one: the one "link not valid" page.
    response = page.goto(story.links["B"][:-4] + "AAAA")
    assert response.status == 404
    expect(page.get_by_role("heading", name="This link isn't available")).to_be_visible()
    _assert_shows_nothing_of_theirs(page)
    steps.step(page, "link-not-valid")
    page.close()


# --- the demo practice: the pages a new user sees first ------------------------------------


def test_demo_practice_pages(chromium, live_server, journey):
    """The demo dashboard and the demo couples with change over time and a safety flag."""
    steps = journey("6-demo-practice")
    context = _context(chromium, live_server, viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto("/signin")
        page.get_by_label("Email").fill(DEMO["email"])
        page.get_by_label("Password").fill(DEMO["password"])
        page.get_by_role("button", name="Sign in").click()
        rows = page.locator("table.couples tbody tr")
        expect(rows).to_have_count(7)
        steps.step(page, "dashboard")
        # The safety column and the next step, in words; the Needs attention filter.
        expect(page.get_by_role("row", name=re.compile("^N & T"))).to_contain_text("1 flag to review")
        page.get_by_label("Status").select_option("attention")
        page.get_by_role("button", name="Show").click()
        expect(rows).to_have_count(1)
        steps.step(page, "dashboard-needs-attention", widths=(PHONE["width"], NARROW))
        page.goto("/couples/")
        links = page.locator("table.couples tbody th a")
        hrefs = links.evaluate_all("els => els.map(e => e.getAttribute('href'))")
        seen_trends = seen_safety = False
        for href in hrefs:
            page.goto(href)
            # Every couple's page opens with its brief, on a laptop and on a phone.
            for size in (DESKTOP, PHONE):
                page.set_viewport_size(size)
                above_the_fold(page, page.get_by_role("heading", name="Session brief"))
                above_the_fold(page, page.get_by_role("heading", name="Where things stand"))
            page.set_viewport_size(DESKTOP)
            if page.locator("#over-time").count() and not seen_trends:
                seen_trends = True
                page.locator("#over-time > summary").click()
                steps.step(page, "couple-over-time", widths=(PHONE["width"], NARROW))
            elif page.locator("#brief .safety-panel").count() and not seen_safety:
                seen_safety = True
                steps.step(page, "couple-safety-flag", widths=(PHONE["width"], NARROW))
            else:
                steps.step(page, "couple", widths=(PHONE["width"], NARROW))
        assert seen_trends and seen_safety, "the demo should show change over time and a safety flag"
        page.get_by_role("link", name="Questionnaires", exact=True).click()
        steps.step(page, "library")
        page.locator("main a[href^='/instruments/']").first.click()
        steps.step(page, "library-instrument")
        # The outcomes overview: the demo's follow-ups counted, narrowed to a therapist, a bad
        # period refused in words, and the de-identified CSV.
        page.get_by_role("link", name="Outcomes", exact=True).click()
        expect(page.get_by_role("heading", name="Outcomes", level=1)).to_be_visible()
        expect(page.locator("table.outcomes").first).to_be_visible()
        steps.step(page, "outcomes", widths=(PHONE["width"], NARROW))
        page.get_by_label("Therapist").select_option(label="Dr. Maren Okafor")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_label("Therapist")).to_have_value(re.compile(r"^[1-9]"))
        page.get_by_label("Sent from").fill("2026-10-10")
        page.get_by_label("Sent until").fill("2026-10-01")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_text("Choose an end on or after the start.")).to_be_visible()
        steps.step(page, "outcomes-errors")
        page.get_by_label("Sent from").fill("")
        page.get_by_label("Sent until").fill("")
        page.get_by_role("button", name="Show").click()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as CSV (de-identified)").click()
        text = Path(download.value.path()).read_text()
        assert text.startswith("couple,partner,row,instrument,"), text[:80]
        assert "Okafor" not in text and "@" not in text
    finally:
        context.close()


# --- 7. the rest of the therapist's pages: account, team, audit, sign-in with a code, reset ---


def _link_mailed_to(live_server, address: str, link: re.Pattern, seconds: float = 10) -> str:
    """The first link matching `link` in an email to `address` (mail leaves in the background,
    so wait for it)."""
    deadline = time.monotonic() + seconds
    while True:
        for path in sorted(live_server.outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in str(message["To"]):
                found = link.search(message.get_body(preferencelist=("plain",)).get_content())
                if found:
                    return found.group(0)
        assert time.monotonic() < deadline, f"no email to {address} with a link like {link.pattern}"
        time.sleep(0.1)


def test_7_the_other_pages_of_a_practice(chromium, live_server, journey, story):
    """The pages the journeys above do not pass through, each kept and checked like theirs (and
    put through the HTML checker at the end): a refused sign-in, editing a couple, the account,
    changing a password, the team and an invitation, the audit trail; a colleague accepting the
    invitation, turning on two-factor sign-in and signing in with a recovery code; and a
    forgotten password, with the pages of links that do not work."""
    story.needs("links")
    steps = journey("7-other-pages")
    context = _context(chromium, live_server, viewport=DESKTOP)
    colleague_context = _context(chromium, live_server, viewport=PHONE, is_mobile=True, has_touch=True)
    colleague = {"name": "Sam Reed", "email": "sam.reed@example.org", "password": "a slow walk by the harbour"}
    try:
        page = context.new_page()
        page.goto("/signin")
        page.get_by_label("Email").fill(THERAPIST["email"])
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".flash-error, .field-errors").first).to_be_visible()
        steps.step(page, "signin-refused")
        page.get_by_label("Password").fill(THERAPIST["password"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Couples", level=1)).to_be_visible()

        page.goto(story.couple_url + "/edit")
        expect(page.get_by_label("Label")).to_have_value(LABEL)
        steps.step(page, "couple-edit")

        page.get_by_role("link", name="Account", exact=True).click()
        expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
        steps.step(page, "account")
        page.get_by_role("link", name="Change password").click()
        page.get_by_role("button", name="Change password").click()
        expect(page.locator(".field.has-error").first).to_be_visible()
        steps.step(page, "change-password-errors")

        page.get_by_role("link", name="Clinicians", exact=True).click()
        expect(page.get_by_role("heading", name="Clinicians", level=1)).to_be_visible()
        page.get_by_role("button", name="Create invitation link").click()
        expect(page.locator(".field.has-error").first).to_be_visible()
        steps.step(page, "clinicians-errors")
        page.get_by_label("Name").fill(colleague["name"])
        page.get_by_label("Email").fill(colleague["email"])
        page.get_by_role("button", name="Create invitation link").click()
        invite_link = page.get_by_role("textbox", name="Link", exact=True).input_value()
        assert "/invite/" in invite_link, invite_link
        steps.step(page, "clinicians-invited")

        page.get_by_role("link", name="Audit", exact=True).click()
        expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
        steps.step(page, "audit")
        page.get_by_label("Action").fill("couple.created")
        page.get_by_role("button", name="Filter").click()
        steps.step(page, "audit-filtered")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/signin"))
        page.close()

        # The colleague, on a phone: the invitation, two-factor sign-in, a recovery code.
        page = colleague_context.new_page()
        page.goto(invite_link)
        expect(page.get_by_role("heading", name=f"Welcome, {colleague['name']}")).to_be_visible()
        steps.step(page, "accept-invitation")
        page.get_by_label("New password").fill(colleague["password"])
        page.get_by_label("Repeat the password").fill(colleague["password"])
        page.get_by_role("button", name="Set password and sign in").click()
        expect(page.get_by_role("heading", name="Couples", level=1)).to_be_visible()
        page.goto("/account")
        page.get_by_role("button", name="Set up two-factor sign-in").click()
        expect(page.get_by_role("heading", name="Set up two-factor sign-in", level=1)).to_be_visible()
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(page.locator(".field.has-error")).to_be_visible()
        steps.step(page, "two-factor-setup-errors")
        secret = re.sub(r"\s+", "", page.locator("#totp-secret").inner_text())
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(page.get_by_role("heading", name="Two-factor sign-in is on", level=1)).to_be_visible()
        codes = page.locator(".recovery-codes code").all_inner_texts()
        steps.step(page, "recovery-codes")
        page.get_by_role("link", name="I have saved them").click()
        steps.step(page, "account-two-factor-on")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("Email").fill(colleague["email"])
        page.get_by_label("Password").fill(colleague["password"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Enter your code", level=1)).to_be_visible()
        steps.step(page, "two-factor-code")
        page.get_by_label("Code").fill(codes[0])
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Couples", level=1)).to_be_visible()
        page.get_by_role("button", name="Sign out").click()

        # A forgotten password: the request, the email's link, and links that do not work.
        page.get_by_role("link", name="Forgot your password?").click()
        expect(page.get_by_role("heading", name="Forgot your password?", level=1)).to_be_visible()
        steps.step(page, "forgot-password")
        page.get_by_label("Email").fill(colleague["email"])
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("heading", name="Check your email", level=1)).to_be_visible()
        steps.step(page, "forgot-password-sent")
        reset_link = _link_mailed_to(live_server, colleague["email"], re.compile(r"https?://\S+/reset/\S+"))
        page.goto(reset_link)
        expect(page.get_by_role("button", name="Set the new password")).to_be_visible()
        steps.step(page, "reset-password")
        for name, address in (("reset-invalid", "/reset/no-such-link"), ("invite-invalid", "/invite/no-such-link")):
            response = page.goto(address)
            assert response.status == 404, f"{address} answered {response.status}"
            steps.step(page, name)
        page.close()
    finally:
        colleague_context.close()
        context.close()


def test_9_the_servers_log_holds_no_password_note_or_free_text(live_server, story):
    """Everything the server process wrote during the journeys: gunicorn's and the app's logs
    (and, in development, the emails it prints, which carry links and names by design but
    never a password, a note or an answer)."""
    story.needs("links", "partner A", "partner B", "report")
    log = live_server.log.read_text(errors="replace")
    typed = {
        "the therapist's password": THERAPIST["password"],
        "the demo password": DEMO["password"],
        "partner A's free text": NOTE_A,
        "partner B's free text": NOTE_B,
        "the prep notes": PREP_NOTES,
        "the safety review note": REVIEW_NOTE,
    }
    assert "Starting gunicorn" in log and "Subject: " in log  # the process's output did reach this file
    leaked = [what for what, text in typed.items() if text in log]
    assert not leaked, f"the server log holds {', '.join(leaked)}"
