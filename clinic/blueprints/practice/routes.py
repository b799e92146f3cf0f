from datetime import timedelta
from functools import wraps

from flask import abort, current_app, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required

from clinic import audit, scores_csv
from clinic.blueprints.practice import bp
from clinic.blueprints.practice.forms import (
    ClinicianActionForm,
    InviteClinicianForm,
    OwnerCodeForm,
    PracticeSettingsForm,
)
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.links import external_url
from clinic.mail import send_email
from clinic.models import Clinician
from clinic.scoping import get_or_404, scoped_select
from clinic.services import accounts, recovery, twofactor


def owner_required(view):
    """Owner-only pages look like missing pages to everyone else."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_owner:
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _invite_lifetime() -> timedelta:
    return timedelta(hours=current_app.config["CLINICIAN_INVITE_HOURS"])


def _send_invitation(clinician: Clinician, token: str) -> str:
    """Email the invitation link and return it for the owner to copy."""
    link = external_url("auth.open_invitation", token=token)
    hours = current_app.config["CLINICIAN_INVITE_HOURS"]
    body = render_template(
        "email/clinician_invite.txt", clinician=clinician, owner=current_user, link=link, hours=hours
    )
    send_email(clinician.email, f"Your Tandem account at {clinician.practice.name}", body)
    return link


def _clinicians_page(
    form: InviteClinicianForm, new_link: str | None = None, status: int = 200, refused: dict | None = None
):
    """The clinicians page; `refused` puts a recovery form's error ({action, clinician_id, message}) beside it."""
    clinicians = db.session.scalars(scoped_select(Clinician).order_by(Clinician.name, Clinician.id)).all()
    return (
        render_template(
            "practice/clinicians.html",
            clinicians=clinicians,
            locked={c.id for c in clinicians if accounts.is_locked(c)},
            form=form,
            action_form=ClinicianActionForm(),
            new_link=new_link,
            refused=refused,
        ),
        status,
    )


@bp.route("/clinicians")
@owner_required
def clinicians():
    """The practice's clinicians, and a form to invite one."""
    return _clinicians_page(InviteClinicianForm())


@bp.route("/clinicians/invite", methods=["POST"])
@owner_required
def invite():
    """Create a clinician account and its one-time invitation link."""
    form = InviteClinicianForm()
    if not form.validate_on_submit():
        return _clinicians_page(form, status=400)
    try:
        clinician, token = accounts.invite_clinician(
            current_user.practice,
            name=form.name.data,
            email=form.email.data,
            credential=form.credential.data,
            lifetime=_invite_lifetime(),
        )
    except accounts.AccountError as exc:
        form.email.errors.append(str(exc))
        return _clinicians_page(form, status=400)
    db.session.commit()
    link = _send_invitation(clinician, token)
    flash(f"Invitation created for {clinician.name} and emailed. The link is shown once, below.", "success")
    return _clinicians_page(InviteClinicianForm(formdata=None), new_link=link)


@bp.route("/clinicians/<int:clinician_id>/resend", methods=["POST"])
@owner_required
def resend(clinician_id: int):
    """A new invitation link for a clinician who has not joined yet; the old link dies."""
    clinician = get_or_404(Clinician, clinician_id)
    if not ClinicianActionForm().validate_on_submit():
        abort(400)
    try:
        token = accounts.reissue_invitation(clinician, lifetime=_invite_lifetime())
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("practice.clinicians"))
    db.session.commit()
    link = _send_invitation(clinician, token)
    flash(f"A new invitation was emailed to {clinician.name}. Earlier links no longer work.", "success")
    return _clinicians_page(InviteClinicianForm(formdata=None), new_link=link)


@bp.route("/clinicians/<int:clinician_id>/deactivate", methods=["POST"])
@owner_required
def deactivate(clinician_id: int):
    """Lock a clinician out; their open sessions end at once."""
    clinician = get_or_404(Clinician, clinician_id)
    if not ClinicianActionForm().validate_on_submit():
        abort(400)
    try:
        accounts.deactivate_clinician(clinician, by=current_user)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{clinician.name} can no longer sign in.", "success")
    return redirect(url_for("practice.clinicians"))


@bp.route("/clinicians/<int:clinician_id>/reactivate", methods=["POST"])
@owner_required
def reactivate(clinician_id: int):
    """Let a deactivated clinician sign in again."""
    clinician = get_or_404(Clinician, clinician_id)
    if not ClinicianActionForm().validate_on_submit():
        abort(400)
    accounts.reactivate_clinician(clinician)
    db.session.commit()
    flash(f"{clinician.name} can sign in again.", "success")
    return redirect(url_for("practice.clinicians"))


def _help_signin(clinician_id: int, action: str, operation, done: str):
    """One of the owner's recovery actions on a clinician: the owner's code checked, then done and audited."""
    clinician = get_or_404(Clinician, clinician_id)
    form = OwnerCodeForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        refused = {"action": action, "clinician_id": clinician.id, "message": form.code.errors[0]}
        return _clinicians_page(InviteClinicianForm(formdata=None), status=400, refused=refused)
    try:
        operation(clinician, by=current_user, code=form.code.data)
    except twofactor.TwoFactorError as exc:
        db.session.commit()  # a wrong code still counts towards the owner's own sign-in lock
        refused = {"action": action, "clinician_id": clinician.id, "message": str(exc)}
        return _clinicians_page(InviteClinicianForm(formdata=None), status=400, refused=refused)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("practice.clinicians"))
    db.session.commit()
    flash(done.format(name=clinician.name), "success")
    return redirect(url_for("practice.clinicians"))


@bp.route("/clinicians/<int:clinician_id>/unlock", methods=["POST"])
@owner_required
def unlock(clinician_id: int):
    """Clear a clinician's sign-in lock after too many wrong attempts."""
    return _help_signin(clinician_id, "unlock", recovery.unlock_signin, "{name} is unlocked and can sign in again now.")


@bp.route("/clinicians/<int:clinician_id>/reset-two-factor", methods=["POST"])
@owner_required
def reset_two_factor(clinician_id: int):
    """Turn off a clinician's two-factor sign-in (a lost phone); they set it up again where the practice requires it."""
    done = "Two-factor sign-in for {name} is reset, and they were signed out everywhere. "
    if current_user.practice.require_two_factor:
        done += "At their next sign-in they will be asked to set it up again with their new phone."
    else:
        done += "It is now off: they sign in with their password alone until they set it up again."
    return _help_signin(clinician_id, "reset", recovery.reset_two_factor, done)


@bp.route("/settings", methods=["GET", "POST"])
@owner_required
def settings():
    """The practice's name, time zone, link and reminder defaults, crisis text and neutral leave site."""
    practice = current_user.practice
    form = PracticeSettingsForm(obj=practice)
    if form.validate_on_submit():
        before = {name: getattr(practice, name) for name in form.data if hasattr(practice, name)}
        form.populate_obj(practice)
        changed = sorted(name for name, value in before.items() if getattr(practice, name) != value)
        # The names of the settings that changed, not their values (the crisis text is free text).
        audit.record("practice.settings_changed", practice_id=practice.id, detail={"changed": changed})
        db.session.commit()
        flash("Settings saved.", "success")
        return redirect(url_for("practice.settings"))
    return render_template("practice/settings.html", form=form), (400 if form.errors else 200)


@bp.route("/export.csv")
@owner_required
def export_csv():
    """Every couple's scores as one CSV file (recorded in the audit trail). It is made whole before it
    is sent: a file the size of a practice's scores (about 5 KB a couple: 9 MB and 5 s for 2,000 couples); for a very large practice
    the `export-csv` command writes the same file without a request's time limit."""
    practice = current_user.practice
    ids = scores_csv.practice_couple_ids(practice.id)
    text = "".join(scores_csv.practice_lines(ids, practice.id, practice.timezone))
    audit.record("practice.exported_csv", target=f"practice:{practice.id}", detail={"couples": len(ids)})
    db.session.commit()
    response = make_response(text)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    stamp = utcnow().strftime("%Y%m%d")
    response.headers["Content-Disposition"] = f'attachment; filename="tandem-scores-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
