from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from clinic import passwords
from clinic.forms import Form


class SignInForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)])
    next = HiddenField()
    submit = SubmitField("Sign in")


class TwoFactorCodeForm(Form):
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=40)],
        description="The 6-digit code your authenticator app shows now, or one of your recovery codes.",
    )
    submit = SubmitField("Continue")


class NewPasswordMixin:
    @staticmethod
    def validate_password(form, field):
        problem = passwords.password_problem(field.data or "")
        if problem:
            raise ValidationError(problem)


class SetPasswordForm(Form, NewPasswordMixin):
    password = PasswordField(
        "New password",
        validators=[DataRequired()],
        description=f"At least {passwords.MIN_LENGTH} characters. A short sentence is easy to remember.",
    )
    confirm = PasswordField(
        "Repeat the password", validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")]
    )
    submit = SubmitField("Set password and sign in")


class ResetPasswordForm(SetPasswordForm):
    submit = SubmitField("Set the new password")


class ForgotPasswordForm(Form):
    email = EmailField(
        "Email",
        validators=[
            DataRequired(),
            Email(message="Enter an email address like name@example.org."),
            Length(max=254),
        ],
    )
    submit = SubmitField("Email me a link")


class SignOutForm(Form):
    submit = SubmitField("Sign out")
