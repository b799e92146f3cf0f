"""Session-prep PDFs: queued off the request path, kept by what they show, served privately."""

import shutil
import time
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue, SimpleWorker

from clinic.models import AuditEvent, Report, ReportStatus
from clinic.reports import context as report_context
from tests.conftest import login

CHECKIN_A = {"satisfied": 4, "close": 4, "hopeful": 5, "together": 3}
CHECKIN_B = {"satisfied": 2, "close": 2, "hopeful": 3, "together": 2}


def wait_until_done(db, report_id, timeout=60.0):
    """Poll the row like the page does, until the worker is done with it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        status = db.session.scalar(sa.select(Report.status).where(Report.id == report_id))
        if status in (ReportStatus.READY, ReportStatus.FAILED):
            return status
        time.sleep(0.1)
    raise AssertionError("the report was not rendered in time")


@pytest.fixture
def answered(make_practice, make_couple, make_assessment, answer_as):
    owner = make_practice()
    couple = make_couple(owner, names=("Robin", "Sasha"))
    _, tokens = make_assessment(couple, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    return owner, couple


def ask(browser, couple, kind="clinician", **extra):
    response = browser.post_form(f"/couples/{couple.id}/reports", {"kind": kind, **extra})
    assert response.status_code == 302
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_request_queues_then_page_offers_the_download(client, answered, db):
    owner, couple = answered
    browser = login(client, owner)
    report_id = ask(browser, couple)
    page = browser.get(f"/couples/{couple.id}/reports/{report_id}").get_data(as_text=True)
    assert "Preparing your PDF" in page or "Your PDF is ready" in page
    assert wait_until_done(db, report_id) == ReportStatus.READY
    page = browser.get(f"/couples/{couple.id}/reports/{report_id}").get_data(as_text=True)
    assert "Your PDF is ready" in page and 'data-report-status="ready"' in page and "report-status.js" not in page

    download = browser.get(f"/couples/{couple.id}/reports/{report_id}/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Cache-Control"] == "no-store"
    assert download.data.startswith(b"%PDF")
    recorded = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report.downloaded")).all()
    assert [(e.actor_id, e.couple_id, e.target) for e in recorded] == [(owner.id, couple.id, f"report:{report_id}")]


def test_preparing_page_refreshes_itself(client, answered, db):
    owner, couple = answered
    browser = login(client, owner)
    # A row nobody has picked up yet (as if every worker were busy).
    report = Report(couple_id=couple.id, kind="clinician", cache_key="0" * 64, status=ReportStatus.QUEUED)
    db.session.add(report)
    db.session.commit()
    page = browser.get(f"/couples/{couple.id}/reports/{report.id}").get_data(as_text=True)
    # It asks again by script, in place (a timed meta refresh fails WCAG 2.2.1).
    assert 'data-report-status="pending"' in page and "js/report-status.js" in page and "Preparing your PDF" in page
    assert 'http-equiv="refresh"' not in page
    assert browser.get(f"/couples/{couple.id}/reports/{report.id}/download").status_code == 404


def test_unchanged_data_returns_the_same_pdf_and_any_change_makes_a_new_one(client, answered, db):
    owner, couple = answered
    browser = login(client, owner)
    first = ask(browser, couple)
    wait_until_done(db, first)
    assert ask(browser, couple) == first  # nothing changed: the kept PDF, at once
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1

    browser.post_form(f"/couples/{couple.id}/notes", {"notes": "Start with the check-in gap."})
    second = ask(browser, couple)
    assert second != first
    wait_until_done(db, second)
    assert ask(browser, couple, kind="summary") not in (first, second)


def test_render_failure_is_reported_without_details(client, answered, db, monkeypatch, caplog):
    import clinic.reports.pdf

    def broken(context):
        raise RuntimeError("Robin said something secret")

    monkeypatch.setattr(clinic.reports.pdf, "render_pdf", broken)
    owner, couple = answered
    browser = login(client, owner)
    report_id = ask(browser, couple)
    assert wait_until_done(db, report_id) == ReportStatus.FAILED
    page = browser.get(f"/couples/{couple.id}/reports/{report_id}").get_data(as_text=True)
    assert "could not be made" in page and "Try again" in page
    assert "secret" not in caplog.text and "Robin" not in caplog.text


@pytest.mark.parametrize("path", ["", "/download"])
def test_reports_are_404_to_everyone_but_the_couples_clinician_and_owner(
    path, make_client, make_practice, make_clinician, make_couple, make_assessment, answer_as, db
):
    owner = make_practice()
    clinician = make_clinician(owner)
    couple = make_couple(clinician)
    _, tokens = make_assessment(couple, instruments=["checkin"])
    answer_as(tokens[1], {"checkin": CHECKIN_A})
    answer_as(tokens[2], {"checkin": CHECKIN_B})
    report_id = ask(login(make_client(), clinician), couple)
    wait_until_done(db, report_id)
    url = f"/couples/{couple.id}/reports/{report_id}{path}"

    outsiders = [login(make_client(), make_practice()), login(make_client(), make_clinician(owner))]
    partner = make_client()
    partner.get(f"/l/{tokens[1]}")
    outsiders.append(partner)
    for browser in outsiders:
        assert browser.get(url).status_code == 404
        assert browser.post_form(f"/couples/{couple.id}/reports", {"kind": "clinician"}).status_code == 404
    for insider in (clinician, owner):
        assert login(make_client(), insider).get(url).status_code == 200
    # The right report under another couple's URL is 404 too.
    other = make_couple(clinician)
    assert login(make_client(), clinician).get(f"/couples/{other.id}/reports/{report_id}{path}").status_code == 404


@pytest.fixture
def redis_queue(app):
    """The app sends report jobs to a fresh queue on the real Redis on 127.0.0.1:6379."""
    name = f"tandem-test-{uuid.uuid4().hex[:8]}"
    saved = app.config["REDIS_URL"], app.config["REPORT_QUEUE"]
    app.config.update(REDIS_URL="redis://127.0.0.1:6379/15", REPORT_QUEUE=name)
    connection = Redis.from_url("redis://127.0.0.1:6379/15")
    queue = Queue(name, connection=connection)
    try:
        yield queue
    finally:
        queue.empty()
        queue.delete(delete_jobs=True)
        connection.close()
        app.config.update(REDIS_URL=saved[0], REPORT_QUEUE=saved[1])


def test_with_redis_jobs_go_to_rq_and_a_worker_renders_them(client, answered, db, redis_queue):
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    assert redis_queue.count == 1  # queued in Redis, not rendered by the web process
    db.session.expire_all()
    assert db.session.get(Report, report_id).status == ReportStatus.QUEUED

    SimpleWorker([redis_queue], connection=redis_queue.connection).work(burst=True)
    db.session.expire_all()
    report = db.session.get(Report, report_id)
    assert report.status == ReportStatus.READY and report.pdf.startswith(b"%PDF")


def test_report_worker_command_renders_the_queue(app, client, answered, db, redis_queue):
    owner, couple = answered
    report_id = ask(login(client, owner), couple)
    result = app.test_cli_runner().invoke(args=["report-worker", "--burst"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Report, report_id).status == ReportStatus.READY
    assert redis_queue.count == 0


def test_report_worker_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["report-worker", "--burst"])
    assert result.exit_code == 1 and "REDIS_URL is not set" in result.output


@pytest.fixture
def report_files(tmp_path):
    """A copy of the report templates, stylesheet and fonts, laid out like the real ones."""
    copies = []
    for root in report_context.REPORT_FILES:
        copy = tmp_path / root.parent.name / root.name
        shutil.copytree(root, copy)
        copies.append(copy)
    templates, styles, fonts = copies
    return SimpleNamespace(roots=copies, templates=templates, styles=styles, fonts=fonts)


def test_template_version_is_worked_out_from_the_report_files(report_files):
    version = report_context.template_version
    # The copy gives the version this process worked out from the real files.
    assert version(report_files.roots) == report_context.TEMPLATE_VERSION
    seen = {report_context.TEMPLATE_VERSION}

    clinician = report_files.templates / "clinician.html"
    clinician.write_text(clinician.read_text() + "\n{# edited #}\n")
    seen.add(version(report_files.roots))
    css = report_files.styles / "report.css"
    css.write_text(css.read_text() + "\nh1 { color: #222; }\n")
    seen.add(version(report_files.roots))
    (report_files.fonts / "DejaVuSans-Oblique.ttf").rename(report_files.fonts / "Other-Oblique.ttf")
    seen.add(version(report_files.roots))
    (report_files.templates / "_appendix.html").write_text("{{ report.title }}")
    seen.add(version(report_files.roots))
    assert len(seen) == 5  # every change gave a version of its own
    assert version(report_files.roots) == version(report_files.roots)


def test_an_edited_template_gives_a_new_pdf_for_unchanged_data(client, answered, db, report_files, monkeypatch):
    owner, couple = answered
    browser = login(client, owner)
    first = ask(browser, couple)
    wait_until_done(db, first)
    assert ask(browser, couple) == first

    summary = report_files.templates / "summary.html"
    summary.write_text(summary.read_text() + "\n{# a new line at the foot #}\n")
    # As a worker started after the edit would work it out.
    monkeypatch.setattr(report_context, "TEMPLATE_VERSION", report_context.template_version(report_files.roots))
    second = ask(browser, couple)
    assert second != first
    assert wait_until_done(db, second) == ReportStatus.READY
