"""The partner's forms: one built per instrument from its definition, and the final send."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from flask import get_template_attribute
from markupsafe import Markup
from wtforms import BooleanField, Field, RadioField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from clinic.forms import Form
from clinic.memo import memo
from instruments import Instrument

# Field names get a prefix so an item id can never shadow a form attribute ("data", "meta"…).
FIELD_PREFIX = "item_"
CHOOSE_SHOWN = "Please choose one of the answers shown."


class ChoiceAnswer(RadioField):
    """One item's radio group; anything but one of its scale's values is refused in plain words."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(CHOOSE_SHOWN) from None

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError(CHOOSE_SHOWN) from None

    def options_html(self) -> Markup:
        """The group's radio buttons with the current answer checked (templates/client/_choices.html).

        WTForms' per-option sub-fields and widgets cost more than the rest of a 38-item
        page together; the markup of an item with a given answer never changes, so it is
        rendered once per process and kept."""
        key = (self.id, self.name, tuple(self.choices), self.data)
        kept = memo("choices")
        html = kept.get(key)
        if html is None:
            # An autoescaped template: the macro returns Markup with every value escaped.
            macro = get_template_attribute("client/_choices.html", "choices")
            html = kept.put(key, macro(self.id, self.name, key[2], self.data))
        return html

    @property
    def chosen(self) -> bool:
        """The page posted a choice for this item (an untouched group posts nothing)."""
        return bool(self.raw_data and self.raw_data[0].strip())


def storable_text(form, field) -> None:
    """Refuse characters a database cannot keep (a NUL byte)."""
    if field.data and "\x00" in field.data:
        raise ValidationError("This answer contains a character that can't be saved. Please retype it.")


class InstrumentForm(Form):
    """One questionnaire page; the item fields are added per instrument by instrument_form()."""

    save = SubmitField("Save and continue")
    later = SubmitField("Save and finish later")

    item_ids: Sequence[str] = ()

    def items(self) -> Iterator[tuple[str, Field]]:
        """(item id, field) in the order the partner sees them."""
        for item_id in self.item_ids:
            yield item_id, self[FIELD_PREFIX + item_id]

    def unknown_items(self, names: Iterable[str]) -> list[str]:
        """Item ids a post names (item_… fields) that are not questions of this page."""
        posted = {name[len(FIELD_PREFIX) :] for name in names if name.startswith(FIELD_PREFIX)}
        return sorted(posted - set(self.item_ids))

    def answers(self) -> dict[str, int | str]:
        """What this page post says: chosen answers, and every text box as typed ("" clears it).

        A radio group left untouched posts nothing; it leaves the saved answer alone,
        so a page opened before another tab saved never wipes that tab's answer.
        """
        answers: dict[str, int | str] = {}
        for item_id, field in self.items():
            if isinstance(field, ChoiceAnswer):
                if field.chosen:
                    answers[item_id] = field.data
            elif field.raw_data:
                answers[item_id] = field.data or ""
        return answers


def instrument_form(instrument: Instrument, order: Sequence[str], saved: Mapping[str, int | str]) -> InstrumentForm:
    """The form of one page of an instrument, items in the partner's order, saved answers
    pre-filled, except a safety item's: whoever opens the link later must not see it (the
    page says an answer is saved and can be replaced)."""
    saved = {item_id: value for item_id, value in saved.items() if instrument.item(item_id).safety is None}
    # Built once per instrument version and item order (clinic.memo, one per app, so an app
    # with its own instrument folder never meets another's): only shuffled instruments
    # have several orders.
    order = tuple(order)
    form_class = memo("forms").get_or_make(
        (instrument.id, instrument.version, order), lambda: _form_class(instrument, order)
    )
    return form_class(data={FIELD_PREFIX + item_id: value for item_id, value in saved.items()})


def _form_class(instrument: Instrument, order: tuple[str, ...]) -> type[InstrumentForm]:
    fields: dict[str, Field] = {}
    for item_id in order:
        item = instrument.item(item_id)
        if item.type == "choice":
            scale = instrument.scale_of(item)
            fields[FIELD_PREFIX + item_id] = ChoiceAnswer(
                item.text,
                choices=[(v.value, v.label) for v in scale.values],
                coerce=int,
                validators=[Optional()],
            )
        else:
            limit = item.text_limit
            fields[FIELD_PREFIX + item_id] = TextAreaField(
                item.text,
                description=f"Optional. Up to {limit} characters.",
                validators=[
                    Optional(),
                    Length(max=limit, message=f"Please shorten this answer to {limit} characters or fewer."),
                    storable_text,
                ],
            )
    return type("InstrumentPageForm", (InstrumentForm,), {**fields, "item_ids": order})


SHARE_LABEL = "Yes, statements we both chose may appear in a summary for the two of us"


class SubmitForm(Form):
    """Send the answers to the therapist, with the partner's choice about shared statements and,
    when much is unanswered, their word that they mean to send anyway."""

    share = BooleanField(SHARE_LABEL)
    confirm = BooleanField("Send my answers with these questions unanswered")
    send = SubmitField("Send my answers")


class SharingForm(Form):
    """Change the choice about shared statements (after sending, too)."""

    share = BooleanField(SHARE_LABEL)
    save = SubmitField("Save my choice")
