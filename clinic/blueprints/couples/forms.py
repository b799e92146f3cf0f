from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FormField,
    IntegerField,
    RadioField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.form import Form as SubForm
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from clinic.forms import Form
from clinic.reports.context import LIMITS
from clinic.services.checkins import MAX_LEAD_HOURS, MIN_LEAD_HOURS
from clinic.services.invitations import MAX_EXPIRY_DAYS

STATUS_CHOICES = [
    ("", "Any status"),
    ("attention", "Needs attention"),
    ("nothing_sent", "Nothing sent"),
    ("waiting", "Waiting"),
    ("in_progress", "In progress"),
    ("completed", "Completed"),
    ("expired", "Expired"),
    ("archived", "Archived"),
]


class DashboardFilterForm(Form):
    """The dashboard's search box and status filter (a GET form: no CSRF needed)."""

    class Meta:
        csrf = False

    q = SearchField("Search by label", validators=[Optional(), Length(max=60)])
    status = SelectField("Status", choices=STATUS_CHOICES, validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=10_000)])


class PartnerForm(SubForm):
    display_name = StringField(
        "Name",
        validators=[DataRequired(message="Each partner needs a name."), Length(max=80)],
        description="How Tandem addresses them, e.g. a first name.",
    )
    email = EmailField(
        "Email",
        validators=[Optional(), Email(message="Enter an email address like name@example.org."), Length(max=254)],
        description="Optional: to email their link.",
    )
    pronouns = StringField("Pronouns", validators=[Optional(), Length(max=40)], description="Optional, e.g. she/her.")


class CoupleForm(Form):
    label = StringField(
        "Label",
        validators=[DataRequired(message="Give the couple a label, such as their initials."), Length(max=60)],
        description="Shown on your dashboard and reports, e.g. initials. Partners never see it.",
    )
    partner_a = FormField(PartnerForm, label="Partner A")
    partner_b = FormField(PartnerForm, label="Partner B")
    clinician_id = SelectField("Therapist", coerce=int, validators=[Optional()])
    submit = SubmitField("Save")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AssessmentForm(Form):
    occasion = StringField(
        "Occasion",
        validators=[DataRequired(message="Name the occasion, such as Intake."), Length(max=80)],
        description='For example "Intake" or "Week 6".',
    )
    instruments = MultiCheckboxField(
        "Questionnaires", validators=[DataRequired(message="Choose at least one questionnaire.")]
    )
    expiry_days = IntegerField(
        "Links work for (days)",
        validators=[InputRequired(message="Enter a number of days."), NumberRange(min=1, max=MAX_EXPIRY_DAYS)],
    )
    send_email = BooleanField("Email each partner their link now (partners without an email address get none)")
    submit = SubmitField("Create links")


class ReissueForm(Form):
    expiry_days = IntegerField(
        "New link works for (days)",
        validators=[InputRequired(message="Enter a number of days."), NumberRange(min=1, max=MAX_EXPIRY_DAYS)],
    )
    send_email = BooleanField("Email the new link")
    submit = SubmitField("Make a new link")


class ActionForm(Form):
    """A button that carries only the CSRF token."""

    submit = SubmitField()


class SafetyReviewForm(Form):
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=1000)])
    submit = SubmitField("Mark reviewed")


class PrepNotesForm(Form):
    notes = TextAreaField(
        "Your notes for the next session",
        validators=[Optional(), Length(max=20_000)],
        description="Only you (and the practice owner) see these. They appear in the session-prep report.",
    )
    submit = SubmitField("Save notes")


class ReportForm(Form):
    NOTE_LIMIT = LIMITS["note"]

    kind = RadioField(
        "Which PDF",
        choices=[
            ("clinician", "Session-prep report (for you)"),
            ("summary", "Couple summary (gentle, safe to hand to both partners)"),
        ],
        default="clinician",
        validators=[DataRequired(message="Choose which PDF to prepare.")],
    )
    appendix = BooleanField("Add an appendix with every answer of both partners (session-prep report only)")
    note = TextAreaField(
        "A short note to the couple (optional)",
        validators=[Optional(), Length(max=NOTE_LIMIT, message=f"Keep the note under {NOTE_LIMIT} characters.")],
        description="Printed at the end of the couple summary, as you write it. Not used in your own report.",
    )
    submit = SubmitField("Prepare PDF")


class DeleteCoupleForm(Form):
    confirm = StringField(
        "Type the couple's label to confirm",
        validators=[DataRequired(message="Type the label to confirm.")],
    )
    submit = SubmitField("Delete this couple and all their data")


class CheckinScheduleForm(Form):
    """A couple's check-in schedule; fields are named "checkin-…" so they never clash on the couple page."""

    cadence = RadioField(
        "The couple meets",
        choices=[("weekly", "Every week"), ("fortnightly", "Every two weeks"), ("dates", "On the dates listed below")],
        default="weekly",
        validators=[InputRequired(message="Choose how often the couple meets.")],
    )
    first_date = DateField(
        "Next session (date)",
        validators=[Optional()],
        description="Weekly and every two weeks: later sessions fall on the same weekday and time.",
    )
    session_time = TimeField(
        "Sessions start at", validators=[Optional()], description="In your practice's time zone, such as 18:00."
    )
    dates = TextAreaField(
        "Session dates (for set dates)",
        validators=[Optional(), Length(max=2000, message="Keep the list of dates under 2,000 characters.")],
        description="One per line, such as 2026-12-12 or 2026-12-12 18:00 (without a time, the time above).",
    )
    lead_hours = IntegerField(
        "Send the check-in this many hours before each session",
        default=24,
        validators=[
            InputRequired(message="Enter a number of hours, from 1 to 168."),
            NumberRange(
                min=MIN_LEAD_HOURS,
                max=MAX_LEAD_HOURS,
                message=f"Enter a number of hours from {MIN_LEAD_HOURS} to {MAX_LEAD_HOURS} (one week).",
            ),
        ],
    )
    submit = SubmitField("Save the schedule")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "checkin")
        super().__init__(*args, **kwargs)
