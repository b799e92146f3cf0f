from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from clinic import passwords
from clinic.blueprints.auth.forms import NewPasswordMixin
from clinic.forms import Form


class ChangePasswordForm(Form, NewPasswordMixin):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)])
    password = PasswordField(
        "New password",
        validators=[DataRequired()],
        description=f"At least {passwords.MIN_LENGTH} characters. A short sentence is easy to remember.",
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )
    submit = SubmitField("Change password")


class StartTwoFactorForm(Form):
    """An empty form: a button that carries the CSRF token."""

    submit = SubmitField("Set up two-factor sign-in")


class ConfirmTwoFactorForm(Form):
    code = StringField(
        "Code from the app",
        validators=[DataRequired(), Length(max=20)],
        description="The 6-digit code your app shows for Tandem now.",
    )
    submit = SubmitField("Turn on two-factor sign-in")


class DisableTwoFactorForm(Form):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)])
    code = StringField(
        "Code from the app",
        validators=[DataRequired(), Length(max=40)],
        description="The code your app shows now, or one of your recovery codes.",
    )
    submit = SubmitField("Turn off two-factor sign-in")


class NewRecoveryCodesForm(Form):
    # Its own field name, not "code": the turn-off form on the same page has that id.
    app_code = StringField(
        "Code from the app",
        validators=[DataRequired(message="Enter the 6-digit code your authenticator app shows now."), Length(max=20)],
        description="The 6-digit code your app shows for Tandem now (a recovery code does not work here).",
    )
    submit = SubmitField("Make new recovery codes")
