"""The partner's pages: welcome, one page per questionnaire, autosave, review, send, done.

Every page loads its invitation through session.current_invitation(): the partner
session names one invitation, and nothing here takes an invitation, partner or
couple id from the request.
"""

from __future__ import annotations

import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from clinic.blueprints.client import bp
from clinic.blueprints.client import session as partner_session
from clinic.blueprints.client.forms import InstrumentForm, SubmitForm, instrument_form
from clinic.db_types import utcnow
from clinic.extensions import db, limiter
from clinic.models import Invitation
from clinic.services import responses
from instruments import AnswerError, item_order

# An autosave body is one answer; the longest text answer is a few thousand bytes.
AUTOSAVE_MAX_BYTES = 16 * 1024
AUTOSAVE_KEYS = {"instrument", "item", "value"}
TOO_LARGE = "That was more than an answer can hold. Nothing was changed."
UNREADABLE = (
    "We couldn't read what your browser sent. Nothing was changed, and your saved answers are kept. "
    "Please go back, reload the page and try again."
)
UNKNOWN_ITEMS = (
    "This page sent an answer to a question that isn't on it, so nothing from this page was saved. "
    "Your earlier answers are kept. Please check the answers below and save again."
)
ALREADY_SENT = "Your answers have already been sent, so they can no longer be changed."


@bp.route("/l/<token>")
@limiter.limit(lambda: current_app.config["LINK_OPEN_LIMIT"])
def open_link(token: str):
    """Swap the link's token for a partner session and leave the token out of every later URL."""
    invitation = partner_session.open_token(token)
    if invitation is None:
        return partner_session.link_not_valid()
    if invitation.opened_at is None:
        invitation.opened_at = utcnow()
        db.session.commit()
    partner_session.start(invitation, token)
    return redirect(url_for("client.welcome"))


def _page_context(invitation: Invitation) -> dict:
    """What every partner page shows about who asked: practice, therapist, partner."""
    couple = invitation.assessment.couple
    return {
        "invitation": invitation,
        "partner": invitation.partner,
        "practice": couple.practice,
        "clinician": couple.clinician,
    }


def _done_page(invitation: Invitation, status: int = 200):
    return render_template("client/done.html", already_sent=status == 409, **_page_context(invitation)), status


@bp.get("/q")
def welcome():
    """Who the questionnaires are for, how long they take, who sees the answers; start or resume."""
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is not None:
        return _done_page(invitation)
    steps = responses.progress(invitation, responses.answers_for(invitation))
    resume = next((step for step in steps if not step.complete), None)
    return render_template(
        "client/welcome.html",
        steps=steps,
        resume=resume,
        started=invitation.started_at is not None,
        minutes=sum(step.instrument.minutes for step in steps),
        **_page_context(invitation),
    )


@bp.route("/q/<instrument_id>", methods=["GET", "POST"])
def instrument(instrument_id: str):
    """One questionnaire on one page; posting it saves the answers given and moves on."""
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is not None:
        if request.method == "POST":
            return _done_page(invitation, 409)
        return redirect(url_for("client.done"))
    answers = responses.answers_for(invitation)
    steps = responses.progress(invitation, answers)
    step = next((s for s in steps if s.instrument.id == instrument_id), None)
    if step is None:
        abort(404)
    inst = step.instrument
    form = instrument_form(inst, item_order(inst, seed=str(invitation.id)), answers.get(inst.id, {}))
    problem = None
    unknown = form.unknown_items(request.form) if form.is_submitted() else ()
    if unknown:
        # Refused whole, like a page with an answer off the scale: nothing on it is saved, and
        # the page comes back with what was posted (any bad answer marked too).
        form.validate()
        problem = UNKNOWN_ITEMS
    elif form.validate_on_submit():
        # On refusal the service has written nothing, and the uncommitted session is
        # dropped with the request: no rollback needed (it would unload the invitation).
        try:
            responses.save_answers(invitation, inst.id, form.answers())
        except responses.ResponsesClosed as closed:
            return _done_page(invitation, 409) if closed.submitted else partner_session.link_not_valid()
        except AnswerError:
            # The form checks what the engine checks; this is the engine's last word.
            problem = "Some answers couldn't be saved. Please check them and try again."
        else:
            db.session.commit()
            if form.later.data:
                flash("Your answers are saved. Open your link again whenever you are ready to go on.", "success")
                return redirect(url_for("client.welcome"))
            if step.number == len(steps):
                return redirect(url_for("client.review"))
            return redirect(url_for("client.instrument", instrument_id=steps[step.number].instrument.id))
    return _instrument_page(invitation, steps, step, form, problem)


def _instrument_page(invitation: Invitation, steps, step, form: InstrumentForm, problem: str | None):
    status = 400 if form.is_submitted() else 200
    return (
        render_template(
            "client/instrument.html",
            steps=steps,
            step=step,
            form=form,
            problem=problem or ("Please check the answers marked below." if form.errors else None),
            **_page_context(invitation),
        ),
        status,
    )


def _json_error(message: str, status: int):
    return {"error": message}, status


def _read_autosave() -> dict:
    """The autosave body as a dict with exactly our keys, or a 400 (JSON, see bad_request)."""
    if request.content_length is None or request.content_length > AUTOSAVE_MAX_BYTES:
        abort(400, TOO_LARGE)
    if not request.is_json:
        abort(400, "Answers are sent as JSON.")
    try:
        # Parsed here rather than by request.get_json so that deeply nested JSON
        # (RecursionError) is a 400 too, not a 500.
        payload = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        abort(400, "The answer could not be read.")
    if not isinstance(payload, dict) or set(payload) != AUTOSAVE_KEYS:
        abort(400, 'Send {"instrument": …, "item": …, "value": …} and nothing else.')
    if not isinstance(payload["instrument"], str) or not isinstance(payload["item"], str):
        abort(400, "The questionnaire and the question are named by their ids, as text.")
    return payload


@bp.post("/q/autosave")
def autosave():
    """Save one answer as it is chosen (JSON {instrument, item, value}; null or "" clears it).

    The hot path: the session's link is checked and touched by the same statement that
    locks it (responses.autosave); only a link that no longer takes answers costs more.
    """
    link = partner_session.held()
    if link is None:
        abort(partner_session.link_not_valid())
    payload = _read_autosave()
    try:
        responses.autosave(*link, payload["instrument"], payload["item"], payload["value"])
    except responses.LinkNotOpen:
        db.session.rollback()
        # Replaced, revoked or expired: the "link not valid" page, and the session ends.
        invitation = partner_session.current_invitation()
        if invitation.submitted_at is not None:
            return _json_error(ALREADY_SENT, 409)
        return _json_error("This link is no longer open.", 404)
    except AnswerError as problem:
        db.session.rollback()
        return _json_error(f"That answer could not be saved: {problem}", 400)
    db.session.commit()
    return {"saved": True}


@bp.get("/q/review")
def review():
    """Every questionnaire with what is still unanswered, and the button that sends the answers."""
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is not None:
        return redirect(url_for("client.done"))
    steps = responses.progress(invitation, responses.answers_for(invitation))
    return render_template("client/review.html", steps=steps, form=SubmitForm(), **_page_context(invitation))


@bp.post("/q/submit")
def submit():
    """Send the answers: the first send records the scores; a repeat lands on the same thank-you."""
    invitation = partner_session.current_invitation()
    if SubmitForm().validate_on_submit():
        responses.submit(invitation)
        db.session.commit()
    return redirect(url_for("client.done"))


@bp.get("/q/done")
def done():
    """The thank-you page; it shows no answers."""
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is None:
        return redirect(url_for("client.welcome"))
    return _done_page(invitation)


# Errors inside the partner's pages get the partner's layout (no therapist sign-in link)
# and, for autosave, JSON the page script can read.


def _wants_json() -> bool:
    return request.endpoint == "client.autosave"


@bp.errorhandler(404)
def not_found(error):
    """An unknown questionnaire page, in the partner's layout."""
    return render_template("client/not_found.html"), 404


@bp.errorhandler(400)
def bad_request(error):
    """A request that cannot be used: JSON for autosave, a page otherwise."""
    if _wants_json():
        return _json_error(error.description or "The answer could not be read.", 400)
    return render_template("client/problem.html", message=error.description), 400


def _unreadable_form_body() -> bool:
    """A form post arrived with a body in which the parser found no field at all.

    Werkzeug drops a form body it cannot parse (a broken multipart body, a wrong boundary)
    without a word, so such a post looks like one without a CSRF token; it is not stale."""
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return False
    return bool(request.content_length) and not request.form and not request.files


@bp.errorhandler(CSRFError)
def csrf_error(error):
    """A missing or stale form token: ask for a reload (saved answers are safe)."""
    if _unreadable_form_body():
        if _wants_json():
            return _json_error(UNREADABLE, 400)
        return render_template("client/problem.html", message=UNREADABLE), 400
    if _wants_json():
        return _json_error("This page has been open too long. Please reload it; your saved answers are kept.", 400)
    return render_template(
        "client/problem.html", message="This page had been open too long. Please go back, reload it and try again."
    ), 400


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """A body over MAX_CONTENT_LENGTH, refused before any view ran."""
    # The issue asks one answer for every unusable body: 400 with a clear message.
    if _wants_json():
        return _json_error(TOO_LARGE, 400)
    return render_template("client/problem.html", message=TOO_LARGE), 400


@bp.errorhandler(TooManyRequests)
def too_many(error):
    """Too many links opened from one address: a calm "wait a minute" page."""
    return render_template("client/too_many.html"), 429
