"""HTTP for the outcomes overview (clinic.outcomes does the counting).

A clinician sees their own couples; the owner sees the practice's, and may narrow it to one
clinician. A clinician id outside that reach answers 404, as a foreign couple does.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, make_response, render_template, request
from flask_login import current_user, login_required
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from clinic import audit, outcomes
from clinic.blueprints.outcomes import bp
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.forms import Form, sensible_date
from clinic.models import Clinician
from clinic.scoping import scope_params
from clinic.templating import practice_zone, practice_zone_name

EVERYONE = 0
# What the overview counts until the filters say otherwise: the last twelve months. (Clearing
# "Sent from" counts everything; the work grows with the couples followed.)
DEFAULT_PERIOD = timedelta(days=365)


class OutcomesFilterForm(Form):
    """The overview's filters (a GET form)."""

    class Meta:
        csrf = False

    start = DateField(
        "Sent from",
        validators=[Optional(), sensible_date],
        default=lambda: (utcnow().astimezone(practice_zone()) - DEFAULT_PERIOD).date(),
        description="Empty: from the first assessment.",
    )
    end = DateField("Sent until", validators=[Optional(), sensible_date])
    clinician = SelectField("Therapist", coerce=int, validators=[Optional()], validate_choice=False)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators=extra_validators)
        if valid and self.start.data and self.end.data and self.start.data > self.end.data:
            self.end.errors = [*self.end.errors, "Choose an end on or after the start."]
            valid = False
        return valid


def _filters() -> tuple[OutcomesFilterForm, bool, int | None]:
    """The filter form from the query string, whether it holds usable filters, and the clinician
    to narrow to (None: everyone in reach). A clinician outside the signed-in one's reach is 404."""
    form = OutcomesFilterForm(request.args)
    clinician_id = None
    if current_user.is_owner:
        clinicians = db.session.execute(
            sa.select(Clinician.id, Clinician.name)
            .where(Clinician.practice_id == current_user.practice_id)
            .order_by(Clinician.name)
        ).all()
        form.clinician.choices = [(EVERYONE, "Everyone in the practice"), *clinicians]
    else:
        form.clinician.choices = [(current_user.id, current_user.name)]
    valid = form.validate()
    if "clinician" in request.args:
        if form.clinician.errors or form.clinician.data is None:
            abort(404)
        chosen = form.clinician.data
        if chosen not in {value for value, _ in form.clinician.choices}:
            abort(404)
        if current_user.is_owner and chosen != EVERYONE:
            clinician_id = chosen
    return form, valid, clinician_id


def _overview(form: OutcomesFilterForm, clinician_id: int | None) -> outcomes.Overview:
    return outcomes.load_overview(
        scope_params(current_user),
        owner=current_user.is_owner,
        zone=practice_zone_name(),
        period=outcomes.Period(form.start.data, form.end.data),
        clinician_id=clinician_id,
    )


@bp.route("/")
@login_required
def index():
    """The overview: change counted per questionnaire and the check-in average by session number."""
    form, valid, clinician_id = _filters()
    overview = _overview(form, clinician_id) if valid else None
    status = 200 if valid else 400
    return render_template("outcomes/index.html", form=form, overview=overview), status


@bp.route("/export.csv")
@login_required
def export():
    """The overview row by row as a de-identified CSV (recorded in the audit trail)."""
    form, valid, clinician_id = _filters()
    if not valid:
        return render_template("outcomes/index.html", form=form, overview=None), 400
    overview = _overview(form, clinician_id)
    text = outcomes.csv_text(overview)
    audit.record(
        "outcomes.exported",
        target=f"clinician:{clinician_id}" if clinician_id else None,
        detail={
            "rows": len(overview.changes) + len(overview.checkins),
            "couples": overview.followed,
            "from": form.start.data.isoformat() if form.start.data else None,
            "until": form.end.data.isoformat() if form.end.data else None,
            "scope": "practice" if current_user.is_owner and not clinician_id else "clinician",
        },
    )
    db.session.commit()
    response = make_response(text)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    stamp = utcnow().strftime("%Y%m%d")
    response.headers["Content-Disposition"] = f'attachment; filename="tandem-outcomes-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
