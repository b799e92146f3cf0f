"""Session-prep reports off the request path: ask, queue, render, keep, serve.

With REDIS_URL set, jobs go to an RQ queue and run in RQ workers on any machine:
`rq worker -w clinic.reports.jobs.ReportWorker --url $REDIS_URL tandem-reports`
or `flask --app wsgi report-worker`, both of which load the app and WeasyPrint
once, before the worker forks a process per job. Without REDIS_URL, a small
in-process thread pool runs them, so the SQLite default needs nothing more.
Either way the request only writes a row and returns.

Redis is an optimisation, not a dependency: when it refuses a job, the in-process
pool renders that report instead. Only a report neither can take (the web process
shutting down) is marked failed at once, and its page says it could not be queued.

A job can be lost without running its own error handling: RQ kills a work horse
that outlives its timeout, the kernel kills one that runs out of memory, a web
restart drops the in-process pool's queue. So a row waiting longer than
REPORT_JOB_TIMEOUT counts as failed (and asking again makes a new job), RQ's
failure callback and the worker's killed-horse hook mark the row failed, and
sweep_stale_reports() marks every such row failed without anyone opening it: a
report worker runs it as it starts, and `flask --app wsgi sweep-reports` daily.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from flask_login import current_user
from redis import Redis, RedisError
from rq import Callback, Queue, Worker
from sqlalchemy.orm import undefer

from clinic import audit
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Clinician, Couple, Practice, Report, ReportKind, ReportStatus
from clinic.results import load_couple_results

log = logging.getLogger(__name__)
JOB_PATH = "clinic.reports.jobs.render_report_job"
# Not done yet: a worker may still be on it (until it has been waiting too long).
PENDING = (ReportStatus.QUEUED, ReportStatus.RENDERING)
# A web request waits this long, at most, to reach Redis.
REDIS_TIMEOUT = 5
_local_pool: ThreadPoolExecutor | None = None
_local_pool_lock = threading.Lock()
# The app a ReportWorker loaded in its parent process; its forked jobs inherit it.
_worker_app: Flask | None = None


def _context(couple: Couple, kind: ReportKind, appendix: bool, note: str) -> dict:
    from clinic.reports.context import build_context

    practice = db.session.get(Practice, couple.practice_id)
    clinician = db.session.get(Clinician, couple.clinician_id)
    return build_context(
        load_couple_results(couple),
        practice=practice,
        clinician=clinician,
        kind=kind.value,
        appendix=appendix,
        generated_at=utcnow(),
        note=note,
    )


def stale_before() -> datetime:
    """Rows requested before this moment and still not done are taken as lost."""
    return utcnow() - timedelta(seconds=current_app.config["REPORT_JOB_TIMEOUT"])


def _stale_rows():
    """The rows is_stale() is true of, as a condition that checks the row as stored."""
    return sa.and_(Report.status.in_(PENDING), Report.requested_at < stale_before())


def is_stale(report: Report) -> bool:
    """Whether a queued or rendering report has waited longer than any job may run."""
    return report.status in PENDING and report.requested_at < stale_before()


def expire_if_stale(report: Report) -> bool:
    """Mark a report whose job was lost as failed (True if it was); the caller commits.

    Conditional on the row as stored: a worker that finished a moment ago keeps its PDF."""
    if not is_stale(report):
        return False
    expired = db.session.execute(
        sa.update(Report)
        .where(Report.id == report.id, _stale_rows())
        .values(status=ReportStatus.FAILED, finished_at=utcnow())
    )
    db.session.refresh(report, ["status", "finished_at"])
    return expired.rowcount == 1


def request_report(couple: Couple, *, kind: ReportKind, appendix: bool, note: str = "") -> tuple[Report, bool]:
    """The report for the couple's current data: an existing one if nothing changed, else a
    new queued one. Returns (report, needs_rendering). `note`, the therapist's note to the
    couple, goes into a couple summary only (kept encrypted on the row for the worker)."""
    from clinic.reports.context import cache_key

    note = (note or "").strip() if kind == ReportKind.SUMMARY else ""
    key = cache_key(_context(couple, kind, appendix, note))
    existing = db.session.scalar(
        sa.select(Report)
        .where(
            Report.couple_id == couple.id,
            Report.cache_key == key,
            sa.or_(
                Report.status == ReportStatus.READY,
                # A job still within its time; an older one was lost, and a new one is made.
                sa.and_(Report.status.in_(PENDING), Report.requested_at >= stale_before()),
            ),
        )
        .order_by(Report.id.desc())
        .limit(1)
    )
    if existing is not None:
        audit.record("report.requested", couple_id=couple.id, target=f"report:{existing.id}", detail={"cached": True})
        return existing, False
    report = Report(
        couple_id=couple.id, kind=kind, appendix=appendix, note=note, cache_key=key, status=ReportStatus.QUEUED
    )
    if current_user and current_user.is_authenticated:
        report.requested_by_id = current_user.id
    db.session.add(report)
    db.session.flush()
    audit.record("report.requested", couple_id=couple.id, target=f"report:{report.id}", detail={"kind": kind.value})
    return report, True


def enqueue(report_id: int) -> bool:
    """Hand a committed report row to the queue: RQ with Redis, else the in-process pool.

    Redis refusing the job (down, unreachable, out of memory) does not fail the report:
    the in-process pool renders it instead, with one warning in the log. False only if
    neither could take it (the pool refuses work while the process shuts down): the row
    is then marked failed (the caller commits), so the page says it could not be queued
    and offers to try again instead of preparing forever."""
    app = current_app._get_current_object()
    redis_refused = None
    if app.config.get("REDIS_URL"):
        try:
            _enqueue_rq(app, report_id)
            return True
        except (RedisError, OSError) as exc:
            # Even a job Redis did store before the connection dropped is safe to hand on:
            # render_report claims the row, so only one of the two ever renders it.
            redis_refused = type(exc).__name__
    try:
        _submit_local(app, report_id)
    except RuntimeError as exc:
        # The report id and exception classes only: never a name or the URL (it may hold a password).
        log.warning(
            "report %s could not be queued: %s%s",
            report_id,
            type(exc).__name__,
            f" (Redis refused it first: {redis_refused})" if redis_refused else "",
        )
        mark_failed(report_id)
        return False
    if redis_refused:
        log.warning("report %s: Redis refused the job (%s); rendering it in this process", report_id, redis_refused)
    return True


def _enqueue_rq(app: Flask, report_id: int) -> None:
    with Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    ) as connection:
        Queue(app.config["REPORT_QUEUE"], connection=connection).enqueue(
            JOB_PATH,
            report_id,
            job_timeout=app.config["REPORT_JOB_TIMEOUT"],
            result_ttl=0,
            on_failure=Callback(report_job_failed),
        )


def _submit_local(app: Flask, report_id: int) -> None:
    """Render the report in this process's small thread pool (made on first use).
    Raises RuntimeError when the pool refuses work (the process is shutting down)."""
    global _local_pool
    with _local_pool_lock:
        if _local_pool is None:
            _local_pool = ThreadPoolExecutor(max_workers=app.config["REPORT_THREADS"], thread_name_prefix="report")
        pool = _local_pool
    pool.submit(_run_in_app, app, report_id)


def mark_failed(report_id: int) -> None:
    """Mark a report that is not done as failed (the caller commits)."""
    db.session.execute(
        sa.update(Report)
        .where(Report.id == report_id, Report.status.in_(PENDING))
        .values(status=ReportStatus.FAILED, finished_at=utcnow())
    )


def sweep_stale_reports() -> int:
    """Mark every report whose job was lost (queued or rendering for longer than
    REPORT_JOB_TIMEOUT) as failed, so its page offers "Try again"; returns how many. Commits.

    One conditional update: a report a worker finished a moment ago is ready and stays so."""
    swept = db.session.execute(
        sa.update(Report)
        .where(_stale_rows())
        .values(status=ReportStatus.FAILED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if swept:
        # A count only: which couples they were for is in the database, not the log.
        log.warning("%d stuck report%s marked failed", swept, "s" if swept != 1 else "")
    return swept


@dataclass(frozen=True)
class QueueState:
    """Reports waiting for a worker to pick them up (not yet past the job timeout)."""

    waiting: int
    oldest_seconds: int | None


def queue_state() -> QueueState:
    """How many reports wait for a worker, and how long the oldest has waited."""
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(Report.requested_at)).where(
            Report.status == ReportStatus.QUEUED, Report.requested_at >= stale_before()
        )
    ).one()
    if not count or oldest is None:
        return QueueState(waiting=0, oldest_seconds=None)
    return QueueState(waiting=count, oldest_seconds=max(0, int((utcnow() - oldest).total_seconds())))


def drain_local_pool() -> None:
    """Let the in-process pool finish every report it holds, then let it go (a new one
    starts with the next report). Tests call it before emptying the database."""
    global _local_pool
    with _local_pool_lock:
        pool, _local_pool = _local_pool, None
    if pool is not None:
        pool.shutdown(wait=True)


def _run_in_app(app: Flask, report_id: int) -> None:
    with app.app_context():
        render_report(report_id)


def _job_app_context() -> contextlib.AbstractContextManager:
    """The app context a job runs in: the current one (ReportWorker and `flask
    report-worker` push it), else the one app this process made (a plain RQ worker)."""
    global _worker_app
    if has_app_context():
        return contextlib.nullcontext()
    if _worker_app is None:
        from clinic import create_app

        _worker_app = create_app()
    return _worker_app.app_context()


def render_report_job(report_id: int) -> None:
    """The RQ entry point: runs in the worker's app context, or makes one."""
    with _job_app_context():
        render_report(report_id)


def report_job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback: the job raised (or timed out) outside render_report's own
    handling, so mark its row failed. Runs in the work horse."""
    _fail_job(job)


def _fail_job(job) -> None:
    report_id = job.args[0] if job.args else None
    if not isinstance(report_id, int):
        return
    # The id only: the exception's message and traceback can carry names or answers.
    log.error("report %s: its job failed or its process died", report_id)
    with _job_app_context():
        db.session.rollback()
        mark_failed(report_id)
        db.session.commit()


def render_report(report_id: int) -> None:
    """Render one queued report and store the PDF; only one worker ever renders a row."""
    from clinic.reports.context import cache_key
    from clinic.reports.pdf import render_pdf

    # A job reached only after the time limit is not rendered: its page already says it
    # failed and offers to try again (which makes a new job).
    claimed = db.session.execute(
        sa.update(Report)
        .where(Report.id == report_id, Report.status == ReportStatus.QUEUED, Report.requested_at >= stale_before())
        .values(status=ReportStatus.RENDERING)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return
    report = db.session.get(Report, report_id)
    started = time.perf_counter()
    try:
        couple = db.session.get(Couple, report.couple_id, options=[undefer(Couple.prep_notes)], populate_existing=True)
        context = _context(couple, report.kind, report.appendix, report.note or "")
        pdf = render_pdf(context)
    except Exception as exc:
        db.session.rollback()
        # The exception class only: messages and tracebacks can carry names or answers.
        log.error("report %s failed to render: %s", report_id, type(exc).__name__)
        mark_failed(report_id)
        db.session.commit()
        return
    report.pdf = pdf
    # The data may have changed since the request: key the PDF by what it shows.
    report.cache_key = cache_key(context)
    report.status = ReportStatus.READY
    report.finished_at = utcnow()
    report.render_seconds = round(time.perf_counter() - started, 3)
    audit.record(
        "report.generated",
        couple_id=couple.id,
        practice_id=couple.practice_id,
        target=f"report:{report.id}",
        actor="system",
        detail={"kind": report.kind.value, "seconds": report.render_seconds},
    )
    db.session.commit()


def preload(app: Flask) -> None:
    """Load what every job needs once, in the worker's parent process: WeasyPrint and
    its fonts, the compiled report templates. Each forked job starts with them."""
    from clinic.reports import pdf

    with app.app_context():
        pdf.warm_up()


class ReportWorker(Worker):
    """An RQ worker for report jobs: `rq worker -w clinic.reports.jobs.ReportWorker`.

    The parent process builds the app (from the environment, like the web app)
    and loads WeasyPrint once; every job runs in a forked process that inherits
    both, in the app's context, with its own database connections. A job whose
    process dies (timeout, out of memory) has its report marked failed."""

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        global _worker_app
        if app is None:
            if has_app_context():
                app = current_app._get_current_object()
            else:
                from clinic import create_app

                app = create_app()
        self.app = _worker_app = app
        preload(app)

    def bootstrap(self, *args, **kwargs):
        # As the worker starts working (not when `rq info` merely builds one): reports whose
        # jobs died with an earlier worker are marked failed, so their pages offer "Try again".
        super().bootstrap(*args, **kwargs)
        with self.app.app_context():
            try:
                sweep_stale_reports()
            except sa.exc.SQLAlchemyError as exc:
                # Housekeeping only: the worker still starts, and the daily sweep catches them.
                with contextlib.suppress(sa.exc.SQLAlchemyError):  # a dead connection may refuse even this
                    db.session.rollback()
                log.warning("stuck reports not swept at start-up: %s", type(exc).__name__)

    def main_work_horse(self, job, queue):
        # In the forked process: jobs find the app's context already there, so
        # render_report_job never builds an app of its own.
        self.app.app_context().push()
        # A forked child must open its own connections: sharing the parent's
        # sockets would interleave two processes on one database session.
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        # The horse died without running any handler of its own (RQ's timeout
        # kill, the OOM killer, a crash in a C library): the row would wait forever.
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        with self.app.app_context():
            _fail_job(job)
