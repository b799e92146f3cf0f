from urllib.parse import urlsplit
from zoneinfo import available_timezones

from flask_login import current_user
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, ValidationError

from clinic.forms import Form
from clinic.models import DEFAULT_LEAVE_URL


class InviteClinicianForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField(
        "Email",
        validators=[DataRequired(), Email(message="Enter an email address like name@example.org."), Length(max=254)],
    )
    credential = StringField(
        "Credential", validators=[Optional(), Length(max=40)], description='Optional, e.g. "LMFT" or "LCSW".'
    )
    submit = SubmitField("Create invitation link")


class ClinicianActionForm(Form):
    """An empty form: a button that carries the CSRF token."""

    submit = SubmitField()


class OwnerCodeForm(Form):
    """A button that acts on another clinician's sign-in; with the owner's own app code when the owner uses two-factor."""

    # Optional here: whether a code is needed depends on the owner, and the service says so plainly.
    code = StringField("Your current code from your authenticator app", validators=[Optional(), Length(max=20)])
    submit = SubmitField()


def _zone_choices() -> list[tuple[str, str]]:
    return [(z, z.replace("_", " ")) for z in sorted(available_timezones()) if "/" in z or z == "UTC"]


class PracticeSettingsForm(Form):
    name = StringField("Practice name", validators=[DataRequired(), Length(max=120)])
    timezone = SelectField("Time zone", description="Dates and times in Tandem are shown in this zone.")
    invite_expiry_days = IntegerField(
        "Questionnaire links work for (days)",
        validators=[InputRequired(message="Enter a number of days."), NumberRange(min=1, max=90)],
        description="The default for new links; you can change it for each assessment.",
    )
    reminder_after_days = IntegerField(
        "Send a reminder after (days without submitting)",
        validators=[InputRequired(message="Enter a number of days."), NumberRange(min=1, max=30)],
    )
    reminder_max = IntegerField(
        "At most this many reminders per link",
        validators=[InputRequired(message="Enter a number (0 turns reminders off)."), NumberRange(min=0, max=5)],
    )
    # No DataRequired: it would mark the select `required`, which HTML allows only with an empty first
    # option; the choices alone refuse anything else ("Not a valid choice").
    report_page_size = SelectField("Paper size of PDF reports", choices=[("A4", "A4"), ("Letter", "US Letter")])
    crisis_text = TextAreaField(
        "Crisis information shown with the safety questions",
        validators=[DataRequired(), Length(max=2000)],
        description=(
            "Word it for your region: emergency numbers and crisis lines your clients can reach. "
            "Put each one on its own line; partners see them as a short list."
        ),
    )
    leave_url = URLField(
        "Where “Leave this page” goes",
        validators=[DataRequired(), Length(max=500)],
        # Left empty: the default site.
        filters=[lambda value: (value or "").strip() or DEFAULT_LEAVE_URL],
        description=(
            "Every partner page has a “Leave this page” button. It replaces the page, and its place in the "
            "browser's history, with this site. Choose one that says nothing about therapy. "
            f"Left empty, it is {DEFAULT_LEAVE_URL}."
        ),
    )
    require_two_factor = BooleanField(
        "Require two-factor sign-in for every clinician",
        description="Clinicians without it are asked to set it up the next time they use Tandem, before anything else.",
    )
    submit = SubmitField("Save settings")

    @staticmethod
    def validate_leave_url(form, field):
        parts = urlsplit(field.data)
        if parts.scheme not in ("https", "http") or not parts.netloc or any(c.isspace() for c in field.data):
            raise ValidationError(f"Enter a full web address that starts with https://, such as {DEFAULT_LEAVE_URL}.")

    @staticmethod
    def validate_require_two_factor(form, field):
        # Otherwise the owner would be sent to set it up the moment the settings are saved.
        if field.data and not current_user.two_factor_enabled:
            raise ValidationError("Turn on two-factor sign-in for your own account first (Account, Security).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = _zone_choices()
