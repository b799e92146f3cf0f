"""A partner's form in pages: the pages a definition declares, or pages cut along its subscale lines.

Pure: it takes an instrument and the order one partner sees its items in (scoring.item_order)
and returns the item ids of each page, in that order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

from .schema import MAX_PAGE_ITEMS, Instrument, Item

Pages = tuple[tuple[str, ...], ...]

# How much a page may hold, in rows: a choice item takes a row for each answer and two for its
# question, a text box seven. 36 rows fit a 390 x 844 phone in under three screens with the
# page's heading and buttons (five five-answer questions, four six-answer ones, six four-answer).
PAGE_ROWS = 36
TEXT_ROWS = 7


def rows(instrument: Instrument, item: Item) -> int:
    """The rows one item takes on a page (see PAGE_ROWS)."""
    if item.type == "text":
        return TEXT_ROWS
    return len(instrument.scale_of(item).values) + 2


def paginate(
    instrument: Instrument, order: Sequence[str], size: int = MAX_PAGE_ITEMS, page_rows: int = PAGE_ROWS
) -> Pages:
    """The item ids of each page of the partner's form, in the partner's order.

    A definition's declared `pages` win (a shuffled instrument keeps each item on its page and
    shuffles within it). Otherwise the items are cut into as few pages as hold at most `size`
    items and `page_rows` rows each, of nearly equal length, and a cut falls between two
    subscales where one can: a run of items of one subscale stays together unless it is longer
    than a page. A text item stays with the question before it (a closing "anything else?" is
    not left alone on a page).
    """
    if instrument.pages:
        position = {item_id: index for index, item_id in enumerate(order)}
        return tuple(tuple(sorted(page.items, key=position.__getitem__)) for page in instrument.pages)
    if not order:
        return ()
    weight = {item_id: rows(instrument, instrument.item(item_id)) for item_id in order}
    pieces = [piece for run in _runs(instrument, order) for piece in _fitting(run, weight, size, page_rows)]
    count = max(math.ceil(len(order) / size), math.ceil(sum(weight.values()) / page_rows))
    while True:  # the fewest even pages that each hold what a page may (a piece always fits)
        pages = _even(pieces, weight, count)
        if all(_fits(page, weight, size, page_rows) for page in pages):
            return tuple(tuple(page) for page in pages)
        count += 1


def _fits(items: list[str], weight: dict[str, int], size: int, page_rows: int) -> bool:
    return len(items) <= size and sum(weight[item_id] for item_id in items) <= page_rows


def _fitting(run: list[str], weight: dict[str, int], size: int, page_rows: int) -> list[list[str]]:
    """A run that fits on a page whole, or the run cut into the fewest even pieces that do."""
    pieces = max(math.ceil(len(run) / size), math.ceil(sum(weight[item_id] for item_id in run) / page_rows))
    while True:
        cut = math.ceil(len(run) / pieces)
        parts = [run[start : start + cut] for start in range(0, len(run), cut)]
        if all(_fits(part, weight, size, page_rows) for part in parts):
            return parts
        pieces += 1


def _even(pieces: list[list[str]], weight: dict[str, int], count: int) -> list[list[str]]:
    """`pieces` in `count` pages (fewer when there are fewer pieces), each page ending at the
    piece boundary nearest to an even share of the rows."""
    count = min(count, len(pieces))
    ends: list[int] = []
    running = 0
    for piece in pieces:
        running += sum(weight[item_id] for item_id in piece)
        ends.append(running)
    bounds = [0]
    for page in range(1, count):
        share = running * page / count
        # Leave at least one piece for this page and for each page still to come.
        choices = range(bounds[-1] + 1, len(pieces) - (count - page) + 1)
        bounds.append(min(choices, key=lambda cut: abs(ends[cut - 1] - share)))
    bounds.append(len(pieces))
    return [[item_id for piece in pieces[a:b] for item_id in piece] for a, b in pairwise(bounds)]


def _runs(instrument: Instrument, order: Sequence[str]) -> list[list[str]]:
    """Consecutive items of one subscale; a text item joins the run before it."""
    runs: list[list[str]] = []
    last_section: object = None
    for item_id in order:
        item = instrument.item(item_id)
        if item.type == "text" and runs:
            runs[-1].append(item_id)
            continue
        section = item.subscale if item.subscale is not None else ("item", item_id)
        if runs and section == last_section:
            runs[-1].append(item_id)
        else:
            runs.append([item_id])
        last_section = section
    return runs
