"""Accessibility checks run on every page a journey shows: axe-core (the copy bundled in
axe-playwright-python, injected into the page; it fetches nothing), plus the few things the
issue names that are quicker to check directly: every form control has a label, every chart
has a text table beside it, and the focused element shows a visible outline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

# Impacts that fail a page. Moderate and minor findings are written to the run's report.
FAILING_IMPACTS = ("serious", "critical")
# Rules switched off, each with the reason (reported in the closing note of issue 8).
DISABLED_RULES: dict[str, str] = {}
# Rules axe-core leaves off by default, switched on, each with the reason.
ENABLED_RULES: dict[str, str] = {
    "target-size": "every control is at least 24 x 24 px, or spaced as if it were (WCAG 2.2 2.5.8; issue 15)",
}

_axe = Axe()

UNLABELLED_CONTROLS = """
() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter((el) => !["hidden", "submit", "button", "reset", "image"].includes(el.type))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !el.getAttribute("aria-labelledby"))
  .map((el) => el.outerHTML.slice(0, 160))
"""

# A chart is an SVG image; the numbers it draws must also be in a table with a caption, in
# the same card, for anyone who cannot see the picture (or prints in black and white).
CHARTS_WITHOUT_TABLES = """
() => Array.from(document.querySelectorAll("figure.chart")).filter((figure) => {
  const svg = figure.querySelector("svg");
  const named = svg && svg.getAttribute("role") === "img" && (svg.getAttribute("aria-labelledby")
                || svg.getAttribute("aria-label"));
  const card = figure.closest("article, section");
  let table = null;
  for (let el = figure.nextElementSibling; el && !table; el = el.nextElementSibling) {
    table = el.matches("table") ? el : el.querySelector("table");
  }
  return !named || !card || !table || !table.querySelector("caption") || !card.contains(table);
}).map((figure) => (figure.querySelector("svg title") || {}).textContent || figure.outerHTML.slice(0, 120))
"""

# Every control a finger or a pointer aims at is at least 24 x 24 px (issue 15): stricter than
# axe's target-size, which lets a smaller target pass when nothing else is near it. A check box
# or radio counts with its label (a click on the label chooses it). A link inside a sentence is
# the one exception (as in WCAG 2.5.8): it flows with the words around it.
SMALL_TARGETS = """
(min) => {
  const inline = (el) => ["inline", "contents"].includes(getComputedStyle(el).display);
  const inSentence = (el) => {
    if (!inline(el)) return false;
    let block = el.parentElement;
    while (block && inline(block)) block = block.parentElement;
    if (!block) return false;
    const words = (node) => (node.textContent || "").replace(/\\s+/g, "");
    return words(block).length > words(el).length;
  };
  const box = (el) => {
    let r = el.getBoundingClientRect();
    for (const label of el.labels || []) {
      const l = label.getBoundingClientRect();
      if (l.width >= r.width && l.height >= r.height) r = l;
    }
    return r;
  };
  return Array.from(document.querySelectorAll(
      "a[href], button, input:not([type=hidden]), select, textarea, summary"))
    .filter((el) => {
      const own = el.getBoundingClientRect();
      if (own.width === 0 && own.height === 0) return false;
      if (el.closest(".skip-link, .visually-hidden") || getComputedStyle(el).visibility === "hidden") return false;
      const r = box(el);
      return (r.width < min - 0.5 || r.height < min - 0.5) && !inSentence(el);
    })
    .map((el) => {
      const r = box(el);
      const name = (el.textContent || el.value || el.name || "").trim().replace(/\\s+/g, " ").slice(0, 50);
      return `${el.tagName.toLowerCase()} ${JSON.stringify(name)}: ${Math.round(r.width * 10) / 10} x ${Math.round(r.height * 10) / 10} px`;
    });
}
"""
MIN_TARGET = 24

FOCUS_STYLE = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), type: el.type || "", text: (el.textContent || el.value || "").trim().slice(0, 60),
          outline: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0};
}
"""

TOKEN = re.compile(r"/l/[A-Za-z0-9_\-]{20,}")
NUMBER = re.compile(r"/\d+(?=/|$|\?|#)")


def page_pattern(url: str) -> str:
    """The page's path with ids and tokens masked: /couples/<id>/reports/<id>."""
    path = re.sub(r"^https?://[^/]+", "", url).split("#")[0]
    return NUMBER.sub("/<id>", TOKEN.sub("/l/<token>", path)) or "/"


def focus_problem(page) -> str | None:
    """Why the focused element shows no visible focus, or None when it does."""
    focus = page.evaluate(FOCUS_STYLE)
    if focus is None:
        return "nothing has the focus"
    if focus["outline"] == "none" or focus["width"] <= 0:
        return f"no visible outline on the focused {focus['tag']} {focus['text']!r}: {focus}"
    return None


@dataclass
class PageCheck:
    step: str
    pattern: str
    title: str
    failing: list[dict]
    other: list[dict]


@dataclass
class AccessibilityLog:
    checks: list[PageCheck] = field(default_factory=list)
    engine: str = "axe-core"

    def check(self, page, step: str, *, axe_page=None) -> PageCheck:
        """Run every check on the page as it is; fail on a serious or critical finding.

        axe is a script that waits on timers, so it cannot run in a page without JavaScript
        (it would wait for ever); such a page passes the same page opened with scripts on.
        """
        options = {"resultTypes": ["violations"]}
        options["rules"] = {rule: {"enabled": True} for rule in ENABLED_RULES}
        options["rules"].update({rule: {"enabled": False} for rule in DISABLED_RULES})
        results = _axe.run(axe_page or page, options=options).response
        engine = results.get("testEngine") or {}
        self.engine = f"{engine.get('name', 'axe-core')} {engine.get('version', '')}".strip()
        failing = [v for v in results["violations"] if v["impact"] in FAILING_IMPACTS]
        other = [v for v in results["violations"] if v["impact"] not in FAILING_IMPACTS]
        record = PageCheck(step, page_pattern(page.url), page.title(), failing, other)
        self.checks.append(record)
        problems = [_describe(v) for v in failing]
        problems += [f"form control without a label: {html}" for html in page.evaluate(UNLABELLED_CONTROLS)]
        problems += [f"chart without a text table: {name}" for name in page.evaluate(CHARTS_WITHOUT_TABLES)]
        problems += [
            f"target smaller than {MIN_TARGET} x {MIN_TARGET} px: {what}"
            for what in page.evaluate(SMALL_TARGETS, MIN_TARGET)
        ]
        assert not problems, f"accessibility problems on {step} ({record.pattern}):\n" + "\n".join(problems)
        return record

    def write(self, path: Path) -> None:
        distinct = sorted({f"- `{c.pattern}` ({c.title})" for c in self.checks})
        lines = [
            "# Pages checked with axe-core",
            "",
            f"{self.engine}: {len(self.checks)} checks of {len(distinct)} distinct pages; "
            "a serious or critical finding fails the run.",
            "",
        ]
        if DISABLED_RULES:
            lines += ["Rules left out:", *(f"- {rule}: {why}" for rule, why in DISABLED_RULES.items()), ""]
        else:
            lines += ["Rules left out: none (every axe-core rule ran).", ""]
        lines += ["Rules switched on (off by default):", *(f"- {r}: {why}" for r, why in ENABLED_RULES.items()), ""]
        lines += ["| step | page | title | serious/critical | other findings |", "|---|---|---|---|---|"]
        for c in self.checks:
            other = ", ".join(f"{v['id']} ({v['impact']})" for v in c.other) or "—"
            failing = ", ".join(f"{v['id']} ({v['impact']})" for v in c.failing) or "none"
            lines.append(f"| {c.step} | `{c.pattern}` | {c.title} | {failing} | {other} |")
        lines += ["", "Distinct pages:", *distinct]
        path.write_text("\n".join(lines) + "\n")


def _describe(violation: dict) -> str:
    nodes = "; ".join(
        f"{', '.join(map(str, n['target']))}: {n.get('failureSummary', '').replace(chr(10), ' ')}"
        for n in violation["nodes"][:5]
    )
    return f"[{violation['impact']}] {violation['id']}: {violation['help']} -> {nodes}"
