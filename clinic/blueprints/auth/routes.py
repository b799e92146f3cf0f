import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import TooManyRequests

from clinic import login
from clinic.blueprints.auth import bp
from clinic.blueprints.auth.forms import (
    ForgotPasswordForm,
    ResetPasswordForm,
    SetPasswordForm,
    SignInForm,
    SignOutForm,
    TwoFactorCodeForm,
)
from clinic.extensions import db, limiter
from clinic.links import external_url
from clinic.mail import send_email
from clinic.models import TokenPurpose
from clinic.security import is_safe_next
from clinic.services import accounts, twofactor

log = logging.getLogger(__name__)

GENERIC_FAILURE = "That email and password do not match an active account."
RESET_SENT = (
    "If an account uses that address, we have emailed it a link to choose a new password. "
    "The link works once, for {minutes} minutes."
)
INVITE_SESSION_KEY = "invite_token"
RESET_SESSION_KEY = "reset_token"

# Every way into an account is rate limited per address (storage: Redis when REDIS_URL is set).
# Clinicians' one-time links count together: guessing a token by either route spends the same budget.
account_link_limit = limiter.shared_limit(lambda: current_app.config["ACCOUNT_LINK_LIMIT"], scope="account-links")

# Reset emails go out off the request: the answer to "forgot password" then takes
# the same time, and fails the same way if the mail server is down, whether or not
# the address has an account.
_mail_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tandem-mail")
_mail_pending: set[Future] = set()


def _send_in_background(to: str, subject: str, body: str) -> None:
    """Hand one email to the sender thread; failures are logged without address or body."""
    app = current_app._get_current_object()

    def deliver():
        with app.app_context():
            try:
                send_email(to, subject, body)
            except Exception as exc:
                # Never the address or the body: the body holds the link.
                log.error("a password reset email could not be sent: %s", type(exc).__name__)

    if not app.config["MAIL_IN_BACKGROUND"]:
        deliver()
        return
    future = _mail_pool.submit(deliver)
    _mail_pending.add(future)
    future.add_done_callback(_mail_pending.discard)


def wait_for_mail(timeout: float = 30) -> None:
    """Block until the emails handed to the background sender have gone (tests, shutdown)."""
    wait(list(_mail_pending), timeout=timeout)


def _after_signin(target: str | None):
    """Where a completed sign-in goes: the page asked for, if it is on this site."""
    return redirect(target if is_safe_next(target) else url_for("main.home"))


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNIN_LIMIT"], methods=["POST"])
def signin():
    """Sign in with email and password (then a code, when two-factor sign-in is on)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        clinician = accounts.authenticate(form.email.data, form.password.data)
        db.session.commit()
        if clinician is None:
            flash(GENERIC_FAILURE, "error")
            return render_template("auth/signin.html", form=form), 200
        if clinician.two_factor_enabled:
            login.begin_two_factor(clinician, form.next.data)
            return redirect(url_for("auth.two_factor"))
        accounts.finish_signin(clinician)
        db.session.commit()
        login.start_session(clinician)
        return _after_signin(form.next.data)
    return render_template("auth/signin.html", form=form)


@bp.route("/signin/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["TWO_FACTOR_LIMIT"], methods=["POST"])
def two_factor():
    """The second sign-in step: a code from the authenticator app or a recovery code."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    clinician = login.pending_two_factor()
    if clinician is None:
        flash("Please sign in again.", "info")
        return redirect(url_for("auth.signin"))
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        method = twofactor.verify_signin(clinician, form.code.data)
        db.session.commit()
        if method is None:
            form.code.errors.append(twofactor.WRONG_CODE)
            return render_template("auth/two_factor.html", form=form), 200
        accounts.finish_signin(clinician, two_factor=method)
        db.session.commit()
        target = login.pop_pending_next()
        login.start_session(clinician)
        if method == "recovery":
            flash(
                f"You signed in with a recovery code (unused codes left: {clinician.recovery_codes_left}). "
                "If your phone is lost, turn two-factor sign-in off and on again on your account page.",
                "info",
            )
        return _after_signin(target)
    return render_template("auth/two_factor.html", form=form)


@bp.route("/signout", methods=["POST"])
@login_required
def signout():
    """Sign out, here and on every other browser signed in to this account."""
    if SignOutForm().validate_on_submit():
        accounts.end_all_sessions(current_user, reason="signout")
        db.session.commit()
        login.end_session()
        flash("You have signed out.", "info")
    return redirect(url_for("auth.signin"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_LIMIT"], methods=["POST"])
def forgot_password():
    """Ask for a password reset link; the answer is the same whether or not the address has an account."""
    form = ForgotPasswordForm()
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    if form.validate_on_submit():
        found = accounts.request_password_reset(form.email.data, lifetime=timedelta(minutes=minutes))
        db.session.commit()
        if found is not None:
            clinician, token = found
            link = external_url("auth.open_password_reset", token=token)
            body = render_template("email/password_reset.txt", clinician=clinician, link=link, minutes=minutes)
            _send_in_background(clinician.email, "Choose a new Tandem password", body)
        return render_template("auth/forgot_password_sent.html", message=RESET_SENT.format(minutes=minutes))
    return render_template("auth/forgot_password.html", form=form), (400 if form.errors else 200)


def _hold_link_token(key: str, token: str, endpoint: str):
    """An emailed link's token moves into a fresh session and out of the address bar."""
    session.clear()
    session[key] = token
    return redirect(url_for(endpoint))


def _held_link_token(key: str, purpose: TokenPurpose):
    """The usable account token this session holds for `purpose`, or None (the entry is dropped)."""
    token = accounts.find_token(session.get(key, ""), purpose)
    if token is None:
        session.pop(key, None)
    return token


@bp.route("/reset/<token>")
@account_link_limit
def open_password_reset(token: str):
    """Swap the reset link's token for a session entry, so it leaves the address bar."""
    return _hold_link_token(RESET_SESSION_KEY, token, "auth.reset_password")


@bp.route("/reset", methods=["GET", "POST"])
@account_link_limit
def reset_password():
    """Choose a new password from a reset link; every session of the account ends."""
    token = _held_link_token(RESET_SESSION_KEY, TokenPurpose.RESET)
    if token is None:
        return render_template("auth/reset_invalid.html"), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except accounts.AccountError as exc:  # validated above; kept for a race with a second tab
            abort(400, str(exc))
        db.session.commit()
        session.clear()
        # Not signed in here: the second factor, when on, still has to be shown.
        flash("Your new password is set. Please sign in with it.", "success")
        return redirect(url_for("auth.signin"))
    return render_template("auth/reset_password.html", form=form, clinician=token.clinician)


@bp.route("/invite/<token>")
@account_link_limit
def open_invitation(token: str):
    """Swap the link's token for a session entry, so it leaves the address bar."""
    return _hold_link_token(INVITE_SESSION_KEY, token, "auth.accept_invitation")


@bp.route("/invite", methods=["GET", "POST"])
@account_link_limit
def accept_invitation():
    """An invited clinician sets their password."""
    token = _held_link_token(INVITE_SESSION_KEY, TokenPurpose.INVITE)
    if token is None:
        return render_template("auth/invite_invalid.html"), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            clinician = accounts.accept_invitation(token, form.password.data)
        except accounts.AccountError as exc:  # validated above; kept for a race with the owner
            abort(400, str(exc))
        accounts.finish_signin(clinician)
        db.session.commit()
        login.start_session(clinician)
        flash("Welcome to Tandem. Your password is set.", "success")
        return redirect(url_for("main.home"))
    return render_template("auth/accept_invite.html", form=form, clinician=token.clinician)


@bp.errorhandler(TooManyRequests)
def too_many(error):
    """Too many attempts from one address: a calm "wait a minute" page."""
    return render_template("auth/too_many.html"), 429
