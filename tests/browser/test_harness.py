"""The browser harness itself: a missing Chromium is skipped on a developer's machine and
fails, loudly, in CI (where `.ci/run` exports CI=1). No browser is started here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.browser.conftest import REPO, without_chromium

PROBE = """
def test_needs_the_browser(chromium):
    pass
"""


@pytest.mark.parametrize(
    ("ci", "action"),
    [(None, "skip"), ("", "skip"), ("0", "skip"), ("false", "skip"), ("1", "fail"), ("true", "fail")],
)
def test_a_missing_chromium_is_skipped_only_outside_ci(tmp_path, ci, action):
    environ = {} if ci is None else {"CI": ci}
    missing = str(tmp_path / "no-chromium")
    decided, why = without_chromium(missing, environ)
    assert decided == action
    assert missing in why
    # A file that is there but cannot be run is no browser either.
    (tmp_path / "no-chromium").write_text("")
    assert without_chromium(missing, environ)[0] == action


def test_an_installed_chromium_is_used(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    assert without_chromium(str(browser), {"CI": "1"}) is None


def test_ci_fails_the_run_when_chromium_is_missing(tmp_path):
    """The real pytest, with CI=1 and no browser: the run fails and says why."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"}}
    env.update(CI="1", CHROMIUM=str(tmp_path / "no-chromium"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.browser.conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_probe.py"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "1 error" in output and "1 skipped" not in output, output
    assert f"Chromium is not installed at {tmp_path / 'no-chromium'}" in output and "CI is set" in output, output


WIDE_PAGE = """<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0 } .scroll { overflow-x: auto } .skip-link { position: absolute; left: -999px }</style>
<a class="skip-link" href="#main">Skip to main content</a>
<h1 id="main">A page</h1>
<div class="scroll"><table><tr><td style="min-width: 900px"><a href="#x">far in a scrolling box</a></td></tr></table></div>
%s
"""


@pytest.mark.browser
@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("", None),
        ('<div style="width: 500px">a wide block</div>', "the page is 500px wide in a 360px viewport"),
        ('<button style="position: relative; left: 340px">Send</button>', "button Send spans"),
        ('<div style="overflow: hidden"><input style="width: 600px" aria-label="x"></div>', "input"),
        # In the page's main part nothing may scroll sideways, not even inside its own box.
        (
            '<main><div style="overflow-x: auto"><table><tr><td style="min-width: 900px">x</td></tr></table></div></main>',
            "div. scrolls sideways (",
        ),
    ],
)
def test_the_layout_check_finds_what_does_not_fit(chromium, extra, problem):
    """The 360 px check of every journey step can fail: a wide block, a control pushed off
    the edge or cut off by its box, a box in the page's main part that scrolls sideways; the
    skip link is fine (and, outside the main part, a table scrolling in its own box)."""
    from tests.browser.journeys import LAYOUT_PROBLEMS

    context = chromium.new_context(viewport={"width": 360, "height": 640})
    try:
        page = context.new_page()
        page.set_content(WIDE_PAGE % extra)
        problems = page.evaluate(LAYOUT_PROBLEMS, 360)
    finally:
        context.close()
    if problem is None:
        assert problems == []
    else:
        assert any(p.startswith(problem) for p in problems), problems
