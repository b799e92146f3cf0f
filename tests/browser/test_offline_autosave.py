"""Autosave survives a dropped network, a server that answers 503 for a while, and a page left
with answers still waiting: in Chromium against the real server, every answer ends up saved.

Each test opens a fresh link of its own (made through the services, in a process of its own on
the server's database), so these tests need nothing from the journeys.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import REPO
from tests.browser.journeys import choice_label, item

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
WAITING = "Not saved yet, we'll keep trying."
AUTOSAVE = "**/q/autosave"
# The first page of the first questionnaire (connection) holds these; 1 to 5, "Strongly disagree" … "Strongly agree".
LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree", 4: "Agree", 5: "Strongly agree"}

_NEW_LINK = """
from clinic import create_app
from clinic.cli import DEMO_EMAIL
from clinic.extensions import db
from clinic.models import Clinician
from clinic.services import couples, invitations
import sqlalchemy as sa

app = create_app()
with app.app_context():
    owner = db.session.scalar(sa.select(Clinician).where(Clinician.email == DEMO_EMAIL))
    couple = couples.create_couple(owner.practice, owner, label="Offline test", partners=[
        couples.PartnerDetails(display_name="Wren", email=None),
        couples.PartnerDetails(display_name="Ash", email=None)])
    assessment, tokens = invitations.start_assessment(couple, occasion="Intake", instrument_ids=list(invitations.INTAKE),
                                                      expiry_days=14, by=owner)
    db.session.commit()
    print(next(iter(tokens.values())))
"""


def new_link(server) -> str:
    """A fresh partner link of a new couple of the demo practice."""
    done = subprocess.run(
        [sys.executable, "-c", _NEW_LINK], cwd=REPO, env=server.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return f"{server.url}/l/{done.stdout.strip().splitlines()[-1]}"


@pytest.fixture
def phone(chromium, live_server):
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(new_link(live_server))
    page.get_by_role("link", name="Start", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/q/1")
    yield context, page
    context.close()


def items_on(page: Page) -> list[str]:
    return page.locator(".questionnaire fieldset[data-item]").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('data-item'))"
    )


def choose(page: Page, item_id: str, value: int) -> None:
    label = choice_label(page, item_id, LABELS[value])
    label.click()
    expect(label.locator("input")).to_be_checked()


def saved_on_the_server(page: Page, address: str) -> dict[str, int]:
    """What the server holds: a fresh load of the page shows the saved answers checked."""
    page.goto(address)
    return {
        item_id: int(page.locator(f'{item(item_id)} input[type="radio"]:checked').get_attribute("value"))
        for item_id in items_on(page)
        if page.locator(f'{item(item_id)} input[type="radio"]:checked').count()
    }


def test_answers_given_offline_are_saved_when_the_network_comes_back(phone, live_server, journey):
    steps = journey("offline-autosave")
    context, page = phone
    ids = items_on(page)
    assert len(ids) >= 5
    chosen = {}
    # Online: each answer is saved as it is chosen.
    for item_id, value in zip(ids[:2], (4, 2), strict=True):
        with page.expect_response(lambda r: r.url.endswith("/q/autosave")) as saved:
            choose(page, item_id, value)
        assert saved.value.ok
        chosen[item_id] = value
    expect(page.locator("#save-status")).to_have_text("Saved")

    # The network drops: the page keeps the answers and says so calmly, in no alarming colour.
    context.set_offline(True)
    for item_id, value in zip(ids[2:5], (5, 1, 3), strict=True):
        choose(page, item_id, value)
        chosen[item_id] = value
    choose(page, ids[0], 1)  # a change of mind while offline
    chosen[ids[0]] = 1
    status = page.locator("#save-status")
    expect(status).to_contain_text(WAITING)
    expect(status).to_have_class("save-status is-waiting")
    steps.step(page, "offline-not-saved-yet")

    # Back online: everything waiting goes in one batch, and the page says Saved.
    with page.expect_request(lambda r: r.url.endswith("/q/autosave") and r.method == "POST") as sent:
        context.set_offline(False)
    assert len(sent.value.post_data_json["answers"]) == 4
    expect(status).to_have_text("Saved", timeout=10_000)
    steps.step(page, "back-online-saved")
    assert saved_on_the_server(page, f"{live_server.url}/q/1") == chosen


def test_a_server_that_answers_503_for_a_while_gets_every_answer_in_the_end(phone, live_server):
    _context, page = phone
    ids = items_on(page)
    refused = []

    def unavailable_three_times(route):
        if len(refused) < 3:
            refused.append(route.request.post_data_json)
            route.fulfill(status=503, headers={"Retry-After": "1"}, json={"error": "away", "retry_after": 1})
        else:
            route.continue_()

    page.route(AUTOSAVE, unavailable_three_times)
    chosen = {ids[0]: 5, ids[1]: 4}
    for item_id, value in chosen.items():
        choose(page, item_id, value)
    expect(page.locator("#save-status")).to_contain_text(WAITING)
    # Tried again after a growing pause (about 1, 2, 4 s), then saved.
    expect(page.locator("#save-status")).to_have_text("Saved", timeout=20_000)
    assert len(refused) == 3
    assert saved_on_the_server(page, f"{live_server.url}/q/1") == chosen


def test_answers_still_waiting_are_sent_when_the_page_is_left(phone, live_server):
    _context, page = phone
    ids = items_on(page)
    # The server asks for a long pause: only the send on the way out can save these in time.
    page.route(
        AUTOSAVE, lambda route: route.fulfill(status=503, headers={"Retry-After": "60"}, json={"retry_after": 60})
    )
    choose(page, ids[0], 2)
    choose(page, ids[1], 5)
    expect(page.locator("#save-status")).to_contain_text(WAITING)
    # The server is back; long before the next try, the partner goes to the welcome page.
    page.unroute(AUTOSAVE)
    page.goto(f"{live_server.url}/q")

    def on_the_server():
        return saved_on_the_server(page, f"{live_server.url}/q/1")

    # The send on the way out (keepalive) lands in its own time: look a few times.
    for _ in range(40):  # up to 10 s on a loaded machine
        if on_the_server() == {ids[0]: 2, ids[1]: 5}:
            break
        page.wait_for_timeout(250)
    assert on_the_server() == {ids[0]: 2, ids[1]: 5}
