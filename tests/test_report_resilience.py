"""Reports when Redis or a worker lets them down: a job Redis refuses renders in the web
process instead; one neither can take fails at once with a plain page and Try again; and a
report whose job died is marked failed by the sweep (`flask sweep-reports`, a worker's
start-up) without anyone opening it, while fresh and finished reports are left alone."""

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from clinic import create_app
from clinic.config import TestConfig, database_url
from clinic.db_types import utcnow
from clinic.models import Report, ReportKind, ReportStatus
from clinic.reports import jobs
from tests import test_report_jobs, test_reports
from tests.conftest import login
from tests.test_report_jobs import run_rq_worker, status_of
from tests.test_reports import ask, wait_until_done

answered = test_reports.answered
redis_queue = test_reports.redis_queue
report_worker = test_report_jobs.report_worker

# Nothing listens on port 1; the password must never reach a log or a page.
DEAD_REDIS = "redis://:hunter2-redis@127.0.0.1:1/0"


def job_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == jobs.__name__ and r.levelno >= logging.WARNING]


def assert_no_names_or_secrets(text: str) -> None:
    for secret in ("Robin", "Sasha", "hunter2", "redis://", "127.0.0.1"):
        assert secret not in text


@pytest.fixture
def refusing_pool(monkeypatch):
    """The in-process pool refuses new work, as it does while the process shuts down."""
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    monkeypatch.setattr(jobs, "_local_pool", pool)
    return monkeypatch


# --- Redis refuses: the in-process pool renders instead ------------------------------------


def test_with_redis_unreachable_the_report_is_rendered_in_process(app, client, answered, db, monkeypatch, caplog):
    owner, couple = answered
    browser = login(client, owner)
    monkeypatch.setitem(app.config, "REDIS_URL", DEAD_REDIS)
    with caplog.at_level(logging.WARNING, logger=jobs.__name__):
        response = browser.post_form(f"/couples/{couple.id}/reports", {"kind": "clinician"})
    assert response.status_code == 302
    report_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert wait_until_done(db, report_id) == ReportStatus.READY

    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your PDF is ready" in page
    assert "could not be queued" not in page and "could not be made" not in page
    download = browser.get(f"/couples/{couple.id}/reports/{report_id}/download")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")

    # One warning, naming the report by its id only.
    warnings = job_warnings(caplog)
    assert len(warnings) == 1
    assert f"report {report_id}" in warnings[0] and "rendering it in this process" in warnings[0]
    assert_no_names_or_secrets(caplog.text)


def test_once_redis_answers_again_reports_go_back_to_its_queue(app, client, answered, db, redis_queue, monkeypatch):
    owner, couple = answered
    browser = login(client, owner)
    live = app.config["REDIS_URL"]
    monkeypatch.setitem(app.config, "REDIS_URL", DEAD_REDIS)
    during = ask(browser, couple)
    assert wait_until_done(db, during) == ReportStatus.READY
    assert redis_queue.count == 0

    monkeypatch.setitem(app.config, "REDIS_URL", live)
    after = ask(browser, couple, kind="summary")
    assert redis_queue.count == 1  # no memory of the outage: the next job goes to RQ
    assert status_of(db, after) == ReportStatus.QUEUED


# --- neither can take it: failed at once, said plainly, Try again -------------------------


@pytest.mark.parametrize("redis_url", [DEAD_REDIS, ""], ids=["redis-down", "no-redis"])
def test_a_report_nothing_can_queue_fails_at_once_and_says_so(
    app, client, answered, db, refusing_pool, caplog, redis_url
):
    owner, couple = answered
    browser = login(client, owner)
    refusing_pool.setitem(app.config, "REDIS_URL", redis_url)
    with caplog.at_level(logging.WARNING, logger=jobs.__name__):
        response = browser.post_form(f"/couples/{couple.id}/reports", {"kind": "clinician", "appendix": "y"})
    assert response.status_code == 302
    report_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert status_of(db, report_id) == ReportStatus.FAILED

    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "The PDF could not be queued" in page and "Try again" in page
    assert 'data-report-status="failed"' in page and "Preparing your PDF" not in page
    assert "report-status.js" not in page  # nothing left to poll for
    # Try again asks for the same PDF (with its appendix).
    assert 'name="kind" value="clinician"' in page and 'name="appendix" value="y"' in page

    warnings = job_warnings(caplog)
    assert len(warnings) == 1 and f"report {report_id} could not be queued" in warnings[0]
    assert_no_names_or_secrets(caplog.text)

    # The pool takes work again: Try again makes a new report, and it is rendered.
    refusing_pool.undo()
    again = ask(browser, couple, appendix="y")
    assert again != report_id
    assert wait_until_done(db, again) == ReportStatus.READY


# --- the stuck-report sweep ---------------------------------------------------------------


@pytest.fixture
def reports_of_every_age(app, answered, db):
    """Six reports of one couple: stuck ones (queued, rendering), and ones to leave alone
    (fresh queued, fresh rendering, an old finished one with its PDF, an old failed one)."""
    _, couple = answered
    lost = timedelta(seconds=app.config["REPORT_JOB_TIMEOUT"] + 60)
    long_ago = utcnow() - timedelta(days=2)
    rows = {
        "stuck queued": (ReportStatus.QUEUED, utcnow() - lost, None, None),
        "stuck rendering": (ReportStatus.RENDERING, utcnow() - lost, None, None),
        "fresh queued": (ReportStatus.QUEUED, utcnow(), None, None),
        "fresh rendering": (ReportStatus.RENDERING, utcnow() - timedelta(seconds=5), None, None),
        "old ready": (ReportStatus.READY, long_ago, b"%PDF-1.7 kept", long_ago + timedelta(seconds=3)),
        "old failed": (ReportStatus.FAILED, long_ago, None, long_ago + timedelta(seconds=3)),
    }
    ids = {}
    for name, (status, requested_at, pdf, finished_at) in rows.items():
        report = Report(
            couple_id=couple.id,
            kind=ReportKind.CLINICIAN,
            cache_key=name.replace(" ", "-").ljust(64, "0"),
            status=status,
            requested_at=requested_at,
            pdf=pdf,
            finished_at=finished_at,
        )
        db.session.add(report)
        db.session.flush()
        ids[name] = report.id
    db.session.commit()
    return couple, ids


def statuses(db, ids: dict) -> dict:
    return {name: status_of(db, report_id) for name, report_id in ids.items()}


EXPECTED_AFTER_SWEEP = {
    "stuck queued": ReportStatus.FAILED,
    "stuck rendering": ReportStatus.FAILED,
    "fresh queued": ReportStatus.QUEUED,
    "fresh rendering": ReportStatus.RENDERING,
    "old ready": ReportStatus.READY,
    "old failed": ReportStatus.FAILED,
}


def assert_left_alone(db, ids):
    """The finished and failed reports are untouched: the PDF is still there, their times too."""
    db.session.expire_all()
    ready = db.session.get(Report, ids["old ready"])
    assert ready.pdf == b"%PDF-1.7 kept" and ready.status == ReportStatus.READY
    failed = db.session.get(Report, ids["old failed"])
    assert failed.finished_at - failed.requested_at == timedelta(seconds=3)
    for name in ("stuck queued", "stuck rendering"):
        assert db.session.get(Report, ids[name]).finished_at is not None


def test_sweep_reports_command_fails_only_stuck_reports(app, client, reports_of_every_age, db, answered, caplog):
    couple, ids = reports_of_every_age
    with caplog.at_level(logging.WARNING, logger=jobs.__name__):
        result = app.test_cli_runner().invoke(args=["sweep-reports"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Marked 2 stuck reports as failed; their pages offer Try again."
    assert statuses(db, ids) == EXPECTED_AFTER_SWEEP
    assert_left_alone(db, ids)
    assert job_warnings(caplog) == ["2 stuck reports marked failed"]  # a count, no ids or names
    assert_no_names_or_secrets(caplog.text + result.output)

    # The therapist finds the swept report failed, with Try again, without any page having expired it.
    page = login(client, answered[0]).get(f"/couples/{couple.id}/reports/{ids['stuck rendering']}")
    text = page.get_data(as_text=True)
    assert "could not be made" in text and "Try again" in text and "Preparing your PDF" not in text

    # A second run finds nothing more to do.
    again = app.test_cli_runner().invoke(args=["sweep-reports"])
    assert again.exit_code == 0 and again.output.strip() == "No stuck reports."
    assert statuses(db, ids) == EXPECTED_AFTER_SWEEP


def test_sweep_reports_with_the_database_unreachable_says_so_and_exits_1():
    class Unreachable(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url("postgresql://tandem:hunter2-db@127.0.0.1:1/tandem")

    result = create_app(Unreachable).test_cli_runner().invoke(args=["sweep-reports"])
    assert result.exit_code == 1
    assert "The database could not be reached: no report was changed." in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_a_report_worker_sweeps_stuck_reports_as_it_starts(client, answered, reports_of_every_age, db, report_worker):
    owner, couple = answered
    _, ids = reports_of_every_age
    queued = ask(login(client, owner), couple)  # a live job in the worker's queue
    report_worker()
    assert statuses(db, ids) == EXPECTED_AFTER_SWEEP
    assert_left_alone(db, ids)
    assert status_of(db, queued) == ReportStatus.READY  # and then it works as usual


def test_flask_report_worker_sweeps_as_it_starts(app, reports_of_every_age, db, redis_queue, caplog):
    _, ids = reports_of_every_age
    db.session.commit()
    with caplog.at_level(logging.WARNING, logger=jobs.__name__):
        result = app.test_cli_runner().invoke(args=["report-worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert statuses(db, ids) == EXPECTED_AFTER_SWEEP
    assert "2 stuck reports marked failed" in job_warnings(caplog)


def test_rq_worker_with_the_report_worker_class_sweeps_as_it_starts(
    reports_of_every_age, db, redis_queue, database_url_for_tests
):
    # As an operator starts it: `rq worker -w clinic.reports.jobs.ReportWorker`, in its own process.
    _, ids = reports_of_every_age
    run_rq_worker(database_url_for_tests, redis_queue.name, "-w", "clinic.reports.jobs.ReportWorker")
    assert statuses(db, ids) == EXPECTED_AFTER_SWEEP
    assert_left_alone(db, ids)


def test_a_worker_whose_start_up_sweep_fails_still_renders(client, answered, db, report_worker, monkeypatch, caplog):
    def database_away():
        raise sa.exc.OperationalError("UPDATE report", {}, ConnectionError("gone"))

    monkeypatch.setattr(jobs, "sweep_stale_reports", database_away)
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    with caplog.at_level(logging.WARNING, logger=jobs.__name__):
        report_worker()
    assert status_of(db, report_id) == ReportStatus.READY
    assert "stuck reports not swept at start-up: OperationalError" in job_warnings(caplog)
