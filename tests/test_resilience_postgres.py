"""PostgreSQL kills the app's connections while it serves (a restart, a failover, an operator's
pg_terminate_backend): every request answers 200 or 503 with Retry-After, never 500; the app
recovers without a restart; and no answer the app acknowledged is lost.

These run on the PostgreSQL pass of `make test` only: SQLite has no connections to kill.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from clinic.errors import RETRY_AFTER_SECONDS
from clinic.extensions import db as _db
from tests.conftest import TEST_DB_URL, is_postgres
from tests.test_client import CHOICE_IDS, invitation_of, open_link, page_csrf, stored

pytestmark = pytest.mark.skipif(not is_postgres(), reason="kills PostgreSQL connections (the PostgreSQL run)")

ITEMS = CHOICE_IDS["connection"]


def admin_engine() -> sa.Engine:
    """A connection of the test's own, outside the app's pool, that does the killing."""
    return sa.create_engine(TEST_DB_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def autosave(browser, csrf: str, answers: list[tuple[str, int]]):
    body = {"answers": [{"instrument": "connection", "item": item, "value": value} for item, value in answers]}
    return browser.post("/q/autosave", json=body, headers={"X-CSRFToken": csrf})


@pytest.fixture
def partners(make_practice, make_couple, make_assessment, make_client, db):
    """Four partners (two couples) on their links: (browser, csrf, invitation id) each."""
    owner = make_practice()
    found = []
    for _ in range(2):
        assessment, tokens = make_assessment(make_couple(owner))
        for position in (1, 2):
            browser = open_link(make_client, tokens[position])
            found.append((browser, page_csrf(browser), invitation_of(db, assessment, position).id))
    return found


def test_a_connection_killed_in_the_middle_of_an_autosave_answers_503_and_the_next_one_works(app, partners, db):
    browser, csrf, invitation_id = partners[0]
    assert autosave(browser, csrf, [("heard_1", 4)]).status_code == 200
    killed: list[int] = []
    killer = admin_engine()

    def kill_then_run(cursor, statement, parameters, context):
        # Just before the answers are written, the server ends this very connection.
        if not killed and statement.startswith("INSERT INTO answer"):
            pid = cursor.connection.info.backend_pid
            with killer.connect() as conn:
                assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)

    with app.app_context():
        dialect = _db.engine.dialect
    for event in ("do_execute", "do_executemany"):
        sa.event.listen(dialect, event, kill_then_run)
    try:
        response = autosave(browser, csrf, [("heard_1", 1), ("heard_2", 2)])
    finally:
        for event in ("do_execute", "do_executemany"):
            sa.event.remove(dialect, event, kill_then_run)
        killer.dispose()
    assert killed, "the connection was never killed"
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.get_json()["retry_after"] == RETRY_AFTER_SECONDS
    # Not acknowledged, and not written: the transaction died with its connection.
    assert stored(db, invitation_id) == {("connection", "heard_1"): 4}
    # The same process, the same pool: the next save works, and so do the pages.
    assert autosave(browser, csrf, [("heard_1", 1), ("heard_2", 2)]).status_code == 200
    assert browser.get("/q/1").status_code == 200
    assert stored(db, invitation_id) == {("connection", "heard_1"): 1, ("connection", "heard_2"): 2}


def test_connections_killed_again_and_again_under_load_lose_no_acknowledged_answer(app, partners, db):
    """Four partners save answers as fast as they can while the server's connections are killed
    every 20 ms for a while. Every response is 200 or 503 (with Retry-After); afterwards every
    save works again; and each answer holds the last value the app acknowledged for it, or a
    later one that was sent and not acknowledged (its transaction may have committed before its
    connection died)."""
    stop = threading.Event()
    calm = threading.Event()
    problems: list[BaseException] = []
    # Per partner and item: the values sent, in order, each with its status.
    sent: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    after_calm: dict[int, list[int]] = defaultdict(list)
    retry_after: set[str] = set()

    def partner(browser, csrf, invitation_id, seed):
        chooser = random.Random(seed)
        try:
            while not stop.is_set():
                quiet = calm.is_set()
                answers = [(item, chooser.randint(1, 5)) for item in chooser.sample(ITEMS, chooser.choice((1, 1, 3)))]
                response = autosave(browser, csrf, answers)
                for item, value in answers:
                    sent[invitation_id][item].append((value, response.status_code))
                if response.status_code == 503:
                    retry_after.add(response.headers.get("Retry-After"))
                if quiet:
                    after_calm[invitation_id].append(response.status_code)
        except BaseException as exc:  # a 500 propagates in testing mode: keep it for the assertion
            problems.append(exc)

    def kill_everything_but_me(conn) -> int:
        return len(
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            ).all()
        )

    db.session.remove()  # the test's own session holds no connection for the killer to end
    threads = [
        threading.Thread(target=partner, args=(*found, seed), daemon=True) for seed, found in enumerate(partners)
    ]
    for thread in threads:
        thread.start()
    killer = admin_engine()
    kills = 0
    try:
        time.sleep(0.3)
        with killer.connect() as conn:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                kills += kill_everything_but_me(conn)
                time.sleep(0.02)
        time.sleep(0.3)  # the pool finds its feet
        calm.set()
        time.sleep(0.7)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        killer.dispose()

    assert not problems, problems[:3]
    statuses = [status for items in sent.values() for history in items.values() for _, status in history]
    assert kills > 0
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert 503 in statuses, "no request was caught by a kill: the test proved nothing"
    print(f"{len(statuses)} answers sent, {statuses.count(503)} in 503s, {kills} connections killed")
    assert retry_after == {str(RETRY_AFTER_SECONDS)}
    # Recovered without a restart: once the killing stopped, every save worked.
    for invitation_id, seen in after_calm.items():
        assert seen and set(seen) == {200}, (invitation_id, seen[:10])

    for _browser, _csrf, invitation_id in partners:
        saved = stored(db, invitation_id)
        for item, history in sent[invitation_id].items():
            acknowledged = [n for n, (_, status) in enumerate(history) if status == 200]
            if not acknowledged:
                continue
            last = acknowledged[-1]
            allowed = {value for value, _ in history[last:]}
            assert saved.get(("connection", item)) in allowed, (invitation_id, item, history[last:])
