"""A partner's form in pages (instruments.paging) and the definition fields behind it."""

from __future__ import annotations

from typing import Any

import pytest

from instruments import item_order, load_registry, paginate, parse_instrument
from instruments.paging import PAGE_ROWS, rows
from instruments.schema import MAX_PAGE_ITEMS
from tests.instruments.test_schema import TINY, error_of, tiny_data

REGISTRY = load_registry()


def tiny(**changes: Any):
    data = tiny_data()
    data.update(changes)
    return parse_instrument(data, TINY)


def file_order(instrument) -> list[str]:
    return [item.id for item in instrument.items]


def test_rows_count_a_line_per_answer_and_two_for_the_question() -> None:
    inst = tiny()
    assert rows(inst, inst.item("heard_1")) == 5 + 2  # agree5
    assert rows(inst, inst.item("pull_1")) == 4 + 2  # often4
    assert rows(inst, inst.item("note")) == 7  # a text box


def test_pages_are_cut_between_subscales_and_a_text_item_stays_with_the_question_before_it() -> None:
    # heard 3 x 7 = 21 rows, warmth 2 x 7 = 14, pulling 3 x 6 = 18 and the note 7: 60 rows need
    # two pages of at most 36; the even share is 30, and the subscale line nearest to it is
    # after warmth (35), not after heard (21).
    inst = tiny()
    assert paginate(inst, file_order(inst)) == (
        ("heard_1", "heard_2", "heard_3", "warm_1", "warm_2"),
        ("pull_1", "pull_2", "pull_3", "note"),
    )


def test_a_short_instrument_is_one_page() -> None:
    inst = tiny()
    order = ["heard_1", "heard_2", "warm_1"]
    assert paginate(inst, order) == (tuple(order),)
    assert paginate(inst, []) == ()


def test_a_subscale_longer_than_a_page_is_cut_into_even_pieces() -> None:
    data = tiny_data()
    data["items"] = [
        {"id": f"heard_{n}", "text": f"Question {n}.", "scale": "agree5", "subscale": "heard"} for n in range(1, 15)
    ]
    data["subscales"] = [s for s in data["subscales"] if s["id"] == "heard"]
    data["totals"] = []
    data["shuffle"] = False
    inst = parse_instrument(data, TINY)
    # 14 items of 7 rows = 98 rows: three pages (36 rows at most), cut 5, 5, 4.
    pages = paginate(inst, file_order(inst))
    assert [len(page) for page in pages] == [5, 5, 4]
    assert [item for page in pages for item in page] == file_order(inst)


def test_declared_pages_win_and_a_shuffled_instrument_shuffles_within_them() -> None:
    declared = [{"items": ["pull_1", "heard_1", "warm_1"]}, {"items": ["heard_2", "heard_3", "warm_2"]}]
    inst = tiny(pages=[*declared, {"items": ["pull_2", "pull_3", "note"]}])
    order = item_order(inst, seed="partner-7")
    pages = paginate(inst, order)
    assert [sorted(page) for page in pages] == [
        sorted(["pull_1", "heard_1", "warm_1"]),
        sorted(["heard_2", "heard_3", "warm_2"]),
        sorted(["pull_2", "pull_3", "note"]),
    ]
    for page in pages:  # each page keeps the partner's order
        assert list(page) == [item_id for item_id in order if item_id in page]


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        (
            [{"items": ["heard_1", "nope"]}],
            "tiny-v1.yaml: pages[0].items[1]: unknown item 'nope'",
        ),
        (
            [{"items": ["heard_1", "heard_2"]}, {"items": ["heard_2"]}],
            "tiny-v1.yaml: pages[1].items[0]: item 'heard_2' is on more than one page",
        ),
        (
            [{"items": ["heard_1", "heard_2", "heard_3", "warm_1", "warm_2", "pull_1", "pull_2", "pull_3"]}],
            "tiny-v1.yaml: pages: items on no page: note",
        ),
        (
            [{"items": []}],
            "tiny-v1.yaml: pages[0].items: List should have at least 1 item after validation, not 0",
        ),
    ],
)
def test_declared_pages_are_checked(pages, message) -> None:
    data = tiny_data()
    data["pages"] = pages
    assert error_of(data) == message


def test_a_declared_page_holds_at_most_ten_items() -> None:
    data = tiny_data()
    data["pages"] = [{"items": [f"x{n}" for n in range(MAX_PAGE_ITEMS + 1)]}]
    assert "pages[0].items: List should have at most 10 items" in error_of(data)


def test_the_client_title_defaults_to_the_title() -> None:
    assert tiny().client_title == "Tiny test instrument"
    assert tiny(title_client="A few questions").client_title == "A few questions"
    assert REGISTRY.get("differentiation", 1).client_title == "Closeness and independence"
    assert REGISTRY.get("differentiation", 1).title == "Differentiation of self"


def test_the_safety_screen_has_a_neutral_client_title() -> None:
    safety = REGISTRY.get("safety", 1)
    assert safety.has_private_items
    assert "safety" not in safety.client_title.lower()
    assert not REGISTRY.get("connection", 1).has_private_items


@pytest.mark.parametrize("key", sorted((i.id, i.version) for i in map(REGISTRY.latest, REGISTRY.ids())))
@pytest.mark.parametrize("seed", ["1", "2", "917"])
def test_every_shipped_page_fits_and_every_item_is_on_exactly_one(key, seed) -> None:
    inst = REGISTRY.get(*key)
    order = item_order(inst, seed=seed)
    pages = paginate(inst, order)
    assert sorted(item for page in pages for item in page) == sorted(order)
    for page in pages:
        assert 1 <= len(page) <= MAX_PAGE_ITEMS
        assert sum(rows(inst, inst.item(item_id)) for item_id in page) <= PAGE_ROWS
    # As few pages as the rows need, and even: no page holds two items more than another.
    total = sum(rows(inst, inst.item(item_id)) for item_id in order)
    assert len(pages) <= -(-total // PAGE_ROWS) + 1
    assert max(map(len, pages)) - min(map(len, pages)) <= 2


def test_the_shipped_intake_in_pages() -> None:
    counts = {
        key: len(paginate(REGISTRY.get(key, 1), item_order(REGISTRY.get(key, 1), seed="1")))
        for key in ("connection", "differentiation", "life_context", "safety", "checkin")
    }
    assert counts == {"connection": 8, "differentiation": 6, "life_context": 2, "safety": 2, "checkin": 1}
