"""Command-line tasks: `flask --app wsgi create-practice`, `flask --app wsgi seed-demo`."""

from __future__ import annotations

import contextlib
import sys
from datetime import timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from clinic import fhir_export, scores_csv
from clinic.bulk import BulkCounts, add_bulk_couples
from clinic.demo import add_demo_couples
from clinic.extensions import db
from clinic.models import Clinician, Practice, TokenPurpose
from clinic.services import accounts

DEMO_EMAIL = "demo@tandem.example"
DEMO_PASSWORD = "tandem-demo-password"  # noqa: S105 -- published on purpose: demo data only, refused in production
DEMO_PRACTICE = "Harbour Light Couples Therapy (demo)"


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.command("create-practice")
@click.option("--name", "practice_name", prompt="Practice name", help="The practice's name.")
@click.option("--owner-name", prompt="Owner's name", help="The owner's full name.")
@click.option("--email", prompt="Owner's email", help="The owner's sign-in email.")
@click.option("--credential", default="", help='Professional credential, e.g. "LMFT".')
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone, e.g. America/Chicago.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting.")
@with_appcontext
def create_practice_command(practice_name, owner_name, email, credential, timezone, password_stdin):
    """Create a practice and its owner account."""
    if accounts.email_taken(email):
        _fail("An account with this email address already exists.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        owner = accounts.create_practice(
            practice_name=practice_name,
            owner_name=owner_name,
            email=email,
            password=password,
            credential=credential,
            timezone=timezone,
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        _fail(str(exc))
    db.session.commit()
    click.echo(f"Created practice {owner.practice.name!r}; {owner.email} can sign in as its owner.")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed a database that has no practice yet (used by make run).")
@click.option("--force", is_flag=True, help="Allow seeding in production (not recommended).")
@click.option(
    "--couples",
    type=click.IntRange(min=0),
    default=0,
    help="Also add this many fictional couples with submitted assessments, in bulk (to try Tandem at scale).",
)
@with_appcontext
def seed_demo_command(if_empty, force, couples):
    """Create the fictional demo practice and print its sign-in."""
    if current_app.config["ENV_NAME"] == "production" and not force:
        _fail("seed-demo adds a demo account with a published password; it is off in production (--force overrides).")
    demo = db.session.scalar(sa.select(Clinician).where(Clinician.email == DEMO_EMAIL))
    if demo is None:
        if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Practice)):
            click.echo("The database already holds a practice; no demo data added.")
            return
        demo = seed_demo()
        db.session.commit()
        click.echo("Created the demo practice.")
    if couples:
        import time

        started = time.perf_counter()

        def progress(counts: BulkCounts) -> None:
            if counts.couples % 10_000 == 0 and counts.couples < couples:
                click.echo(f"  {counts.couples:,} couples so far ({counts.seconds:.0f} s)", err=True)

        counts = add_bulk_couples(demo.practice, couples, progress=progress)
        db.session.commit()
        click.echo(
            f"Added {counts.couples:,} fictional couples to the demo practice: {counts.assessments:,} assessments, "
            f"{counts.invitations:,} links, {counts.answers:,} answers, {counts.scores:,} scores, "
            f"{counts.schedules:,} check-in schedules with {counts.sessions:,} sessions "
            f"in {time.perf_counter() - started:.1f} s."
        )
        _calibrate_demo(demo.practice)
    click.echo(f"Demo sign-in: {DEMO_EMAIL} / {DEMO_PASSWORD}")


def _calibrate_demo(practice: Practice) -> None:
    """Calibrate the demo practice's reliability now (as the nightly `flask calibrate` would), so
    reliable change is judged on its own estimates from the first page on; one line says how it went."""
    from clinic.models import ReliabilityEstimate
    from clinic.services import calibration

    stored = calibration.calibrate(practice)
    db.session.commit()
    sizes = db.session.scalars(
        sa.select(ReliabilityEstimate.n).where(ReliabilityEstimate.practice_id == practice.id)
    ).all()
    if not stored:
        click.echo("No reliability estimated: no partner has submitted a scored questionnaire yet.")
        return
    needed = calibration.min_partners()
    ready = sum(n >= needed for n in sizes)
    click.echo(
        f"Estimated reliability for {stored} measure{'s' if stored != 1 else ''} from {max(sizes):,} partners' "
        f"first answers; {ready} have the {needed} partners reliable change needs."
    )


def seed_demo() -> Clinician:
    """The fictional demo practice: an owner, one colleague and the demo couples (all names invented)."""
    owner = accounts.create_practice(
        practice_name=DEMO_PRACTICE,
        owner_name="Dr. Maren Okafor",
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        credential="LMFT",
        timezone="America/Chicago",
    )
    # The colleague joins the way a real one would: invited, then sets a password.
    _, token = accounts.invite_clinician(
        owner.practice,
        name="Theo Lindqvist",
        email="theo@tandem.example",
        credential="LCSW",
        lifetime=timedelta(hours=1),
    )
    accounts.accept_invitation(accounts.find_token(token, TokenPurpose.INVITE), DEMO_PASSWORD)
    add_demo_couples(owner)
    return owner


@click.command("send-reminders")
@with_appcontext
def send_reminders_command():
    """Email every reminder that is due (run daily from cron); exits 1 if any could not be sent.

    Each reminder is committed on its own, so a mail server that fails part-way leaves the
    reminders already sent counted (and their links working) and the rest due for the next run.
    The output is counts only: no name, address or link.
    """
    from clinic.links import LinkError
    from clinic.services import invitations

    try:
        run = invitations.send_due_reminders()
    except LinkError as exc:
        _fail(str(exc))
    line = f"Sent {run.sent} reminder{'s' if run.sent != 1 else ''}."
    if run.skipped:
        line += f" {run.skipped} skipped: the link changed while this ran."
    click.echo(line)
    if run.failed:
        _fail(
            f"{run.failed} reminder{'s' if run.failed != 1 else ''} could not be sent: the mail server refused "
            "or could not be reached. They stay due and the next run tries again."
        )


@click.command("send-checkins")
@with_appcontext
def send_checkins_command():
    """Send the scheduled check-ins that are due (run hourly from cron); exits 1 if an email could not be sent.

    Each session's check-in goes out once, however often (or however many at once) this runs.
    The output is counts only: no name, address or link.
    """
    from clinic.links import LinkError
    from clinic.services import checkins

    try:
        run = checkins.send_due()
    except LinkError as exc:
        _fail(str(exc))
    sessions = f"{run.sessions} session{'s' if run.sessions != 1 else ''}"
    click.echo(f"Sent check-ins for {sessions} ({run.partners} partner{'s' if run.partners != 1 else ''}).")
    if run.failed:
        _fail(
            f"{run.failed} check-in email{'s' if run.failed != 1 else ''} could not be sent: the mail server refused "
            "or could not be reached. The links are on each couple's page; send them again from there."
        )


@click.command("report-worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (for tests and cron).")
@with_appcontext
def report_worker_command(burst):
    """Render queued session-prep reports (needs REDIS_URL; run as many as you like, anywhere).

    As it starts, it marks reports whose job died with an earlier worker as failed."""
    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        raise click.ClickException("REDIS_URL is not set: without it reports render inside the web app.")
    from redis import Redis

    # The worker loads WeasyPrint, its fonts and the templates once, before it forks a
    # process per job (clinic.reports.jobs.preload).
    from clinic.reports.jobs import ReportWorker

    worker = ReportWorker([current_app.config["REPORT_QUEUE"]], connection=Redis.from_url(redis_url))
    worker.work(burst=burst, logging_level="WARNING")


@click.command("sweep-reports")
@with_appcontext
def sweep_reports_command():
    """Mark reports whose job died (queued or rendering past REPORT_JOB_TIMEOUT) as failed (run daily from cron).

    Their pages then offer "Try again" without anyone having to open them first. A report a
    worker finished meanwhile keeps its PDF. The output is a count only.
    """
    from clinic.reports.jobs import sweep_stale_reports

    try:
        swept = sweep_stale_reports()
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        with contextlib.suppress(sa.exc.SQLAlchemyError):  # a dead connection may refuse even this
            db.session.rollback()
        _fail("The database could not be reached: no report was changed. The next run tries again.")
    if swept:
        click.echo(f"Marked {swept} stuck report{'s' if swept != 1 else ''} as failed; their pages offer Try again.")
    else:
        click.echo("No stuck reports.")


@click.command("calibrate")
@click.option("--practice", "practice_id", type=int, help="Only this practice (its id); default: every practice.")
@with_appcontext
def calibrate_command(practice_id):
    """Estimate each practice's reliability (alpha and SD) from its partners' first answers (run nightly from cron).

    Each practice is committed on its own and gets one line: how many estimates it stored.
    """
    from clinic.services import calibration

    chosen = sa.select(Practice).order_by(Practice.id)
    if practice_id is not None:
        chosen = chosen.where(Practice.id == practice_id)
    practices = db.session.scalars(chosen).all()
    if practice_id is not None and not practices:
        _fail(f"No practice with id {practice_id}.")
    for practice in practices:
        stored = calibration.calibrate(practice)
        db.session.commit()
        click.echo(f"Practice {practice.id}: stored {stored} reliability estimate{'s' if stored != 1 else ''}.")


@click.command("rotate-keys")
@with_appcontext
def rotate_keys_command():
    """Re-encrypt every encrypted text and file with the first key in DATA_KEYS."""
    from clinic.crypto import EncryptedBytes, EncryptedText, rotate, rotate_bytes

    changed = 0
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                raw_type, rotate_one = sa.Text, rotate
            elif isinstance(column.type, EncryptedBytes):
                raw_type, rotate_one = sa.LargeBinary, rotate_bytes
            else:
                continue
            # Read and write the stored ciphertext as it is: rotate, never decrypt to disk.
            stored = sa.type_coerce(column, raw_type)
            rows = db.session.execute(sa.select(table.c.id, stored.label("v")).where(column.is_not(None))).all()
            for row in rows:
                if not row.v:
                    continue
                value = sa.type_coerce(rotate_one(bytes(row.v) if raw_type is sa.LargeBinary else row.v), raw_type)
                db.session.execute(sa.update(table).where(table.c.id == row.id).values({column.name: value}))
                changed += 1
    db.session.commit()
    click.echo(f"Re-encrypted {changed} value{'s' if changed != 1 else ''} with the newest key.")


audit_cli = click.Group("audit", help="The audit trail.")


@audit_cli.command("verify")
@with_appcontext
def audit_verify_command():
    """Check that no audit row was edited or deleted (one line; exits 1 if it was)."""
    from clinic import audit

    problems, head = audit.check()
    if problems:
        first = problems[0]
        raise click.ClickException(
            f"The audit trail was altered: row {first.event_id} {first.reason} ({len(problems)} problem(s) in all)."
        )
    # The last row's id and hash: kept outside the database, they show a later truncation.
    click.echo(f"The audit trail is intact: {head.rows} rows, ending at row {head.last_id} ({head.last_hash}).")


def _passphrase_from_stdin() -> str:
    passphrase = sys.stdin.readline().rstrip("\r\n")
    if not passphrase:
        _fail("No passphrase on standard input.")
    return passphrase


@click.command("backup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="The archive to write (a new file).")
@click.option("--passphrase-stdin", is_flag=True, help="Encrypt to a passphrase read from standard input.")
@click.option("--recipient", metavar="AGE_PUBLIC_KEY", help="Encrypt to this age public key (age1…).")
@with_appcontext
def backup_command(output, passphrase_stdin, recipient):
    """Write one archive of the database with its manifest (no keys), optionally encrypted with age."""
    from clinic import backup

    if passphrase_stdin and recipient:
        _fail("Choose one: --passphrase-stdin or --recipient.")
    passphrase = _passphrase_from_stdin() if passphrase_stdin else None
    try:
        made = backup.create_backup(output, passphrase=passphrase, recipient=recipient)
    except backup.BackupError as exc:
        _fail(str(exc))
    if not made.encrypted:
        click.echo(
            "Warning: this archive holds client data unencrypted (use --recipient or --passphrase-stdin).", err=True
        )
    click.echo(made.summary())


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passphrase-stdin", is_flag=True, help="Read the archive's passphrase from standard input.")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path), help="The age key file that opens it.")
@with_appcontext
def restore_command(archive, passphrase_stdin, identity):
    """Load a backup into the configured database, which must be empty, and check it (one line; exits 1 if not)."""
    from clinic import backup

    if passphrase_stdin and identity:
        _fail("Choose one: --passphrase-stdin or --identity.")
    passphrase = _passphrase_from_stdin() if passphrase_stdin else None
    try:
        restored = backup.restore_backup(archive, passphrase=passphrase, identity_file=identity)
    except backup.BackupError as exc:
        _fail(str(exc))
    if restored.problems:
        _fail(restored.summary())
    click.echo(restored.summary())


instruments_cli = click.Group("instruments", help="The questionnaire definitions.")


@instruments_cli.command("check")
@with_appcontext
def instruments_check_command():
    """Every definition loads (start-up already refuses a broken one), and every instrument
    version that stored assessments were sent with is still installed (exits 1 if not)."""
    from clinic import catalog
    from clinic.models import Assessment

    installed = set(catalog.registry().all())
    used: dict[tuple[str, int], int] = {}
    rows = db.session.execute(sa.select(Assessment.instruments).execution_options(yield_per=1000))
    for (keys,) in rows:
        for instrument_id, version in keys:
            key = (str(instrument_id), int(version))
            used[key] = used.get(key, 0) + 1
    missing = sorted(key for key in used if key not in installed)
    if missing:
        names = ", ".join(f"{i} v{v} ({used[(i, v)]} assessment{'s' if used[(i, v)] != 1 else ''})" for i, v in missing)
        raise click.ClickException(
            f"Stored answers need instrument versions that are not installed: {names}. "
            "Put their definition files back in the instruments folder; never delete a version that was sent."
        )
    click.echo(
        f"{len(installed)} instrument versions load cleanly; "
        f"the {len(used)} used by stored assessments are all installed."
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(create_practice_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(send_checkins_command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(instruments_cli)
    app.cli.add_command(report_worker_command)
    app.cli.add_command(sweep_reports_command)
    app.cli.add_command(calibrate_command)
    app.cli.add_command(rotate_keys_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(fhir_export.export_fhir_command)
    app.cli.add_command(scores_csv.export_csv_command)
