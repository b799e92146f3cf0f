"""The partner's pages: welcome, one page per questionnaire, autosave, review, send, done.

Every page loads its invitation through session.current_invitation(): the partner
session names one invitation, and nothing here takes an invitation, partner or
couple id from the request.
"""

from __future__ import annotations

import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from jinja2 import pass_context
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from clinic.blueprints.client import bp
from clinic.blueprints.client import session as partner_session
from clinic.blueprints.client.forms import SharingForm, SubmitForm, instrument_form
from clinic.db_types import utcnow
from clinic.extensions import db, limiter
from clinic.models import Invitation
from clinic.services import responses
from instruments import AnswerError

# An autosave body is one answer, or the answers a page held while the network was away (a page
# has at most ten questions; a text answer is a few thousand bytes).
AUTOSAVE_MAX_BYTES = 64 * 1024
AUTOSAVE_MAX_ANSWERS = 50
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
CONFIRM_FIRST = "Please tick the box to send your answers with these questions unanswered, or go back to them."
SHARING_SAVED = {
    True: "Saved: statements you both chose may appear in a summary for the two of you, if your partner agrees too.",
    False: "Saved: no shared statements will appear in a summary for the two of you.",
}


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
    return (
        render_template(
            "client/done.html",
            already_sent=status == 409,
            form=SharingForm(share=invitation.shares_agreement),
            **_page_context(invitation),
        ),
        status,
    )


def _ended_page():
    """A save or a send that lost a race: with a revoke, a reissue or the link running out (the
    page that says which), or with a send from another tab (the thank-you page, 409). Nothing of
    the request was written."""
    db.session.rollback()  # it unloads the invitation: load it again, as it is now
    invitation = partner_session.current_invitation()  # an ended link answers its page here
    if invitation.submitted_at is not None:
        return _done_page(invitation, 409)
    return redirect(url_for("client.welcome"))


@bp.app_template_global()
@pass_context
def leave_site(context) -> str:
    """Where this page's "Leave this page" goes: the practice's neutral site (the default on a page
    that knows no practice, or a page that must not touch the database: `leave_to`)."""
    if context.get("leave_to"):
        return context["leave_to"]
    practice = context.get("practice")
    return practice.leave_url if practice is not None else partner_session.leave_url()


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
        minutes=responses.minutes_left(steps),
        questions=sum(step.total for step in steps),
        **_page_context(invitation),
    )


def _step_and_page(steps, number: int, page: int):
    """The step and page a questionnaire address names, or a 404 (the partner's layout)."""
    if not 1 <= number <= len(steps):
        abort(404)
    step = steps[number - 1]
    if not 1 <= page <= len(step.pages):
        abort(404)
    return step


def _after(steps, step, page: int) -> str:
    """Where "Save and continue" leads: the next page, the next questionnaire, or the review."""
    if page < len(step.pages):
        return url_for("client.instrument", number=step.number, page=page + 1)
    if step.number < len(steps):
        return url_for("client.instrument", number=step.number + 1, page=1)
    return url_for("client.review")


def _before(steps, step, page: int) -> str | None:
    """The page before this one (the last page of the previous questionnaire), or None."""
    if page > 1:
        return url_for("client.instrument", number=step.number, page=page - 1)
    if step.number > 1:
        previous = steps[step.number - 2]
        return url_for("client.instrument", number=previous.number, page=len(previous.pages))
    return None


@bp.route("/q/<int:number>", methods=["GET", "POST"], defaults={"page": 1})
@bp.route("/q/<int:number>/<int:page>", methods=["GET", "POST"])
def instrument(number: int, page: int):
    """One page of one questionnaire; posting it saves the answers given and moves on.

    Addresses name a questionnaire by its place (/q/4/1), never by its id: the browser's
    history must not say what a page asks about.
    """
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is not None:
        if request.method == "POST":
            return _done_page(invitation, 409)
        return redirect(url_for("client.done"))
    answers = responses.answers_for(invitation)
    steps = responses.progress(invitation, answers)
    step = _step_and_page(steps, number, page)
    inst = step.instrument
    form = instrument_form(inst, step.pages[page - 1], answers.get(inst.id, {}))
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
            responses.save_answers(invitation, inst.id, form.answers(), token_hash=partner_session.token_hash())
        except responses.ResponsesClosed:
            return _ended_page()
        except AnswerError:
            # The form checks what the engine checks; this is the engine's last word.
            problem = "Some answers couldn't be saved. Please check them and try again."
        else:
            db.session.commit()
            if form.later.data:
                flash("Your answers are saved. Open your link again whenever you are ready to go on.", "success")
                return redirect(url_for("client.welcome"))
            return redirect(_after(steps, step, page))
    status = 400 if form.is_submitted() else 200
    return (
        render_template(
            "client/instrument.html",
            steps=steps,
            step=step,
            page=page,
            form=form,
            saved=answers.get(inst.id, {}),
            minutes_left=responses.minutes_left(steps),
            answered=sum(s.answered for s in steps),
            questions=sum(s.total for s in steps),
            last_page=page == len(step.pages) and step.number == len(steps),
            previous=_before(steps, step, page),
            problem=problem or ("Please check the answers marked below." if form.errors else None),
            **_page_context(invitation),
        ),
        status,
    )


def _json_error(message: str, status: int):
    return {"error": message}, status


def _answer_of(entry) -> tuple[str, str, object]:
    """One {instrument, item, value} as a tuple, or a 400 (JSON, see bad_request)."""
    if not isinstance(entry, dict) or set(entry) != AUTOSAVE_KEYS:
        abort(400, 'Send {"instrument": …, "item": …, "value": …} and nothing else.')
    if not isinstance(entry["instrument"], str) or not isinstance(entry["item"], str):
        abort(400, "The questionnaire and the question are named by their ids, as text.")
    return entry["instrument"], entry["item"], entry["value"]


def _read_autosave() -> list[tuple[str, str, object]]:
    """The answers an autosave body carries: one {instrument, item, value}, or
    {"answers": [{instrument, item, value}, …]}; anything else is a 400 (JSON, see bad_request)."""
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
    if isinstance(payload, dict) and set(payload) == {"answers"}:
        batch = payload["answers"]
        if not isinstance(batch, list) or not 1 <= len(batch) <= AUTOSAVE_MAX_ANSWERS:
            abort(400, f"Send between 1 and {AUTOSAVE_MAX_ANSWERS} answers at a time.")
        return [_answer_of(entry) for entry in batch]
    return [_answer_of(payload)]


@bp.post("/q/autosave")
# No limit of its own (a page sends one request per answer chosen, and only a partner session
# that holds a live link gets past the first check); exempt, so the limiter does no work here.
@limiter.exempt
def autosave():
    """Save answers as they are chosen: JSON {instrument, item, value}, or several at once as
    {"answers": [...]} (what a page kept while the network was away). All or nothing: one answer
    the questionnaire cannot take saves none of the batch. null or "" clears an answer.

    The hot path: one statement writes an answer only while the session's link is live and
    open, and locks the invitation's row (responses.autosave); only a link that no longer
    takes answers costs more.
    """
    link = partner_session.held()
    if link is None:
        abort(partner_session.link_not_valid())
    answers = _read_autosave()
    try:
        responses.autosave(*link, answers)
    except responses.LinkNotOpen:
        db.session.rollback()
        # Replaced, revoked or run out: say which (the page shows it); sent in another tab: 409.
        reason = partner_session.ending(*link)
        if reason is not None:
            return _json_error(partner_session.ENDINGS[reason].autosave, 410)
        invitation = partner_session.current_invitation()
        if invitation.submitted_at is not None:
            return _json_error(ALREADY_SENT, 409)
        return _json_error("This link is no longer open.", 404)
    except AnswerError as problem:
        db.session.rollback()
        message = "That answer" if len(answers) == 1 else "These answers"
        return _json_error(f"{message} could not be saved: {problem}", 400)
    db.session.commit()
    return {"saved": True}


def _review_page(invitation: Invitation, steps, form: SubmitForm, status: int = 200):
    return (
        render_template(
            "client/review.html",
            steps=steps,
            form=form,
            to_confirm=[step for step in steps if step.mostly_unanswered],
            missing=sum(len(step.unanswered) for step in steps),
            **_page_context(invitation),
        ),
        status,
    )


@bp.get("/q/review")
def review():
    """Every questionnaire with what is still unanswered, the choice about shared statements,
    and the button that sends the answers."""
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is not None:
        return redirect(url_for("client.done"))
    steps = responses.progress(invitation, responses.answers_for(invitation))
    return _review_page(invitation, steps, SubmitForm(share=invitation.shares_agreement))


@bp.post("/q/submit")
def submit():
    """Send the answers: the first send records the scores; a repeat lands on the same thank-you.

    With more than a third of a questionnaire unanswered the partner must say so first (the
    confirm box); a send that lost the race with a revoke, a reissue or the link running out
    gets the page that says which, and writes nothing."""
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is not None:
        return redirect(url_for("client.done"))
    form = SubmitForm()
    if not form.validate_on_submit():
        abort(400)  # only the CSRF token can fail, and its handler answers first
    steps = responses.progress(invitation, responses.answers_for(invitation))
    if any(step.mostly_unanswered for step in steps) and not form.confirm.data:
        form.confirm.errors = [CONFIRM_FIRST]
        return _review_page(invitation, steps, form, 400)
    if not responses.submit(invitation, token_hash=partner_session.token_hash(), shares_agreement=form.share.data):
        return _ended_page()
    db.session.commit()
    return redirect(url_for("client.done"))


@bp.get("/q/done")
def done():
    """The thank-you page; it shows no answers, and the choice about shared statements."""
    invitation = partner_session.current_invitation()
    if invitation.submitted_at is None:
        return redirect(url_for("client.welcome"))
    return _done_page(invitation)


@bp.post("/q/sharing")
def sharing():
    """Change the choice about shared statements in a couple summary (after sending too)."""
    invitation = partner_session.current_invitation()
    form = SharingForm()
    if form.validate_on_submit():
        responses.set_sharing(invitation, bool(form.share.data))
        db.session.commit()
        flash(SHARING_SAVED[bool(form.share.data)], "success")
    return redirect(url_for("client.done" if invitation.submitted_at is not None else "client.review"))


@bp.post("/q/leave")
def leave():
    """Leave this page: end the partner session and go to the practice's neutral site.

    With JavaScript the page sends this in the background and replaces itself, and its history
    entry, with that site. Without, the browser shows the answer: a page that refreshes to that
    site at once (a redirect would be blocked: the pages' forms may post only to this site)."""
    target = partner_session.leave_url()
    partner_session.end()
    return render_template("client/leaving.html", target=target)


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
