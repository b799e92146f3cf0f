"""Clean HTML: every page the browser journeys were served passes the Nu Html Checker with no
error. The pages are kept as served by every browser context (tests/browser/conftest.py);
this test runs after all the others and checks them in one Java process. The checker itself
is tested first, on a page with known mistakes, so that a silent checker cannot pass."""

from __future__ import annotations

import pytest
from flask import render_template

from tests.browser import html_check
from tests.browser.a11y import page_pattern
from tests.browser.conftest import HTML_CHECK_TEST, in_ci
from tests.browser.html_check import ServedPages, without_checker

# Pages a browser shows too briefly to keep (the body is gone when its response is reported),
# by address: each is rendered here, from the template its view renders, and checked with the rest.
RENDERED_HERE = {
    # "Leave this page" without JavaScript: a page that refreshes to the neutral site at once.
    "POST /q/leave": ("client/leaving.html", {"target": "https://weather.example/today"}),
}

BROKEN = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><main>
<form method="post"><input type="hidden" name="csrf_token" id="csrf_token" value="a"></form>
<form method="post"><input type="hidden" name="csrf_token" id="csrf_token" value="b"></form>
<table><tr role="row"><td role="cell">1</td></tr></table>
<label for="s">Size</label><select id="s" name="s" required><option value="a4">A4</option></select>
</main></body></html>
"""
CLEAN = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clean</title></head>
<body><main><h1>Clean</h1><p>Nothing wrong here.</p></main></body></html>
"""


def _needs_the_checker() -> None:
    missing = without_checker()
    if missing:
        action, why = missing
        if action == "fail":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)


@pytest.mark.parametrize(("ci", "action"), [(None, "skip"), ("0", "skip"), ("1", "fail"), ("true", "fail")])
def test_a_missing_checker_is_skipped_only_outside_ci(tmp_path, ci, action):
    environ = {} if ci is None else {"CI": ci}
    decided, why = without_checker(environ, jar=tmp_path / "no-vnu.jar", java="no-such-java")
    assert decided == action
    assert "no-vnu.jar" in why and "no-such-java" in why and "default-jre-headless" in why


def test_the_checker_finds_the_mistakes_of_a_broken_page(tmp_path):
    """One Java run over a broken and a clean page: the broken page's errors, each with its
    page and line, and nothing on the clean one."""
    _needs_the_checker()
    pages = ServedPages(tmp_path / "html", "http://127.0.0.1:1")
    broken = pages.add(BROKEN, "http://127.0.0.1:1/broken")
    clean = pages.add(CLEAN, "http://127.0.0.1:1/clean")
    assert pages.add(CLEAN, "http://127.0.0.1:1/again") is clean  # the same body is kept once
    findings = html_check.check([pages.folder / p.file for p in pages.pages])
    assert {f.file for f in findings} == {str((pages.folder / broken.file).resolve())}
    said = "\n".join(html_check.describe(pages, findings))
    assert "Duplicate ID “csrf_token”" in said
    assert "GET /broken (200, 0001-broken.html) line 5:" in said
    assert "role" in said and "select" in said
    assert "| 0001-broken.html | GET | 200 | /broken |" in html_check.report(pages, findings)


def _kind(method: str, url: str) -> str:
    return f"{method} {page_pattern(url)}"


@pytest.mark.browser
def test_every_page_served_is_valid_html(served_pages: ServedPages, app):
    """Zero errors from the Nu Html Checker on every page the journeys were served. The list
    of pages and anything found is kept in build/html/<database>/vnu.md."""
    assert test_every_page_served_is_valid_html.__name__ == HTML_CHECK_TEST
    if not served_pages.pages:
        why = "no browser journey ran in this session, so no page was served to check"
        if in_ci():
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    _needs_the_checker()
    # A page whose body was gone before it could be kept must be checked some other way: the
    # same kind of page kept another time, or rendered here.
    kept = {_kind(p.method, p.url) for p in served_pages.pages}
    unchecked = sorted({_kind(p.method, p.url) for p in served_pages.lost} - kept - set(RENDERED_HERE))
    assert not unchecked, "pages served but never kept, so never checked:\n" + "\n".join(unchecked)
    for kind, (template, context) in RENDERED_HERE.items():
        method, path = kind.split(" ", 1)
        with app.test_request_context(path, method=method):
            html = render_template(template, **context)
        served_pages.add(html.encode(), served_pages.origin + path, f"{method} (rendered here)")
    files = [served_pages.folder / p.file for p in served_pages.pages + served_pages.shown]
    findings = html_check.check(files)
    (served_pages.folder / "vnu.md").write_text(html_check.report(served_pages, findings, html_check.version()))
    assert not findings, (
        f"{len(findings)} HTML errors on {len({f.file for f in findings})} of {len(files)} pages:\n"
        + ("\n".join(html_check.describe(served_pages, findings)))
    )
