"""Session-prep reports off the request path: ask, queue, render, keep, serve.

With REDIS_URL set, jobs go to an RQ queue and run in `flask --app wsgi
report-worker` processes on any machine; without it, a small in-process thread
pool runs them, so the SQLite default needs nothing more. Either way the request
only writes a row and returns.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from flask_login import current_user
from redis import Redis
from rq import Queue, Worker
from sqlalchemy.orm import undefer

from clinic import audit
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import Clinician, Couple, Practice, Report, ReportKind, ReportStatus
from clinic.results import load_couple_results

log = logging.getLogger(__name__)
JOB_PATH = "clinic.reports.jobs.render_report_job"
_local_pool: ThreadPoolExecutor | None = None


def _context(couple: Couple, kind: ReportKind, appendix: bool) -> dict:
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
    )


def request_report(couple: Couple, *, kind: ReportKind, appendix: bool) -> tuple[Report, bool]:
    """The report for the couple's current data: an existing one if nothing changed, else a
    new queued one. Returns (report, needs_rendering)."""
    from clinic.reports.context import cache_key

    key = cache_key(_context(couple, kind, appendix))
    existing = db.session.scalar(
        sa.select(Report)
        .where(
            Report.couple_id == couple.id,
            Report.cache_key == key,
            Report.status.in_([ReportStatus.READY, ReportStatus.QUEUED, ReportStatus.RENDERING]),
        )
        .order_by(Report.id.desc())
        .limit(1)
    )
    if existing is not None:
        audit.record("report.requested", couple_id=couple.id, target=f"report:{existing.id}", detail={"cached": True})
        return existing, False
    report = Report(couple_id=couple.id, kind=kind, appendix=appendix, cache_key=key, status=ReportStatus.QUEUED)
    if current_user and current_user.is_authenticated:
        report.requested_by_id = current_user.id
    db.session.add(report)
    db.session.flush()
    audit.record("report.requested", couple_id=couple.id, target=f"report:{report.id}", detail={"kind": kind.value})
    return report, True


def enqueue(report_id: int) -> None:
    """Hand a committed report row to the queue (RQ with Redis, else the local pool)."""
    app = current_app._get_current_object()
    if app.config.get("REDIS_URL"):
        queue = Queue(app.config["REPORT_QUEUE"], connection=Redis.from_url(app.config["REDIS_URL"]))
        queue.enqueue(JOB_PATH, report_id, job_timeout=app.config["REPORT_JOB_TIMEOUT"], result_ttl=0)
        return
    global _local_pool
    if _local_pool is None:
        _local_pool = ThreadPoolExecutor(max_workers=app.config["REPORT_THREADS"], thread_name_prefix="report")
    _local_pool.submit(_run_in_app, app, report_id)


def drain_local_pool() -> None:
    """Let the in-process pool finish every report it holds, then let it go (a new one
    starts with the next report). Tests call it before emptying the database."""
    global _local_pool
    pool, _local_pool = _local_pool, None
    if pool is not None:
        pool.shutdown(wait=True)


def _run_in_app(app: Flask, report_id: int) -> None:
    with app.app_context():
        render_report(report_id)


def render_report_job(report_id: int) -> None:
    """The RQ entry point: runs in the worker's app context, or makes one."""
    if has_app_context():
        render_report(report_id)
        return
    from clinic import create_app

    with create_app().app_context():
        render_report(report_id)


def render_report(report_id: int) -> None:
    """Render one queued report and store the PDF; only one worker ever renders a row."""
    from clinic.reports.context import cache_key
    from clinic.reports.pdf import render_pdf

    claimed = db.session.execute(
        sa.update(Report)
        .where(Report.id == report_id, Report.status == ReportStatus.QUEUED)
        .values(status=ReportStatus.RENDERING)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return
    report = db.session.get(Report, report_id)
    started = time.perf_counter()
    try:
        couple = db.session.get(Couple, report.couple_id, options=[undefer(Couple.prep_notes)], populate_existing=True)
        context = _context(couple, report.kind, report.appendix)
        pdf = render_pdf(context)
    except Exception as exc:
        db.session.rollback()
        # The exception class only: messages and tracebacks can carry names or answers.
        log.error("report %s failed to render: %s", report_id, type(exc).__name__)
        db.session.execute(
            sa.update(Report).where(Report.id == report_id).values(status=ReportStatus.FAILED, finished_at=utcnow())
        )
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


class ReportWorker(Worker):
    """An RQ worker whose per-job processes never reuse the parent's database connections."""

    def main_work_horse(self, job, queue):
        # A forked child must open its own connections: sharing the parent's
        # sockets would interleave two processes on one database session.
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)
