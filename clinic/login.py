"""Flask-Login wiring and the clinician's session: who it belongs to, how long it lasts,
the half-finished sign-in waiting for a second-factor code, and where anonymous users go.

Partner sessions (clinic.blueprints.client.session) are not clinicians: nothing
here touches them.
"""

from __future__ import annotations

import time

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from clinic import audit
from clinic.extensions import db, login_manager
from clinic.models import Clinician
from clinic.services.accounts import load_session_user

SIGNED_IN_AT = "signed_in_at"
LAST_SEEN = "last_seen"
# {"clinician": id, "at": unix time}: a right password, waiting for the code. Not a sign-in.
PENDING_TWO_FACTOR = "two_factor_pending"
PENDING_NEXT = "signin_next"


def _ended_message(reason: str) -> str:
    cfg = current_app.config
    if reason == "idle":
        return f"For your privacy you were signed out after {cfg['SESSION_IDLE_MINUTES']} minutes without activity."
    return (
        f"For your privacy you were signed out {cfg['SESSION_MAX_HOURS']} hours after signing in. Please sign in again."
    )


# What a clinician who must set up two-factor sign-in may still reach.
ENROLMENT_ENDPOINTS = {
    "main.two_factor",
    "main.two_factor_start",
    "auth.signout",
    "main.healthz",
    "main.readyz",
    "static",
}


def start_session(clinician: Clinician) -> None:
    """A fresh session for a clinician who just signed in: nothing from before survives."""
    session.clear()
    login_user(clinician)
    session.permanent = False
    now = int(time.time())
    session[SIGNED_IN_AT] = now
    session[LAST_SEEN] = now


def renew_session(clinician: Clinician) -> None:
    """Keep this browser signed in after the clinician's session version changed (its clock runs on)."""
    login_user(clinician)


def end_session() -> None:
    """Forget who this browser was signed in as."""
    logout_user()
    session.clear()


def begin_two_factor(clinician: Clinician, next_url: str | None) -> None:
    """Remember a right password for a few minutes while the code is asked for."""
    session.clear()
    session[PENDING_TWO_FACTOR] = {"clinician": clinician.id, "at": int(time.time())}
    if next_url:
        session[PENDING_NEXT] = next_url


def pending_two_factor() -> Clinician | None:
    """The clinician whose password was right moments ago and whose code is awaited, or None."""
    held = session.get(PENDING_TWO_FACTOR)
    if not isinstance(held, dict) or not isinstance(held.get("clinician"), int) or not isinstance(held.get("at"), int):
        return None
    age = time.time() - held["at"]
    clinician = None
    if 0 <= age <= current_app.config["TWO_FACTOR_PENDING_SECONDS"]:
        clinician = db.session.get(Clinician, held["clinician"])
    if clinician is None or not clinician.is_active or not clinician.two_factor_enabled:
        session.pop(PENDING_TWO_FACTOR, None)
        session.pop(PENDING_NEXT, None)
        return None
    return clinician


def pop_pending_next() -> str | None:
    """Where the clinician was heading before the code was asked for."""
    return session.pop(PENDING_NEXT, None)


LAST_SEEN_STEP = 60  # seconds


def _expired(now: float) -> str | None:
    """Why this clinician session has run out ("idle" or "absolute"), or None."""
    cfg = current_app.config
    started, seen = session.get(SIGNED_IN_AT), session.get(LAST_SEEN)
    # A session without its clock (from before the clock existed) cannot prove its age.
    if not isinstance(started, int) or not isinstance(seen, int):
        return "absolute"
    if now - started > cfg["SESSION_MAX_HOURS"] * 3600:
        return "absolute"
    if now - seen > cfg["SESSION_IDLE_MINUTES"] * 60:
        return "idle"
    return None


def check_clinician_session():
    """Before each request: end timed-out clinician sessions; hold back clinicians who must set up 2FA."""
    # Partner pages never read a clinician's session (opening a link clears it), so they skip
    # loading one: autosave is the hottest path there is.
    if request.endpoint == "static" or request.blueprint == "client" or not current_user.is_authenticated:
        return None
    now = time.time()
    reason = _expired(now)
    if reason is not None:
        audit.record("session.ended", detail={"reason": reason})
        db.session.commit()
        end_session()
        flash(_ended_message(reason), "info")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.signin", next=target))
    # The idle clock moves in steps: a session cookie re-signed and re-sent on every
    # request costs more than the rest of a small page, and a minute is nothing to a
    # 30-minute timeout (a session may end up to one step early, never late).
    if now - session[LAST_SEEN] >= LAST_SEEN_STEP:
        session[LAST_SEEN] = int(now)
    if (
        current_user.practice.require_two_factor
        and not current_user.two_factor_enabled
        and request.endpoint not in ENROLMENT_ENDPOINTS
    ):
        return redirect(url_for("main.two_factor"))
    return None


def init_app(app: Flask) -> None:
    login_manager.session_protection = "basic"
    app.before_request(check_clinician_session)

    @login_manager.user_loader
    def load_user(user_id: str):
        return load_session_user(user_id)

    @login_manager.unauthorized_handler
    def unauthorized():
        # A partner's browser holds a questionnaire session: therapist pages simply
        # do not exist for it (no sign-in page that hints there is something here).
        if session.get("partner"):
            abort(404)
        flash("Please sign in to continue.", "info")
        # A relative next keeps the redirect on this site (see security.is_safe_next).
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.signin", next=target))
