from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from clinic.blueprints.auth import bp
from clinic.blueprints.auth.forms import SetPasswordForm, SignInForm, SignOutForm
from clinic.extensions import db
from clinic.models import TokenPurpose
from clinic.security import is_safe_next
from clinic.services import accounts

GENERIC_FAILURE = "That email and password do not match an active account."
INVITE_SESSION_KEY = "invite_token"


def _start_session(clinician) -> None:
    """A fresh session for a newly signed-in clinician: nothing from before survives."""
    session.clear()
    login_user(clinician)
    session.permanent = False


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        clinician = accounts.authenticate(form.email.data, form.password.data)
        if clinician is None:
            db.session.commit()
            flash(GENERIC_FAILURE, "error")
            return render_template("auth/signin.html", form=form), 200
        db.session.commit()
        _start_session(clinician)
        target = form.next.data
        return redirect(target if is_safe_next(target) else url_for("main.home"))
    return render_template("auth/signin.html", form=form)


@bp.route("/signout", methods=["POST"])
@login_required
def signout():
    """Sign out and forget the session."""
    if SignOutForm().validate_on_submit():
        logout_user()
        session.clear()
        flash("You have signed out.", "info")
    return redirect(url_for("auth.signin"))


@bp.route("/invite/<token>")
def open_invitation(token: str):
    """Swap the link's token for a session entry, so it leaves the address bar."""
    session.clear()
    session[INVITE_SESSION_KEY] = token
    return redirect(url_for("auth.accept_invitation"))


@bp.route("/invite", methods=["GET", "POST"])
def accept_invitation():
    """An invited clinician sets their password."""
    token = accounts.find_token(session.get(INVITE_SESSION_KEY, ""), TokenPurpose.INVITE)
    if token is None:
        session.pop(INVITE_SESSION_KEY, None)
        return render_template("auth/invite_invalid.html"), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            clinician = accounts.accept_invitation(token, form.password.data)
        except accounts.AccountError as exc:  # validated above; kept for a race with the owner
            abort(400, str(exc))
        db.session.commit()
        _start_session(clinician)
        flash("Welcome to Tandem. Your password is set.", "success")
        return redirect(url_for("main.home"))
    return render_template("auth/accept_invite.html", form=form, clinician=token.clinician)
