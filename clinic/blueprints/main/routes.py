from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from clinic import login
from clinic.blueprints.main import bp
from clinic.blueprints.main.forms import (
    ChangePasswordForm,
    ConfirmTwoFactorForm,
    DisableTwoFactorForm,
    StartTwoFactorForm,
)
from clinic.extensions import db
from clinic.services import accounts, twofactor


@bp.route("/")
@login_required
def home():
    """Signed-in clinicians start on their couples."""
    return redirect(url_for("couples.index"))


def _account_page(disable_form: DisableTwoFactorForm | None = None, status: int = 200):
    """The account page, with the turn-off form (and its errors) when one was just posted."""
    return (
        render_template(
            "main/account.html",
            start_form=StartTwoFactorForm(),
            disable_form=disable_form or DisableTwoFactorForm(formdata=None),
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


@bp.route("/healthz")
def healthz():
    """Liveness check for load balancers; touches nothing."""
    return {"status": "ok"}
