"""The base of every form: what no field may hold, whatever the form."""

from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

NUL_MESSAGE = "This contains an invisible character (NUL) that can't be saved. Please retype it."


class Form(FlaskForm):
    """A FlaskForm that refuses the NUL character in any text field.

    PostgreSQL text cannot hold it (SQLite can): without this a stray NUL in a
    name or a search box would be a server error on one database and not the other.
    """

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators=extra_validators)
        for field in _fields(self):
            if isinstance(field.data, str) and "\x00" in field.data:
                field.errors = [*field.errors, NUL_MESSAGE]
                valid = False
        return valid


def _fields(form):
    """Every field of a form, including those of its sub-forms (FormField)."""
    for field in form:
        if hasattr(field, "form") and hasattr(field.form, "_fields"):
            yield from _fields(field.form)
        else:
            yield field


def sensible_date(form, field):
    """Dates the practice's records can hold; year 1 or 9999 would overflow time-zone arithmetic."""
    if field.data and not 2000 <= field.data.year <= 2999:
        raise ValidationError("Choose a date between the years 2000 and 2999.")
