from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional


class InviteClinicianForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField(
        "Email",
        validators=[DataRequired(), Email(message="Enter an email address like name@example.org."), Length(max=254)],
    )
    credential = StringField(
        "Credential", validators=[Optional(), Length(max=40)], description='Optional, e.g. "LMFT" or "LCSW".'
    )
    submit = SubmitField("Create invitation link")


class ClinicianActionForm(FlaskForm):
    """An empty form: a button that carries the CSRF token."""

    submit = SubmitField()
