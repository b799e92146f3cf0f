"""What the journeys share: a kept screenshot per step, keyboard-only movement, answering a
questionnaire page by clicking labels or by keys, what a partner's tab showed (titles, history,
page heights), and the numbers the answers should give."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from playwright.sync_api import Locator, Page, expect

from tests.browser.a11y import AccessibilityLog, focus_problem
from tests.browser.html_check import ServedPages

REPO = Path(__file__).resolve().parents[2]
AUTOSAVE = "/q/autosave"
# The narrowest phone the issues name: every page a journey shows must fit it.
NARROW = 360

# What does not fit the viewport's width: the page itself wider than the viewport (the
# page scrolls sideways), or any heading or control that reaches past either edge, unless
# it sits in a box that scrolls sideways on its own (a wide table's wrapper) and that box
# fits. The skip link waits off-screen until it has the focus; visually hidden text and
# anything not displayed (a closed <details>, a hidden button) have no box to judge.
LAYOUT_PROBLEMS = """
(width) => {
  const root = document.documentElement;
  const room = Math.min(root.clientWidth, width);
  const problems = [];
  if (root.scrollWidth > room) problems.push(`the page is ${root.scrollWidth}px wide in a ${room}px viewport`);
  const scroller = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (["auto", "scroll"].includes(getComputedStyle(p).overflowX)) return p;
    }
    return null;
  };
  const shown = Array.from(document.querySelectorAll(
    "h1, a[href], button, input:not([type=hidden]), select, textarea, summary"));
  for (const el of shown) {
    if (el.closest(".skip-link, .visually-hidden") || getComputedStyle(el).visibility === "hidden") continue;
    const own = el.getBoundingClientRect();
    if (own.width === 0 && own.height === 0) continue;
    const box = (scroller(el) || el).getBoundingClientRect();
    const name = `${el.tagName.toLowerCase()} ${(el.textContent || el.value || el.name || "").trim().slice(0, 40)}`;
    if (box.left < -1 || box.right > room + 1) {
      problems.push(`${name} spans ${Math.round(box.left)}..${Math.round(box.right)}px of ${room}px`);
    }
  }
  // Nothing scrolls sideways, not even inside its own box: a table too wide becomes cards.
  for (const el of document.querySelectorAll("main *")) {
    if (!["auto", "scroll"].includes(getComputedStyle(el).overflowX)) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${el.tagName.toLowerCase()}.${el.className} scrolls sideways (${el.scrollWidth}px in ${el.clientWidth}px)`);
    }
  }
  if (!document.querySelector("h1")) problems.push("no h1 on the page");
  return problems;
}
"""


class Journey:
    """One journey's steps: each takes a full-page screenshot, runs the accessibility checks and
    keeps the page as its scripts left it for the HTML check at the end of the run."""

    def __init__(self, root: Path, name: str, a11y: AccessibilityLog, served: ServedPages):
        self.folder = root / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.a11y = a11y
        self.served = served
        self.count = 0

    def step(
        self,
        page: Page,
        label: str,
        *,
        scripts: bool = True,
        axe: bool = True,
        widths: tuple[int, ...] = (NARROW,),
        reach: Callable[[Page], None] | None = None,
    ) -> Path:
        """Keep a screenshot of the page and check it, then check (and keep) it again at each
        of `widths` (the narrowest phone by default). For a page without JavaScript
        (scripts=False), axe runs on the same address opened with scripts on, with the same
        cookies, or on the page `reach` brings that twin to (a page a post answered, such as a
        refused send: the twin does the same); axe=False leaves axe out for a page another step
        has already put through it in the same state (the layout is still checked)."""
        self.count += 1
        stem = f"{self.count:02d}-{label}"
        path = self.folder / f"{stem}.png"
        self.served.keep_dom(page, f"{self.name}/{stem}")
        page.screenshot(path=path, full_page=True)
        fits(page, page.viewport_size["width"], f"{self.name}/{stem}")
        if not axe:
            pass
        elif scripts:
            self.a11y.check(page, f"{self.name}/{stem}")
        else:
            twin = page.context.browser.new_context(
                storage_state=page.context.storage_state(), viewport=page.viewport_size
            )
            try:
                twin_page = twin.new_page()
                twin_page.set_default_timeout(10_000)
                if reach is None:
                    twin_page.goto(page.url)
                else:
                    reach(twin_page)
                self.a11y.check(page, f"{self.name}/{stem}", axe_page=twin_page)
            finally:
                twin.close()
        self.at_widths(page, stem, widths)
        return path

    def at_widths(self, page: Page, stem: str, widths: tuple[int, ...]) -> None:
        """The page as it is, at each width in turn (the height kept): nothing wider than the
        viewport, every control inside it; a screenshot of each, then the width it had."""
        size = dict(page.viewport_size)
        try:
            for width in widths:
                if width == size["width"]:
                    continue  # the page was just checked at this width
                page.set_viewport_size({"width": width, "height": size["height"]})
                page.screenshot(path=self.folder / f"{stem}@{width}.png", full_page=True)
                fits(page, width, f"{self.name}/{stem}@{width}")
        finally:
            page.set_viewport_size(size)


def above_the_fold(page: Page, target: Locator) -> None:
    """`target` is on screen when the page opens: at the top, without scrolling, whole."""
    page.evaluate("() => window.scrollTo(0, 0)")
    box = target.bounding_box()
    height = page.viewport_size["height"]
    assert box is not None, f"{target} is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (
        f"{target} sits at {box['y']:.0f}..{box['y'] + box['height']:.0f}px, below the fold of {height}px"
    )


def fits(page: Page, width: int, where: str) -> None:
    """Nothing on the page reaches past a viewport `width` px wide (see LAYOUT_PROBLEMS)."""
    problems = page.evaluate(LAYOUT_PROBLEMS, width)
    assert not problems, f"{where} ({page.url}) does not fit {width} px:\n" + "\n".join(problems)


# --- the keyboard -----------------------------------------------------------------------

FOCUS_IS = """
([selector, text]) => {
  const el = document.activeElement;
  if (!el || !el.matches(selector)) return false;
  return !text || (el.value || el.textContent || "").trim() === text;
}
"""


def tab_to(page: Page, selector: str, *, text: str | None = None, back: bool = False, limit: int = 120) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches; every stop must show its focus."""
    key = "Shift+Tab" if back else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        problem = focus_problem(page)
        assert problem is None, problem
        if page.evaluate(FOCUS_IS, [selector, text]):
            return
    raise AssertionError(f"{limit} presses of {key} never reached {selector} {text or ''}")


def tab_through(page: Page, limit: int = 200) -> int:
    """Tab from the top of the page to its end: every stop must show where the focus is."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    stops = 0
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement === document.body || !document.activeElement"):
            break  # past the last stop: the focus has left the page
        problem = focus_problem(page)
        assert problem is None, problem
        stops += 1
    assert stops > 5, f"only {stops} focusable elements on {page.url}"
    return stops


def focused(page: Page, prop: str):
    return page.evaluate(f"() => document.activeElement && document.activeElement.{prop}")


def press_saving(page: Page, key: str, *, autosave: bool) -> None:
    """Press a key that changes an answer; with JavaScript, wait for that answer's save to land."""
    if not autosave:
        page.keyboard.press(key)
        return
    with page.expect_response(lambda r: r.url.endswith(AUTOSAVE)) as saved:
        page.keyboard.press(key)
    assert saved.value.ok, f"autosave answered {saved.value.status}"


def answer_by_keyboard(page: Page, item_ids: list[str], key: str, *, autosave: bool) -> None:
    """Answer each listed question by keys alone: Tab into its radio group, then one key.

    Tabbing into a group with no answer lands on its first radio: Space chooses that one,
    ArrowDown the second (each is one change, so one autosave).
    """
    for item_id in item_ids:
        tab_to(page, f'{item(item_id)} input[type="radio"]')
        assert focused(page, "checked") is False, f"{item_id} already had an answer"
        assert focused(page, "value") == "1", f"Tab landed on answer {focused(page, 'value')} of {item_id}"
        press_saving(page, key, autosave=autosave)
        assert page.locator(f'{item(item_id)} input[type="radio"]:checked').count() == 1


# --- the mouse ------------------------------------------------------------------------


def item(item_id: str) -> str:
    """The selector of one question on a questionnaire page (its anchor is item-<number>)."""
    return f'.questionnaire [data-item="{item_id}"]'


def choice_label(page: Page, item_id: str, answer: str) -> Locator:
    """The clickable label of one answer of one question (matched on its whole text)."""
    return page.locator(f"{item(item_id)} label.choice").filter(has_text=re.compile(rf"^\s*{re.escape(answer)}\s*$"))


def answer_by_clicks(page: Page, answers: dict[str, str], *, autosave: bool = True) -> None:
    """Click each answer's label; with JavaScript, wait for its autosave."""
    for item_id, answer in answers.items():
        label = choice_label(page, item_id, answer)
        if autosave:
            with page.expect_response(lambda r: r.url.endswith(AUTOSAVE)) as saved:
                label.click()
            assert saved.value.ok, f"autosave of {item_id} answered {saved.value.status}"
        else:
            label.click()
        expect(label.locator("input")).to_be_checked()


def choice_item_ids(page: Page) -> list[str]:
    return page.locator(".questionnaire fieldset[data-item]").evaluate_all("els => els.map(e => e.dataset.item)")


def checked_values(page: Page) -> dict[str, str]:
    """The answer each question shows as chosen (the page as the server rendered it)."""
    return dict(
        page.locator(".questionnaire fieldset[data-item]").evaluate_all(
            """els => els.flatMap(e => {
                 const c = e.querySelector('input[type="radio"]:checked');
                 return c ? [[e.dataset.item, c.value]] : [];
               })"""
        )
    )


def saved_out_of_sight(page: Page) -> list[str]:
    """The questions that say an answer is saved but, to keep it private, not shown."""
    return page.locator(".questionnaire fieldset[data-item]:has(p.saved-note)").evaluate_all(
        "els => els.map(e => e.dataset.item)"
    )


# --- what a partner's tab showed ------------------------------------------------------------

# How tall a partner page may be on the phone the issue names, in screens of its height.
SCREENS = 3

SHOWN = """
() => ({
  height: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight),
  width: document.documentElement.scrollWidth,
  room: document.documentElement.clientWidth,
})
"""


@dataclass
class Seen:
    url: str
    title: str
    height: int
    width: int
    room: int
    viewport: dict
    partner: bool  # one of the partner's pages (not the neutral site "Leave this page" goes to)


class PartnerTabs:
    """Everything a partner's tabs showed: every address each tab navigated to (every
    redirect's end too), the title and size of each page looked at, and the tab's own history
    as the browser keeps it (its entries' addresses and titles, read through the DevTools
    protocol, so a page without JavaScript is read too). Call look() on each page shown and
    before a tab is closed (its history goes with it)."""

    def __init__(self) -> None:
        self.visited: list[str] = []
        self.seen: list[Seen] = []
        self.history: list[tuple[str, str]] = []
        self._cdp: dict[int, object] = {}

    def watch(self, page: Page) -> Page:
        page.on("framenavigated", lambda frame: self.visited.append(frame.url) if frame.parent_frame is None else None)
        self._cdp[id(page)] = page.context.new_cdp_session(page)
        return page

    def entries(self, page: Page) -> list[dict]:
        """The tab's history: [{url, title, …}], oldest first."""
        return self._cdp[id(page)].send("Page.getNavigationHistory")["entries"]

    def look(self, page: Page, *, partner: bool = True) -> Seen:
        shown = page.evaluate(SHOWN)
        size = dict(page.viewport_size)
        seen = Seen(page.url, page.title(), shown["height"], shown["width"], shown["room"], size, partner)
        self.seen.append(seen)
        self.history += [(entry["url"], entry["title"]) for entry in self.entries(page)]
        return seen

    def write(self, path: Path) -> None:
        """What was seen, page by page (kept beside the journey's screenshots)."""
        lines = [f"{'height':>6} {'width':>5} {'viewport':>9}  title  address"]
        lines += [
            f"{s.height:>6} {s.width:>5} {s.viewport['width']:>4}x{s.viewport['height']:<4}  {s.title}  {s.url}"
            + ("" if s.partner else "  (not a partner page)")
            for s in self.seen
        ]
        lines += ["", "History entries (address, title):"]
        lines += sorted({f"{url}  {title}" for url, title in self.history})
        lines += ["", "Addresses navigated to:", *dict.fromkeys(self.visited)]
        path.write_text("\n".join(lines) + "\n")

    def never_say(self, word: str) -> None:
        """No title and no address the tabs showed or kept in their history holds `word`."""
        said = [url for url in self.visited if word in url.lower()]
        said += [f"{s.title!r} at {s.url}" for s in self.seen if word in s.title.lower() or word in s.url.lower()]
        said += [f"history: {title!r} at {url}" for url, title in self.history if word in (url + title).lower()]
        assert self.visited and self.seen and self.history, "nothing was recorded"
        assert not said, f"{word!r} in the partner's tab:\n" + "\n".join(sorted(set(said)))

    def fit_the_phone(self, screens: int = SCREENS) -> None:
        """Every partner page looked at is at most `screens` screens tall and does not scroll sideways."""
        pages = [s for s in self.seen if s.partner]
        too_tall = [
            f"{s.url} ({s.title}): {s.height}px > {screens} x {s.viewport['height']}px"
            for s in pages
            if s.height > screens * s.viewport["height"]
        ]
        sideways = [f"{s.url} ({s.title}): {s.width}px wide in {s.room}px" for s in pages if s.width > s.room]
        assert pages, "no partner page was looked at"
        assert not too_tall + sideways, "partner pages that do not fit the phone:\n" + "\n".join(too_tall + sideways)


# --- what the answers should score ----------------------------------------------------------


def definition(instrument_id: str) -> dict:
    return yaml.safe_load((REPO / "instruments" / "definitions" / f"{instrument_id}-v1.yaml").read_text())


def expected_mean(instrument_id: str, measure_id: str, answer: int) -> float:
    """A measure's score when every item is answered `answer`, worked out from the file alone:
    reverse-keyed items count (low + high - answer), and the score is the item mean."""
    data = definition(instrument_id)
    measures = {m["id"]: m for m in data["subscales"] + data.get("totals", [])}
    measure = measures[measure_id]
    subscales = measure.get("subscales", [measure_id])
    items = [item for item in data["items"] if item.get("subscale") in subscales]
    values = [v["value"] for v in data["scales"][items[0]["scale"]]["values"]]
    low, high = min(values), max(values)
    keyed = [(low + high - answer) if item.get("reverse") else answer for item in items]
    return round(sum(keyed) / len(keyed), 2)


def band_of(instrument_id: str, measure_id: str, value: float) -> str:
    data = definition(instrument_id)
    measure = {m["id"]: m for m in data["subscales"] + data.get("totals", [])}[measure_id]
    for band in measure["bands"]:
        if "below" not in band or value < band["below"]:
            return band["label"]
    raise AssertionError("no band")
