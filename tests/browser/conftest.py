"""The real app in its own process, Debian's Chromium driven by Playwright, and the
helpers every journey step uses: a kept full-page screenshot and an accessibility check.

The server is gunicorn from the venv on a free loopback port, on a database of its own:
a fresh SQLite file, or (when TANDEM_TEST_DB names PostgreSQL, as in `make test`'s second
run) a fresh database created beside the suite's one. It is migrated and given the demo
practice and a practice of its own by the CLI, exactly as a person would.

Screenshots land in build/screenshots/<database>/<journey>/<nn>-<step>.png (git ignores
build/); the accessibility findings of the run go to build/screenshots/<database>/axe.md.
Every HTML page the server sends any browser context is kept in build/html/<database>/, and
the last browser test puts them all through the Nu Html Checker (tests/browser/html_check.py).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic.cli import DEMO_EMAIL, DEMO_PASSWORD
from clinic.config import database_url
from tests.browser.a11y import AccessibilityLog
from tests.browser.html_check import ServedPages

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Never a browser of Playwright's own: Debian's Chromium, with everything that phones home off.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The suite's database for the PostgreSQL run; the server gets a database of its own beside it.
SUITE_DB = database_url(os.environ.get("TANDEM_TEST_DB"))
BACKEND = "postgresql" if SUITE_DB and SUITE_DB.startswith("postgresql") else "sqlite"
SHOTS = REPO / "build" / "screenshots" / BACKEND
SERVED = REPO / "build" / "html" / BACKEND
# The test that checks every page served; it runs after every other test (see below).
HTML_CHECK_TEST = "test_every_page_served_is_valid_html"
SERVER_START_SECONDS = 30
# A last resort against a hung page (an evaluate has no timeout of its own): no test takes a
# tenth of this, and every wait inside a test has its own, much shorter, timeout.
TEST_DEADLINE_SECONDS = 240

# The journey's therapist: a practice of their own, far from UTC so that a date shown in
# UTC instead of the practice's time zone cannot pass for the right one.
THERAPIST = {
    "practice": "Quiet Harbour Therapy",
    "name": "Dr. Ada Brook",
    "email": "ada.brook@example.org",
    "password": "browser-journey-password",
    "credential": "LMFT",
    "timezone": "Pacific/Auckland",
}
DEMO = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the real app in Chromium (tests/browser; make test-browser)")


def pytest_collection_modifyitems(session, config, items):
    """The HTML check goes last, whatever the order of the files: it checks the pages every
    other browser test was served."""
    last = [item for item in items if item.originalname == HTML_CHECK_TEST]
    items[:] = [item for item in items if item.originalname != HTML_CHECK_TEST] + last


@dataclass
class Server:
    url: str
    port: int
    outbox: Path
    log: Path
    process: subprocess.Popen
    env: dict = field(repr=False, default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fresh_database(tmp: Path) -> str:
    """A database nobody else uses: a new SQLite file, or a new PostgreSQL database."""
    if BACKEND == "sqlite":
        return "sqlite:///" + str(tmp / "browser.db")
    url = sa.engine.make_url(SUITE_DB)
    name = f"{url.database}_browser"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(db_url: str) -> None:
    if BACKEND != "postgresql":
        return
    url = sa.engine.make_url(db_url)
    engine = sa.create_engine(url.set(database=sa.engine.make_url(SUITE_DB).database), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    engine.dispose()


def _flask(env: dict, *args: str, stdin: str | None = None) -> str:
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run(
        [str(flask), "--app", "wsgi", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"flask {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server stopped while starting:\n{server.log_tail()}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            if response.status == 200 and json.load(response) == {"status": "ok"}:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz within {SERVER_START_SECONDS}s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Tandem served by gunicorn from the venv, migrated and seeded through its CLI."""
    tmp = tmp_path_factory.mktemp("browser-server")
    port = _free_port()
    db_url = _fresh_database(tmp)
    outbox = tmp / "outbox"
    outbox.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TANDEM_TEST_DB", "TEST_DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "FLASK_DEBUG"}
    }
    env.update(
        TANDEM_ENV="development",
        DATABASE_URL=db_url,
        BASE_URL=f"http://127.0.0.1:{port}",
        MAIL_OUTBOX=str(outbox),
        PYTHONUNBUFFERED="1",
    )
    _flask(env, "db", "upgrade")
    _flask(env, "seed-demo")
    _flask(
        env,
        "create-practice",
        "--name",
        THERAPIST["practice"],
        "--owner-name",
        THERAPIST["name"],
        "--email",
        THERAPIST["email"],
        "--credential",
        THERAPIST["credential"],
        "--timezone",
        THERAPIST["timezone"],
        "--password-stdin",
        stdin=THERAPIST["password"] + "\n",
    )
    log = tmp / "server.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(gunicorn), "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(url=f"http://127.0.0.1:{port}", port=port, outbox=outbox, log=log, process=process, env=env)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        _drop_database(db_url)


def in_ci(environ=os.environ) -> bool:
    """Whether this run is CI's: `.ci/run` exports CI=1 (as most CI services do). An empty
    value, 0, false, no or off means it is not."""
    return environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}


def without_chromium(path: str, environ=os.environ) -> tuple[str, str] | None:
    """What to do when the browser cannot be found: None when it is there; ("skip", why)
    on a developer's machine; ("fail", why) in CI, where the journeys must run."""
    if Path(path).is_file() and os.access(path, os.X_OK):
        return None
    why = f"Chromium is not installed at {path} (apt-get install chromium)"
    if in_ci(environ):
        return "fail", f"{why}; CI is set, so the browser journeys must run, not be skipped"
    return "skip", why


@pytest.fixture(scope="session")
def chromium(request):
    """Debian's Chromium under Playwright (never a downloaded browser). Every context made
    from it keeps the HTML pages the live server sends it (see `served_pages`)."""
    missing = without_chromium(CHROMIUM)
    if missing:
        action, why = missing
        if action == "fail":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    served = request.getfixturevalue("served_pages")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        new_context = browser.new_context

        def watched_context(*args, **kwargs):
            context = new_context(*args, **kwargs)
            served.watch(context)
            return context

        def watched_page(*args, **kwargs):
            context = watched_context(*args, **kwargs)
            page = context.new_page()
            page.once("close", lambda _: context.close())  # as browser.new_page's own context does
            return page

        # Every context, however a test makes it (browser.new_page makes one too), is watched.
        browser.new_context = watched_context
        browser.new_page = watched_page
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def served_pages(live_server):
    """Every HTML page the live server sent a browser in this run, as sent (build/html/)."""
    return ServedPages(SERVED, live_server.url)


@pytest.fixture(scope="session")
def shots_root():
    """The run's screenshot folder, emptied first so that nothing stale is left to mislead."""
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS


@pytest.fixture(scope="session")
def a11y(shots_root):
    """Every page checked by axe in this run; the list is written out at the end."""
    log = AccessibilityLog()
    yield log
    log.write(shots_root / "axe.md")


@pytest.fixture(scope="session")
def journey(shots_root, a11y, served_pages):
    """Factory: the steps of one journey, kept under build/screenshots/ (and build/html/)."""
    from tests.browser.journeys import Journey

    return lambda name: Journey(shots_root, name, a11y, served_pages)


@pytest.fixture(autouse=True)
def deadline():
    """Stop a browser test that runs far over its time instead of hanging the suite."""

    def overrun(signum, frame):
        raise TimeoutError(f"a browser test ran over {TEST_DEADLINE_SECONDS} s (a hung page?)")

    previous = signal.signal(signal.SIGALRM, overrun)
    signal.alarm(TEST_DEADLINE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
