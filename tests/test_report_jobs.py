"""Report jobs that never finish: lost, timed out or killed. Each ends as a failed report the
therapist can try again, never a page that prepares forever; and RQ workers load the app and
WeasyPrint once, before they fork a process per job. (Jobs Redis refuses, and the sweep of
stuck reports: tests/test_report_resilience.py.)"""

import contextvars
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import has_app_context

from clinic.config import TESTING_SECRET
from clinic.db_types import utcnow
from clinic.models import Report, ReportStatus
from clinic.reports import jobs
from tests import test_reports
from tests.conftest import login
from tests.test_reports import ask, wait_until_done

# The same couple and the same fresh queue on the real Redis as tests/test_reports.py.
answered = test_reports.answered
redis_queue = test_reports.redis_queue

ROOT = Path(__file__).resolve().parents[1]
RQ = str(Path(sys.executable).with_name("rq"))


def status_of(db, report_id):
    db.session.expire_all()
    return db.session.scalar(sa.select(Report.status).where(Report.id == report_id))


def age(db, report_id, app, status=None):
    """Make a row look as if it was asked for longer ago than any job may run."""
    values = {"requested_at": utcnow() - timedelta(seconds=app.config["REPORT_JOB_TIMEOUT"] + 5)}
    if status is not None:
        values["status"] = status
    db.session.execute(sa.update(Report).where(Report.id == report_id).values(**values))
    db.session.commit()


@pytest.fixture
def lost_jobs(monkeypatch):
    """The in-process pool accepts jobs and never runs them (as after a web restart)."""
    monkeypatch.setattr(jobs, "_run_in_app", lambda app, report_id: None)
    return monkeypatch


def test_a_lost_job_shows_as_failed_once_it_is_older_than_the_job_timeout(app, client, answered, db, lost_jobs):
    owner, couple = answered
    browser = login(client, owner)
    first = ask(browser, couple)
    assert status_of(db, first) == ReportStatus.QUEUED
    # Within the timeout it is still being prepared, and asking again finds it.
    assert ask(browser, couple) == first
    page = browser.get(f"/couples/{couple.id}/reports/{first}").get_data(as_text=True)
    assert "Preparing your PDF" in page and 'data-report-status="pending"' in page

    age(db, first, app)
    page = browser.get(f"/couples/{couple.id}/reports/{first}").get_data(as_text=True)
    assert "could not be made" in page and "Try again" in page
    assert 'data-report-status="pending"' not in page and "Preparing your PDF" not in page
    assert status_of(db, first) == ReportStatus.FAILED

    # Try again (with working jobs): a new report, rendered.
    lost_jobs.undo()
    second = ask(browser, couple)
    assert second != first
    assert wait_until_done(db, second) == ReportStatus.READY


@pytest.mark.parametrize("status", [ReportStatus.QUEUED, ReportStatus.RENDERING])
def test_asking_again_for_a_stale_row_makes_a_new_job(app, client, answered, db, lost_jobs, status):
    owner, couple = answered
    browser = login(client, owner)
    first = ask(browser, couple)
    # Claimed by a worker that was then killed, or never picked up at all.
    age(db, first, app, status=status)
    lost_jobs.undo()
    second = ask(browser, couple)
    assert second != first
    assert wait_until_done(db, second) == ReportStatus.READY
    assert ask(browser, couple) == second  # and that one is kept


# --- RQ on the real Redis: failure callback, timeouts, killed work horses -----------------


@pytest.fixture
def report_worker(app, db, redis_queue):
    """Run a ReportWorker (it forks a process per job) over the test queue until it is empty,
    as `rq worker` runs it: with no app context of its own, only the app it was given."""

    def work():
        db.session.commit()  # no read transaction held across the fork
        worker = jobs.ReportWorker([redis_queue], connection=redis_queue.connection, app=app)
        # An empty contextvars.Context: the test's own app context is not there.
        contextvars.Context().run(worker.work, burst=True)

    return work


def test_a_job_that_raises_outside_the_renderer_is_marked_failed(
    client, answered, db, redis_queue, report_worker, monkeypatch
):
    def broken(report_id):
        raise RuntimeError("no database")

    monkeypatch.setattr(jobs, "render_report", broken)
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    assert redis_queue.count == 1
    report_worker()
    assert status_of(db, report_id) == ReportStatus.FAILED


def test_a_job_that_times_out_is_marked_failed(app, client, answered, db, redis_queue, report_worker, monkeypatch):
    monkeypatch.setattr(jobs, "render_report", lambda report_id: time.sleep(30))
    monkeypatch.setitem(app.config, "REPORT_JOB_TIMEOUT", 1)
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    started = time.monotonic()
    report_worker()
    assert time.monotonic() - started < 20
    assert status_of(db, report_id) == ReportStatus.FAILED


def test_a_job_whose_process_is_killed_is_marked_failed(client, answered, db, redis_queue, report_worker, monkeypatch):
    # As the OOM killer, or RQ's own kill of a horse stuck in C code, would end it.
    monkeypatch.setattr(jobs, "render_report", lambda report_id: os.kill(os.getpid(), signal.SIGKILL))
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    report_worker()
    assert status_of(db, report_id) == ReportStatus.FAILED


def test_report_worker_jobs_use_the_workers_app_not_a_new_one(
    client, answered, db, redis_queue, report_worker, monkeypatch
):
    import clinic

    def no_app(*args, **kwargs):
        raise AssertionError("a job built its own app")

    owner, couple = answered
    first, second = ask(login(client, owner), couple), ask(login(client, owner), couple, kind="summary")
    monkeypatch.setattr(clinic, "create_app", no_app)  # the forked jobs inherit this
    report_worker()
    assert status_of(db, first) == ReportStatus.READY
    assert status_of(db, second) == ReportStatus.READY
    assert redis_queue.count == 0


# --- plain `rq worker -w clinic.reports.jobs.ReportWorker`, as an operator runs it -----------


def what_the_job_found() -> dict:
    """A job: was WeasyPrint imported before it started, and is it in an app's context
    (so render_report_job would not build an app of its own)?"""
    return {"weasyprint": "weasyprint" in sys.modules, "app_context": has_app_context()}


def run_rq_worker(database_url, queue_name, *worker_class):
    env = {
        **os.environ,
        "TANDEM_ENV": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": TESTING_SECRET,  # the same derived data key as the test app
        "DATA_KEYS": "",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    command = [RQ, "worker", *worker_class, "--burst", "--url", env["REDIS_URL"], queue_name]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    ("worker_class", "preloaded"), [(["-w", "clinic.reports.jobs.ReportWorker"], True), ([], False)]
)
def test_plain_rq_worker_with_the_report_worker_class(
    client,
    answered,
    db,
    redis_queue,
    database_url_for_tests,
    worker_class,
    preloaded,
):
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    probe = redis_queue.enqueue(what_the_job_found, result_ttl=60)
    db.session.commit()
    run_rq_worker(database_url_for_tests, redis_queue.name, *worker_class)
    # Each job runs in a fresh fork: only the report worker's jobs start with WeasyPrint
    # loaded and the worker's app in place.
    assert probe.latest_result().return_value == {"weasyprint": preloaded, "app_context": preloaded}
    assert status_of(db, report_id) == ReportStatus.READY
    db.session.expire_all()
    assert db.session.get(Report, report_id).pdf.startswith(b"%PDF")


def test_report_worker_loads_weasyprint_in_the_parent(app):
    # A fresh interpreter: building the worker imports WeasyPrint, before any job.
    code = (
        "import sys\n"
        "from redis import Redis\n"
        "from clinic.reports.jobs import ReportWorker\n"
        "assert 'weasyprint' not in sys.modules\n"
        "ReportWorker(['q'], connection=Redis.from_url('redis://127.0.0.1:6379/15'))\n"
        "assert 'weasyprint' in sys.modules\n"
        "print('ok')\n"
    )
    env = {**os.environ, "TANDEM_ENV": "development", "DATABASE_URL": "sqlite://", "SECRET_KEY": TESTING_SECRET}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_a_stale_page_view_never_undoes_a_pdf_that_was_just_finished(app, client, answered, db, lost_jobs):
    """The page read the row as still rendering, the worker finished a moment later: the
    finished PDF stays ready (the stale check is a conditional update, not a blind write)."""
    owner, couple = answered
    browser = login(client, owner)
    report_id = ask(browser, couple)
    age(db, report_id, app, status=ReportStatus.RENDERING)
    report = db.session.get(Report, report_id)
    assert jobs.is_stale(report)  # what the page saw
    # The worker finishes in between (another connection).
    with db.engine.begin() as conn:
        conn.execute(sa.update(Report).where(Report.id == report_id).values(status=ReportStatus.READY, pdf=None))
    assert jobs.expire_if_stale(report) is False
    db.session.commit()
    assert status_of(db, report_id) == ReportStatus.READY


def test_a_job_reached_after_the_time_limit_is_not_rendered(app, client, answered, db, lost_jobs):
    """Its page already says it failed and offers to try again: rendering it now would only
    add a second render beside the retry."""
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    age(db, report_id, app)
    lost_jobs.undo()
    jobs.render_report(report_id)
    assert status_of(db, report_id) == ReportStatus.QUEUED  # not claimed, not rendered
    assert db.session.scalar(sa.select(Report.pdf).where(Report.id == report_id)) is None
