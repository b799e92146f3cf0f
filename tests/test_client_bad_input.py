"""Bad input on the partner's pages: a clear 400 (or 404 for an unknown page) and nothing saved changes."""

from __future__ import annotations

import html
import json
import re

import pytest

from clinic.blueprints.client.routes import AUTOSAVE_MAX_BYTES
from tests.test_client import address_of, autosave, form_pages, invitation_of, open_link, page_csrf, stored


@pytest.fixture
def jonah(owner_and_intake, make_client, db):
    """Jonah's browser, with three answers already saved; returns (browser, csrf, invitation id)."""
    assessment, tokens = owner_and_intake
    browser = open_link(make_client, tokens[1])
    csrf = page_csrf(browser)
    for instrument, item, value in (
        ("connection", "heard_1", 4),
        ("safety", "afraid", 1),
        ("life_context", "anything_else", "A saved note."),
    ):
        assert autosave(browser, instrument, item, value, csrf=csrf).status_code == 200
    return browser, csrf, invitation_of(db, assessment, 1).id


@pytest.fixture
def owner_and_intake(make_practice, make_couple, make_assessment):
    """A couple with the intake set, in a practice where another couple has only the check-in."""
    owner = make_practice()
    couple = make_couple(owner)
    make_assessment(make_couple(owner), instruments=["checkin"])  # someone else's questionnaire
    return make_assessment(couple)


SAVED = {
    ("connection", "heard_1"): 4,
    ("safety", "afraid"): 1,
    ("life_context", "anything_else"): "A saved note.",
}


def item_number(db, invitation_id: int, instrument_id: str, item_id: str) -> int:
    """The item's number in its questionnaire as the pages show it (continuous across pages)."""
    items = [item for _, page in form_pages(db, invitation_id)[instrument_id] for item in page]
    return items.index(item_id) + 1


def fieldset_of(page: str, item_id: str) -> str:
    """The fieldset of one question on a page, found by its data-item."""
    start = page.index(f'data-item="{item_id}"')
    start = page.rindex("<fieldset", 0, start)
    return page[start : page.index("</fieldset>", start)]


BAD_BODIES = {
    "unknown instrument": {"instrument": "nope", "item": "heard_1", "value": 3},
    "another assessment's instrument": {"instrument": "checkin", "item": "satisfied", "value": 3},
    "unknown item": {"instrument": "connection", "item": "nope", "value": 3},
    "another instrument's item": {"instrument": "connection", "item": "afraid", "value": 1},
    "above the scale": {"instrument": "connection", "item": "heard_1", "value": 6},
    "below the scale": {"instrument": "connection", "item": "heard_1", "value": 0},
    "negative": {"instrument": "safety", "item": "afraid", "value": -1},
    "huge": {"instrument": "connection", "item": "heard_1", "value": 10**40},
    "text for a choice": {"instrument": "connection", "item": "heard_1", "value": "4"},
    "true for a choice": {"instrument": "connection", "item": "heard_1", "value": True},
    "float for a choice": {"instrument": "connection", "item": "heard_1", "value": 4.0},
    "list for a choice": {"instrument": "connection", "item": "heard_1", "value": [4]},
    "object for a choice": {"instrument": "connection", "item": "heard_1", "value": {"value": 4}},
    "number for text": {"instrument": "life_context", "item": "anything_else", "value": 5},
    "text over its limit": {"instrument": "life_context", "item": "anything_else", "value": "x" * 501},
    "NUL in text": {"instrument": "life_context", "item": "anything_else", "value": "a\x00b"},
    "value missing": {"instrument": "connection", "item": "heard_1"},
    "extra key": {"instrument": "connection", "item": "heard_1", "value": 3, "partner": 2},
    "instrument not text": {"instrument": 1, "item": "heard_1", "value": 3},
    "item not text": {"instrument": "connection", "item": ["heard_1"], "value": 3},
    "item unhashable": {"instrument": "connection", "item": {"id": "heard_1"}, "value": 3},
    "a list": [{"instrument": "connection", "item": "heard_1", "value": 3}],
    "null": None,
    "a number": 3,
}

RAW_BODIES = {
    "cut off": b'{"instrument": "connection", "item": "heard_1", "value": ',
    "not JSON": b"value=3",
    "not UTF-8": b'{"instrument": "connection", "item": "heard_1", "value": "\xff\xfe"}',
    "lone surrogate": b'{"instrument": "life_context", "item": "anything_else", "value": "\\ud800"}',
    "NaN": b'{"instrument": "connection", "item": "heard_1", "value": NaN}',
    "Infinity": b'{"instrument": "connection", "item": "heard_1", "value": Infinity}',
    "deeply nested": b"[" * 10_000,
    "empty": b"",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_autosave_refuses_bad_answers_and_keeps_what_was_saved(body, jonah, db):
    browser, csrf, invitation_id = jonah
    response = browser.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 400
    assert response.is_json and response.get_json()["error"]
    assert stored(db, invitation_id) == SAVED


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_autosave_refuses_malformed_json(raw, jonah, db):
    browser, csrf, invitation_id = jonah
    response = browser.post("/q/autosave", data=raw, headers={"X-CSRFToken": csrf, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert stored(db, invitation_id) == SAVED


def test_autosave_wants_json(jonah, db):
    browser, csrf, invitation_id = jonah
    body = json.dumps({"instrument": "connection", "item": "heard_1", "value": 2})
    response = browser.post("/q/autosave", data=body, headers={"X-CSRFToken": csrf, "Content-Type": "text/plain"})
    assert response.status_code == 400 and response.get_json()["error"] == "Answers are sent as JSON."
    assert stored(db, invitation_id) == SAVED


@pytest.mark.parametrize(
    ("size", "page_message"),
    [
        # A page post of this size is read, and its answer is over the item's own limit.
        (AUTOSAVE_MAX_BYTES + 4 * 1024, "Please shorten this answer to 500 characters or fewer."),
        (300 * 1024, "That was more than an answer can hold. Nothing was changed."),
    ],
    ids=["over the autosave limit", "over the app's limit"],
)
def test_oversized_bodies_are_refused(size, page_message, jonah, db):
    browser, csrf, invitation_id = jonah
    body = {"instrument": "life_context", "item": "anything_else", "value": "x" * size}
    response = browser.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 400
    assert "more than an answer can hold" in response.get_json()["error"]
    address = address_of(db, invitation_id, "life_context", "anything_else")
    page = browser.post(address, data={"csrf_token": csrf, "item_anything_else": "x" * size})
    assert page.status_code == 400
    assert page_message in html.unescape(page.get_data(as_text=True))
    assert stored(db, invitation_id) == SAVED


def test_autosave_without_the_csrf_token_is_refused_in_json(jonah, db):
    browser, _, invitation_id = jonah
    response = browser.post("/q/autosave", json={"instrument": "connection", "item": "heard_1", "value": 2})
    assert response.status_code == 400 and "reload" in response.get_json()["error"]
    page = browser.post(address_of(db, invitation_id, "connection", "heard_1"), data={"item_heard_1": "2"})
    assert page.status_code == 400 and "open too long" in page.get_data(as_text=True)
    assert stored(db, invitation_id) == SAVED


# heard_1 and affection_1 are on connection's first page.
BAD_POSTS = {
    "above the scale": ({"item_affection_1": "5", "item_heard_1": "6"}, "heard_1"),
    "not a number": ({"item_affection_1": "5", "item_heard_1": "four"}, "heard_1"),
    "a decimal": ({"item_affection_1": "5", "item_heard_1": "4.0"}, "heard_1"),
    "a huge number": ({"item_affection_1": "5", "item_heard_1": "9" * 5000}, "heard_1"),
}


@pytest.mark.parametrize(("data", "bad_item"), BAD_POSTS.values(), ids=BAD_POSTS.keys())
def test_page_post_with_a_bad_answer_saves_nothing_and_says_where(data, bad_item, jonah, db):
    browser, csrf, invitation_id = jonah
    response = browser.post(address_of(db, invitation_id, "connection", bad_item), data={"csrf_token": csrf, **data})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'role="alert"' in page and "Please check the answers marked below." in page
    # The message sits in the question's own fieldset, tied to it for screen readers, and the
    # summary at the top links to that question by its number.
    number = item_number(db, invitation_id, "connection", bad_item)
    assert f'href="#item-{number}"' in page
    fieldset = fieldset_of(page, bad_item)
    assert f'id="item-{number}"' in fieldset
    described_by = re.search(r'aria-describedby="([^"]*)"', fieldset)
    assert described_by and f"item-{number}-error" in described_by.group(1).split()
    assert f'id="item-{number}-error"' in fieldset
    assert "Please choose one of the answers shown." in fieldset
    # The good answer on the same page was not saved either: a page saves all or nothing.
    assert stored(db, invitation_id) == SAVED


@pytest.mark.parametrize(
    ("text", "message"),
    [("x" * 501, "Please shorten this answer to 500 characters or fewer."), ("a\x00b", "be saved. Please retype it.")],
)
def test_page_post_with_bad_text_saves_nothing(text, message, jonah, db):
    browser, csrf, invitation_id = jonah
    # new_child is on the page of the closing note: a page saves all or nothing.
    address = address_of(db, invitation_id, "life_context", "anything_else")
    assert address == address_of(db, invitation_id, "life_context", "new_child")
    response = browser.post(address, data={"csrf_token": csrf, "item_new_child": "2", "item_anything_else": text})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and 'aria-invalid="true"' in page
    assert stored(db, invitation_id) == SAVED


@pytest.mark.parametrize(
    "unknown",
    [{"item_nope": "1"}, {"item_afraid": "4"}, {"item_heard_2": "3"}, {"item_nope": "1", "item_afraid": "4"}],
    ids=["an item of no questionnaire", "another questionnaire's item", "an item of another page", "both"],
)
def test_page_post_naming_an_unknown_item_is_refused_whole_and_keeps_what_was_saved(unknown, jonah, db):
    browser, csrf, invitation_id = jonah
    address = address_of(db, invitation_id, "connection", "heard_1")
    assert address == address_of(db, invitation_id, "connection", "affection_1")
    assert address != address_of(db, invitation_id, "connection", "heard_2")
    response = browser.post(address, data={"csrf_token": csrf, "item_affection_1": "2", "item_heard_1": "5", **unknown})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert 'role="alert"' in page
    assert "This page sent an answer to a question that isn't on it, so nothing from this page was saved." in page
    assert "Your earlier answers are kept." in page
    # The page comes back with the answers as posted, ready to save again.
    assert re.search(r'<input checked[^>]*name="item_affection_1"[^>]*value="2"', fieldset_of(page, "affection_1"))
    assert re.search(r'<input checked[^>]*name="item_heard_1"[^>]*value="5"', fieldset_of(page, "heard_1"))
    # Nothing was saved from the page, and nothing saved before changed (heard_1 stays 4).
    assert stored(db, invitation_id) == SAVED


def test_other_fields_in_a_page_post_are_ignored(jonah, db):
    browser, csrf, invitation_id = jonah
    response = browser.post(
        address_of(db, invitation_id, "connection", "heard_2"),
        data={"csrf_token": csrf, "item_heard_2": "2", "invitation_id": "7", "partner": "2"},
    )
    assert response.status_code == 302
    assert stored(db, invitation_id) == {**SAVED, ("connection", "heard_2"): 2}


MALFORMED_MULTIPART = {
    "no boundary": (
        "multipart/form-data",
        b'--x\r\nContent-Disposition: form-data; name="item_heard_1"\r\n\r\n2\r\n--x--\r\n',
    ),
    "wrong boundary": (
        "multipart/form-data; boundary=y",
        b'--x\r\nContent-Disposition: form-data; name="item_heard_1"\r\n\r\n2\r\n--x--\r\n',
    ),
    "cut off": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\nab',
    ),
    "garbage": ("multipart/form-data; boundary=x", b"\x00\x01 not a form at all"),
}


@pytest.mark.parametrize(("content_type", "body"), MALFORMED_MULTIPART.values(), ids=MALFORMED_MULTIPART.keys())
def test_a_malformed_page_post_says_it_could_not_be_read(content_type, body, jonah, db):
    browser, _, invitation_id = jonah
    address = address_of(db, invitation_id, "connection", "heard_1")
    response = browser.post(address, data=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "We couldn't read what your browser sent. Nothing was changed" in page
    assert "open too long" not in page
    assert stored(db, invitation_id) == SAVED


def test_a_well_formed_post_without_its_token_still_asks_for_a_reload(jonah, db):
    browser, _, invitation_id = jonah
    body = b'--x\r\nContent-Disposition: form-data; name="item_heard_1"\r\n\r\n2\r\n--x--\r\n'
    address = address_of(db, invitation_id, "connection", "heard_1")
    response = browser.post(address, data=body, headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "open too long" in page and "couldn't read" not in page
    assert stored(db, invitation_id) == SAVED


# Questionnaires are addressed by place (the intake has 4; connection has 8 pages, life_context 2).
UNKNOWN_PLACES = ["0", "5", "1/0", "1/9", "3/3", "4/3"]


@pytest.mark.parametrize("place", UNKNOWN_PLACES)
def test_unknown_questionnaire_pages_are_404(place, jonah, db):
    browser, csrf, invitation_id = jonah
    response = browser.get(f"/q/{place}")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "We couldn't find that page" in page and 'href="/q"' in page and "/signin" not in page
    assert browser.post(f"/q/{place}", data={"csrf_token": csrf, "item_heard_1": "1"}).status_code == 404
    assert stored(db, invitation_id) == SAVED


# The old addresses named a questionnaire by its id; no address does any more (nor a number
# beyond what the database's ids can hold).
OLD_ADDRESSES = [
    "connection",
    "nope",
    "checkin",
    "Connection",
    "connection%00",
    "safety.yaml",
    "connection/1",
    "9" * 30,
]


@pytest.mark.parametrize("address", OLD_ADDRESSES)
def test_questionnaire_ids_are_no_address(address, jonah, db):
    browser, csrf, invitation_id = jonah
    assert browser.get(f"/q/{address}").status_code == 404
    assert browser.post(f"/q/{address}", data={"csrf_token": csrf, "item_heard_1": "1"}).status_code == 404
    assert stored(db, invitation_id) == SAVED


@pytest.mark.parametrize("address", ["connection", "nope", "9" * 30])
def test_old_addresses_get_the_partners_404_page(address, jonah):
    browser, _, _ = jonah
    page = browser.get(f"/q/{address}").get_data(as_text=True)
    assert "We couldn't find that page" in page and 'href="/q"' in page and "/signin" not in page
