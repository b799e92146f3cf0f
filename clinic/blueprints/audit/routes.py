from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import abort, render_template, request
from flask_login import current_user, login_required
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from clinic import MAX_ID
from clinic.blueprints.audit import bp
from clinic.extensions import db
from clinic.forms import Form, sensible_date
from clinic.models import AuditEvent, Clinician, Couple
from clinic.templating import practice_zone

PAGE_SIZE = 100


class AuditFilterForm(Form):
    """Filters for the audit trail (a GET form)."""

    class Meta:
        csrf = False

    action = StringField(
        "Action starts with", validators=[Optional(), Length(max=60)], description='e.g. "report" or "signin"'
    )
    clinician = SelectField("Who", coerce=int, validators=[Optional()])
    couple = IntegerField("Couple number", validators=[Optional(), NumberRange(min=1, max=MAX_ID)])
    start = DateField("From", validators=[Optional(), sensible_date])
    end = DateField("Until", validators=[Optional(), sensible_date])
    before = IntegerField(validators=[Optional(), NumberRange(min=1, max=MAX_ID)])


@bp.route("/")
@login_required
def index():
    """The practice's audit trail, newest first, with filters (owner only)."""
    if not current_user.is_owner:
        abort(404)
    clinicians = db.session.scalars(
        sa.select(Clinician).where(Clinician.practice_id == current_user.practice_id).order_by(Clinician.name)
    ).all()
    form = AuditFilterForm(request.args)
    form.clinician.choices = [(0, "Anyone")] + [(c.id, c.name) for c in clinicians]
    form.validate()
    stmt = sa.select(AuditEvent).where(AuditEvent.practice_id == current_user.practice_id)
    if form.action.data and not form.action.errors:
        prefix = form.action.data.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(AuditEvent.action.like(f"{prefix}%", escape="\\"))
    if form.clinician.data and not form.clinician.errors:
        stmt = stmt.where(AuditEvent.actor_id == form.clinician.data)
    if form.couple.data and not form.couple.errors:
        stmt = stmt.where(AuditEvent.couple_id == form.couple.data)
    zone = practice_zone()
    if form.start.data and not form.start.errors:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(form.start.data, time.min, zone))
    if form.end.data and not form.end.errors:
        stmt = stmt.where(AuditEvent.at < datetime.combine(form.end.data + timedelta(days=1), time.min, zone))
    if form.before.data and not form.before.errors:
        stmt = stmt.where(AuditEvent.id < form.before.data)
    # Keyset paging on the id: no OFFSET scans however long the trail grows.
    events = db.session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1)).all()
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    couple_ids = {e.couple_id for e in events if e.couple_id}
    labels = (
        dict(
            db.session.execute(
                sa.select(Couple.id, Couple.label).where(
                    Couple.id.in_(couple_ids), Couple.practice_id == current_user.practice_id
                )
            ).all()
        )
        if couple_ids
        else {}
    )
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "audit/index.html",
        form=form,
        events=events,
        names={c.id: c.name for c in clinicians},
        labels=labels,
        next_args={**args, "before": events[-1].id} if more and events else None,
    )
