import contextlib

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from limits.storage import MemoryStorage
from redis import Redis, RedisError

from clinic import login
from clinic.blueprints.main import bp
from clinic.blueprints.main.forms import (
    ChangePasswordForm,
    ConfirmTwoFactorForm,
    DisableTwoFactorForm,
    NewRecoveryCodesForm,
    StartTwoFactorForm,
)
from clinic.extensions import db, limiter
from clinic.reports import jobs
from clinic.services import accounts, twofactor

# The readiness check answers within a few seconds even when a dependency hangs.
READY_REDIS_TIMEOUT = 1  # seconds
READY_DATABASE_TIMEOUT = "2s"  # PostgreSQL's statement_timeout for the SELECT 1


@bp.route("/")
@login_required
def home():
    """Signed-in clinicians start on their couples."""
    return redirect(url_for("couples.index"))


def _account_page(
    disable_form: DisableTwoFactorForm | None = None,
    status: int = 200,
    codes_form: NewRecoveryCodesForm | None = None,
):
    """The account page, with the turn-off or new-codes form (and its errors) when one was just posted."""
    return (
        render_template(
            "main/account.html",
            start_form=StartTwoFactorForm(),
            disable_form=disable_form or DisableTwoFactorForm(formdata=None),
            codes_form=codes_form or NewRecoveryCodesForm(formdata=None),
        ),
        status,
    )


@bp.route("/account")
@login_required
def account():
    """The signed-in clinician's account details and sign-in security."""
    return _account_page()


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password (the current one is needed); other sessions end, this one stays."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, current=form.current_password.data, new=form.password.data)
        except accounts.AccountError as exc:
            db.session.commit()  # a wrong current password still counts towards the lock
            form.current_password.errors.append(str(exc))
        else:
            db.session.commit()
            login.renew_session(current_user._get_current_object())
            flash("Your password is changed. Any other device signed in to your account was signed out.", "success")
            return redirect(url_for("main.account"))
    return render_template("main/change_password.html", form=form), (400 if form.errors else 200)


@bp.route("/account/two-factor/start", methods=["POST"])
@login_required
def two_factor_start():
    """Make a new secret for the authenticator app (replacing one not yet confirmed)."""
    if StartTwoFactorForm().validate_on_submit():
        try:
            twofactor.begin_enrolment(current_user)
        except twofactor.TwoFactorError as exc:
            flash(str(exc), "info")
            return redirect(url_for("main.account"))
        db.session.commit()
    return redirect(url_for("main.two_factor"))


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor():
    """Set up two-factor sign-in: scan the QR code, confirm a code, save the recovery codes."""
    if current_user.two_factor_enabled:
        return redirect(url_for("main.account"))
    if not current_user.totp_secret:
        return render_template("main/two_factor_start.html", start_form=StartTwoFactorForm())
    form = ConfirmTwoFactorForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.confirm_enrolment(current_user, form.code.data)
        except twofactor.TwoFactorError as exc:
            form.code.errors.append(str(exc))
        else:
            db.session.commit()
            # Shown on this one response and never again: only their hashes are kept.
            return render_template("main/recovery_codes.html", codes=codes)
    return render_template(
        "main/two_factor_setup.html",
        form=form,
        qr=twofactor.qr_code(current_user),
        secret=twofactor.grouped_secret(current_user),
    ), (400 if form.errors else 200)


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
def two_factor_disable():
    """Turn two-factor sign-in off (password and a code needed)."""
    if not current_user.two_factor_enabled:
        return redirect(url_for("main.account"))
    form = DisableTwoFactorForm()
    if not form.validate_on_submit():
        return _account_page(form, status=400)
    try:
        twofactor.disable(current_user, password=form.password.data, code=form.code.data)
    except twofactor.TwoFactorError as exc:
        db.session.commit()  # wrong passwords and codes still count towards the lock
        form[exc.field].errors.append(str(exc))
        return _account_page(form, status=400)
    db.session.commit()
    flash("Two-factor sign-in is off.", "success")
    return redirect(url_for("main.account"))


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
def new_recovery_codes():
    """Replace the recovery codes (a current app code needed); the new ones are shown once, the old stop working."""
    if not current_user.two_factor_enabled:
        return redirect(url_for("main.account"))
    form = NewRecoveryCodesForm()
    if not form.validate_on_submit():
        return _account_page(codes_form=form, status=400)
    try:
        codes = twofactor.regenerate_recovery_codes(current_user, form.app_code.data)
    except twofactor.TwoFactorError as exc:
        db.session.commit()  # wrong codes still count towards the lock
        form.app_code.errors.append(str(exc))
        return _account_page(codes_form=form, status=400)
    db.session.commit()
    # Shown on this one response (sent with Cache-Control: no-store, like every page) and never again.
    return render_template("main/recovery_codes.html", codes=codes, replaced=True)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """Liveness check for load balancers; touches nothing."""
    return {"status": "ok"}


@bp.route("/readyz")
@limiter.exempt
def readyz():
    """Readiness check: what works and what is degraded, as JSON. 200 while the app can serve
    (also degraded, e.g. Redis down); 503 when the database is unreachable.

    It names no host, URL, couple or clinician, and answers its own 503: a database error
    here is the answer, not an error page."""
    config = current_app.config
    reasons: list[str] = []
    waiting = _report_queue() if _database_answers() else None
    if waiting is None:
        reasons.append("The database is not reachable.")
    elif waiting.oldest_seconds is not None and waiting.oldest_seconds > config["REPORT_JOB_TIMEOUT"] // 2:
        # Half the job timeout: a report still waiting then is likely to fail unrendered.
        reasons.append(f"A report has waited {waiting.oldest_seconds} s for a worker: is a report worker running?")

    redis_configured = bool(config.get("REDIS_URL"))
    redis_ok = redis_configured and _redis_answers(config["REDIS_URL"])
    rate_limits, limits_fell_back = _rate_limit_counting()
    if limits_fell_back:
        reasons.append("Rate limits are counted per process: their store (Redis) is not reachable.")
    if redis_configured and not redis_ok:
        reasons.append("Reports render inside the web processes: Redis is not reachable.")

    status = "unavailable" if waiting is None else ("degraded" if reasons else "ready")
    body = {
        "status": status,
        "database": "unreachable" if waiting is None else "ok",
        "redis": "ok" if redis_ok else ("unreachable" if redis_configured else "not configured"),
        "rate_limits": rate_limits,
        "report_queue": "redis" if redis_ok else "in-process",
        "reports_waiting": waiting.waiting if waiting else None,
        "oldest_waiting_seconds": waiting.oldest_seconds if waiting else None,
        "reasons": reasons,
    }
    return body, (503 if waiting is None else 200)


def _report_queue() -> jobs.QueueState | None:
    """Reports waiting for a worker, or None if the database stopped answering meanwhile."""
    try:
        return jobs.queue_state()
    except sa.exc.SQLAlchemyError:
        with contextlib.suppress(sa.exc.SQLAlchemyError):  # a dead connection may refuse even this
            db.session.rollback()
        return None


def _database_answers() -> bool:
    """A SELECT 1 on a connection of the app's own pool, with a short statement timeout."""
    try:
        with db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # SET LOCAL: only for this transaction, which ends (rolled back) with the block.
                connection.execute(
                    sa.text("SELECT set_config('statement_timeout', :t, true)"), {"t": READY_DATABASE_TIMEOUT}
                )
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True


def _redis_answers(url: str) -> bool:
    """Whether Redis answers a PING within a second (the URL, which may hold a password, stays here)."""
    try:
        with Redis.from_url(url, socket_connect_timeout=READY_REDIS_TIMEOUT, socket_timeout=READY_REDIS_TIMEOUT) as r:
            return bool(r.ping())
    except (RedisError, OSError, ValueError):
        return False


def _rate_limit_counting() -> tuple[str, bool]:
    """How rate limits are counted now ("shared" or "per-process"), and whether that is a
    fallback: a shared store that does not answer (Flask-Limiter then counts in memory)."""
    storage = limiter.storage
    if isinstance(storage, MemoryStorage):
        return "per-process", False  # configured so: no Redis
    if storage.check():
        return "shared", False
    return "per-process", True
