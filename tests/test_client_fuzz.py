"""Random input to autosave and to the questionnaire page: never a 500, never a lost answer.

Each test keeps one partner's browser and database for all of its examples on
purpose: saved answers pile up from example to example, and a model of what must
be stored follows along, so an example that wrongly changed or dropped an earlier
answer is caught. That is why the function-scoped fixture health check is
suppressed: sharing the fixtures between examples is the point, not an accident.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instruments import item_order, paginate
from tests.test_client import REGISTRY, autosave, form_pages, invitation_of, open_link, page_address, page_csrf, stored

ASSESSED = ("connection", "differentiation", "life_context", "safety")  # the intake, in its order
INSTRUMENTS = {i: REGISTRY.latest(i) for i in REGISTRY.ids()}
# Each questionnaire's pages (item ids), as the partner's form shows them: the intake's
# instruments are not shuffled, so every partner has the same pages (the test checks).
PAGES = {i: paginate(INSTRUMENTS[i], item_order(INSTRUMENTS[i], seed="any")) for i in ASSESSED}
ALL_ITEMS = sorted({item.id for inst in INSTRUMENTS.values() for item in inst.items})

SHARED = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    deadline=None,
    database=None,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
answer_values = (
    st.integers(min_value=-2, max_value=8)
    | st.none()
    | st.sampled_from(["", "  ", "a note", "x" * 500, "x" * 501, "nul\x00", "4"])
    | st.text(max_size=40)
    | json_values
)
instrument_ids = st.sampled_from([*ASSESSED, "checkin", "nope", ""]) | st.text(max_size=12)
item_ids = st.sampled_from(ALL_ITEMS) | st.text(max_size=12)


def expected_ok(instrument_id, item_id, value) -> bool:
    """Whether autosave must accept this answer, worked out from the definitions alone."""
    if instrument_id not in ASSESSED or not isinstance(item_id, str):
        return False
    inst = INSTRUMENTS[instrument_id]
    item = next((i for i in inst.items if i.id == item_id), None)
    if item is None:
        return False
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if item.type == "text":
        return isinstance(value, str) and len(value) <= item.text_limit and "\x00" not in value
    return type(value) is int and inst.scale_of(item).contains(value)


def apply(model: dict, instrument_id: str, item_id: str, value) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        model.pop((instrument_id, item_id), None)
    else:
        model[instrument_id, item_id] = value


@pytest.fixture
def partner(make_practice, make_couple, make_assessment, make_client, db):
    """Jonah's browser and CSRF token, his invitation id, and a model of what must be stored."""
    assessment, tokens = make_assessment(make_couple(make_practice()))
    browser = open_link(make_client, tokens[1])
    csrf = page_csrf(browser)
    model = {("connection", "heard_1"): 3, ("life_context", "anything_else"): "first note"}
    for (instrument_id, item_id), value in model.items():
        assert autosave(browser, instrument_id, item_id, value, csrf=csrf).status_code == 200
    return browser, csrf, invitation_of(db, assessment, 1).id, model


@st.composite
def plausible_bodies(draw):
    """Mostly near-valid answers: a real item of an assigned questionnaire, values at and around its scale."""
    instrument_id = draw(st.sampled_from(ASSESSED))
    inst = INSTRUMENTS[instrument_id]
    item = draw(st.sampled_from(inst.items))
    if item.type == "text":
        value = draw(st.none() | st.text(max_size=30) | st.sampled_from(["", "x" * 500, "x" * 501, "a\x00", 3]))
    else:
        scale = inst.scale_of(item)
        value = draw(
            st.integers(scale.low, scale.high)
            | st.integers(scale.low - 1, scale.high + 1)
            | st.none()
            | st.sampled_from(["", "3", 2.0, True])
        )
    return {"instrument": instrument_id, "item": item.id, "value": value}


@settings(SHARED, max_examples=200)
@given(
    # Near-valid bodies three times as often as wild ones, so that many examples are saved.
    body=st.one_of(
        plausible_bodies(),
        plausible_bodies(),
        plausible_bodies(),
        st.fixed_dictionaries({"instrument": instrument_ids, "item": item_ids, "value": answer_values}),
        json_values,
    )
)
def test_autosave_fuzz(body, partner, db):
    browser, csrf, invitation_id, model = partner
    response = browser.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code in (200, 400), response.status_code
    assert response.is_json
    ok = isinstance(body, dict) and set(body) == {"instrument", "item", "value"}
    ok = ok and isinstance(body["instrument"], str) and expected_ok(body["instrument"], body["item"], body["value"])
    assert response.status_code == (200 if ok else 400), (body, response.get_json())
    if ok:
        apply(model, body["instrument"], body["item"], body["value"])
    assert stored(db, invitation_id) == model


def field_names(instrument_id: str, page: int | None = None) -> list[str]:
    """The form fields of a questionnaire, or of one of its pages (1-based)."""
    if page is None:
        return [f"item_{item.id}" for item in INSTRUMENTS[instrument_id].items]
    return [f"item_{item_id}" for item_id in PAGES[instrument_id][page - 1]]


raw_values = (
    st.sampled_from(["1", "2", "3", "4"])
    | st.sampled_from(["", " ", "5", "6", "0", "-1", " 3 ", "4.0", "x" * 501, "a\x00"])
    | st.text(max_size=12)
)
page_names = st.sampled_from([name for i in ASSESSED for name in field_names(i)] + ["item_nope", "later"]) | st.text(
    max_size=10
).filter(lambda name: name != "csrf_token")


def expected_page(instrument_id: str, page: int, data: dict) -> tuple[bool, dict]:
    """(accepted, answers it saves) for a page post, from the definitions alone."""
    inst = INSTRUMENTS[instrument_id]
    if any(name.startswith("item_") and name not in field_names(instrument_id, page) for name in data):
        return False, {}  # an answer to a question not on this page: the whole page is refused
    changes = {}
    for item in map(inst.item, PAGES[instrument_id][page - 1]):
        raw = data.get(f"item_{item.id}")
        if raw is None:
            continue
        if item.type == "text":
            if raw.strip() and (len(raw) > item.text_limit or "\x00" in raw):
                return False, {}
            changes[item.id] = raw
            continue
        if not raw.strip():
            continue
        try:
            value = int(raw)
        except ValueError:
            return False, {}
        if not inst.scale_of(item).contains(value):
            return False, {}
        changes[item.id] = value
    return True, changes


@st.composite
def page_posts(draw):
    """A page of a questionnaire and a post for it: mostly that page's fields (then its
    questionnaire's, which may be on other pages), with values at and around their scale."""
    instrument_id = draw(st.sampled_from(["connection", "life_context", "safety"]))
    page = draw(st.integers(1, len(PAGES[instrument_id])))
    names = st.sampled_from(field_names(instrument_id, page)) | st.sampled_from(field_names(instrument_id)) | page_names
    return instrument_id, page, draw(st.dictionaries(names, raw_values, max_size=5))


@settings(SHARED, max_examples=100)
@given(post=page_posts())
def test_page_post_fuzz(post, partner, db):
    instrument_id, page, data = post
    browser, csrf, invitation_id, model = partner
    address, items = form_pages(db, invitation_id)[instrument_id][page - 1]
    assert items == PAGES[instrument_id][page - 1]
    assert address == page_address(ASSESSED.index(instrument_id) + 1, page)
    response = browser.post(address, data={**data, "csrf_token": csrf})
    ok, changes = expected_page(instrument_id, page, data)
    assert response.status_code == (302 if ok else 400), (data, response.status_code)
    for item_id, value in changes.items():
        apply(model, instrument_id, item_id, value)
    assert stored(db, invitation_id) == model
