import functools
import json
import logging

import segno
import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import contains_eager, joinedload, selectinload, undefer

from clinic import audit, catalog, dashboard, scores_csv
from clinic.blueprints.couples import bp
from clinic.blueprints.couples.forms import (
    ActionForm,
    AssessmentForm,
    CheckinScheduleForm,
    CoupleForm,
    DashboardFilterForm,
    DeleteCoupleForm,
    PrepNotesForm,
    ReissueForm,
    ReportForm,
    SafetyReviewForm,
)
from clinic.blueprints.couples.views import charts_for
from clinic.brief import build_brief
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.models import (
    Assessment,
    Clinician,
    Couple,
    CoupleStatus,
    Invitation,
    Report,
    ReportKind,
    ReportStatus,
)
from clinic.reports import jobs
from clinic.reports.context import summary_sharing
from clinic.results import load_couple_results
from clinic.scoping import couples_in_scope, get_or_404, scope_params
from clinic.services import checkins, couples, data_rights, invitations, safety

log = logging.getLogger(__name__)
STATUS_LABELS = {
    CoupleStatus.NOTHING_SENT: "Nothing sent",
    CoupleStatus.WAITING: "Waiting",
    CoupleStatus.IN_PROGRESS: "In progress",
    CoupleStatus.COMPLETED: "Completed",
    CoupleStatus.EXPIRED: "Expired",
}
INVITATION_STATES = {
    "not_opened": "Not opened yet",
    "opened": "Opened",
    "in_progress": "In progress",
    "submitted": "Submitted",
    "expired": "Expired",
    "revoked": "Revoked",
}


@bp.app_context_processor
def labels():
    return {"STATUS_LABELS": STATUS_LABELS, "INVITATION_STATES": INVITATION_STATES}


@bp.route("/")
@login_required
def index():
    """The dashboard: the clinician's couples (the owner's: the whole practice's)."""
    form = DashboardFilterForm(request.args)
    form.validate()
    q = (form.q.data or "").strip() if not form.q.errors else ""
    status = form.status.data if not form.status.errors else ""
    page = form.page.data if (form.page.data and not form.page.errors) else 1
    now = utcnow()

    rows, has_next = dashboard.page(
        current_user,
        status=status,
        q=q,
        page=page,
        now=now,
        not_started_days=current_user.practice.reminder_after_days,
    )
    return render_template(
        "couples/index.html",
        form=form,
        couples=rows,
        show_therapist=current_user.is_owner,
        has_next=has_next,
        page=page,
        q=q,
        status=status,
        now=now,
    )


def _clinician_choices(form: CoupleForm) -> None:
    """Owners assign couples to any active clinician; others keep their own."""
    if current_user.is_owner:
        active = db.session.scalars(
            sa.select(Clinician)
            .where(Clinician.practice_id == current_user.practice_id, Clinician.active.is_(True))
            .order_by(Clinician.name)
        ).all()
        form.clinician_id.choices = [(c.id, c.name) for c in active]
    else:
        del form.clinician_id


def _partner_details(form: CoupleForm) -> list[couples.PartnerDetails]:
    return [
        couples.PartnerDetails(
            display_name=sub.form.display_name.data or "",
            email=sub.form.email.data,
            pronouns=sub.form.pronouns.data,
        )
        for sub in (form.partner_a, form.partner_b)
    ]


def _chosen_clinician(form: CoupleForm) -> Clinician | None:
    if not current_user.is_owner or not form.clinician_id.data:
        return None
    clinician = db.session.get(Clinician, form.clinician_id.data)
    if clinician is None or clinician.practice_id != current_user.practice_id:
        abort(404)
    return clinician


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Add a couple and its two partners."""
    form = CoupleForm()
    _clinician_choices(form)
    if request.method == "GET" and current_user.is_owner:
        form.clinician_id.data = current_user.id
    if form.validate_on_submit():
        try:
            couple = couples.create_couple(
                current_user.practice,
                _chosen_clinician(form) or current_user,
                label=form.label.data,
                partners=_partner_details(form),
            )
        except couples.CoupleError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Couple {couple.label} added.", "success")
            return redirect(url_for("couples.detail", couple_id=couple.id))
    status = 400 if form.errors else 200
    return render_template("couples/form.html", form=form, couple=None), status


def _load_couple(couple_id: int) -> Couple:
    """The couple with its partners, assessments and invitations, or 404."""
    return get_or_404(
        Couple,
        couple_id,
        selectinload(Couple.partners),
        selectinload(Couple.assessments).selectinload(Assessment.invitations),
    )


@functools.cache
def _couple_view(owner: bool) -> sa.Select:
    """The couple view's couple (scoped like get_or_404, with its therapist and notes), built once."""
    return (
        couples_in_scope(owner=owner)
        .where(Couple.id == sa.bindparam("couple_id"))
        .options(joinedload(Couple.clinician), undefer(Couple.prep_notes))
    )


@bp.route("/<int:couple_id>")
@login_required
def detail(couple_id: int):
    """The couple view: the session brief first, then each questionnaire, change over time and the links."""
    return _detail_page(couple_id)


def _detail_page(couple_id: int, checkin_form: CheckinScheduleForm | None = None, status: int = 200):
    """The couple view; a refused check-in schedule form comes back in it as typed, with its messages."""
    couple = db.session.scalar(
        _couple_view(current_user.is_owner), {**scope_params(current_user), "couple_id": couple_id}
    )
    if couple is None:
        abort(404)
    results = load_couple_results(couple)
    if results.has_results:
        audit.record("couple.results_viewed", couple_id=couple.id)
        db.session.commit()
    shown = _shown_assessment(results, request.args.get("assessment", type=int))
    now = utcnow()
    registry = catalog.registry()
    couple_checkins = checkins.for_couple(couple, current_user.practice.timezone, now)
    return render_template(
        "couples/detail.html",
        couple=couple,
        clinician=couple.clinician,
        results=results,
        shown=shown,
        brief=build_brief(results, shown, now, couple_checkins.trend, registry.latest(checkins.INSTRUMENT)),
        charts=charts_for(results, shown),
        partners=results.partners,
        partners_by_id={p.id: p for p in results.partners.values()},
        assessments=list(reversed(results.assessments)),
        # The assessments a partner sent something for: the ones worth showing.
        pickable=[a for a in reversed(results.assessments) if any(results.submitted[a.id].values())],
        titles={key: registry.get(*key).title for a in results.assessments for key in a.instrument_keys},
        reissue_form=ReissueForm(formdata=None, expiry_days=current_user.practice.invite_expiry_days),
        notes_form=PrepNotesForm(formdata=None, notes=couple.prep_notes),
        report_form=ReportForm(formdata=None),
        sharing=summary_sharing(results),
        note_limit=ReportForm.NOTE_LIMIT,
        checkins=couple_checkins,
        checkin_form=checkin_form or CheckinScheduleForm(formdata=None),
        now=now,
    ), status


def _shown_assessment(results, wanted: int | None):
    """The assessment whose results the page shows: the one asked for, else the default
    (CoupleResults.shown_by_default)."""
    by_id = {a.id: a for a in results.assessments}
    if wanted is not None:
        if wanted not in by_id:
            abort(404)
        return by_id[wanted]
    return results.shown_by_default


@bp.route("/<int:couple_id>/notes", methods=["POST"])
@login_required
def save_notes(couple_id: int):
    """Save the therapist's preparation notes."""
    couple = get_or_404(Couple, couple_id)
    form = PrepNotesForm()
    if not form.validate_on_submit():
        flash("The notes could not be saved: " + " ".join(form.notes.errors or ["please try again."]), "error")
        return redirect(url_for("couples.detail", couple_id=couple_id) + "#notes")
    couples.save_prep_notes(couple, form.notes.data)
    db.session.commit()
    flash("Notes saved.", "success")
    return redirect(url_for("couples.detail", couple_id=couple_id) + "#notes")


@bp.route("/<int:couple_id>/safety/<int:invitation_id>/<instrument_id>/<item_id>", methods=["POST"])
@login_required
def review_safety(couple_id: int, invitation_id: int, instrument_id: str, item_id: str):
    """Mark one safety flag as reviewed, with a short note."""
    invitation = _load_invitation(couple_id, invitation_id)
    form = SafetyReviewForm()
    if not form.validate_on_submit():
        flash("The review was not saved: " + " ".join(form.note.errors or ["please try again."]), "error")
        return redirect(url_for("couples.detail", couple_id=couple_id) + "#safety")
    try:
        safety.review_flag(
            invitation, instrument_id=instrument_id, item_id=item_id, note=form.note.data, by=current_user
        )
    except safety.SafetyError:
        abort(404)
    db.session.commit()
    flash("Safety flag marked as reviewed.", "success")
    return redirect(url_for("couples.detail", couple_id=couple_id) + "#safety")


@bp.route("/<int:couple_id>/edit", methods=["GET", "POST"])
@login_required
def edit(couple_id: int):
    """Change the label, partner details or (owner) the therapist."""
    couple = _load_couple(couple_id)
    partner_a, partner_b = couple.partners
    form = CoupleForm(
        data={
            "label": couple.label,
            "clinician_id": couple.clinician_id,
            "partner_a": {
                "display_name": partner_a.display_name,
                "email": partner_a.email,
                "pronouns": partner_a.pronouns,
            },
            "partner_b": {
                "display_name": partner_b.display_name,
                "email": partner_b.email,
                "pronouns": partner_b.pronouns,
            },
        }
    )
    _clinician_choices(form)
    if form.validate_on_submit():
        try:
            couples.update_couple(
                couple, label=form.label.data, partners=_partner_details(form), clinician=_chosen_clinician(form)
            )
        except couples.CoupleError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("Changes saved.", "success")
            return redirect(url_for("couples.detail", couple_id=couple.id))
    status = 400 if form.errors else 200
    return render_template("couples/form.html", form=form, couple=couple), status


@bp.route("/<int:couple_id>/archive", methods=["POST"])
@login_required
def archive(couple_id: int):
    """Archive a couple: it leaves the dashboard and its open links stop working."""
    couple = get_or_404(Couple, couple_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    couples.set_archived(couple, True)
    db.session.commit()
    flash(f"{couple.label} is archived. Open links no longer work.", "success")
    return redirect(url_for("couples.detail", couple_id=couple.id))


@bp.route("/<int:couple_id>/unarchive", methods=["POST"])
@login_required
def unarchive(couple_id: int):
    """Bring an archived couple back to the dashboard."""
    couple = get_or_404(Couple, couple_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    couples.set_archived(couple, False)
    db.session.commit()
    flash(f"{couple.label} is back on your dashboard.", "success")
    return redirect(url_for("couples.detail", couple_id=couple.id))


def _checkins_anchor(couple_id: int) -> str:
    return url_for("couples.detail", couple_id=couple_id) + "#checkins"


@bp.route("/<int:couple_id>/checkins", methods=["POST"])
@login_required
def set_checkins(couple_id: int):
    """Set or replace the couple's check-in schedule; a refused form comes back as typed, nothing changed."""
    couple = get_or_404(Couple, couple_id)
    form = CheckinScheduleForm()
    if form.validate_on_submit():
        try:
            checkins.set_schedule(
                couple,
                cadence=form.cadence.data,
                lead_hours=form.lead_hours.data,
                session_time=form.session_time.data,
                first_date=form.first_date.data,
                dates_text=form.dates.data or "",
            )
        except checkins.CheckinError as exc:
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash("Check-ins scheduled. Each partner gets their own link before every session.", "success")
            return redirect(_checkins_anchor(couple_id))
    elif form.csrf_token.errors:
        form.form_errors.append("The form had expired, so nothing was saved. Please try again.")
    return _detail_page(couple_id, checkin_form=form, status=400)


def _change_checkins(couple_id: int, change, done: str):
    """Pause, resume or end the couple's check-ins (a button: CSRF only)."""
    couple = get_or_404(Couple, couple_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        change(couple)
    except checkins.CheckinError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(_checkins_anchor(couple_id))


@bp.route("/<int:couple_id>/checkins/pause", methods=["POST"])
@login_required
def pause_checkins(couple_id: int):
    """Stop sending check-ins until they are resumed."""
    return _change_checkins(couple_id, checkins.pause, "Check-ins are paused. Nothing is sent until you resume.")


@bp.route("/<int:couple_id>/checkins/resume", methods=["POST"])
@login_required
def resume_checkins(couple_id: int):
    """Send check-ins again, from the next session on."""
    return _change_checkins(couple_id, checkins.resume, "Check-ins resumed from the next session.")


@bp.route("/<int:couple_id>/checkins/end", methods=["POST"])
@login_required
def end_checkins(couple_id: int):
    """End the check-in schedule; check-ins already answered stay."""
    return _change_checkins(couple_id, checkins.end, "The check-in schedule has ended. Answers already given stay.")


def _instrument_choices() -> list[tuple[str, str]]:
    registry = catalog.registry()
    latest = [registry.latest(i) for i in registry.ids()]
    order = {iid: n for n, iid in enumerate(invitations.INTAKE)}
    latest.sort(key=lambda inst: (order.get(inst.id, len(order)), inst.title))
    return [(inst.id, f"{inst.title} (about {inst.minutes} min)") for inst in latest]


def _qr_data_uri(link: str) -> str:
    """A QR code of the link as an inline SVG image (no file, no external fetch)."""
    return segno.make(link, error="m").svg_data_uri(scale=5, border=2, dark="#1f2933")


def _deliver(invitation: Invitation, raw: str) -> str:
    """Email a link if the partner has an address; say in words what happened."""
    if not invitation.partner.email:
        return "no_email"
    try:
        invitations.send_link(invitation, raw)
    except invitations.MAIL_ERRORS:
        # The message (and its link) must not reach the log; the failure class is enough.
        log.warning("could not send a partner link email", exc_info=False)
        return "failed"
    return "sent"


def _links_page(couple: Couple, made: list[tuple[Invitation, str, str]], heading: str):
    links = [
        {
            "invitation": invitation,
            "partner": invitation.partner,
            "link": invitations.link_for(raw),
            "qr": _qr_data_uri(invitations.link_for(raw)),
            "delivery": delivery,
        }
        for invitation, raw, delivery in made
    ]
    return render_template("couples/links.html", couple=couple, links=links, heading=heading)


@bp.route("/<int:couple_id>/assessments/new", methods=["GET", "POST"])
@login_required
def new_assessment(couple_id: int):
    """Start an assessment: choose questionnaires and make each partner's private link."""
    couple = _load_couple(couple_id)
    practice = current_user.practice
    form = AssessmentForm()
    form.instruments.choices = _instrument_choices()
    if request.method == "GET":
        form.occasion.data = "Intake" if not couple.assessments else ""
        form.instruments.data = list(invitations.INTAKE)
        form.expiry_days.data = practice.invite_expiry_days
        form.send_email.data = any(p.email for p in couple.partners)
    if form.validate_on_submit():
        try:
            assessment, tokens = invitations.start_assessment(
                couple,
                occasion=form.occasion.data,
                instrument_ids=form.instruments.data,
                expiry_days=form.expiry_days.data,
                by=current_user,
            )
        except invitations.InvitationError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            made = []
            for invitation in assessment.invitations:
                raw = tokens[invitation.partner_id]
                delivery = _deliver(invitation, raw) if form.send_email.data else "not_sent"
                made.append((invitation, raw, delivery))
            db.session.commit()
            return _links_page(couple, made, f"Links for {assessment.occasion}")
    status = 400 if form.errors else 200
    return render_template("couples/assessment_form.html", form=form, couple=couple), status


def _load_invitation(couple_id: int, invitation_id: int) -> Invitation:
    """An invitation of this couple, reachable by the current clinician, or 404."""
    invitation = get_or_404(
        Invitation,
        invitation_id,
        contains_eager(Invitation.assessment).contains_eager(Assessment.couple),
        selectinload(Invitation.partner),
    )
    if invitation.assessment.couple_id != couple_id:
        abort(404)
    return invitation


@bp.route("/<int:couple_id>/invitations/<int:invitation_id>/reissue", methods=["POST"])
@login_required
def reissue(couple_id: int, invitation_id: int):
    """A new link for one partner; the old link stops working at once."""
    invitation = _load_invitation(couple_id, invitation_id)
    form = ReissueForm()
    if not form.validate_on_submit():
        flash("Enter how many days the new link should work (1 to 90).", "error")
        return redirect(url_for("couples.detail", couple_id=couple_id))
    try:
        raw = invitations.reissue(invitation, expiry_days=form.expiry_days.data)
    except invitations.InvitationError as exc:
        flash(str(exc), "error")
        return redirect(url_for("couples.detail", couple_id=couple_id))
    db.session.commit()
    delivery = _deliver(invitation, raw) if form.send_email.data else "not_sent"
    db.session.commit()
    return _links_page(invitation.assessment.couple, [(invitation, raw, delivery)], "A new link")


@bp.route("/<int:couple_id>/invitations/<int:invitation_id>/revoke", methods=["POST"])
@login_required
def revoke(couple_id: int, invitation_id: int):
    """Stop one partner's link from working; saved answers stay."""
    invitation = _load_invitation(couple_id, invitation_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        invitations.revoke(invitation)
    except invitations.InvitationError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{invitation.partner.display_name}'s link no longer works.", "success")
    return redirect(url_for("couples.detail", couple_id=couple_id))


@bp.route("/<int:couple_id>/invitations/<int:invitation_id>/remind", methods=["POST"])
@login_required
def remind(couple_id: int, invitation_id: int):
    """Email one partner a reminder now, with a further link (their earlier one keeps working)."""
    invitation = _load_invitation(couple_id, invitation_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    name = invitation.partner.display_name
    try:
        invitations.send_reminder(invitation)
    except invitations.InvitationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    except invitations.MAIL_ERRORS:
        db.session.rollback()
        log.warning("could not send a reminder email")
        flash("The reminder could not be sent: the mail server did not accept it. Please try again later.", "error")
    else:
        db.session.commit()
        flash(f"Reminder sent to {name}. The link they already had keeps working too.", "success")
    return redirect(url_for("couples.detail", couple_id=couple_id))


@bp.route("/<int:couple_id>/reports", methods=["POST"])
@login_required
def request_report(couple_id: int):
    """Ask for a PDF: an unchanged one comes back at once, otherwise it is queued."""
    couple = get_or_404(Couple, couple_id, undefer(Couple.prep_notes))
    form = ReportForm()
    if not form.validate_on_submit():
        flash(" ".join(form.kind.errors or form.note.errors or ["Choose which PDF to prepare."]), "error")
        return redirect(url_for("couples.detail", couple_id=couple_id) + "#report")
    kind = ReportKind(form.kind.data)
    report, render = jobs.request_report(
        couple,
        kind=kind,
        appendix=bool(form.appendix.data) and kind == ReportKind.CLINICIAN,
        note=form.note.data or "",
    )
    db.session.commit()
    if render and not jobs.enqueue(report.id):
        # Neither Redis nor the in-process pool took it (the web process is shutting down):
        # the row is marked failed, and its page offers to try again rather than preparing forever.
        db.session.commit()
        flash("The PDF could not be queued just now. Please try again in a moment.", "error")
    return redirect(url_for("couples.report", couple_id=couple_id, report_id=report.id))


def _load_report(couple_id: int, report_id: int) -> Report:
    report = get_or_404(Report, report_id, contains_eager(Report.couple))
    if report.couple_id != couple_id:
        abort(404)
    return report


@bp.route("/<int:couple_id>/reports/<int:report_id>")
@login_required
def report(couple_id: int, report_id: int):
    """Where a PDF stands: preparing (a small script asks again; "Check again" without it), ready, or failed."""
    report = _load_report(couple_id, report_id)
    couple = report.couple
    if jobs.expire_if_stale(report):
        # Its job was lost (a worker killed or restarted): show it as failed, with a retry.
        db.session.commit()
    return render_template("couples/report.html", report=report, couple=couple, form=ReportForm(formdata=None))


@bp.route("/<int:couple_id>/reports/<int:report_id>/download")
@login_required
def download_report(couple_id: int, report_id: int):
    """The finished PDF; never cached anywhere, and every download is recorded."""
    report = _load_report(couple_id, report_id)
    if report.status != ReportStatus.READY or report.pdf is None:
        abort(404)
    audit.record("report.downloaded", couple_id=couple_id, target=f"report:{report.id}")
    db.session.commit()
    name = "session-prep" if report.kind == ReportKind.CLINICIAN else "couple-summary"
    response = make_response(report.pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{report.id}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:couple_id>/export")
@login_required
def export(couple_id: int):
    """Everything held about the couple, as a JSON file (recorded in the audit trail)."""
    couple = get_or_404(Couple, couple_id)
    data = data_rights.export_couple(couple)
    audit.record("couple.exported", couple_id=couple.id, target=f"couple:{couple.id}")
    db.session.commit()
    response = make_response(json.dumps(data, ensure_ascii=False, indent=2))
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="tandem-couple-{couple.id}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:couple_id>/export.csv")
@login_required
def export_csv(couple_id: int):
    """The couple's scores as a CSV file, a row per partner, assessment and area (recorded in the audit trail)."""
    couple = get_or_404(Couple, couple_id)
    text = scores_csv.couple_csv(couple, current_user.practice.timezone)
    audit.record("couple.exported_csv", couple_id=couple.id, target=f"couple:{couple.id}")
    db.session.commit()
    response = make_response(text)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="tandem-couple-{couple.id}-scores.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:couple_id>/delete", methods=["POST"])
@login_required
def delete(couple_id: int):
    """Delete the couple and everything about them, after typing their label."""
    couple = get_or_404(Couple, couple_id)
    form = DeleteCoupleForm()
    if not form.validate_on_submit() or form.confirm.data.strip() != couple.label:
        flash("Nothing was deleted: type the couple's label exactly to confirm.", "error")
        return redirect(url_for("couples.detail", couple_id=couple_id) + "#delete")
    data_rights.delete_couple(couple)
    db.session.commit()
    flash("The couple and all their data were deleted.", "success")
    return redirect(url_for("couples.index"))
