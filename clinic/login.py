"""Flask-Login wiring: who the session belongs to, and where anonymous users go."""

from flask import Flask, abort, flash, redirect, request, session, url_for

from clinic.extensions import login_manager
from clinic.services.accounts import load_session_user


def init_app(app: Flask) -> None:
    login_manager.session_protection = "basic"

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
