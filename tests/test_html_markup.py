"""The markup of every kind of page, checked in-process, with no browser and no Java: the
mistakes the Nu Html Checker found on Tandem's pages before (issue 15) cannot come back on a
machine without the checker either. The browser journeys put every page they are served
through the checker itself (tests/browser/test_valid_html.py)."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import pytest

TABLE_PARTS = {"thead", "tbody", "tfoot", "tr", "td", "th"}
REFERENCES = ("aria-labelledby", "aria-describedby", "aria-controls")


class Markup(HTMLParser):
    """What the checks need: ids, the ids other attributes point to, and the problems seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.pointers: list[tuple[str, str]] = []
        self.problems: list[str] = []
        self.open: list[tuple[str, dict]] = []
        self.counts: Counter[str] = Counter()
        self.doctype = ""
        self._select: dict | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.counts[tag] += 1
        where = f"<{tag}{' id=' + a['id'] if 'id' in a else ''}> at line {self.getpos()[0]}"
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "label" and "for" in a:
            self.pointers.append(("for", a["for"]))
        for attr in REFERENCES:
            self.pointers += [(attr, ref) for ref in a.get(attr, "").split()]
        if tag in TABLE_PARTS and "role" in a:
            table = next((t for t in reversed(self.open) if t[0] == "table"), None)
            if table is not None and table[1].get("role") in (None, "table", "grid", "treegrid"):
                self.problems.append(f'role="{a["role"]}" on {where}, inside a table without a role of its own')
        if tag == "select":
            self._select = {"where": where, "required": "required" in a, "first": None, "multiple": "multiple" in a}
        if tag == "option" and self._select is not None and self._select["first"] is None:
            self._select["first"] = a.get("value")
        if tag not in {"input", "img", "meta", "link", "br", "hr", "source", "col", "wbr", "area", "base"}:
            self.open.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            s = self._select
            if s["required"] and not s["multiple"] and s["first"] not in ("", None):
                self.problems.append(f"required {s['where']} whose first option is not empty")
            self._select = None
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break


def markup_problems(html: str) -> list[str]:
    """Everything wrong with a page's markup that these checks can see."""
    page = Markup()
    page.feed(html)
    page.close()
    problems = list(page.problems)
    if page.doctype.lower() != "doctype html":
        problems.append(f"doctype is {page.doctype!r}, not 'doctype html'")
    problems += [f'duplicate id="{i}" ({n} times)' for i, n in Counter(page.ids).items() if n > 1]
    known = set(page.ids)
    problems += [f'{attr}="{ref}" names no element on the page' for attr, ref in page.pointers if ref not in known]
    if page.counts["main"] != 1:
        problems.append(f"{page.counts['main']} <main> elements")
    if page.counts["h1"] < 1:
        problems.append("no <h1>")
    return problems


def test_the_checks_catch_the_mistakes_found_before():
    html = """<!doctype html><html lang="en"><body><main><h1>x</h1>
    <form><input type="hidden" id="csrf_token"></form><form><input type="hidden" id="csrf_token"></form>
    <table><tr role="row"><td role="cell">1</td></tr></table>
    <label for="size">Size</label><select id="size" required><option value="a4">A4</option></select>
    <input aria-describedby="size-hint"></main></body></html>"""
    problems = "\n".join(markup_problems(html))
    assert 'duplicate id="csrf_token" (2 times)' in problems
    assert 'role="row" on <tr>' in problems and 'role="cell" on <td>' in problems
    assert "required <select id=size> at line 4 whose first option is not empty" in problems
    assert 'aria-describedby="size-hint" names no element' in problems
    clean = '<!doctype html><main><h1>x</h1><table role="presentation"><tr role="row"></tr></table></main>'
    assert markup_problems(clean) == []


# Every page a role can open, in the states make_world builds (see tests/conftest.py).
THERAPIST_PAGES = (
    "/couples/",
    "/couples/?status=attention",
    "/couples/{couple}",
    "/couples/{couple}/edit",
    "/couples/{couple}/assessments/new",
    "/couples/{couple}/reports/{report}",
    "/couples/new",
    "/instruments/",
    "/instruments/checkin/v1",
    "/instruments/safety/v1",
    "/account",
    "/account/password",
    "/account/two-factor",
    "/outcomes/",
    "/outcomes/?start=&end=2026-12-31",
    "/outcomes/?start=2026-12-31&end=2026-01-01",
    "/no/such/page",
)
OWNER_PAGES = ("/practice/settings", "/practice/clinicians", "/practice/audit/")
ANONYMOUS_PAGES = ("/signin", "/forgot-password", "/reset/{reset}", "/invite/{invite}", "/reset", "/invite")
PARTNER_PAGES = ("/q", "/q/1", "/q/2", "/q/review", "/q/9", "/l/not-a-real-link")


def _pages(world) -> list[tuple[str, str]]:
    values = {
        "couple": world.couple_id,
        "report": world.report_id,
        "reset": world.reset_token,
        "invite": world.invite_token,
    }
    pages = [("therapist", p) for p in THERAPIST_PAGES] + [("owner", p) for p in THERAPIST_PAGES + OWNER_PAGES]
    pages += [("anonymous", p) for p in ANONYMOUS_PAGES] + [("partner_a", p) for p in PARTNER_PAGES]
    return [(actor, path.format(**values)) for actor, path in pages]


@pytest.mark.parametrize("actor", ["therapist", "owner", "anonymous", "partner_a"])
def test_every_page_has_sound_markup(make_world, actor):
    world = make_world()
    checked, problems = 0, []
    for who, path in _pages(world):
        if who != actor:
            continue
        response = world.browser(actor).get(path, follow_redirects=True)
        if not response.content_type.startswith("text/html"):
            continue
        checked += 1
        problems += [f"{path} ({response.status_code}): {p}" for p in markup_problems(response.get_data(as_text=True))]
    assert checked >= 5, f"only {checked} pages checked for {actor}"
    assert not problems, "\n".join(problems)
